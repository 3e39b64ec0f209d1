import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { erase, eraseTable, itemPoolsFromTable, replace, replaceTable, trainingItemPools } from '../../src/data/augment.js';
import { Rng } from '../../src/rng.js';
import { makeSet, tableOf } from '../helpers/make-set.js';

// 630-style set: tops 0..3, bottoms 4..6, shoes 7..9; train positives use tops 0,1,2, bottoms 4,5, shoes 7,8.
const set = makeSet({
  numUsers: 2,
  counts: [4, 3, 3],
  splits: {
    train: { posi: [[0, 0, 4, 7], [0, 1, 5, 8], [1, 2, 4, 8]] },
    test: { posi: [[1, 3, 6, 9]] },
  },
});

describe('itemPoolsFromTable', () => {
  it('lists the distinct items of each category present in the table', () => {
    const pools = trainingItemPools(set);
    assert.deepEqual(pools.byCategory.map((p) => Array.from(p)), [[0, 1, 2], [4, 5], [7, 8]]);
    const testPools = itemPoolsFromTable(set, set.splits.test.posi);
    assert.deepEqual(testPools.byCategory.map((p) => Array.from(p)), [[3], [6], [9]]);
    const some = itemPoolsFromTable(set, set.splits.train.posi, [2]);
    assert.deepEqual(some.byCategory.map((p) => Array.from(p)), [[2], [4], [8]]);
  });
});

describe('erase', () => {
  it('drops exactly one present item, each about equally often', () => {
    const table = tableOf(3, [[0, 0, 4, 7]]);
    const rng = new Rng(1);
    const dropped = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const row = Array.from(erase(table, 0, rng));
      const missing = row.flatMap((v, j) => (v === -1 ? [j] : []));
      assert.equal(missing.length, 1);
      row.forEach((v, j) => j !== missing[0] && assert.equal(v, [0, 4, 7][j]));
      dropped[missing[0]]++;
    }
    // each slot expected 1000 times; ±150 is > 5 standard deviations (sd ≈ 25.8)
    for (const d of dropped) assert.ok(Math.abs(d - 1000) < 150, `dropped counts ${dropped}`);
  });

  it('never goes below 2 items and skips absent slots', () => {
    const table = tableOf(4, [
      [0, 0, 1, 4, 7], // 4 items -> 3
      [0, 0, -1, 4, 7], // 3 items -> 2, the absent slot stays absent
      [0, -1, -1, 4, 7], // 2 items -> unchanged
    ]);
    const rng = new Rng(2);
    for (let i = 0; i < 200; i++) {
      const out = eraseTable(table, rng);
      const present = (r: number): number => Array.from(out.items.subarray(r * 4, r * 4 + 4)).filter((v) => v >= 0).length;
      assert.deepEqual([present(0), present(1), present(2)], [3, 2, 2]);
      assert.equal(out.items[5], -1);
      assert.deepEqual(Array.from(out.items.subarray(8, 12)), [-1, -1, 4, 7]);
    }
  });

  it('does not modify its input', () => {
    const table = tableOf(3, [[0, 0, 4, 7], [1, 1, 5, 8]]);
    const before = table.items.slice();
    const out = eraseTable(table, new Rng(3));
    assert.deepEqual(table.items, before);
    assert.deepEqual(out.users, table.users);
    assert.notEqual(out.users, table.users);
  });
});

describe('replace', () => {
  const pools = trainingItemPools(set);

  it('swaps one item for a different same-category pool item not already in the outfit', () => {
    const table = tableOf(3, [[0, 0, 4, 7]]);
    const rng = new Rng(4);
    const changedSlots = [0, 0, 0];
    const replacements = new Set<number>();
    for (let i = 0; i < 600; i++) {
      const row = Array.from(replace(table, 0, pools, rng));
      const changed = row.flatMap((v, j) => (v !== [0, 4, 7][j] ? [j] : []));
      assert.equal(changed.length, 1);
      const j = changed[0];
      changedSlots[j]++;
      assert.equal(set.catalog.category[row[j]], set.slotCategories[j]);
      assert.ok(pools.byCategory[set.slotCategories[j]].includes(row[j]), 'replacement comes from the training pool');
      replacements.add(row[j]);
    }
    assert.deepEqual([...replacements].sort((a, b) => a - b), [1, 2, 5, 8]);
    for (const c of changedSlots) assert.ok(c > 100, `changed slots ${changedSlots}`);
  });

  it('never duplicates the other top of a two-top outfit', () => {
    const vset = makeSet({
      set: '519',
      numUsers: 1,
      counts: [2, 2, 2],
      splits: { train: { posi: [[0, 0, 1, 2, 4], [0, 0, -1, 3, 5]] } },
    });
    const vpools = trainingItemPools(vset);
    const table = tableOf(4, [[0, 0, 1, 2, 4]]);
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const row = replace(table, 0, vpools, rng);
      // the tops pool is {0, 1}: both are in the outfit, so a chosen top cannot be replaced
      assert.deepEqual([row[0], row[1]], [0, 1]);
    }
  });

  it('leaves the row unchanged when the pool has no other item', () => {
    const onePools = itemPoolsFromTable(set, set.splits.test.posi);
    const table = tableOf(3, [[1, 3, 6, 9]]);
    const out = replaceTable(table, onePools, new Rng(6));
    assert.deepEqual(out.items, table.items);
    assert.notEqual(out.items, table.items);
  });
});
