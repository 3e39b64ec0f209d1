/**
 * Every command against the three path mistakes a user makes — a path that does not exist, a file
 * where a folder belongs, a file it may not read — answers with one line naming the path, exit 1,
 * no stack trace (docs/reliability.md). Unreadable files are skipped under root, which reads
 * everything (as in test/reliability/errors.test.ts). A case a command cannot meet says why.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { assertOneLineError, fixtureCopy, runCli, scratchDir } from '../reliability/helpers.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';

const isRoot = process.getuid?.() === 0;
const ROOT_SKIP = 'root reads every file';

interface Paths {
  /** A path that does not exist. */
  missing: string;
  /** A plain file. */
  file: string;
  /** A dataset root (copy of test/fixtures/fhn-mini) with one unreadable tuple file. */
  unreadableRoot: string;
  /** The tiny synthetic root's four sets (no images) with one unreadable tuple file. */
  unreadableSets: string;
  /** A run folder whose config.json cannot be read. */
  unreadableRun: string;
  /** A config file that cannot be read. */
  unreadableConfig: string;
  /** A working run and its data (for the commands that need one besides the broken path). */
  run: TinyRun;
  /** A shop folder (data import) whose items.csv cannot be read. */
  unreadableShop: string;
  /** A fresh folder for outputs. */
  out: string;
}

type Case = ((p: Paths) => string[]) | { na: string };

interface CommandCases {
  name: string;
  missing: Case;
  fileForFolder: Case;
  unreadable: Case;
}

const COMMANDS: CommandCases[] = [
  {
    name: 'data check',
    missing: (p) => ['data', 'check', p.missing, '--quiet'],
    fileForFolder: (p) => ['data', 'check', p.file, '--quiet'],
    unreadable: (p) => ['data', 'check', p.unreadableRoot, '--quiet'],
  },
  {
    name: 'data stats',
    missing: (p) => ['data', 'stats', p.missing],
    fileForFolder: (p) => ['data', 'stats', p.file],
    unreadable: (p) => ['data', 'stats', p.unreadableRoot, '--set', '630'],
  },
  {
    name: 'data synth',
    missing: (p) => ['data', 'synth', '--preset', 'tiny', '--out', join(p.out, 'synth'), '--images', 'fashion-mnist', '--fashion-mnist', p.missing],
    fileForFolder: (p) => ['data', 'synth', '--preset', 'tiny', '--out', p.file],
    unreadable: { na: 'data synth reads no user file but Fashion-MNIST, whose unreadable file is the missing case' },
  },
  {
    name: 'data import',
    missing: (p) => ['data', 'import', p.missing, '--out', join(p.out, 'import-missing')],
    fileForFolder: (p) => ['data', 'import', p.file, '--out', join(p.out, 'import-file')],
    unreadable: (p) => ['data', 'import', p.unreadableShop, '--out', join(p.out, 'import-unreadable')],
  },
  {
    name: 'train',
    missing: (p) => ['train', '--data', p.missing, '--set', '630', '--out', join(p.out, 'train-missing'), '--quiet'],
    fileForFolder: (p) => ['train', '--data', p.file, '--set', '630', '--out', join(p.out, 'train-file'), '--quiet'],
    unreadable: (p) => ['train', '--config', p.unreadableConfig, '--out', join(p.out, 'train-unreadable'), '--quiet'],
  },
  {
    name: 'features',
    missing: (p) => ['features', '--data', p.missing, '--encoder', p.file, '--preprocess', p.file, '--out', join(p.out, 'features-missing'), '--quiet'],
    fileForFolder: (p) => ['features', '--data', p.file, '--encoder', p.file, '--preprocess', p.file, '--out', join(p.out, 'features-file'), '--quiet'],
    unreadable: (p) => ['features', '--data', p.unreadableRoot, '--set', '630', '--encoder', p.file, '--preprocess', p.file, '--out', join(p.out, 'features-unreadable'), '--quiet'],
  },
  {
    name: 'eval',
    missing: (p) => ['eval', '--data', p.missing, '--set', '630', '--random'],
    fileForFolder: (p) => ['eval', '--data', p.file, '--set', '630', '--random'],
    unreadable: (p) => ['eval', '--data', p.unreadableRoot, '--set', '630', '--random'],
  },
  {
    name: 'coldstart',
    missing: (p) => ['coldstart', '--run', p.missing],
    fileForFolder: (p) => ['coldstart', '--run', p.file],
    unreadable: (p) => ['coldstart', '--run', p.unreadableRun],
  },
  {
    name: 'experiment',
    missing: { na: 'a missing --data folder is synthesised (experiment --help)' },
    fileForFolder: (p) => ['experiment', 'main', '--data', p.file, '--out', join(p.out, 'grid-file'), '--quick'],
    unreadable: (p) => ['experiment', 'main', '--data', p.unreadableSets, '--out', join(p.out, 'grid-unreadable'), '--quick'],
  },
  {
    name: 'compare',
    missing: (p) => ['compare', '--data', p.run.root, '--set', '630', '--out', join(p.out, 'cmp-missing'), '--row', `a=${p.missing}`],
    fileForFolder: (p) => ['compare', '--data', p.run.root, '--set', '630', '--out', join(p.out, 'cmp-file'), '--row', `a=${p.file}`],
    unreadable: (p) => ['compare', '--data', p.run.root, '--set', '630', '--out', join(p.out, 'cmp-unreadable'), '--row', `a=${p.unreadableRun}`],
  },
  {
    name: 'serve',
    missing: (p) => ['serve', '--run', p.missing, '--port', '0'],
    fileForFolder: (p) => ['serve', '--run', p.file, '--port', '0'],
    unreadable: (p) => ['serve', '--run', p.unreadableRun, '--port', '0'],
  },
  {
    name: 'export',
    missing: (p) => ['export', '--run', p.missing, '--out', join(p.out, 'export-missing')],
    fileForFolder: (p) => ['export', '--run', p.file, '--out', join(p.out, 'export-file')],
    unreadable: (p) => ['export', '--run', p.unreadableRun, '--out', join(p.out, 'export-unreadable')],
  },
  {
    name: 'demo',
    missing: { na: 'demo creates its --out folder; it reads no other path' },
    fileForFolder: (p) => ['demo', '--out', p.file, '--quiet'],
    unreadable: { na: 'demo reads only what it wrote itself' },
  },
];

describe('every command: one line and exit 1 on a bad path', () => {
  let paths: Paths;
  before(async () => {
    const dir = scratchDir('matrix');
    const file = join(dir, 'a-file.txt');
    writeFileSync(file, 'not a folder\n');
    const unreadableRoot = fixtureCopy('matrix-unreadable');
    chmodSync(join(unreadableRoot, 'tuples_630', 'tuples_train_posi'), 0o000);
    const run = await tinyRun();
    const unreadableSets = join(dir, 'sets-unreadable');
    cpSync(run.root, unreadableSets, { recursive: true, filter: (src) => !src.includes('/images') });
    chmodSync(join(unreadableSets, 'tuples_630', 'tuples_train_posi'), 0o000);
    const unreadableRun = join(dir, 'run-unreadable');
    mkdirSync(unreadableRun);
    copyFileSync(join(run.runDir, 'config.json'), join(unreadableRun, 'config.json'));
    chmodSync(join(unreadableRun, 'config.json'), 0o000);
    const unreadableConfig = join(dir, 'config.json');
    writeFileSync(unreadableConfig, '{}\n');
    chmodSync(unreadableConfig, 0o000);
    const unreadableShop = join(dir, 'shop-unreadable');
    mkdirSync(unreadableShop);
    writeFileSync(join(unreadableShop, 'items.csv'), 'id,category,image\n');
    writeFileSync(join(unreadableShop, 'outfits.csv'), 'user,items\n');
    chmodSync(join(unreadableShop, 'items.csv'), 0o000);
    const out = join(dir, 'out');
    mkdirSync(out);
    paths = { missing: join(dir, 'no-such-path'), file, unreadableRoot, unreadableSets, unreadableRun, unreadableConfig, unreadableShop, run, out };
  });

  for (const c of COMMANDS) {
    for (const kind of ['missing', 'fileForFolder', 'unreadable'] as const) {
      const spec = c[kind];
      const skip = 'na' in spec ? `n/a: ${spec.na}` : kind === 'unreadable' && isRoot ? ROOT_SKIP : false;
      it(`${c.name}: ${kind === 'fileForFolder' ? 'a file for a folder' : kind === 'missing' ? 'a missing path' : 'an unreadable file'}`, { skip }, async () => {
        if ('na' in spec) return;
        const args = spec(paths);
        const named = kind === 'missing' ? paths.missing : kind === 'fileForFolder' ? paths.file : /(tuples_train_posi|config\.json|items\.csv)/.source;
        const r = await runCli(args);
        assertOneLineError(r, new RegExp(named.replace(/[.*+?^${}()|[\]\\/]/g, (ch) => (kind === 'unreadable' ? ch : `\\${ch}`))), assert);
      });
    }
  }
});
