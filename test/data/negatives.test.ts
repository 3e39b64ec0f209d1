import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NegativeSampler } from '../../src/data/negatives.js';
import { OutfitKeySet } from '../../src/data/outfit-keys.js';
import { UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { makeRandomSet, makeSet, rowsOf } from '../helpers/make-set.js';

const allRows = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
const key = (items: number[]): string => items.filter((x) => x >= 0).sort((a, b) => a - b).join(',');

describe('OutfitKeySet', () => {
  it('matches outfits regardless of slot order, exactly', () => {
    const s = new OutfitKeySet(4, 1);
    assert.equal(s.add([1, 2, 10, 20]), true);
    assert.equal(s.add([2, 1, 10, 20]), false);
    assert.equal(s.add([-1, 1, 10, 20]), true);
    assert.equal(s.size, 2);
    assert.equal(s.has([20, 10, 2, 1]), true);
    assert.equal(s.has([1, -1, 10, 20]), true);
    assert.equal(s.has([1, 3, 10, 20]), false);
    assert.equal(s.has([0, 0, 0, 9, 1, 2, 10, 20], 4), true);
  });
  it('stays exact while growing past its initial capacity', () => {
    const rng = new Rng(5);
    const s = new OutfitKeySet(3, 1);
    const ref = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const o = [rng.int(30), 30 + rng.int(30), 60 + rng.int(30)];
      assert.equal(s.add(o), !ref.has(key(o)));
      ref.add(key(o));
    }
    assert.equal(s.size, ref.size);
    for (let i = 0; i < 2000; i++) {
      const o = [rng.int(30), 30 + rng.int(30), 60 + rng.int(30)];
      assert.equal(s.has(o), ref.has(key(o)));
    }
  });
});

describe('NegativeSampler.randomMix', () => {
  // 4 tops, 3 bottoms, 3 shoes = 36 combinations; 12 of them are train positives, so collisions are frequent.
  const set = makeRandomSet({ numUsers: 4, counts: [4, 3, 3], perUser: { train: 3, test: 2 }, seed: 1 });
  const train = set.splits.train.posi;
  const positiveKeys = new Set(rowsOf(train).map((r) => key(r.slice(1))));

  it('keeps layout and users, draws only split-pool items of the right category, never a positive', () => {
    const sampler = new NegativeSampler(set, 'train');
    const rows = Int32Array.from([3, 0, 7, 7]);
    const neg = sampler.randomMix(rows, 50, new Rng(2));
    assert.equal(neg.slots, 3);
    assert.equal(neg.users.length, 200);
    const pool = new Set(train.items);
    for (let i = 0; i < rows.length; i++) {
      for (let t = 0; t < 50; t++) {
        const r = i * 50 + t;
        assert.equal(neg.users[r], train.users[rows[i]]);
        const items = Array.from(neg.items.subarray(r * 3, r * 3 + 3));
        items.forEach((item, j) => {
          assert.equal(set.catalog.category[item], set.slotCategories[j]);
          assert.ok(pool.has(item), `item ${item} is not in the train positives`);
        });
        assert.ok(!positiveKeys.has(key(items)), `negative ${items} copies a positive`);
      }
    }
  });

  it('covers the non-positive combinations of the pool', () => {
    const sampler = new NegativeSampler(set, 'train');
    const neg = sampler.randomMix(allRows(train.users.length), 200, new Rng(3));
    const seen = new Set(rowsOf(neg).map((r) => key(r.slice(1))));
    const pools = sampler.pools.byCategory;
    const expected = pools[0].length * pools[1].length * pools[2].length - positiveKeys.size;
    assert.equal(seen.size, expected);
  });

  it('uses the split’s own pool and positives', () => {
    const sampler = new NegativeSampler(set, 'test');
    const testItems = new Set(set.splits.test.posi.items);
    const neg = sampler.randomMix(allRows(set.splits.test.posi.users.length), 10, new Rng(4));
    for (const item of neg.items) assert.ok(testItems.has(item));
  });

  it('is deterministic for a seed', () => {
    const a = new NegativeSampler(set, 'train').randomMix(allRows(12), 10, new Rng(9));
    const b = new NegativeSampler(set, 'train').randomMix(allRows(12), 10, new Rng(9));
    assert.deepEqual(a, b);
  });

  it('keeps a missing second top missing and never repeats a top (variable-length sets)', () => {
    const vset = makeRandomSet({ set: '519', numUsers: 3, counts: [5, 3, 3], perUser: { train: 4 }, seed: 6 });
    const posi = vset.splits.train.posi;
    const neg = new NegativeSampler(vset, 'train').randomMix(allRows(posi.users.length), 20, new Rng(1));
    const vkeys = new Set(rowsOf(posi).map((r) => key(r.slice(1))));
    let threeItem = 0;
    for (let r = 0; r < neg.users.length; r++) {
      const p = Math.floor(r / 20);
      const items = Array.from(neg.items.subarray(r * 4, r * 4 + 4));
      assert.equal(items[1] === -1, posi.items[p * 4 + 1] === -1);
      if (items[1] === -1) threeItem++;
      else assert.notEqual(items[0], items[1]);
      assert.ok(!vkeys.has(key(items)));
      for (let j = 0; j < 4; j++) if (items[j] >= 0) assert.equal(vset.catalog.category[items[j]], vset.slotCategories[j]);
    }
    assert.ok(threeItem > 0 && threeItem < neg.users.length);
  });

  it('a positive in the other top order is still rejected', () => {
    // tops 0,1; bottom 2; shoe 3: the only non-positive 4-item mix of the pool is impossible,
    // because [0,1,2,3] and [1,0,2,3] are the same outfit and [0,0,..]/[1,1,..] repeat a top.
    const vset = makeSet({
      set: '519',
      numUsers: 2,
      counts: [2, 1, 1],
      splits: { train: { posi: [[0, 0, 1, 2, 3], [1, 0, -1, 2, 3], [1, 1, -1, 2, 3]] } },
    });
    const sampler = new NegativeSampler(vset, 'train');
    assert.throws(() => sampler.randomMix([0], 1, new Rng(1)), UserError);
  });

  it('fails with a UserError when every combination is a positive', () => {
    const tiny = makeSet({ numUsers: 1, counts: [1, 1, 1], splits: { train: { posi: [[0, 0, 1, 2]] } } });
    assert.throws(() => new NegativeSampler(tiny, 'train').randomMix([0], 1, new Rng(1)), /too small/);
  });
});

describe('NegativeSampler.hard', () => {
  const set = makeRandomSet({ numUsers: 5, counts: [30, 30, 30], perUser: { train: 4 }, seed: 8 });
  const train = set.splits.train.posi;
  const posRows = rowsOf(train).map((r) => r.slice(1).join());

  it('draws positives of other users of the split, all of them reachable', () => {
    const neg = new NegativeSampler(set, 'train').hard(Int32Array.from([0, 5, 19]), 400, new Rng(3));
    assert.equal(neg.users.length, 1200);
    for (let i = 0; i < 3; i++) {
      const user = train.users[[0, 5, 19][i]];
      const drawn = new Set<number>();
      for (let t = 0; t < 400; t++) {
        const r = i * 400 + t;
        assert.equal(neg.users[r], user);
        const source = posRows.indexOf(Array.from(neg.items.subarray(r * 3, r * 3 + 3)).join());
        assert.ok(source >= 0, 'a hard negative is a positive of the split');
        assert.notEqual(train.users[source], user);
        drawn.add(source);
      }
      // 16 rows belong to other users; 400 uniform draws miss one with probability < 16 * (15/16)^400
      assert.equal(drawn.size, 16);
    }
  });

  it('fails with a UserError when the split has a single user', () => {
    const one = makeRandomSet({ numUsers: 1, counts: [5, 5, 5], perUser: { train: 3 }, seed: 1 });
    assert.throws(() => new NegativeSampler(one, 'train').hard([0], 1, new Rng(1)), UserError);
  });
});

describe('NegativeSampler.mixed', () => {
  it('gives nRandom random mixes then nHard other-user positives per positive', () => {
    const set = makeRandomSet({ numUsers: 6, counts: [40, 40, 40], perUser: { train: 5 }, seed: 4 });
    const train = set.splits.train.posi;
    const posKeys = new Map(rowsOf(train).map((r) => [key(r.slice(1)), r[0]]));
    const rows = allRows(train.users.length);
    const neg = new NegativeSampler(set, 'train').mixed(rows, 5, 5, new Rng(7));
    assert.equal(neg.users.length, rows.length * 10);
    for (let i = 0; i < rows.length; i++) {
      for (let t = 0; t < 10; t++) {
        const r = i * 10 + t;
        const owner = posKeys.get(key(Array.from(neg.items.subarray(r * 3, r * 3 + 3))));
        if (t < 5) assert.equal(owner, undefined, 'random part copies a positive');
        else {
          assert.notEqual(owner, undefined, 'hard part is a positive');
          assert.notEqual(owner, train.users[i]);
        }
      }
    }
  });
});
