/**
 * `outfitrec compare` end to end on the shared tiny run (test/serve/tiny-run.ts): rows of run
 * folders become a report with mean ± std, per-run AUCs that agree with `outfitrec eval`, a
 * baseline difference, oracle/random rows, cold users, CSV and SVG; a second invocation reads its
 * cached evaluations; bad rows fail before anything is written, naming the row and the run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCompareRow } from '../../src/lab/compare.js';
import { UserError } from '../../src/errors.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO, 'bin', 'outfitrec.js');

let work: string;
let tiny: TinyRun;
let runA: string;
let runB: string;
let runC: string;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  tiny = await tinyRun();
  work = mkdtempSync(join(tmpdir(), 'outfitrec-compare-'));
  // three copies of one run: identical weights, so identical metrics — what the assertions pin
  runA = join(work, 'a');
  runB = join(work, 'b');
  runC = join(work, 'c');
  for (const r of [runA, runB, runC]) cpSync(tiny.runDir, r, { recursive: true });
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('outfitrec compare', () => {
  it('writes the table with mean ± std, the baseline difference, oracle, random and cold rows, CSV and SVGs', () => {
    const out = join(work, 'report');
    const args = [
      'compare', '--data', tiny.root, '--set', '630', '--out', out, '--oracle', '--random',
      '--row', `alone=${runA}`, '--row', `twins=${runB},${runC}`, '--baseline', 'alone',
      '--cold', '--shots', '1', '--strategies', 'sa,su', '--cold-steps', '5', '--teacher', runA,
      '--sweep', 'copies|twins@2|alone@1',
    ];
    const res = cli(args);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /report: .*report\.md/);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const file of ['compare.csv', 'coldstart.csv', 'fn-flags.csv', 'fn-gain.csv', 'sweep-1.csv', 'learning-curves.svg', 'coldstart-shots.svg', 'fn-flags-threshold.svg', 'sweep-1.svg']) {
      assert.ok(existsSync(join(out, file)), file);
    }
    assert.match(readFileSync(join(out, 'learning-curves.svg'), 'utf8'), /^<svg/);

    // the per-run AUC agrees with `outfitrec eval --run` on the same candidates
    const ev = cli(['eval', '--run', runA, '--data', tiny.root, '--set', '630', '--split', 'test', '--json']);
    assert.equal(ev.status, 0, ev.stderr);
    const evAuc = (JSON.parse(ev.stdout) as { results: Array<{ scorer: string; auc: number }> }).results.find((r) => r.scorer.startsWith('run'))!.auc;
    const csv = readFileSync(join(out, 'compare.csv'), 'utf8').trim().split('\n');
    const header = csv[0].split(',');
    const rowOf = (label: string): Record<string, string> => {
      const line = csv.find((l) => l.startsWith(`${label},`));
      assert.ok(line, `row ${label} in compare.csv`);
      const f = line.split(',');
      return Object.fromEntries(header.map((h, i) => [h, f[i]]));
    };
    const alone = rowOf('alone');
    const twins = rowOf('twins');
    assert.ok(Math.abs(Number(alone.auc_mean) - evAuc) < 1e-9, `${alone.auc_mean} vs eval ${evAuc}`);
    assert.equal(alone.auc_n, '1');
    assert.equal(twins.auc_n, '2');
    assert.equal(Number(twins.auc_mean), Number(alone.auc_mean));
    assert.equal(Number(twins.auc_std), 0);
    assert.equal(Number(twins.dAuc), 0);
    assert.equal(twins.wins, '0 of 2'); // equal, so not above the baseline
    assert.equal(alone.dAuc, ''); // the baseline is not compared with itself
    assert.ok(Number(rowOf('oracle (true utility; reference)').auc_mean) > 0.85);
    // the noise-free oracle and the count scorer are rows too, with real figures
    for (const label of ['oracle without item noise ε (reference)', 'count scorer (no learning; reference)']) {
      const auc = Number(rowOf(label).auc_mean);
      assert.ok(auc > 0.55 && auc <= 1, `${label}: AUC ${auc}`);
    }
    assert.ok(!md.includes('ceiling on these candidates'), 'the oracle is a reference, not a ceiling');
    const random = Number(rowOf('random scores').auc_mean);
    assert.ok(random > 0.35 && random < 0.65, `random AUC ${random}`);
    const perRun = `${Number(alone.auc_mean).toFixed(4)} / ${Number(alone.auc_mean).toFixed(4)}`;
    assert.ok(md.includes(`| twins | ${Number(twins.auc_mean).toFixed(4)} ± 0.0000 |`), md);
    assert.ok(md.includes(perRun));
    assert.ok(md.includes('Command: `outfitrec compare'));

    // the sweep: its rows in x order with the main table's AUC, a Δ of 0 for identical runs, and a chart
    const sweep = readFileSync(join(out, 'sweep-1.csv'), 'utf8').trim().split('\n');
    assert.equal(sweep.length, 3);
    assert.match(sweep[1], new RegExp(`^1,alone,${alone.auc_mean},`));
    assert.match(sweep[2], new RegExp(`^2,twins,${twins.auc_mean},`));
    assert.match(sweep[2], /,0$/);
    const sweepSvg = readFileSync(join(out, 'sweep-1.svg'), 'utf8');
    assert.match(sweepSvg, /^<svg/);
    assert.ok(sweepSvg.includes('Test metrics vs copies') && sweepSvg.includes('alone: AUC'), 'sweep chart title and baseline line');

    // cold users: one row per row × strategy × shots, plus the 3 reference scorers and random on the new users
    const cold = readFileSync(join(out, 'coldstart.csv'), 'utf8').trim().split('\n');
    assert.equal(cold.length, 1 + 4 + 2 * 2);
    assert.ok(cold.some((l) => l.startsWith('twins,SU,1,')));
    assert.ok(cold.some((l) => l.startsWith('alone,SA,1,search,')));

    // the teacher's flags: 6 thresholds × 2 negatives files; identical runs gain nothing over each other
    const flagLines = readFileSync(join(out, 'fn-flags.csv'), 'utf8').trim().split('\n');
    assert.equal(flagLines.length, 1 + 2 * 6);
    const fHeader = flagLines[0].split(',');
    for (const line of flagLines.slice(1)) {
      const f = Object.fromEntries(fHeader.map((h, i) => [h, line.split(',')[i]]));
      const base = Number(f.baseRate_mean);
      assert.ok(base > 0 && base < 1, `base rate ${f.baseRate_mean}`);
      if (f.precision_mean !== '') assert.ok(Number(f.precision_mean) >= 0 && Number(f.precision_mean) <= 1);
    }
    assert.ok(flagLines.some((l) => l.includes('φ > 0 (FND rule)')));
    const gain = readFileSync(join(out, 'fn-gain.csv'), 'utf8').trim().split('\n');
    assert.equal(gain.length, 2);
    assert.match(gain[1], /^twins,0,0 of \d+,/);

    // again: every evaluation comes from results/, untouched
    const results = readdirSync(join(out, 'results')).sort();
    assert.equal(results.filter((f) => f.startsWith('test-')).length, 3);
    assert.equal(results.filter((f) => f.startsWith('coldstart-')).length, 3);
    assert.equal(results.filter((f) => f.startsWith('fn-flags-')).length, 1);
    const mtimes = results.map((f) => statSync(join(out, 'results', f)).mtimeMs);
    const again = cli(args);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /evaluating/);
    assert.deepEqual(results.map((f) => statSync(join(out, 'results', f)).mtimeMs), mtimes);
    assert.equal(readFileSync(join(out, 'compare.csv'), 'utf8'), csv.join('\n') + '\n');
  });

  it('rejects bad rows before writing anything, naming the row and the run', () => {
    const out = join(work, 'bad');
    const notRun = join(work, 'not-a-run');
    const other = join(work, 'other-set');
    cpSync(tiny.runDir, other, { recursive: true });
    const cfgPath = join(other, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), data: { root: tiny.root, set: '519' } }));
    const base = ['compare', '--data', tiny.root, '--set', '630', '--out', out];
    const cases: Array<[string[], RegExp]> = [
      [['--row', `x=${runA},${notRun}`], /not a run folder/],
      [['--row', `x=${other}`], /--row 'x': .*other-set was trained on set 519, not on --set 630/],
      [['--row', `x=${runA}`, '--row', `x=${runB}`], /the label 'x' is given twice/],
      [['--row', `x=${runA}`, '--row', `y=${runA}`], /already in row 'x'/],
      [['--row', `x=${runA}`, '--baseline', 'nope'], /--baseline: 'nope' is not one of the row labels/],
      [['--row', 'no-equals-sign'], /is not LABEL=RUN/],
      [['--row', `x=${runA}`, '--cold', '--strategies', 'so,zz'], /--strategies: 'zz' is not one of so, su, sa/],
      [[], /at least one --row/],
      [['--row', `x=${runA}`, '--teacher', other], /--teacher: .*other-set was trained on set 519/],
      [['--row', `x=${runA}`, '--row', `y=${runB}`, '--sweep', 'α|x@1|z@2'], /--sweep 'α': 'z' is not one of the row labels/],
      [['--row', `x=${runA}`, '--row', `y=${runB}`, '--sweep', 'α|x@1|y@one'], /--sweep 'α': 'y@one' is not ROW LABEL@NUMBER/],
      [['--row', `x=${runA}`, '--row', `y=${runB}`, '--sweep', 'α|x@1|y@1'], /x = 1 is given twice/],
      [['--row', `x=${runA}`, '--sweep', 'α|x@1'], /at least two points/],
    ];
    for (const [extra, message] of cases) {
      const res = cli([...base, ...extra]);
      assert.equal(res.status, 1, `${extra.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.ok(!existsSync(out), `nothing written for ${extra.join(' ')}`);
    }
  });

  it('parses LABEL=RUN,RUN with "=" allowed in the label', () => {
    assert.deepEqual(parseCompareRow('fnd α=-1=runs/a, runs/b'), { label: 'fnd α=-1', runs: ['runs/a', 'runs/b'] });
    assert.throws(() => parseCompareRow('x='), UserError);
    assert.throws(() => parseCompareRow('x=a,,b'), /empty run folder/);
  });
});
