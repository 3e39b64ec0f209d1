/**
 * A good import (docs/method.md §6.4): six categories, outfits of 2..6 items, 12 users. The files
 * are checked directly (the reader of layout.json sets is not part of this branch): layout.json
 * byte for byte, per-user split sizes, rows that decode back to the source outfits, negatives that
 * keep the slot pattern and never equal a positive, hard negatives that are other users' outfits,
 * FITB lines, and seeded determinism (same seed → identical folder, another seed → other files).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadPolyvoreSet } from '../../../src/data/polyvore.js';
import { makeShop, writeShop, type ShopFixture } from '../../helpers/make-shop.js';
import { runCli, scratchDir } from '../../reliability/helpers.js';

const SPLIT_NAMES = ['train', 'val', 'test'] as const;

let shop: ShopFixture;
let scratch: string;
let out: string;
let stdout: string;

before(async () => {
  scratch = scratchDir('import-good');
  shop = await makeShop(join(scratch, 'shop'));
  out = join(scratch, 'a');
  const r = await runCli(['data', 'import', shop.dir, '--out', out, '--seed', '7']);
  assert.equal(r.code, 0, r.stderr);
  stdout = r.stdout;
});

interface Table {
  header: string;
  rows: number[][];
}

function readTable(path: string): Table {
  const [header, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  return { header, rows: lines.map((l) => l.split(',').map(Number)) };
}

/** Everything a set folder says, decoded to source ids. */
interface SetView {
  dir: string;
  layout: { categories: string[]; slots: string[]; required: boolean[]; minItems: number; newUsers?: string };
  users: string[];
  /** per category: per-category index → source item id */
  ids: Map<string, string[]>;
  table(name: string): Table;
  /** A row's item ids (slot order, absent slots skipped). */
  decode(row: number[]): string[];
}

function view(set: string): SetView {
  const dir = join(out, `tuples_${set}`);
  const layout = JSON.parse(readFileSync(join(dir, 'layout.json'), 'utf8')) as SetView['layout'];
  const items = JSON.parse(readFileSync(join(dir, 'items.json'), 'utf8')) as Record<string, { id: string }>;
  const ids = new Map(
    layout.categories.map((c) => [c, readFileSync(join(dir, `image_list_${c}`), 'utf8').trimEnd().split('\n').map((name) => items[name].id)]),
  );
  return {
    dir,
    layout,
    users: JSON.parse(readFileSync(join(dir, 'users.json'), 'utf8')) as string[],
    ids,
    table: (name) => readTable(join(dir, name)),
    decode: (row) => layout.slots.flatMap((c, j) => (row[j + 1] === -1 ? [] : [(ids.get(c) as string[])[row[j + 1]]])),
  };
}

const key = (ids: string[]): string => [...ids].sort().join('|');

function outfitsOf(user: string): ShopFixture['outfits'] {
  return shop.outfits.filter((o) => o.user === user);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

describe('data import: a six-category shop', () => {
  it('writes layout.json from the data: categories by frequency, slots, required, minItems', () => {
    // categories by descending number of outfit items, ties by name
    const freq = new Map<string, number>();
    for (const o of shop.outfits) for (const id of o.items) freq.set(id.split('-')[0], (freq.get(id.split('-')[0]) ?? 0) + 1);
    const categories = [...freq.keys()].sort((a, b) => (freq.get(b) as number) - (freq.get(a) as number) || a.localeCompare(b));
    assert.deepEqual(categories, ['top', 'bottom', 'shoe', 'accessory', 'bag', 'outerwear'], 'the fixture fixes this order');
    const expected = {
      format: 'outfitrec-set',
      version: 1,
      categories,
      // two accessories at most in one outfit; every outfit has a top, no other category is in all
      slots: ['top', 'bottom', 'shoe', 'accessory', 'accessory', 'bag', 'outerwear'],
      required: [true, false, false, false, false, false, false],
      minItems: 2,
      newUsers: 'shop-new',
    };
    assert.equal(readFileSync(join(out, 'tuples_shop', 'layout.json'), 'utf8'), JSON.stringify(expected, null, 2) + '\n');
    const { newUsers: _, ...newLayout } = expected;
    assert.equal(readFileSync(join(out, 'tuples_shop-new', 'layout.json'), 'utf8'), JSON.stringify(newLayout, null, 2) + '\n');
    assert.match(stdout, /tuples_shop: 11 warm users/);
    assert.match(stdout, /tuples_shop-new: 1 new users/);
  });

  it('splits each warm user 80/10/10 (≥ 1 test from 3 outfits, the newest last when timestamped) and new users half/half', () => {
    // n outfits → train/val/test
    const warmSizes: Record<number, number[]> = { 3: [2, 0, 1], 4: [3, 0, 1], 5: [3, 1, 1], 6: [4, 1, 1], 7: [5, 1, 1], 8: [6, 1, 1] };
    const newSizes: Record<number, number[]> = { 3: [1, 0, 2], 4: [2, 0, 2], 5: [2, 0, 3], 6: [3, 0, 3], 7: [3, 0, 4], 8: [4, 0, 4] };
    const seen = new Set<string>();
    for (const [set, sizes] of [['shop', warmSizes], ['shop-new', newSizes]] as const) {
      const v = view(set);
      v.users.forEach((user, u) => {
        seen.add(user);
        const own = outfitsOf(user);
        const counts = SPLIT_NAMES.map((s) => v.table(`tuples_${s}_posi`).rows.filter((r) => r[0] === u).length);
        assert.deepEqual(counts, sizes[own.length], `${set} user ${user} (${own.length} outfits)`);
        // every row is one of the user's outfits, and together they are all of them
        const rows = SPLIT_NAMES.flatMap((s) => v.table(`tuples_${s}_posi`).rows.filter((r) => r[0] === u).map((r) => key(v.decode(r))));
        assert.deepEqual(rows.sort(), own.map((o) => key(o.items)).sort());
        if (own[0].timestamp !== undefined) {
          // the fixture lists timestamped outfits newest first: the newest is the last of test
          const test = v.table('tuples_test_posi').rows.filter((r) => r[0] === u);
          assert.equal(key(v.decode(test[test.length - 1])), key(own[0].items), `newest outfit of ${user} in test`);
          const train = v.table('tuples_train_posi').rows.filter((r) => r[0] === u);
          assert.equal(key(v.decode(train[0])), key(own[own.length - 1].items), `oldest outfit of ${user} first in train`);
        }
      });
    }
    assert.equal(seen.size, 12, 'every user is in one set');
  });

  it('negatives: 10 per positive, same user and slot pattern, items of the slot category, never a positive of the split', () => {
    for (const set of ['shop', 'shop-new']) {
      const v = view(set);
      for (const split of SPLIT_NAMES) {
        const posi = v.table(`tuples_${split}_posi`);
        const nega = v.table(`tuples_${split}_nega`);
        assert.equal(nega.header, posi.header);
        assert.equal(posi.header, ['user', ...v.layout.slots].join(','));
        assert.equal(nega.rows.length, 10 * posi.rows.length, `${set} ${split}`);
        const positives = new Set(posi.rows.map((r) => key(v.decode(r))));
        nega.rows.forEach((row, i) => {
          const p = posi.rows[Math.floor(i / 10)];
          assert.equal(row[0], p[0], 'user of its positive');
          assert.deepEqual(row.map((x) => x === -1), p.map((x) => x === -1), 'slot pattern of its positive');
          v.layout.slots.forEach((c, j) => assert.ok(row[j + 1] < (v.ids.get(c) as string[]).length, `slot ${j} indexes image_list_${c}`));
          const ids = v.decode(row);
          assert.equal(new Set(ids).size, ids.length, 'no item twice');
          assert.equal(positives.has(key(ids)), false, `${set} ${split} negative ${i} is a positive`);
        });
      }
    }
  });

  it('hard negatives are other users\' outfits; FITB lines hold the answer then 3 one-slot changes', () => {
    const v = view('shop');
    const byKey = new Map<string, Set<number>>();
    for (const split of SPLIT_NAMES) {
      for (const r of v.table(`tuples_${split}_posi`).rows) {
        const k = key(v.decode(r));
        byKey.set(k, (byKey.get(k) ?? new Set()).add(r[0]));
      }
    }
    for (const split of SPLIT_NAMES) {
      const posi = v.table(`tuples_${split}_posi`);
      const hard = v.table(`tuples_${split}_nega_hard`);
      assert.equal(hard.rows.length, 10 * posi.rows.length);
      hard.rows.forEach((row, i) => {
        const user = posi.rows[Math.floor(i / 10)][0];
        assert.equal(row[0], user);
        const makers = byKey.get(key(v.decode(row)));
        assert.ok(makers && [...makers].some((m) => m !== user), 'an outfit another user made');
      });
    }
    const fitb = v.table('fill_in_blank_test');
    const test = v.table('tuples_test_posi');
    const width = 1 + v.layout.slots.length;
    assert.equal(fitb.rows.length, test.rows.length);
    fitb.rows.forEach((line, q) => {
      const outfits = [0, 1, 2, 3].map((k) => line.slice(k * width, (k + 1) * width));
      assert.deepEqual(outfits[0], test.rows[q], 'the answer is the test positive');
      const changed = outfits.slice(1).map((o) => o.map((x, j) => (x !== outfits[0][j] ? j : -1)).filter((j) => j >= 0));
      assert.ok(changed.every((c) => c.length === 1 && c[0] === changed[0][0]), 'the candidates differ from the answer in the same one slot');
      assert.equal(new Set(outfits.slice(1).map((o) => o[changed[0][0]])).size, 3, 'three different wrong items');
    });
    assert.equal(existsNegaHard('shop-new'), false, 'one new user: no other user for hard negatives');
  });

  it('images: one file per item named after it, items.json and users.json', () => {
    const v = view('shop');
    const items = JSON.parse(readFileSync(join(v.dir, 'items.json'), 'utf8')) as Record<string, { id: string; title?: string; attributes?: Record<string, string> }>;
    assert.equal(Object.keys(items).length, shop.items.length);
    for (const it of shop.items) {
      const entry = items[it.id];
      assert.deepEqual(entry, { id: it.id, title: it.title, attributes: { colour: it.colour } });
      const image = join(out, 'images', `${it.id}.png`);
      assert.deepEqual(readFileSync(image), readFileSync(join(shop.dir, it.image)));
    }
    assert.equal(readdirSync(join(out, 'images')).length, shop.items.length);
  });

  it('same seed → byte-identical folder; another seed → other splits and negatives', async () => {
    const again = join(scratch, 'b');
    assert.equal((await runCli(['data', 'import', shop.dir, '--out', again, '--seed', '7'])).code, 0);
    const files = filesUnder(out);
    assert.deepEqual(filesUnder(again), files);
    for (const f of files) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(again, f))), `${f} differs`);
    const other = join(scratch, 'c');
    assert.equal((await runCli(['data', 'import', shop.dir, '--out', other, '--seed', '8'])).code, 0);
    assert.ok(!readFileSync(join(out, 'tuples_shop', 'tuples_train_nega')).equals(readFileSync(join(other, 'tuples_shop', 'tuples_train_nega'))));
  });

  it('refuses an --out folder that is not empty, and accepts an empty one', async () => {
    const taken = join(scratch, 'taken');
    mkdirSync(taken);
    writeFileSync(join(taken, 'keep.txt'), 'mine\n');
    const r = await runCli(['data', 'import', shop.dir, '--out', taken]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /folder exists and is not empty/);
    assert.deepEqual(readdirSync(taken), ['keep.txt']);
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    assert.equal((await runCli(['data', 'import', shop.dir, '--out', empty, '--new-users', '0'])).code, 0);
    assert.deepEqual(readdirSync(empty).sort(), ['images', 'tuples_shop']);
  });
});

describe('data import: an FHN-shaped shop', () => {
  it('one top, bottom and shoe per outfit gives the 630 layout, and today\'s Polyvore reader loads the folder', async () => {
    const dir = join(scratchDir('import-fhn'), 'shop');
    const fhn = await makeShop(dir, 0);
    fhn.items = fhn.items.filter((it) => ['top', 'bottom', 'shoe'].includes(it.category));
    for (let u = 0; u < 10; u++) {
      for (let o = 0; o < 3 + (u % 4); o++) fhn.outfits.push({ user: `u${u}`, items: [`top-${(u + o) % 8}`, `bottom-${(u * 2 + o) % 6}`, `shoe-${(u + 3 * o) % 6}`] });
    }
    writeShop(fhn);
    const root = join(dir, '..', 'data');
    const r = await runCli(['data', 'import', dir, '--out', root, '--categories', 'top,bottom,shoe']);
    assert.equal(r.code, 0, r.stderr);
    const layout = JSON.parse(readFileSync(join(root, 'tuples_shop', 'layout.json'), 'utf8')) as { slots: string[]; required: boolean[]; minItems: number };
    assert.deepEqual([layout.slots, layout.required, layout.minItems], [['top', 'bottom', 'shoe'], [true, true, true], 3]);
    for (const set of ['shop', 'shop-new']) {
      const loaded = loadPolyvoreSet(root, set);
      assert.deepEqual(loaded.catalog.counts, [8, 6, 6]);
      assert.equal(loaded.numUsers, (JSON.parse(readFileSync(join(root, `tuples_${set}`, 'users.json'), 'utf8')) as string[]).length);
      assert.equal(loaded.splits.test.nega.users.length, 10 * loaded.splits.test.posi.users.length);
    }
  });
});

describe('data import: a failure while writing leaves nothing behind', () => {
  it('a catalog too small for negatives: one line, exit 1, no --out and no temp folder', async () => {
    const dir = join(scratchDir('import-tiny'), 'shop');
    mkdirSync(dir);
    for (const id of ['t', 'b']) await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(join(dir, `${id}.png`));
    writeFileSync(join(dir, 'items.csv'), 'id,category,image\nt,top,t.png\nb,bottom,b.png\n');
    // the only mix of one top and one bottom is the positive itself
    writeFileSync(join(dir, 'outfits.csv'), 'user,items\nann,t;b\nbob,t;b\n');
    const parent = join(dir, '..', 'out');
    const r = await runCli(['data', 'import', dir, '--out', join(parent, 'data')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^outfitrec: set shop: too few distinct items to draw random-mix negatives/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(readdirSync(parent), [], 'the temp folder (images already linked) is removed');
  });
});

function existsNegaHard(set: string): boolean {
  return readdirSync(join(out, `tuples_${set}`)).some((f) => f.includes('nega_hard'));
}
