import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { IQON_FORMAT, readIqon3000, scanJson } from '../../../src/data/import/iqon.js';
import type { ShopRecords } from '../../../src/data/import/records.js';
import { UserError } from '../../../src/errors.js';
import { problemMessages } from '../../helpers/data-problems.js';

const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-iqon-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface FixtureItem {
  itemId: string | number;
  'category x color': string;
  itemName?: string;
  price?: number;
  imgUrl?: string;
  /** Image file written into the outfit folder (default `<id>_m.jpg`); null: none. */
  file?: string | null;
}

/** A tiny PNG (sharp writes PNG whatever the extension says; the reader checks content, not names). */
async function png(path: string, shade: number): Promise<void> {
  await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: shade, g: 40, b: 200 - shade } } })
    .png()
    .toFile(path);
}

/** Writes `<root>/<user>/<set>/<set>.json` (pretty-printed, one key per line) and the item images. */
async function outfit(root: string, user: string, set: string, items: FixtureItem[], raw?: string): Promise<string> {
  const dir = join(root, user, set);
  mkdirSync(dir, { recursive: true });
  const entries = items.map(({ file: _file, ...item }) => ({ ...item, breadcrumb: ['レディース'], brands: [] }));
  const file = join(dir, `${set}.json`);
  writeFileSync(file, raw ?? JSON.stringify({ setId: Number(set), setUrl: `https://example.invalid/${set}`, likeCount: 3, user: Number(user), items: entries }, null, 2));
  for (const [k, item] of items.entries()) {
    if (item.file === null) continue;
    await png(join(dir, item.file ?? `${item.itemId}_m.jpg`), 10 * k + 20);
  }
  return file;
}

let roots = 0;
function newRoot(): string {
  const root = join(scratch, `root${roots++}`);
  mkdirSync(root);
  return root;
}

/** Three users, five outfits: a reused item, a cosmetic, an imgUrl image, a one-category outfit, an unknown category. */
async function goodTree(root: string): Promise<void> {
  await outfit(root, '1001', '101', [
    { itemId: 1, 'category x color': 'トップス × ホワイト', itemName: '白シャツ', price: 3990 },
    { itemId: 2, 'category x color': 'スカート × ブラック' },
    { itemId: 3, 'category x color': 'パンプス × ベージュ' },
    { itemId: 9, 'category x color': 'コスメ × レッド' },
  ]);
  await outfit(root, '1001', '102', [
    { itemId: 1, 'category x color': 'トップス × ホワイト', file: null },
    { itemId: 4, 'category x color': 'ロングパンツ × ネイビー' },
    { itemId: 5, 'category x color': 'ショルダーバッグ × ブラウン' },
  ]);
  await outfit(root, '1002', '201', [
    { itemId: '6', 'category x color': 'Tシャツ × グレー' },
    { itemId: 7, 'category x color': 'スニーカー × ホワイト', imgUrl: 'https://example.invalid/img/abc_7.png?x=1', file: 'abc_7.png' },
  ]);
  await outfit(root, '1002', '202', [
    { itemId: 8, 'category x color': 'ネックレス × ゴールド' },
    { itemId: 10, 'category x color': 'ピアス × シルバー' },
  ]);
  await outfit(root, '1003', '301', [
    { itemId: 2, 'category x color': 'スカート × ブラック' },
    { itemId: 6, 'category x color': 'Tシャツ × グレー' },
    { itemId: 11, 'category x color': 'ナゾ × ブルー' },
  ]);
}

describe('IQON3000 reader (method.md §6.6)', () => {
  it('maps the user / set / JSON tree onto ShopRecords', async () => {
    const root = newRoot();
    await goodTree(root);
    const notes: string[] = [];
    const records: ShopRecords = await IQON_FORMAT.read(root, { note: (n) => notes.push(n) });
    assert.equal(IQON_FORMAT.name, 'iqon3000');
    assert.equal(records.origin, root);
    assert.deepEqual(
      records.outfits.map((o) => [o.user, o.items.join(';'), o.source.file.slice(root.length)]),
      [
        ['1001', '1;2;3', '/1001/101/101.json'],
        ['1001', '1;4;5', '/1001/102/102.json'],
        ['1002', '6;7', '/1002/201/201.json'],
        ['1003', '2;6', '/1003/301/301.json'],
      ],
    );
    assert.ok(records.outfits.every((o) => o.timestamp === undefined), 'IQON3000 has no dates');
    const byId = new Map(records.items.map((i) => [i.id, i]));
    assert.deepEqual([...byId.keys()], ['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(
      records.items.map((i) => i.category),
      ['top', 'bottom', 'shoes', 'bottom', 'bag', 'top', 'shoes'],
    );
    const shirt = byId.get('1')!;
    assert.equal(shirt.title, '白シャツ');
    assert.deepEqual(shirt.attributes, { source_category: 'トップス', color: 'ホワイト', price: '3990' });
    assert.equal(shirt.image, join(root, '1001', '101', '1_m.jpg'), 'a reused item keeps the image of the outfit where it was found');
    assert.equal(byId.get('7')!.image, join(root, '1002', '201', 'abc_7.png'), 'the file name of imgUrl is the fallback');
    // the item's source is the line where its entry starts in the pretty-printed JSON
    const lines = (await import('node:fs')).readFileSync(join(root, '1001', '101', '101.json'), 'utf8').split('\n');
    assert.equal(shirt.source.file, join(root, '1001', '101', '101.json'));
    assert.equal(lines[shirt.source.line! - 1].trim(), '{');
    assert.match(lines[shirt.source.line!], /"itemId": 1,/);
    assert.deepEqual(notes, [
      '1 items of categories not worn left out of their outfits: コスメ (1)',
      '1 items of categories not in the IQON3000 table left out of their outfits: ナゾ (1)',
      '1 outfit dropped: fewer than two categories',
    ]);
  });

  it('fine categories keep one English name per IQON category', async () => {
    const root = newRoot();
    await goodTree(root);
    const records = await readIqon3000(root, { iqonCategories: 'fine' });
    assert.deepEqual(
      records.items.map((i) => i.category),
      ['tops', 'skirt', 'pumps', 'long-pants', 'shoulder-bag', 't-shirt', 'sneakers', 'necklace', 'earrings'],
    );
    // 202 (necklace + earrings) now holds two categories and stays
    assert.equal(records.outfits.length, 5);
  });

  it('reports every malformed file, missing field and missing image with file:line, together', async () => {
    const root = newRoot();
    await goodTree(root);
    const broken = await outfit(root, '1003', '302', [], '{\n  "setId": 302,\n  "items": [\n    {"itemId": 1}\n    {"itemId": 2}\n  ]\n}\n');
    const noId = await outfit(root, '1003', '303', [
      { itemId: 12, 'category x color': 'ニット × ホワイト' },
      { itemId: '', 'category x color': 'ブーツ × ブラック' },
      { itemId: 13, 'category x color': '' },
    ]);
    const noImage = await outfit(root, '1003', '304', [
      { itemId: 14, 'category x color': 'ニット × ホワイト', file: null },
      { itemId: 15, 'category x color': 'ブーツ × ブラック' },
    ]);
    mkdirSync(join(root, '1003', '305'));
    let err: unknown;
    await readIqon3000(root).catch((e: unknown) => (err = e));
    assert.ok(err instanceof UserError, 'a data problem is a user error (one line each, no stack)');
    const problems = problemMessages(err);
    assert.deepEqual(problems.slice(0, 4), [
      `${broken}:5: malformed JSON: expected ',' or ']', found "{"`,
      `${noId}:15: items[1]: missing or empty itemId`,
      `${noId}:23: item 13: missing or empty 'category x color'`,
      `${join(root, '1003', '305')}: no 305.json in the outfit folder`,
    ]);
    assert.equal(problems.length, 4, 'structural problems stop before the image check');
    rmSync(join(broken, '..'), { recursive: true });
    rmSync(join(root, '1003', '303'), { recursive: true });
    rmSync(join(root, '1003', '305'), { recursive: true });
    writeFileSync(join(root, '1001', '101', '3_m.jpg'), 'not an image');
    const imageProblems = problemMessages(await readIqon3000(root).then(() => assert.fail('expected image problems'), (e: unknown) => e));
    assert.equal(imageProblems.length, 2, imageProblems.join('\n'));
    assert.match(imageProblems[0], new RegExp(`^${escape(join(root, '1001', '101', '101.json'))}:\\d+: item 3: image .*3_m\\.jpg cannot be decoded`));
    assert.match(imageProblems[1], new RegExp(`^${escape(noImage)}:\\d+: item 14: image .*14_m\\.jpg not found$`));
  });

  it("missingImages 'skip' drops the item's outfits and says so", async () => {
    const root = newRoot();
    await goodTree(root);
    rmSync(join(root, '1001', '101', '3_m.jpg'));
    const notes: string[] = [];
    const records = await readIqon3000(root, { missingImages: 'skip', note: (n) => notes.push(n) });
    assert.deepEqual(records.outfits.map((o) => o.items.join(';')), ['1;4;5', '6;7', '2;6']);
    assert.ok(!records.items.some((i) => i.id === '3'));
    assert.ok(notes.includes('1 outfit dropped: an item\'s image is missing or undecodable (1 item skipped)'), notes.join('\n'));
  });

  it('scanJson finds the line of the first syntax error and of each entry of "items"', () => {
    assert.deepEqual(scanJson('{"a": [1,\n2],\n "items": [\n{"x": "}"},\n\n  3]}'), { itemLines: [4, 6], itemsLine: 3 });
    assert.deepEqual(scanJson('{"a": 1,\n"b": tru}').error, { line: 2, message: 'unexpected "t"' });
    assert.deepEqual(scanJson('{"a": "x\ny"}').error, { line: 1, message: 'control character inside a string' });
    assert.deepEqual(scanJson('{"a": 1}\n\n x').error, { line: 3, message: 'unexpected "x" after the JSON value' });
    assert.deepEqual(scanJson('').error, { line: 1, message: 'unexpected the end of the file' });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
