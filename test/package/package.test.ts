/**
 * The package as a user gets it: `npm pack` (whose prepare step is `npm run build`) on a copy of the
 * project, the tarball unpacked into a fresh project, and the README's library example run there
 * with plain `node` — no tsx, no src/ — on a tiny trained run. Its printed AUC and composed outfits
 * must be those of the sources run in this process.
 *
 * Offline: nothing is downloaded. The fresh project gets the tarball's contents as
 * node_modules/outfitrec and, for each of the tarball's declared dependencies only, a symlink to
 * this checkout's installed copy (their own dependencies resolve from there), so a runtime import of
 * an undeclared package fails here as it would for a user.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Recommender } from '../../src/serve/recommender.js';
import { evaluateScorer } from '../../src/eval/evaluate.js';
import { loadRun, runScorer } from '../../src/runs/load.js';
import { tinyRun } from '../serve/tiny-run.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-pack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The README's library example: the ```js block after its marker comment. */
function readmeExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const match = /<!-- library example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'README.md has no library example block');
  return match[1];
}

/** `npm pack` of a copy of the project (build included); returns the tarball's path. */
function pack(): string {
  const project = join(scratch, 'project');
  mkdirSync(project);
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'src', 'bin']) {
    cpSync(join(REPO, f), join(project, f), { recursive: true });
  }
  symlinkSync(realpathSync(join(REPO, 'node_modules')), join(project, 'node_modules'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = new Set(info.files.map((f) => f.path));
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/serve/web/index.html', 'bin/outfitrec.js', 'README.md', 'LICENSE']) {
    assert.ok(files.has(f), `the tarball lacks ${f}`);
  }
  assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/')), 'the tarball holds sources or tests');
  return join(scratch, info.filename);
}

/** A fresh project with the tarball installed as node_modules/outfitrec (see the header). */
function install(tarball: string): string {
  const app = join(scratch, 'app');
  const modules = join(app, 'node_modules');
  mkdirSync(modules, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', scratch]);
  cpSync(join(scratch, 'package'), join(modules, 'outfitrec'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(modules, 'outfitrec', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(manifest.dependencies)) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    symlinkSync(realpathSync(join(REPO, 'node_modules', dep)), join(modules, dep));
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  return app;
}

describe('the packed library', () => {
  it('installs from its tarball and runs the README example with plain node', { timeout: 180_000 }, async () => {
    const [run, tarball] = await Promise.all([tinyRun(), Promise.resolve().then(pack)]);
    const app = install(tarball);
    assert.ok(!existsSync(join(app, 'node_modules', 'outfitrec', 'src')));
    writeFileSync(join(app, 'example.mjs'), readmeExample());
    const env = { ...process.env, NODE_OPTIONS: '' }; // no loader inherited from the test runner
    const output = execFileSync(process.execPath, ['example.mjs', run.runDir, run.root], { cwd: app, encoding: 'utf8', env });

    // the same numbers from the sources, in this process
    const loaded = await loadRun(run.runDir, { root: run.root });
    const report = await evaluateScorer(loaded.set, 'test', runScorer(loaded), { negatives: 'file' });
    await loaded.model.dispose();
    const rec = await Recommender.open(run.runDir, { data: run.root, db: ':memory:' });
    const { outfits } = await rec.compose(0, { k: 3 });
    const users = rec.describe().runUsers;
    rec.close();

    const lines = output.trim().split('\n');
    assert.equal(lines[0], `test AUC ${report.auc.toFixed(4)}, NDCG ${report.ndcg.toFixed(4)}`);
    const composed = lines.filter((l) => l.startsWith('user 0: ')).map((l) => l.split(' ')[2]);
    assert.deepEqual(composed, outfits.map((o) => o.items.join(',')));
    assert.equal(lines.find((l) => l.startsWith('ranked first: ')), `ranked first: ${outfits[0].items.join(',')}`);
    assert.equal(lines.at(-1), `new user ${users} from 3 outfits`);

    // the installed command runs the compiled code (no src/ there)
    const bin = join(app, 'node_modules', 'outfitrec', 'bin', 'outfitrec.js');
    const version = execFileSync(process.execPath, [bin, '--version'], { cwd: app, encoding: 'utf8', env }).trim();
    assert.equal(version, JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
  });
});
