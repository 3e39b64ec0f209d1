import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagQuality, pearson } from '../../src/lab/experiments/fn-flags.js';

test('flagQuality: precision/recall of φ > k·std against hand-counted truth', () => {
  const phi = [-2, -2, 2, 2];
  const truth = [0, 1, 1, 1];
  const q = flagQuality(phi, truth, [0, -1.5]);
  assert.equal(q.negatives, 4);
  assert.equal(q.trueFalseNegatives, 3);
  assert.equal(q.baseRate, 0.75);
  // sample std of [-2,-2,2,2] = sqrt(16/3)
  assert.ok(Math.abs(q.stdPhi - Math.sqrt(16 / 3)) < 1e-12);
  const [atZero, below] = q.rows;
  assert.equal(atZero.threshold, 0);
  assert.equal(atZero.flagged, 2);
  assert.equal(atZero.truePositives, 2);
  assert.equal(atZero.precision, 1);
  assert.ok(Math.abs(atZero.recall - 2 / 3) < 1e-12);
  assert.ok(Math.abs(atZero.f1 - 0.8) < 1e-12);
  // threshold -1.5·std ≈ -3.46 flags everything: precision = base rate, recall 1
  assert.equal(below.flagged, 4);
  assert.equal(below.precision, 0.75);
  assert.equal(below.recall, 1);
  // ranking AUC: FN φ {-2,2,2} vs TN φ {-2}: pairs (-2,-2) tie ½, (2,-2) wins twice → 2.5/3
  assert.ok(Math.abs(q.rankingAuc - 2.5 / 3) < 1e-12);
});

test('flagQuality: nothing flagged gives NaN precision, not a fake 0 or 1', () => {
  const q = flagQuality([1, 1, 1], [1, 0, 0], [0.5]);
  // std 0 → threshold 0; all φ = 1 > 0 flagged
  assert.equal(q.rows[0].flagged, 3);
  const none = flagQuality([-1, -1], [1, 0], [0]);
  assert.equal(none.rows[0].flagged, 0);
  assert.ok(Number.isNaN(none.rows[0].precision));
  assert.equal(none.rows[0].recall, 0);
  assert.throws(() => flagQuality([1, 2], [1]), /2 φ values but 1 flags/);
});

test('pearson: exact on a line, NaN without variance or with too few points', () => {
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8]) - 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [8, 6, 4, 2]) + 1) < 1e-12);
  assert.ok(Number.isNaN(pearson([1, 2, 3], [5, 5, 5])));
  assert.ok(Number.isNaN(pearson([1, 2], [1, 2])));
});
