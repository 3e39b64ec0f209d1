import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coldUserShots } from '../../src/data/coldstart.js';
import { Rng } from '../../src/rng.js';
import { makeRandomSet, makeSet } from '../helpers/make-set.js';

describe('coldUserShots', () => {
  const set = makeRandomSet({ numUsers: 6, counts: [50, 50, 50], perUser: { train: 8 }, seed: 3 });
  const users = set.splits.train.posi.users;

  it('keeps N training positives per user, as ascending row indices', () => {
    const { rows, perUser } = coldUserShots(set, 5, new Rng(1));
    assert.equal(rows.length, 30);
    assert.deepEqual(Array.from(perUser), [5, 5, 5, 5, 5, 5]);
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i] > rows[i - 1]);
    const count = new Array(6).fill(0);
    for (const r of rows) count[users[r]]++;
    assert.deepEqual(count, [5, 5, 5, 5, 5, 5]);
  });

  it('is seeded, nested (1-shot ⊂ 5-shot for one seed), and differs between seeds', () => {
    const five = coldUserShots(set, 5, new Rng(42)).rows;
    assert.deepEqual(coldUserShots(set, 5, new Rng(42)).rows, five);
    const one = coldUserShots(set, 1, new Rng(42)).rows;
    assert.equal(one.length, 6);
    for (const r of one) assert.ok(five.includes(r), `1-shot row ${r} not in the 5-shot subset`);
    assert.notDeepEqual(coldUserShots(set, 5, new Rng(43)).rows, five);
  });

  it('draws every row of a user over seeds (not always the first lines)', () => {
    const drawn = new Set<number>();
    for (let seed = 0; seed < 60; seed++) for (const r of coldUserShots(set, 1, new Rng(seed)).rows) if (users[r] === 2) drawn.add(r);
    assert.equal(drawn.size, 8);
  });

  it('keeps all positives of a user who has fewer than N', () => {
    const small = makeSet({
      numUsers: 3,
      counts: [5, 5, 5],
      splits: { train: { posi: [[0, 0, 5, 10], [0, 1, 6, 11], [2, 2, 7, 12], [0, 3, 8, 13], [2, 4, 9, 14]] } },
    });
    const { rows, perUser } = coldUserShots(small, 5, new Rng(1));
    assert.deepEqual(Array.from(rows), [0, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(perUser), [3, 0, 2]);
  });

  it('rejects a non-positive shot count', () => {
    assert.throws(() => coldUserShots(set, 0, new Rng(1)), RangeError);
  });
});
