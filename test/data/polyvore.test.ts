import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { checkPolyvoreRoot, findImageDir, loadPolyvoreSet, throwIfProblems } from '../../src/data/polyvore.js';
import { computeStats, formatStats } from '../../src/data/stats.js';
import { DataError, DataErrors } from '../../src/errors.js';
import { problemsOf } from '../helpers/problems.js';

const FIXTURE = new URL('../fixtures/fhn-mini', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-polyvore-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A private copy of the fixture, so a test can break files without touching the repo. */
function copyFixture(): string {
  const root = join(scratch, `copy${copies++}`);
  cpSync(FIXTURE, root, { recursive: true });
  return root;
}

/** Replaces 1-based line `line` of a file (header = line 1). */
function setLine(root: string, rel: string, line: number, text: string): void {
  const path = join(root, rel);
  const lines = readFileSync(path, 'utf8').split('\n');
  lines[line - 1] = text;
  writeFileSync(path, lines.join('\n'));
}


/** Asserts that one of the problems names `file` (a path suffix) and `line`, with a detail matching `detail`. */
function assertProblem(problems: DataError[], file: string, line: number | undefined, detail: RegExp): DataError {
  const hit = problems.find((e) => e.file.endsWith(file) && e.line === line && detail.test(e.detail));
  assert.ok(hit, `no problem ${file}:${line} ${detail} among:\n${problems.map((e) => e.message).join('\n')}`);
  const where = line === undefined ? `${file}: ` : `${file}:${line}: `;
  assert.ok(hit.message.includes(where), `message "${hit.message}" should name ${where}`);
  return hit;
}

describe('loadPolyvoreSet on the fhn-mini fixture', () => {
  it('loads the fixed-length 630 folder with global item ids', () => {
    const set = loadPolyvoreSet(FIXTURE, '630', { requireImages: true });
    assert.equal(set.set, '630');
    assert.equal(set.variableLength, false);
    assert.deepEqual(set.slotCategories, [0, 1, 2]);
    assert.equal(set.numUsers, 3);
    assert.deepEqual(set.catalog.counts, [4, 3, 3]);
    assert.deepEqual(set.catalog.offsets, [0, 4, 7]);
    assert.deepEqual(Array.from(set.catalog.category), [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert.equal(set.catalog.names[5], 'bot_b.jpg');
    assert.equal(set.catalog.byName.get('shoe_c.jpg'), 9);
    const train = set.splits.train;
    assert.equal(train.posi.slots, 3);
    assert.deepEqual(Array.from(train.posi.users), [0, 0, 1, 2, 2]);
    // rows 0,0,0,0 / 0,1,1,0 / 1,2,1,1 / 2,3,2,2 / 2,0,2,1 with bottom +4 and shoe +7
    assert.deepEqual(Array.from(train.posi.items), [0, 4, 7, 1, 5, 7, 2, 5, 8, 3, 6, 9, 0, 6, 8]);
    assert.equal(train.nega.users.length, 50);
    // negative row 0 of train: 0,0,0,1 ; row 11 (second positive, k=1): 0,2,1,2
    assert.deepEqual(Array.from(train.nega.items.subarray(0, 3)), [0, 4, 8]);
    assert.deepEqual(Array.from(train.nega.items.subarray(33, 36)), [2, 5, 9]);
    assert.equal(train.negaHard, undefined);
    assert.equal(set.splits.test.negaHard?.users.length, 20);
    assert.deepEqual(Array.from(set.splits.val.posi.items), [1, 4, 9]);
    // FITB: 2 lines × 4 candidates, answer first
    assert.equal(set.fitb?.users.length, 8);
    assert.deepEqual(Array.from(set.fitb!.items.subarray(0, 6)), [2, 6, 8, 0, 6, 8]);
    assert.deepEqual(Array.from(set.fitb!.users.subarray(4)), [1, 1, 1, 1]);
  });

  it('loads the variable-length 519 folder, -1 only for the second top', () => {
    const set = loadPolyvoreSet(FIXTURE, '519', { requireImages: true });
    assert.equal(set.variableLength, true);
    assert.deepEqual(set.slotCategories, [0, 0, 1, 2]);
    assert.equal(set.numUsers, 2);
    assert.deepEqual(set.catalog.counts, [3, 2, 2]);
    // names without extension resolve to .png files
    assert.equal(set.catalog.names[0], 'vtop_a');
    // 0,0,1,0,0 / 0,2,-1,1,1 / 1,1,-1,0,1 / 1,0,2,1,0 (bottom +3, shoe +5)
    assert.deepEqual(Array.from(set.splits.train.posi.items), [0, 1, 3, 5, 2, -1, 4, 6, 1, -1, 3, 6, 0, 2, 4, 5]);
    assert.equal(set.splits.train.nega.users.length, 40);
    assert.equal(set.fitb, undefined);
  });

  it('computes the statistics counted by hand', () => {
    const s630 = computeStats(loadPolyvoreSet(FIXTURE, '630'));
    assert.equal(s630.users, 3);
    assert.equal(s630.catalogItems, 10);
    assert.equal(s630.fitbQuestions, 2);
    const train = s630.splits.train;
    assert.equal(train.positives, 5);
    assert.equal(train.negatives, 50);
    assert.equal(train.negativesPerPositive, 10);
    assert.equal(train.hardNegatives, undefined);
    assert.deepEqual(train.itemsPerCategory, [4, 3, 3]);
    assert.equal(train.items, 10);
    assert.equal(train.usersWithPositives, 3);
    assert.deepEqual(train.outfitsPerUser, { mean: 5 / 3, min: 1, max: 2 });
    assert.deepEqual(train.outfitSizes, { 3: 5 });
    assert.deepEqual(s630.splits.val.outfitsPerUser, { mean: 1 / 3, min: 0, max: 1 });
    assert.equal(s630.splits.val.items, 3);
    const test = s630.splits.test;
    assert.deepEqual(test.itemsPerCategory, [2, 2, 2]);
    assert.equal(test.hardNegatives, 20);
    assert.equal(test.hardNegativesPerPositive, 10);
    assert.equal(test.usersWithPositives, 2);

    const s519 = computeStats(loadPolyvoreSet(FIXTURE, '519'));
    // both top slots pool into "top"
    assert.deepEqual(s519.splits.train.itemsPerCategory, [3, 2, 2]);
    assert.deepEqual(s519.splits.train.outfitSizes, { 3: 2, 4: 2 });
    assert.deepEqual(s519.splits.test.itemsPerCategory, [2, 1, 2]);
    assert.deepEqual(s519.splits.test.outfitSizes, { 3: 1, 4: 1 });
    assert.deepEqual(s519.splits.val.outfitsPerUser, { mean: 0.5, min: 0, max: 1 });
    const text = formatStats(s519);
    assert.match(text, /^Polyvore-519: 2 users, 7 items/);
    assert.match(text, /^train\s+4\s+40 \(10 per positive\)/m);
  });

  it('reads only the requested splits but numbers users over every positives file', () => {
    const root = copyFixture();
    rmSync(join(root, 'tuples_630/tuples_test_nega'));
    // user 3 appears only in the test positives (and its negatives, now deleted)
    setLine(root, 'tuples_630/tuples_test_posi', 3, '3,3,0,0');
    const set = loadPolyvoreSet(root, '630', { splits: ['train'] });
    assert.equal(set.numUsers, 4);
    assert.equal(set.splits.train.posi.users.length, 5);
    assert.equal(set.splits.test.posi.users.length, 0);
    assert.equal(set.splits.test.nega.users.length, 0);
  });

  it('accepts CRLF line endings and no trailing newline', () => {
    const root = copyFixture();
    const path = join(root, 'tuples_630/tuples_train_posi');
    writeFileSync(path, readFileSync(path, 'utf8').trimEnd().replace(/\n/g, '\r\n'));
    const set = loadPolyvoreSet(root, '630');
    assert.deepEqual(Array.from(set.splits.train.posi.items.subarray(12)), [0, 6, 8]);
  });
});

describe('validation names the file and the line', () => {
  const cases: Array<{ name: string; edit: (root: string) => void; set: string; file: string; line: number | undefined; detail: RegExp; images?: boolean }> = [
    {
      name: 'wrong column count',
      edit: (r) => setLine(r, 'tuples_630/tuples_train_posi', 3, '0,1,1'),
      set: '630',
      file: 'tuples_630/tuples_train_posi',
      line: 3,
      detail: /expected 4 columns \(user,top,bottom,shoe\), found 3/,
    },
    {
      name: 'non-integer value',
      edit: (r) => setLine(r, 'tuples_630/tuples_val_posi', 2, '1,1,x,2'),
      set: '630',
      file: 'tuples_630/tuples_val_posi',
      line: 2,
      detail: /column 3 \(bottom\): "x" is not an integer/,
    },
    {
      name: 'a blank line in the middle',
      edit: (r) => setLine(r, 'tuples_630/tuples_train_posi', 4, ''),
      set: '630',
      file: 'tuples_630/tuples_train_posi',
      line: 4,
      detail: /empty line/,
    },
    {
      name: 'item index out of range for its image list',
      edit: (r) => setLine(r, 'tuples_630/tuples_test_posi', 3, '1,4,0,0'),
      set: '630',
      file: 'tuples_630/tuples_test_posi',
      line: 3,
      detail: /top index 4 out of range \(image_list_top has 4 items: 0\.\.3\)/,
    },
    {
      name: 'shoe index out of range in a negative',
      edit: (r) => setLine(r, 'tuples_519/tuples_val_nega', 7, '0,1,2,0,9'),
      set: '519',
      file: 'tuples_519/tuples_val_nega',
      line: 7,
      detail: /column 5 \(shoe\): shoe index 9 out of range/,
    },
    {
      name: '-1 in a fixed-length row',
      edit: (r) => setLine(r, 'tuples_630/tuples_train_posi', 2, '0,0,-1,0'),
      set: '630',
      file: 'tuples_630/tuples_train_posi',
      line: 2,
      detail: /column 3 \(bottom\): -1 \(absent item\) is only allowed for the second top/,
    },
    {
      name: '-1 in the first top of a variable-length row',
      edit: (r) => setLine(r, 'tuples_519/tuples_train_posi', 5, '1,-1,2,1,0'),
      set: '519',
      file: 'tuples_519/tuples_train_posi',
      line: 5,
      detail: /column 2 \(top\): -1 \(absent item\)/,
    },
    {
      name: 'negative user',
      edit: (r) => setLine(r, 'tuples_630/tuples_val_posi', 2, '-2,1,0,2'),
      set: '630',
      file: 'tuples_630/tuples_val_posi',
      line: 2,
      detail: /user -2 is negative/,
    },
    {
      name: 'user out of range in a hard-negative file',
      edit: (r) => setLine(r, 'tuples_630/tuples_test_nega_hard', 12, '5,0,0,0'),
      set: '630',
      file: 'tuples_630/tuples_test_nega_hard',
      line: 12,
      detail: /user 5 out of range: the positives files have users 0\.\.2/,
    },
    {
      name: 'negative row whose user differs from its positive',
      // line 13 = row 11, belongs to positive row 1 (user 0)
      edit: (r) => setLine(r, 'tuples_630/tuples_train_nega', 13, '1,2,1,2'),
      set: '630',
      file: 'tuples_630/tuples_train_nega',
      line: 13,
      detail: /user 1 differs from user 0 of its positive \(line 3 of .*tuples_train_posi/,
    },
    {
      name: 'negative file that is not 10 per positive',
      edit: (r) => {
        const path = join(r, 'tuples_519/tuples_test_nega');
        writeFileSync(path, readFileSync(path, 'utf8').trimEnd().split('\n').slice(0, -1).join('\n') + '\n');
      },
      set: '519',
      file: 'tuples_519/tuples_test_nega',
      line: undefined,
      detail: /19 rows, expected 10 per positive: 10 × 2 = 20/,
    },
    {
      name: 'duplicate name in an image list',
      edit: (r) => setLine(r, 'tuples_630/image_list_bottom', 3, 'bot_a.jpg'),
      set: '630',
      file: 'tuples_630/image_list_bottom',
      line: 3,
      detail: /duplicate image name "bot_a\.jpg" \(also on line 1\)/,
    },
    {
      name: 'missing image file',
      edit: (r) => rmSync(join(r, 'images/16x16/top_b.jpg')),
      set: '630',
      file: 'tuples_630/image_list_top',
      line: 2,
      detail: /image "top_b\.jpg" not found in .*images\/16x16/,
      images: true,
    },
    {
      name: 'FITB line without 4 outfits',
      edit: (r) => setLine(r, 'tuples_630/fill_in_blank_test', 3, '1,3,0,0,1,3,1,0,1,3,2,0'),
      set: '630',
      file: 'tuples_630/fill_in_blank_test',
      line: 3,
      detail: /expected 16 columns .* found 12/,
    },
    {
      name: 'FITB user out of range',
      edit: (r) => setLine(r, 'tuples_630/fill_in_blank_test', 2, '0,2,2,1,0,0,2,1,0,1,2,1,4,3,2,1'),
      set: '630',
      file: 'tuples_630/fill_in_blank_test',
      line: 2,
      detail: /outfit 4: user 4 out of range/,
    },
    {
      name: 'missing required file',
      edit: (r) => rmSync(join(r, 'tuples_519/tuples_val_posi')),
      set: '519',
      file: 'tuples_519/tuples_val_posi',
      line: undefined,
      detail: /missing \(required\)/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const root = copyFixture();
      c.edit(root);
      const problems = problemsOf(() => loadPolyvoreSet(root, c.set, { requireImages: c.images ?? false }));
      assertProblem(problems, c.file, c.line, c.detail);
    });
  }

  it('missing images are only a problem when images are required', () => {
    const root = copyFixture();
    rmSync(join(root, 'images'), { recursive: true });
    assert.equal(loadPolyvoreSet(root, '519').catalog.names.length, 7);
    assertProblem(problemsOf(() => loadPolyvoreSet(root, '519', { requireImages: true })), 'images', undefined, /no image folder found/);
  });
});

describe('checkPolyvoreRoot', () => {
  it('reports every problem of every set at once', () => {
    const root = copyFixture();
    setLine(root, 'tuples_630/tuples_train_posi', 3, '0,1,1');
    setLine(root, 'tuples_630/tuples_val_posi', 2, '1,1,7,2');
    setLine(root, 'tuples_519/tuples_test_posi', 2, '1,2,0,0,q');
    rmSync(join(root, 'images/16x16/vshoe_b.png'));
    const report = checkPolyvoreRoot(root);
    assert.deepEqual(
      report.sets.map((s) => [s.set, s.data === undefined, s.imagesChecked]),
      [
        ['519', true, true],
        ['630', true, true],
      ],
    );
    assertProblem(report.errors, 'tuples_630/tuples_train_posi', 3, /expected 4 columns/);
    assertProblem(report.errors, 'tuples_630/tuples_val_posi', 2, /bottom index 7 out of range/);
    assertProblem(report.errors, 'tuples_519/tuples_test_posi', 2, /column 5 \(shoe\): "q" is not an integer/);
    assertProblem(report.errors, 'tuples_519/image_list_shoe', 2, /image "vshoe_b" not found/);
    assert.equal(report.errors.length, 4);
    assert.throws(() => throwIfProblems(report.errors), (err: unknown) => err instanceof DataErrors && /^4 problems found:/.test(err.message));
  });

  it('is clean on the fixture and reports a root without set folders', () => {
    assert.deepEqual(checkPolyvoreRoot(FIXTURE).errors, []);
    const empty = join(scratch, 'empty');
    mkdirSync(empty, { recursive: true });
    assertProblem(checkPolyvoreRoot(empty).errors, 'empty', undefined, /no tuples_<set>\/ folder found/);
  });

  it('caps the problems listed per file', () => {
    const root = copyFixture();
    const path = join(root, 'tuples_630/tuples_train_nega');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^([02]),/gm, '$1,9'));
    const errors = checkPolyvoreRoot(root).errors.filter((e) => e.file === path);
    assert.equal(errors.length, 21);
    assert.match(errors[20].message, /more problems in this file not listed/);
  });
});

describe('findImageDir', () => {
  it('prefers 291x291, else the only size folder, and refuses to guess', () => {
    const root = join(scratch, 'imgdirs');
    mkdirSync(join(root, 'images/28x28'), { recursive: true });
    assert.deepEqual(findImageDir(root), { path: join(root, 'images/28x28'), width: 28, height: 28 });
    mkdirSync(join(root, 'images/64x32'));
    assert.throws(() => findImageDir(root), /several image size folders \(28x28, 64x32\)/);
    mkdirSync(join(root, 'images/291x291'));
    assert.equal(findImageDir(root)?.path, join(root, 'images/291x291'));
    assert.equal(findImageDir(join(scratch, 'nowhere')), undefined);
  });
});

describe('outfitrec data check / data stats', () => {
  const run = promisify(execFile);
  const bin = new URL('../../bin/outfitrec.js', import.meta.url).pathname;

  it('exits 0 with one summary line per set when clean, 1 listing all problems otherwise', async () => {
    const ok = await run('node', [bin, 'data', 'check', FIXTURE]);
    const lines = ok.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^tuples_630: ok: 3 users, 10 items, train\/val\/test positives 5\/1\/2/);

    const root = copyFixture();
    setLine(root, 'tuples_630/tuples_train_posi', 3, '0,1,1');
    setLine(root, 'tuples_519/image_list_top', 2, 'vtop_a');
    const bad = await run('node', [bin, 'data', 'check', root]).then(
      () => assert.fail('data check should fail'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^outfitrec: 2 problems found:/);
    assert.match(bad.stderr, /tuples_630\/tuples_train_posi:3: expected 4 columns/);
    assert.match(bad.stderr, /tuples_519\/image_list_top:2: duplicate image name "vtop_a"/);
    assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/); // no stack trace
  });

  it('prints stats as JSON', async () => {
    const { stdout } = await run('node', [bin, 'data', 'stats', FIXTURE, '--set', '630', '--json']);
    const stats = JSON.parse(stdout);
    assert.equal(stats.splits.train.items, 10);
    assert.equal(stats.splits.test.hardNegatives, 20);
  });
});
