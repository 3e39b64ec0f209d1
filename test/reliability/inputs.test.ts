/**
 * Reliability, inputs (issue 16 items 5 and 6; docs/reliability.md "What is validated"): limits
 * that follow from the data (user ids dense and bounded by the positive rows), documented maxima
 * of `data synth --users`, and CSV headers checked with the expected header in the message.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { generateSynthetic } from '../../src/data/synth/generate.js';
import { DataError, DataErrors, UserError } from '../../src/errors.js';
import { fixtureCopy, runCli, scratchDir } from './helpers.js';

const TUPLE_FILES = ['tuples_train_posi', 'tuples_val_posi', 'tuples_test_posi', 'tuples_train_nega', 'tuples_val_nega', 'tuples_test_nega', 'tuples_test_nega_hard', 'fill_in_blank_test'];

/** Renames user `from` to `to` in every tuple file of tuples_630 (every outfit group's user column). */
function renameUser(root: string, from: number, to: number): void {
  for (const name of TUPLE_FILES) {
    const file = join(root, 'tuples_630', name);
    if (!existsSync(file)) continue;
    const [header, ...rows] = readFileSync(file, 'utf8').split('\n');
    const mapped = rows.map((row) =>
      row === '' ? row : row.split(',').map((v, k) => (k % 4 === 0 && Number(v) === from ? String(to) : v)).join(','),
    );
    writeFileSync(file, [header, ...mapped].join('\n'));
  }
}

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataError || err instanceof DataErrors) return err.message;
    throw err;
  }
  assert.fail('expected a data error');
}

describe('reliability: inputs that passed checks and then exploded', () => {
  it('a user id of 2,000,000,000 consistent across files is an error naming file and line, found at once', async () => {
    const root = fixtureCopy('bigid');
    renameUser(root, 2, 2_000_000_000);
    const started = performance.now();
    const message = problemsOf(() => loadPolyvoreSet(root, '630'));
    assert.ok(performance.now() - started < 2000, 'no per-user array is sized by the id');
    assert.match(message, /tuples_630\/tuples_train_posi:\d+: user 2000000000 out of bounds: .* 8 positive rows .* allow ids up to 7/);
    // data check now fails too (it passed before), and data stats says the same instead of running for minutes
    const check = await runCli(['data', 'check', root, '--no-images']);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /user 2000000000 out of bounds/);
    const stats = await runCli(['data', 'stats', root, '--set', '630']);
    assert.equal(stats.code, 1);
    assert.match(stats.stderr, /user 2000000000 out of bounds/);
  });

  it('user ids with gaps are refused: every id 0..U-1 needs a positive', () => {
    const root = fixtureCopy('gap');
    renameUser(root, 2, 5);
    assert.match(problemsOf(() => loadPolyvoreSet(root, '630')), /user ids are not dense: users 2, 3, 4 of 0\.\.5 have no positive/);
  });

  it('data synth --users beyond the documented maximum is refused before anything is written', async () => {
    const out = join(scratchDir('synth'), 'data');
    const started = performance.now();
    await assert.rejects(
      generateSynthetic({ preset: 'tiny', out, users: 100_000_000, images: 'procedural', log: () => {} }),
      (err: unknown) => err instanceof UserError && /--users 100000000 is more than preset 'tiny' allows: at most 2520/.test(err.message),
    );
    assert.ok(performance.now() - started < 2000);
    assert.equal(existsSync(out), false);
    const cli = await runCli(['data', 'synth', '--preset', 'syn-53', '--out', out, '--users', '213']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /at most 212/);
  });

  it('a garbage header is an error on line 1 that shows the expected header', () => {
    const root = fixtureCopy('header');
    const file = join(root, 'tuples_630', 'tuples_train_posi');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^user,top,bottom,shoe/, 'uid,a,b,c'));
    assert.match(problemsOf(() => loadPolyvoreSet(root, '630')), /tuples_train_posi:1: header "uid,a,b,c" is not the expected "user,top,bottom,shoe"/);
  });

  it('a file without a header is an error, not a silently lost first row (FITB keeps its question count)', () => {
    const root = fixtureCopy('noheader');
    const file = join(root, 'tuples_630', 'fill_in_blank_test');
    writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(1).join('\n'));
    assert.match(
      problemsOf(() => loadPolyvoreSet(root, '630')),
      /fill_in_blank_test:1: no header line: line 1 is data \("0,2,2,1,.*"\); the file must start with the header "user,top,bottom,shoe,user,top,bottom,shoe,/,
    );
  });

  it('headers differing only in case or spaces are accepted (the untouched fixture loads)', () => {
    const root = fixtureCopy('headercase');
    const file = join(root, 'tuples_630', 'tuples_val_posi');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^user,top,bottom,shoe/, 'User, Top ,bottom,SHOE'));
    const set = loadPolyvoreSet(root, '630');
    assert.equal(set.numUsers, 3);
    assert.equal(set.fitb!.users.length / 4, 2);
  });
});
