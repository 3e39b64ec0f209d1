import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { concatTables, packOutfits, selectRows, trainingBatches } from '../../src/data/batches.js';
import { NegativeSampler } from '../../src/data/negatives.js';
import { Rng } from '../../src/rng.js';
import { makeRandomSet, rowsOf, tableOf } from '../helpers/make-set.js';

describe('packOutfits', () => {
  it('lists each distinct item once, compacts present items and pads to the longest outfit', () => {
    const table = tableOf(4, [
      [0, 10, -1, 20, 30],
      [1, 11, 10, 21, 30],
      [2, -1, 12, -1, 31], // an erased view: gaps anywhere
    ]);
    const p = packOutfits(table);
    assert.equal(p.n, 3);
    assert.equal(p.slots, 4);
    assert.deepEqual(Array.from(p.uniqueItems), [10, 20, 30, 11, 21, 12, 31]);
    assert.deepEqual(Array.from(p.slotIndex), [0, 1, 2, -1, 3, 0, 4, 2, 5, 6, -1, -1]);
  });

  it('uses only as many slots as the batch needs, and packs chosen rows in order', () => {
    const table = tableOf(4, [
      [0, 10, 11, 20, 30],
      [1, 12, -1, 21, 31],
      [2, 13, -1, 20, 32],
    ]);
    const p = packOutfits(table, [2, 1]);
    assert.equal(p.slots, 3);
    assert.deepEqual(Array.from(p.uniqueItems), [13, 20, 32, 12, 21, 31]);
    assert.deepEqual(Array.from(p.slotIndex), [0, 1, 2, 3, 4, 5]);
  });

  it('round-trips every outfit as a set', () => {
    const set = makeRandomSet({ set: '519', numUsers: 4, counts: [9, 9, 9], perUser: { train: 10 }, seed: 2 });
    const table = set.splits.train.posi;
    const p = packOutfits(table);
    assert.equal(new Set(p.uniqueItems).size, p.uniqueItems.length);
    rowsOf(table).forEach((row, r) => {
      const back = Array.from(p.slotIndex.subarray(r * p.slots, (r + 1) * p.slots)).filter((i) => i >= 0).map((i) => p.uniqueItems[i]);
      assert.deepEqual(back.sort(), row.slice(1).filter((x) => x >= 0).sort());
    });
  });
});

describe('concatTables / selectRows', () => {
  const a = tableOf(3, [[0, 1, 2, 3], [1, 4, 5, 6]]);
  const b = tableOf(3, [[2, 7, 8, 9]]);
  it('concatenates rows in order and checks slot counts', () => {
    assert.deepEqual(rowsOf(concatTables([a, b])), [[0, 1, 2, 3], [1, 4, 5, 6], [2, 7, 8, 9]]);
    assert.throws(() => concatTables([a, tableOf(4, [])]), /slot counts/);
  });
  it('selects rows in the given order, repeats allowed, and checks the range', () => {
    assert.deepEqual(rowsOf(selectRows(a, [1, 0, 1])), [[1, 4, 5, 6], [0, 1, 2, 3], [1, 4, 5, 6]]);
    assert.throws(() => selectRows(a, [2]), RangeError);
  });
});

describe('trainingBatches', () => {
  const set = makeRandomSet({ numUsers: 5, counts: [30, 30, 30], perUser: { train: 9 }, seed: 5 });
  const train = set.splits.train.posi;
  const sampler = new NegativeSampler(set, 'train');

  it('visits every training positive once per epoch, shuffled, keeping the last partial batch', () => {
    const batches = [...trainingBatches(set, { batchSize: 8, negatives: 'random', perPositive: 10, rng: new Rng(1), sampler })];
    assert.deepEqual(batches.map((b) => b.rows.length), [8, 8, 8, 8, 8, 5]);
    const seen = batches.flatMap((b) => Array.from(b.rows));
    assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 45 }, (_, i) => i));
    assert.notDeepEqual(seen, Array.from({ length: 45 }, (_, i) => i));
    for (const b of batches) {
      assert.deepEqual(rowsOf(b.positives), rowsOf(selectRows(train, b.rows)));
      assert.deepEqual(b.users, b.positives.users);
      assert.equal(b.negatives.users.length, b.rows.length * 10);
      for (let i = 0; i < b.rows.length; i++) for (let t = 0; t < 10; t++) assert.equal(b.negatives.users[i * 10 + t], b.users[i]);
    }
  });

  it('redraws negatives every epoch', () => {
    const rng = new Rng(2);
    const epoch = (): Map<number, string> => {
      const m = new Map<number, string>();
      for (const b of trainingBatches(set, { batchSize: 16, negatives: 'random', perPositive: 10, rng, sampler })) {
        b.rows.forEach((r, i) => m.set(r, b.negatives.items.subarray(i * 30, i * 30 + 30).join()));
      }
      return m;
    };
    const first = epoch();
    const second = epoch();
    let same = 0;
    for (const [r, negs] of first) if (second.get(r) === negs) same++;
    assert.equal(same, 0);
  });

  it("'mixed' puts the hard half (other users' positives) after the random half", () => {
    const positiveOwner = new Map(rowsOf(train).map((r) => [r.slice(1).join(), r[0]]));
    for (const b of trainingBatches(set, { batchSize: 10, negatives: 'mixed', perPositive: 10, rng: new Rng(3), sampler })) {
      for (let i = 0; i < b.rows.length; i++) {
        for (let t = 0; t < 10; t++) {
          const r = i * 10 + t;
          const owner = positiveOwner.get(b.negatives.items.subarray(r * 3, r * 3 + 3).join());
          if (t < 5) assert.equal(owner, undefined);
          else assert.ok(owner !== undefined && owner !== b.users[i]);
        }
      }
    }
  });

  it('restricts an epoch to the given rows (cold-user subsets)', () => {
    const rows = Int32Array.from([3, 17, 40]);
    const batches = [...trainingBatches(set, { batchSize: 2, negatives: 'random', perPositive: 2, rng: new Rng(4), rows })];
    assert.deepEqual(batches.map((b) => b.rows.length), [2, 1]);
    assert.deepEqual(batches.flatMap((b) => Array.from(b.rows)).sort((x, y) => x - y), [3, 17, 40]);
  });
});
