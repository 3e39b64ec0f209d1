import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRunConfig } from '../../src/config.js';
import { experimentSetsOf } from '../../src/lab/experiments/runner.js';
import { DEFAULT_ERASE_RULE, eraseRuleOf, eraseTable } from '../../src/data/augment.js';
import { coldPairsOf, fhnLayout, newUsersSetOf, parseLayout, warmSetOf } from '../../src/data/layout.js';
import { checkPolyvoreRoot, loadPolyvoreSet } from '../../src/data/polyvore.js';
import { computeStats, formatStats } from '../../src/data/stats.js';
import { CATEGORY_NAMES, isVariableLength, slotCategoriesFor } from '../../src/data/types.js';
import { DataError } from '../../src/errors.js';
import { problemsOf } from '../helpers/problems.js';
import { Rng } from '../../src/rng.js';
import { SHOP_CATEGORIES, layoutJson, writeLayoutRoot } from '../helpers/layout-set.js';

const FIXTURE = new URL('../fixtures/fhn-mini', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-layout-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the FHN layout without layout.json (docs/method.md §6.5)', () => {
  it('equals the values the code hard-wired before', () => {
    for (const set of ['630', '53', '519', '32']) {
      const l = fhnLayout(set);
      assert.deepEqual(l.categories, [...CATEGORY_NAMES]);
      assert.deepEqual(l.categories, ['top', 'bottom', 'shoe']);
      assert.deepEqual(l.slotCategories, slotCategoriesFor(set));
      // optional = the second slot of a category, as the composer used to derive it
      assert.deepEqual(
        l.required.map((r) => !r),
        l.slotCategories.map((c, j) => l.slotCategories.indexOf(c) < j),
      );
      assert.equal(l.required.some((r) => !r), isVariableLength(set));
      assert.equal(l.minItems, 3);
      assert.equal(l.source, 'fhn');
    }
    assert.deepEqual(fhnLayout('519').slotCategories, [0, 0, 1, 2]);
    assert.deepEqual(fhnLayout('630').required, [true, true, true]);
    assert.equal(fhnLayout('630').newUsers, '53');
    assert.equal(fhnLayout('519').newUsers, '32');
    assert.equal(fhnLayout('53').newUsers, undefined);
    assert.equal(fhnLayout('32').newUsers, undefined);
    // the FHN layout keeps method.md §4's erase rule (any item, never below 2)
    assert.equal(eraseRuleOf(fhnLayout('630')), DEFAULT_ERASE_RULE);
  });

  it('is what the fixture folders load with, and the FHN pairing is found by name', () => {
    const s630 = loadPolyvoreSet(FIXTURE, '630');
    assert.deepEqual(s630.layout, fhnLayout('630'));
    const s519 = loadPolyvoreSet(FIXTURE, '519');
    assert.deepEqual(s519.slotCategories, [0, 0, 1, 2]);
    assert.equal(s519.variableLength, true);
    assert.equal(newUsersSetOf(FIXTURE, '630'), '53');
    assert.equal(warmSetOf(FIXTURE, '32'), '519');
    // 53 and 32 are not in the fixture: no pair is complete
    assert.deepEqual(coldPairsOf(FIXTURE), []);
  });
});

describe('a six-category variable-size set with layout.json', () => {
  let root: string;
  before(async () => {
    root = join(scratch, 'shop');
    await writeLayoutRoot(root);
  });

  it('loads categories, slots, items.json and users.json, and pairs shop with shop-new', () => {
    const set = loadPolyvoreSet(root, 'shop', { requireImages: true });
    assert.deepEqual(set.layout.categories, SHOP_CATEGORIES);
    assert.deepEqual(set.slotCategories, [0, 1, 2, 3, 4, 5, 5]);
    assert.equal(set.layout.minItems, 2);
    assert.equal(set.layout.source, 'layout.json');
    assert.equal(set.variableLength, true);
    assert.deepEqual(set.catalog.counts, [6, 6, 6, 6, 6, 6]);
    assert.equal(set.items?.get('bag-2.png')?.title, 'tan bag no. 2');
    assert.equal(set.userIds?.[3], 'customer-3');
    const sizes = new Set<number>();
    const t = set.splits.train.posi;
    for (let r = 0; r < t.users.length; r++) sizes.add(t.items.subarray(r * 7, r * 7 + 7).filter((x) => x >= 0).length);
    assert.ok(Math.min(...sizes) >= 2 && Math.max(...sizes) <= 7 && sizes.size >= 3, `outfit sizes ${[...sizes]}`);
    assert.deepEqual(coldPairsOf(root), [{ warm: 'shop', cold: 'shop-new' }]);
    assert.equal(warmSetOf(root, 'shop-new'), 'shop');
    const stats = formatStats(computeStats(set));
    assert.match(stats, /^Set shop: 10 users, 36 items in the image lists \(top 6, bottom 6, shoe 6, bag 6, outerwear 6, accessory 6\), outfits of 2-7 items/);
    assert.match(stats, /split +outfits .* top +bottom +shoe +bag +outerwear +accessory +users/);
    assert.deepEqual(checkPolyvoreRoot(root).errors, []);
    assert.deepEqual(experimentSetsOf(root), ['shop'], 'experiment trains on the set that has its new-user set');
  });

  it('experiment keeps the FHN grid: 630 then 519, each with its new-user set', () => {
    const fhn = join(scratch, 'fhn-names');
    for (const s of ['32', '519', '53', '630']) mkdirSync(join(fhn, `tuples_${s}`), { recursive: true });
    assert.deepEqual(experimentSetsOf(fhn), ['630', '519']);
    rmSync(join(fhn, 'tuples_32'), { recursive: true });
    assert.deepEqual(experimentSetsOf(fhn), ['630']);
  });

  it('the run config takes any set folder name and refuses a path', () => {
    assert.equal(parseRunConfig({ data: { root: root, set: 'shop-new' } }).data.set, 'shop-new');
    assert.throws(() => parseRunConfig({ data: { root, set: '../x' } }), /config field 'data.set': a set name is letters, digits/);
  });

  it('erase keeps required slots and never goes below minItems on a layout.json set', () => {
    const layout = { ...loadPolyvoreSet(root, 'shop').layout, required: [true, true, false, false, false, false, false], minItems: 3 };
    const rule = eraseRuleOf(layout);
    assert.equal(rule.floor, 3);
    const table = { slots: 7, users: Int32Array.from([0, 0]), items: Int32Array.from([0, 6, 12, 18, -1, -1, -1, 1, 7, 13, -1, -1, -1, -1]) };
    const rng = new Rng(1);
    for (let k = 0; k < 50; k++) {
      const out = eraseTable(table, rng, rule);
      assert.deepEqual([out.items[0], out.items[1]], [0, 6], 'required slots kept');
      assert.equal(out.items.subarray(0, 7).filter((x) => x >= 0).length, 3, 'one optional item erased');
      assert.deepEqual(Array.from(out.items.subarray(7)), [1, 7, 13, -1, -1, -1, -1], 'a minItems outfit is left as it is');
    }
  });

  it('reports rows that break the layout with file:line', () => {
    const broken = join(scratch, 'rows');
    cpSync(root, broken, { recursive: true });
    const dir = join(broken, 'tuples_shop');
    const file = join(dir, 'tuples_train_posi');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = '0,1,-1,-1,-1,-1,-1,-1'; // one item: below minItems 2
    lines[2] = '0,9,2,-1,-1,-1,-1,-1'; // top index 9 of 6
    writeFileSync(file, lines.join('\n'));
    const layout = layoutJson('shop-new');
    writeFileSync(join(dir, 'layout.json'), JSON.stringify({ ...layout, required: [true, false, false, false, false, false, false] }));
    const fileB = join(dir, 'tuples_val_posi');
    const val = readFileSync(fileB, 'utf8').split('\n');
    val[1] = '0,-1,2,3,-1,-1,-1,-1'; // -1 in the required top
    writeFileSync(fileB, val.join('\n'));
    const problems = problemsOf(() => loadPolyvoreSet(broken, 'shop'));
    const messages = problems.map((e) => e.message).join('\n');
    assert.match(messages, /tuples_shop\/tuples_train_posi:2: 1 item, fewer than the 2 an outfit holds at least \(layout\.json minItems\)/);
    assert.match(messages, /tuples_shop\/tuples_train_posi:3: column 2 \(top\): top index 9 out of range \(image_list_top has 6 items: 0\.\.5\)/);
    assert.match(messages, /tuples_shop\/tuples_val_posi:2: column 2 \(top\): -1 \(absent item\) in a required slot \(layout\.json required\[0\] is true\)/);
  });

  it('data check wants the newUsers folder beside the set, with the same categories', () => {
    const broken = join(scratch, 'pairing');
    cpSync(root, broken, { recursive: true });
    const newDir = join(broken, 'tuples_shop-new');
    // the new users' set calls its accessories "jewellery": not the warm set's categories
    const rename = (name: string): string => (name === 'accessory' ? 'jewellery' : name);
    const other = { ...layoutJson(), categories: SHOP_CATEGORIES.map(rename), slots: layoutSlots().map(rename) };
    writeFileSync(join(newDir, 'layout.json'), JSON.stringify(other));
    renameSync(join(newDir, 'image_list_accessory'), join(newDir, 'image_list_jewellery'));
    for (const f of readdirSync(newDir).filter((f) => f.startsWith('tuples_'))) {
      const text = readFileSync(join(newDir, f), 'utf8');
      writeFileSync(join(newDir, f), text.replace(/^[^\n]*/, (header) => header.split(',').map(rename).join(',')));
    }
    assert.deepEqual(loadPolyvoreSet(broken, 'shop-new').layout.categories, ['top', 'bottom', 'shoe', 'bag', 'outerwear', 'jewellery']);
    assert.ok(
      checkPolyvoreRoot(broken).errors.some((e) =>
        /tuples_shop\/layout\.json: field 'newUsers': tuples_shop-new\/ has the categories top, bottom, shoe, bag, outerwear, jewellery, not this set's top, bottom, shoe, bag, outerwear, accessory/.test(e.message),
      ),
    );
    rmSync(newDir, { recursive: true });
    const errors = checkPolyvoreRoot(broken).errors.map((e) => e.message);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /tuples_shop\/layout\.json: field 'newUsers': no folder tuples_shop-new\/ in /);
  });

  it('wants one image list per category of the layout', () => {
    const broken = join(scratch, 'lists');
    cpSync(root, broken, { recursive: true });
    rmSync(join(broken, 'tuples_shop', 'image_list_outerwear'));
    const problems = problemsOf(() => loadPolyvoreSet(broken, 'shop'));
    assert.ok(problems.some((e) => /tuples_shop\/image_list_outerwear: missing/.test(e.message)), problems.map((e) => e.message).join('\n'));
  });
});

describe('malformed layout.json: the message names the file and the field', () => {
  const FILE = '/data/tuples_shop/layout.json';
  const base = layoutJson('shop-new');
  const cases: Array<[string, unknown, RegExp]> = [
    ['a slot naming a category not in categories', { ...base, slots: ['top', 'bottom', 'hat'], required: [true, true, false] }, /field 'slots\[2\]': "hat" is not one of the categories \(top, bottom, shoe, bag, outerwear, accessory\)/],
    ['required of another length than slots', { ...base, required: [true, false] }, /field 'required': 2 entries for 7 slots/],
    ['minItems past the slots', { ...base, minItems: 8 }, /field 'minItems': 8 is more than the 7 slots/],
    ['minItems below 1', { ...base, minItems: 0 }, /field 'minItems': /],
    ['minItems not an integer', { ...base, minItems: 2.5 }, /field 'minItems': /],
    ['an unknown key', { ...base, slot: [] }, /field '\(top level\)': .*slot/i],
    ['a wrong format', { ...base, format: 'fhn' }, /field 'format': /],
    ['a wrong version', { ...base, version: 2 }, /field 'version': /],
    ['a category listed twice', { ...base, categories: [...SHOP_CATEGORIES, 'top'] }, /field 'categories\[6\]': "top" is listed twice \(also categories\[0\]\)/],
    ['a category without a slot', { ...base, categories: [...SHOP_CATEGORIES, 'hat'] }, /field 'categories\[6\]': "hat" has no slot/],
    ['a bad category name', { ...base, categories: ['top/x'], slots: ['top/x'], required: [true] }, /field 'categories\[0\]': a category name is letters/],
    ['a bad newUsers name', { ...base, newUsers: '../x' }, /field 'newUsers': a set name is letters/],
    ['newUsers naming the set itself', { ...base, newUsers: 'shop' }, /field 'newUsers': "shop" is this set itself/],
    ['required not booleans', { ...base, required: [1, 1, 1, 1, 1, 1, 1] }, /field 'required\[0\]': /],
  ];
  for (const [what, json, pattern] of cases) {
    it(what, () => {
      assert.throws(
        () => parseLayout(JSON.stringify(json), FILE, 'shop'),
        (err: unknown) => err instanceof DataError && err.message.startsWith(`${FILE}: field '`) && pattern.test(err.message),
      );
    });
  }

  it('not JSON at all', () => {
    assert.throws(() => parseLayout('{ "format": ', FILE, 'shop'), (err: unknown) => err instanceof DataError && /layout\.json: not valid JSON/.test(err.message));
  });

  it('a broken layout.json on disk fails the load and data check with its path', () => {
    const root = join(scratch, 'bad-layout');
    cpSync(FIXTURE, root, { recursive: true });
    writeFileSync(join(root, 'tuples_630', 'layout.json'), JSON.stringify({ ...base, required: [true] }));
    const problems = problemsOf(() => loadPolyvoreSet(root, '630'));
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /tuples_630\/layout\.json: field 'required': 1 entries for 7 slots/);
    assert.ok(checkPolyvoreRoot(root).errors.some((e) => /tuples_630\/layout\.json: field 'required'/.test(e.message)));
  });
});

function layoutSlots(): string[] {
  return layoutJson().slots as string[];
}
