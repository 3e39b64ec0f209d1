import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { Rng } from '../../src/rng.js';
import { UserError } from '../../src/errors.js';
import { CAT, DEFAULT_SHOP_KNOBS, SHOP_CATEGORIES, ShopTruth, drawShopStyles, drawShopUser, type ShopItem } from '../../src/data/synth/shop-model.js';
import { ITEMS_CSV_HEADER, generateShop, loadShopOracle, type ShopReport } from '../../src/data/synth/shop.js';
import { csvLine } from '../../src/util/csv.js';
import { assertOneLineError, runCli } from '../reliability/helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-shop-synth-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const rootA = join(scratch, 'a');
const rootB = join(scratch, 'b');
let report: ShopReport;

type ItemRow = Record<(typeof ITEMS_CSV_HEADER)[number], string>;
interface OutfitLine {
  user: string;
  items: string[];
  timestamp: number;
}
let rows: ItemRow[];
let outfits: OutfitLine[];

/** Every file under `dir` (relative paths, sorted). */
function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

before(async () => {
  report = await generateShop({ out: rootA, seed: 3, users: 40 });
  rows = parse(readFileSync(join(rootA, 'items.csv')), { columns: true }) as ItemRow[];
  outfits = readFileSync(join(rootA, 'outfits.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as OutfitLine);
});

describe('data synth --preset shop', () => {
  it('gives byte-identical folders for the same seed, and another catalog for another seed', async () => {
    await generateShop({ out: rootB, seed: 3, users: 40 });
    const files = listFiles(rootA);
    assert.deepEqual(listFiles(rootB), files);
    for (const f of files) assert.ok(readFileSync(join(rootA, f)).equals(readFileSync(join(rootB, f))), `${f} differs between two runs`);
    const other = join(scratch, 'seed4');
    await generateShop({ out: other, seed: 4, users: 40 });
    assert.notDeepEqual(readFileSync(join(other, 'items.csv')), readFileSync(join(rootA, 'items.csv')));
  });

  it('writes items.csv with the header, shop-like unique ids, six or more categories and decodable images', async () => {
    const header = readFileSync(join(rootA, 'items.csv'), 'utf8').split('\n')[0];
    assert.equal(header, ITEMS_CSV_HEADER.join(','));
    assert.equal(rows.length, report.items);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
    for (const r of rows) assert.match(r.id, /^SKU-\d{6}$/);
    const categories = new Set(rows.map((r) => r.category));
    assert.ok(categories.size >= 6, `categories: ${[...categories].join(', ')}`);
    for (const c of categories) assert.match(c, /^[A-Za-z0-9 _-]+$/);
    for (const r of rows) {
      const meta = await sharp(join(rootA, r.image)).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 28);
      assert.equal(meta.height, 28);
    }
    assert.equal(readdirSync(join(rootA, 'images')).length, rows.length);
  });

  it('writes readable titles that survive RFC 4180 quoting (commas and quotes read back by csv-parse)', () => {
    for (const r of rows) assert.ok(r.title.toLowerCase().startsWith(`${r.colour} ${r.pattern === 'plain' ? '' : `${r.pattern} `}${r.type}`), r.title);
    assert.ok(rows.some((r) => r.title.includes(',')), 'no title with a comma');
    assert.ok(rows.some((r) => r.title.includes('"')), 'no title with a double quote');
    const tricky = ['plain', 'a, b', 'say "hi"', '"', ',', 'line\nbreak', 'cr\r\nlf', '', ' spaced '];
    const text = [csvLine(tricky.map((_, i) => `c${i}`)), csvLine(tricky), csvLine([...tricky].reverse())].join('\n') + '\n';
    assert.deepEqual(parse(text, { columns: true }), [
      Object.fromEntries(tricky.map((v, i) => [`c${i}`, v])),
      Object.fromEntries([...tricky].reverse().map((v, i) => [`c${i}`, v])),
    ]);
  });

  it('writes outfits of 2–7 known items, two or more categories, at most two per category, oldest first', () => {
    assert.equal(outfits.length, report.outfits);
    const category = new Map(rows.map((r) => [r.id, r.category]));
    const sizes = new Set<number>();
    const users = new Set<string>();
    let last = -Infinity;
    for (const [n, o] of outfits.entries()) {
      assert.match(o.user, /^cust-\d{4}$/);
      users.add(o.user);
      assert.ok(Number.isInteger(o.timestamp) && o.timestamp >= last, `line ${n + 1}: timestamp out of order`);
      last = o.timestamp;
      assert.equal(new Set(o.items).size, o.items.length, `line ${n + 1}: an item twice`);
      const perCategory = new Map<string, number>();
      for (const id of o.items) {
        const c = category.get(id);
        assert.ok(c !== undefined, `line ${n + 1}: unknown item ${id}`);
        perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
      }
      assert.ok(perCategory.size >= 2, `line ${n + 1}: fewer than two categories`);
      assert.ok(Math.max(...perCategory.values()) <= 2, `line ${n + 1}: three items of a category`);
      sizes.add(o.items.length);
    }
    assert.equal(users.size, 40);
    assert.ok(Math.min(...sizes) <= 3 && Math.max(...sizes) >= 6 && sizes.size >= 4, `sizes ${[...sizes].sort().join(',')}`);
    assert.ok([...sizes].every((s) => s >= 2 && s <= 7));
  });

  it('has a ground truth that tells the outfits from random mixes and refuses impossible outfits', () => {
    const oracle = loadShopOracle(rootA);
    const byCategory = new Map<string, string[]>();
    for (const r of rows) byCategory.set(r.category, [...(byCategory.get(r.category) ?? []), r.id]);
    const category = new Map(rows.map((r) => [r.id, r.category]));
    const rng = new Rng(9);
    let wins = 0;
    for (const o of outfits) {
      const mix = o.items.map((id) => rng.pick(byCategory.get(category.get(id)!)!));
      if (new Set(mix).size !== mix.length) continue;
      if (oracle.utility(o.user, o.items) > oracle.utility(o.user, mix)) wins++;
    }
    assert.ok(wins / outfits.length > 0.8, `the truth prefers only ${wins} of ${outfits.length} outfits to random mixes`);
    assert.ok(report.oracleAccuracy > 0.8);
    const tops = byCategory.get('top')!;
    const o = outfits.find((x) => x.items.some((id) => category.get(id) === 'top'))!;
    const twoTops = [...o.items, tops.find((t) => !o.items.includes(t))!];
    assert.equal(oracle.utility(o.user, twoTops), -Infinity);
    assert.throws(() => oracle.utility('cust-9999', o.items), /unknown user/);
  });

  it('is an exact probability: exp(U) sums to 1 over every outfit of a small catalog', () => {
    const knobs = { ...DEFAULT_SHOP_KNOBS, styles: 3 };
    const rng = new Rng(5);
    const styles = drawShopStyles(rng, knobs);
    const items: ShopItem[] = [];
    SHOP_CATEGORIES.forEach((c, ci) => {
      for (let k = 0; k < (ci === CAT.accessory ? 3 : 2); k++) {
        items.push({ id: `${c.name}${k}`, category: ci, type: rng.int(c.types.length), colour: rng.int(8), pattern: rng.int(4), noise: 0.3 * rng.normal(), picture: k });
      }
    });
    const truth = new ShopTruth(knobs, styles, [drawShopUser(rng, knobs, 'u')], items);
    let total = 0;
    for (let mask = 1; mask < 1 << items.length; mask++) {
      const outfit = items.flatMap((_, i) => ((mask >> i) & 1 ? [i] : []));
      total += Math.exp(truth.utility(0, outfit));
    }
    assert.ok(Math.abs(total - 1) < 1e-9, `sum ${total}`);
    // and the sampler follows it: observed counts of the likelier outfits within 5 standard deviations
    const draws = 20000;
    const counts = new Map<string, { n: number; outfit: number[] }>();
    for (let d = 0; d < draws; d++) {
      const outfit = truth.sampleOutfit(rng, 0).sort((a, b) => a - b);
      const k = outfit.join(',');
      counts.set(k, { n: (counts.get(k)?.n ?? 0) + 1, outfit });
    }
    let checked = 0;
    for (const { n, outfit } of counts.values()) {
      const expected = draws * Math.exp(truth.utility(0, outfit));
      if (expected < 30) continue;
      checked++;
      assert.ok(Math.abs(n - expected) < 5 * Math.sqrt(expected), `outfit ${outfit.join(',')}: ${n} draws, ${expected.toFixed(1)} expected`);
    }
    assert.ok(checked >= 10, `only ${checked} outfits likely enough to check`);
  });

  it('refuses a non-empty --out and leaves nothing behind on bad options', async () => {
    await assert.rejects(generateShop({ out: rootA, seed: 3, users: 40 }), (e) => e instanceof UserError && /not empty/.test(e.message));
    const bad = join(scratch, 'bad');
    await assert.rejects(generateShop({ out: bad, users: 1 }), (e) => e instanceof UserError && /--users/.test(e.message));
    assert.equal(existsSync(bad), false);
    writeFileSync(join(scratch, 'file'), 'x');
    await assert.rejects(generateShop({ out: join(scratch, 'file') }), /is a file/);
    assert.deepEqual(readdirSync(scratch).filter((f) => f.endsWith('.tmp')), []);
  });

  it('runs from the command line, and refuses the options of the Polyvore-like presets in one line', async () => {
    const out = join(scratch, 'cli');
    const ok = await runCli(['data', 'synth', '--preset', 'shop', '--out', out, '--users', '3', '--seed', '3', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout) as ShopReport;
    assert.equal(r.users, 3);
    assert.equal(readFileSync(join(out, 'outfits.jsonl'), 'utf8').trim().split('\n').length, r.outfits);
    assertOneLineError(await runCli(['data', 'synth', '--preset', 'shop', '--out', join(scratch, 'cli2'), '--scale', '2']), /--scale not used by the shop preset/, assert);
    assert.equal(existsSync(join(scratch, 'cli2')), false);
  });
});
