/**
 * Reliability, run folders (issue 16 items 1, 3 and 4; docs/reliability.md "Locks" and "Failed
 * starts"): a folder is owned by one process at a time through a lock file taken before anything
 * is written (stale locks of dead processes are taken over, saying so); a failed start leaves
 * the folder as it found it; a non-empty folder that is not a run is refused; the same for the
 * `experiment` --out folder.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { checkExperimentFolder, runExperiments } from '../../src/lab/experiments/runner.js';
import { UserError } from '../../src/errors.js';
import { LOCK_FILE, lockFolder, readLockOwner } from '../../src/util/lock.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';
import { assertOneLineError, runCli, scratchDir } from './helpers.js';

/** A lock file as another process on this host (pid) would have written it. */
function plantLock(dir: string, pid: number, host = hostname()): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, hostname: host, started: '2026-01-01T00:00:00.000Z', command: 'train' }) + '\n');
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

describe('reliability: run folder locks', () => {
  let live: ChildProcess;
  let run: TinyRun;
  before(async () => {
    live = spawn('sleep', ['120'], { stdio: 'ignore' });
    run = await tinyRun();
  });
  after(() => {
    live.kill();
  });

  it('a folder is locked once: the lock names its owner, a second owner is refused, release frees it', () => {
    const dir = scratchDir('lock');
    const lock = lockFolder(dir, 'train');
    assert.deepEqual(
      { ...readLockOwner(join(dir, LOCK_FILE)), started: '' },
      { pid: process.pid, hostname: hostname(), started: '', command: 'train' },
    );
    assert.throws(() => lockFolder(dir, 'train'), /already in use by this process/);
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    lockFolder(dir, 'train').release();
  });

  it('a live owner on this host is refused by pid; a dead one is taken over, saying so; another host is not guessed', () => {
    const dir = scratchDir('stale');
    plantLock(dir, live.pid!);
    assert.throws(() => lockFolder(dir, 'train'), new RegExp(`in use by 'train' \\(pid ${live.pid} on ${hostname()}`));
    const dead = deadPid();
    plantLock(dir, dead);
    const lines: string[] = [];
    const lock = lockFolder(dir, 'train', (l) => lines.push(l));
    assert.equal(lock.tookOverFrom?.pid, dead);
    assert.match(lines.join('\n'), new RegExp(`took over the lock of 'train' \\(pid ${dead} .*no longer running`));
    assert.equal(readLockOwner(lock.path)?.pid, process.pid);
    lock.release();
    plantLock(dir, dead, 'elsewhere.example');
    assert.throws(() => lockFolder(dir, 'train'), /runs on another host, .*if it is not, delete .*\.outfitrec\.lock/);
  });

  it('train into a folder another live process owns is refused before anything is written (two trains: one run, never a lost one)', async () => {
    const out = join(scratchDir('train-locked'), 'run');
    plantLock(out, live.pid!);
    const r = await runCli(['train', '--data', run.root, '--set', '630', '--epochs', '1', '--out', out, '--quiet']);
    assertOneLineError(r, new RegExp(`${out} is in use by 'train' \\(pid ${live.pid}`), assert);
    assert.deepEqual(readdirSync(out), [LOCK_FILE]);
    // --resume takes the same lock, before recovering anything
    const resumed = await runCli(['train', '--resume', '--out', out, '--quiet']);
    assertOneLineError(resumed, new RegExp(`${out} is in use by 'train' \\(pid ${live.pid}`), assert);
    assert.deepEqual(readdirSync(out), [LOCK_FILE]);
  });

  it('two train processes started together into one --out: one trains, the other is refused, no run is lost', async () => {
    const out = join(scratchDir('two-trains'), 'run');
    const bin = new URL('../../bin/outfitrec.js', import.meta.url).pathname;
    const args = [bin, 'train', '--data', run.root, '--set', '630', '--epochs', '1', '--batch', '32', '--width', '0.25', '--dim', '32', '--anchors', '8', '--out', out, '--quiet'];
    const start = (): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const results = await Promise.all([start(), start()]);
    const codes = results.map((r) => r.code).sort();
    assert.deepEqual(codes, [0, 1], results.map((r) => r.stderr).join('\n'));
    const refused = results.find((r) => r.code === 1)!;
    assert.match(refused.stderr, /is in use by 'train' \(pid \d+|already holds a run/);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.equal(metrics.length, 1);
    assert.equal(existsSync(join(out, LOCK_FILE)), false, 'the lock is released at the end');
  });

  it('a failed start (teacher path that does not exist) leaves no folder behind, and an existing empty folder empty', async () => {
    const base = scratchDir('bad-teacher');
    const args = ['train', '--data', run.root, '--set', '630', '--method', 'fnd', '--teacher', join(base, 'nonexistent'), '--quiet'];
    const fresh = join(base, 'fresh');
    const r = await runCli([...args, '--out', fresh]);
    assertOneLineError(r, /nonexistent: not a run folder/, assert);
    assert.equal(existsSync(fresh), false, 'no config.json (nor folder) left behind');
    const empty = join(base, 'empty');
    mkdirSync(empty);
    assert.equal((await runCli([...args, '--out', empty])).code, 1);
    assert.deepEqual(readdirSync(empty), []);
  });

  it('a failed start with a teacher of another set leaves the folder clean', async () => {
    const out = join(scratchDir('other-set'), 'run');
    const r = await runCli([
      'train', '--data', run.root, '--set', '519', '--method', 'fnd', '--teacher', run.runDir,
      '--backbone', 'convnet', '--width', '0.25', '--dim', '32', '--anchors', '8', '--out', out, '--quiet',
    ]);
    assertOneLineError(r, /trained on set 630 \(8 users\), but .*tuples_519 is set 519/, assert);
    assert.equal(existsSync(out), false);
  });

  it('a failed start on bad data leaves the folder clean', async () => {
    const base = scratchDir('bad-data');
    const out = join(base, 'run');
    const r = await runCli(['train', '--data', join(base, 'no-data'), '--set', '630', '--out', out, '--quiet']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /set folder not found/);
    assert.equal(existsSync(out), false);
  });

  it('a non-empty folder that is not a run is refused, naming it and what is in it; its files stay untouched', async () => {
    const out = scratchDir('not-a-run');
    writeFileSync(join(out, 'metrics.jsonl'), 'my own notes\n');
    writeFileSync(join(out, 'notes.txt'), 'x');
    const r = await runCli(['train', '--data', run.root, '--set', '630', '--out', out, '--quiet']);
    assertOneLineError(r, new RegExp(`--out ${out} is not empty and holds no run \\(it has metrics.jsonl, notes.txt\\)`), assert);
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), 'my own notes\n');
    assert.equal(existsSync(join(out, LOCK_FILE)), false);
  });

  it('experiment: a grid folder owned by another live process is refused before anything is written; a non-grid folder too', async () => {
    const out = join(scratchDir('grid'), 'out');
    plantLock(out, live.pid!);
    await assert.rejects(
      runExperiments(['main'], { data: run.root, out, quick: true, log: () => {} }),
      (err: unknown) => err instanceof UserError && new RegExp(`${out} is in use by 'train' \\(pid ${live.pid}`).test(err.message),
    );
    assert.deepEqual(readdirSync(out), [LOCK_FILE]);
    const other = scratchDir('grid-other');
    writeFileSync(join(other, 'thesis.tex'), 'x');
    await assert.rejects(
      runExperiments(['main'], { data: run.root, out: other, quick: true, log: () => {} }),
      /--out .* is not empty and holds no experiment grid \(it has thesis.tex\)/,
    );
    // a dataset kept inside the grid folder does not make it foreign
    const withData = scratchDir('grid-data');
    mkdirSync(join(withData, 'syn', 'tuples_630'), { recursive: true });
    checkExperimentFolder(withData, join(withData, 'syn'));
    assert.throws(() => checkExperimentFolder(withData, join(withData, 'elsewhere')), /holds no experiment grid \(it has syn\)/);
  });
});
