/**
 * Reliability, one error path (issue 16 item 8; docs/reliability.md "Errors"): every filesystem
 * or database error a user can cause is one line naming the path and the cause, exit status 1,
 * no stack trace. Walks the audit's list: EISDIR (tuple file, image list), EACCES, ENOENT and a
 * file as `data stats` root, `train --out` on a file and under a file (ENOTDIR), ENOSPC, and
 * `serve --db` on a file that is not SQLite.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { reportError } from '../../src/cli/main.js';
import { userErrorOf, withPath } from '../../src/errors.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';
import { assertOneLineError, fixtureCopy, runCli, scratchDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

/** reportError's line and exit code for an error, stderr captured (it writes synchronously). */
function reported(err: unknown): { code: number; stderr: string } {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: reportError(err), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('reliability: every user-caused fs/db error is one line and exit 1', () => {
  let run: TinyRun;
  before(async () => {
    run = await tinyRun();
  });

  it('a tuple file that is a directory (EISDIR)', async () => {
    const root = fixtureCopy('eisdir');
    const file = join(root, 'tuples_630', 'tuples_train_posi');
    rmSync(file);
    mkdirSync(file);
    assertOneLineError(await runCli(['data', 'stats', root, '--set', '630']), new RegExp(`${file}: is a directory, expected a file`), assert);
  });

  it('an image list that is a directory (EISDIR)', async () => {
    const root = fixtureCopy('eisdir-list');
    const file = join(root, 'tuples_630', 'image_list_shoe');
    rmSync(file);
    mkdirSync(file);
    assertOneLineError(await runCli(['data', 'stats', root, '--set', '630']), new RegExp(`${file}: is a directory, expected a file`), assert);
  });

  it('an unreadable tuple file (EACCES)', { skip: isRoot ? 'root reads every file; the mapping is checked below' : false }, async () => {
    const root = fixtureCopy('eacces');
    const file = join(root, 'tuples_630', 'tuples_val_posi');
    chmodSync(file, 0);
    try {
      assertOneLineError(await runCli(['data', 'stats', root, '--set', '630']), new RegExp(`${file}: permission denied`), assert);
    } finally {
      chmodSync(file, 0o644);
    }
  });

  it('EACCES, ENOENT and ENOTDIR raised anywhere become one line naming the path', () => {
    for (const [code, cause] of [
      ['EACCES', 'permission denied'],
      ['ENOENT', 'no such file or directory'],
      ['ENOTDIR', 'a part of the path is not a directory'],
    ]) {
      const err = Object.assign(new Error(`${code}: x, open '/some/file'`), { code, syscall: 'open', path: '/some/file', errno: -1 });
      const r = reported(err);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `outfitrec: /some/file: ${cause} (${code}, open)\n`);
    }
  });

  it('a full disk (ENOSPC, a real one from /dev/full) names the file being written', () => {
    let err: unknown;
    const fd = openSync('/dev/full', 'w');
    try {
      writeSync(fd, Buffer.alloc(4096));
    } catch (e) {
      err = e;
    } finally {
      closeSync(fd);
    }
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    const r = reported(withPath(err, '/runs/a/weights.next.safetensors'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'outfitrec: /runs/a/weights.next.safetensors: no space left on the device (ENOSPC, write)\n');
    assert.equal(userErrorOf(new Error('a bug')), undefined, 'anything else stays an internal error');
  });

  it('data stats on a missing root, and on a file', async () => {
    const dir = scratchDir('stats');
    assertOneLineError(await runCli(['data', 'stats', join(dir, 'nope')]), /nope: dataset root not found/, assert);
    writeFileSync(join(dir, 'file'), 'x');
    assertOneLineError(await runCli(['data', 'stats', join(dir, 'file')]), /file: is a file, not a dataset root/, assert);
  });

  it('train --out on an existing file, and under a file (ENOTDIR)', async () => {
    const dir = scratchDir('out-file');
    const file = join(dir, 'taken');
    writeFileSync(file, 'not a run');
    const args = ['train', '--data', run.root, '--set', '630', '--quiet'];
    assertOneLineError(await runCli([...args, '--out', file]), new RegExp(`--out ${file} is a file, not a folder`), assert);
    assertOneLineError(await runCli([...args, '--out', join(file, 'sub')]), new RegExp(`${file}/sub: a part of the path is not a directory \\(ENOTDIR`), assert);
  });

  it('serve --db on a file that is not SQLite', async () => {
    const db = join(scratchDir('db'), 'users.sqlite');
    writeFileSync(db, 'this is not a database, just text\n'.repeat(200));
    const r = await runCli(['serve', '--run', run.runDir, '--data', run.root, '--db', db, '--port', '0']);
    assertOneLineError(r, new RegExp(`${db}: not an SQLite database \\(SQLITE_NOTADB`), assert);
  });

});
