/**
 * One malformed shop folder per rule of docs/method.md §6.4: each import fails with `file:line:`
 * naming the offending line, exits 1 through the CLI, and writes nothing (no --out, no temp folder).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { makeShop, outfitsCsv, writeShop, type ShopFixture } from '../../helpers/make-shop.js';
import { runCli, scratchDir } from '../../reliability/helpers.js';

let base: ShopFixture;
let scratch: string;

before(async () => {
  scratch = scratchDir('import-bad');
  base = await makeShop(join(scratch, 'base'), 4);
});

/** A private copy of the fixture with `change` applied to its records (files rewritten). */
function variant(label: string, change: (shop: ShopFixture) => void): ShopFixture {
  const dir = join(scratch, label);
  cpSync(base.dir, dir, { recursive: true });
  const shop: ShopFixture = structuredClone({ ...base, dir });
  change(shop);
  writeShop(shop);
  return shop;
}

/** Line of outfit k in outfits.csv (header = line 1). */
const outfitLine = (k: number): number => k + 2;
/** Line of item k in items.csv. */
const itemLine = (k: number): number => k + 2;

/** Runs the import and checks: exit 1, the expected `file:line: …` message, nothing written. */
async function expectRejected(shop: ShopFixture, file: string, line: number, detail: RegExp, extra: string[] = []): Promise<void> {
  const parent = join(scratch, `out-${shop.dir.split('/').pop()}`);
  const out = join(parent, 'data');
  const r = await runCli(['data', 'import', shop.dir, '--out', out, ...extra]);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  const where = `${join(shop.dir, file)}:${line}: `;
  assert.ok(r.stderr.includes(where), `expected "${where}" in: ${r.stderr}`);
  assert.match(r.stderr, detail);
  assert.equal(existsSync(out), false, 'nothing written');
  assert.deepEqual(existsSync(parent) ? readdirSync(parent) : [], [], 'no temp folder left');
}

describe('data import: malformed shop folders (file:line, exit 1, nothing written)', () => {
  it('unknown item', async () => {
    const shop = variant('unknown-item', (s) => s.outfits[2].items.push('no-such-item'));
    await expectRejected(shop, 'outfits.csv', outfitLine(2), /unknown item "no-such-item"/);
  });

  it('unknown category when --categories restricts them', async () => {
    const k = base.items.findIndex((it) => it.category === 'bag');
    await expectRejected(variant('unknown-category', () => {}), 'items.csv', itemLine(k), /unknown category "bag"/, ['--categories', 'top,bottom,shoe,outerwear,accessory']);
  });

  it('missing image', async () => {
    const shop = variant('missing-image', (s) => (s.items[3].image = 'img/gone.png'));
    await expectRejected(shop, 'items.csv', itemLine(3), /gone\.png not found/);
  });

  it('undecodable image', async () => {
    const shop = variant('bad-image', () => {});
    writeFileSync(join(shop.dir, shop.items[5].image), 'not an image at all');
    await expectRejected(shop, 'items.csv', itemLine(5), /cannot be decoded/);
  });

  it('duplicate item id', async () => {
    const shop = variant('duplicate-id', (s) => (s.items[7].id = s.items[1].id));
    await expectRejected(shop, 'items.csv', itemLine(7), new RegExp(`duplicate item id "${base.items[1].id}" \\(also on line ${itemLine(1)}\\)`));
  });

  it('empty outfit', async () => {
    const shop = variant('empty-outfit', (s) => (s.outfits[4].items = []));
    await expectRejected(shop, 'outfits.csv', outfitLine(4), /empty outfit/);
  });

  it('outfit with fewer than two distinct categories', async () => {
    const shop = variant('one-category', (s) => (s.outfits[1].items = ['top-0', 'top-1']));
    await expectRejected(shop, 'outfits.csv', outfitLine(1), /only category "top"/);
  });

  it('an item twice in one outfit', async () => {
    const shop = variant('item-twice', (s) => s.outfits[3].items.push(s.outfits[3].items[0]));
    await expectRejected(shop, 'outfits.csv', outfitLine(3), new RegExp(`item "${base.outfits[3].items[0]}" twice`));
  });

  it('more items of a category than --max-per-category', async () => {
    const k = base.outfits.findIndex((o) => o.items.filter((id) => id.startsWith('accessory-')).length === 2);
    assert.ok(k >= 0, 'the fixture has an outfit with two accessories');
    await expectRejected(variant('too-many', () => {}), 'outfits.csv', outfitLine(k), /2 items of category "accessory", more than --max-per-category 1/, ['--max-per-category', '1']);
  });

  it('missing header in items.csv', async () => {
    const shop = variant('no-header', () => {});
    const path = join(shop.dir, 'items.csv');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.slice(text.indexOf('\n') + 1));
    await expectRejected(shop, 'items.csv', 1, /no header line/);
  });

  it('bad header in outfits.csv', async () => {
    const shop = variant('bad-header', () => {});
    writeFileSync(join(shop.dir, 'outfits.csv'), outfitsCsv(shop.outfits).replace('user,items,timestamp', 'customer,items,timestamp'));
    await expectRejected(shop, 'outfits.csv', 1, /lacks the column user/);
  });

  it('outfits.jsonl: a line that is not JSON, at its line (blank lines counted)', async () => {
    const shop = variant('jsonl', () => {});
    rmSync(join(shop.dir, 'outfits.csv'));
    const lines = shop.outfits.map((o) => JSON.stringify({ user: o.user, items: o.items }));
    lines.splice(2, 0, '', '{"user": "x", "items": [');
    writeFileSync(join(shop.dir, 'outfits.jsonl'), lines.join('\n') + '\n');
    await expectRejected(shop, 'outfits.jsonl', 4, /not valid JSON/);
  });

  it('several problems are reported together', async () => {
    const shop = variant('several', (s) => {
      s.outfits[0].items.push('ghost');
      s.outfits[5].items = ['top-0', 'top-1'];
    });
    const r = await runCli(['data', 'import', shop.dir, '--out', join(scratch, 'out-several', 'data')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /2 problems found/);
    assert.ok(r.stderr.includes(`outfits.csv:${outfitLine(0)}: unknown item "ghost"`), r.stderr);
    assert.ok(r.stderr.includes(`outfits.csv:${outfitLine(5)}: outfit holds only category "top"`), r.stderr);
  });
});
