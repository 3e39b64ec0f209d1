import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { readableItemNames } from '../../src/serve/item-names.js';
import { tinyRun } from './tiny-run.js';

test('a set without item attributes (Polyvore-U layout) names items by category and a short id', () => {
  const set = loadPolyvoreSet(new URL('../fixtures/fhn-mini', import.meta.url).pathname, '630');
  const titles = readableItemNames(set);
  assert.equal(titles.length, set.catalog.names.length);
  assert.equal(titles[5], 'bottom bot_b'); // image bot_b.jpg
  set.catalog.names.forEach((name, id) => assert.ok(titles[id].startsWith(['top', 'bottom', 'shoe'][set.catalog.category[id]] + ' '), `${name}: ${titles[id]}`));
});

test("a synthetic set's items are named by their colour and garment, as its oracle records them", async () => {
  const run = await tinyRun();
  const set = loadPolyvoreSet(run.root, '630');
  const titles = readableItemNames(set);
  const shoes = titles.filter((_, id) => set.catalog.category[id] === 2);
  for (const t of shoes) assert.match(t, /^(black|grey|navy|brown|red|yellow|green|pink) (sandals|sneakers|ankle boots)$/);
  assert.ok(new Set(titles).size > 10, 'titles differ between items');
});
