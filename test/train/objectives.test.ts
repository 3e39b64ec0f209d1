import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { initEngine } from '../../src/engine/backend.js';
import { contrastiveLoss, fndLoss, pairwiseLoss, softmaxLoss } from '../../src/train/objectives.js';
import { Rng } from '../../src/rng.js';

const value = (t: tf.Tensor): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};
const softplus = (x: number): number => Math.log1p(Math.exp(x));

function randomMatrix(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

describe('objectives (method.md §4)', () => {
  before(async () => {
    await initEngine({ backend: 'cpu' });
  });

  it('pairwise: mean softplus over every positive×negative pair, by hand on 2×2', () => {
    const sPos = [2, -1];
    const sNeg = [0.5, 1];
    let expected = 0;
    for (const p of sPos) for (const n of sNeg) expected += softplus(-(p - n));
    expected /= 4;
    const got = value(pairwiseLoss(tf.tensor1d(sPos), tf.tensor1d(sNeg)));
    assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  });

  it('softmax: -log softmax of the positive among 1+M, by hand', () => {
    const sPos = [1.5, 0];
    const sNeg = [
      [0, 1, -1],
      [2, 0.5, 0],
    ];
    let expected = 0;
    for (let b = 0; b < 2; b++) {
      const denom = Math.exp(sPos[b]) + sNeg[b].reduce((a, s) => a + Math.exp(s), 0);
      expected += -Math.log(Math.exp(sPos[b]) / denom);
    }
    expected /= 2;
    const got = value(softmaxLoss(tf.tensor1d(sPos), tf.tensor2d(sNeg)));
    assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  });

  it('fnd shift: alpha = 0 equals softmax exactly on the same batch', () => {
    const rng = new Rng(3);
    const sPos = tf.tensor1d(Array.from({ length: 8 }, () => rng.normal() * 3));
    const sNeg = tf.tensor2d(randomMatrix(rng, 8, 10).map((r) => r.map((x) => x * 3)));
    const phi = tf.tensor2d(randomMatrix(rng, 8, 10));
    assert.equal(value(fndLoss(sPos, sNeg, phi, 0, 'shift')), value(softmaxLoss(sPos, sNeg)));
  });

  it('fnd shift: a negative inside the radius (phi > 0) raises the loss, one outside lowers it', () => {
    const sPos = tf.tensor1d([1]);
    const sNeg = tf.tensor2d([[0, 0, 0]]);
    const base = value(softmaxLoss(sPos, sNeg));
    const inside = value(fndLoss(sPos, sNeg, tf.tensor2d([[0.8, 0, 0]]), 1, 'shift'));
    const outside = value(fndLoss(sPos, sNeg, tf.tensor2d([[-0.8, 0, 0]]), 1, 'shift'));
    assert.ok(inside > base, `false negative: ${inside} should exceed ${base}`);
    assert.ok(outside < base, `plain negative: ${outside} should be below ${base}`);
    // exact value: the shifted logit is 0 + 1·0.8
    const expected = -Math.log(Math.E / (Math.E + Math.exp(0.8) + 2));
    assert.ok(Math.abs(inside - expected) < 1e-6);
  });

  it('fnd indicator: weight alpha multiplies exp-terms of negatives with phi > 0 only', () => {
    const sPos = tf.tensor1d([1]);
    const sNeg = tf.tensor2d([[0.5, -0.5]]);
    const phi = tf.tensor2d([[0.3, -0.3]]);
    const got = value(fndLoss(sPos, sNeg, phi, 3, 'indicator'));
    const expected = -Math.log(Math.E / (Math.E + 3 * Math.exp(0.5) + Math.exp(-0.5)));
    assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
    // alpha = 1 is Eq. T
    const one = value(fndLoss(sPos, sNeg, phi, 1, 'indicator'));
    assert.ok(Math.abs(one - value(softmaxLoss(sPos, sNeg))) < 1e-6);
    assert.throws(() => fndLoss(sPos, sNeg, phi, -1, 'indicator'), /fnd\.alpha/);
  });

  it('fnd and softmax have gradients w.r.t. the student scores', () => {
    const sNeg = tf.tensor2d([[0.2, -0.1]]);
    const phi = tf.tensor2d([[0.5, -0.5]]);
    for (const form of ['shift', 'indicator'] as const) {
      const g = tf.grad((s: tf.Tensor) => fndLoss(s as tf.Tensor1D, sNeg, phi, 2, form))(tf.tensor1d([0.3]));
      const v = g.dataSync()[0];
      assert.ok(v < 0 && Number.isFinite(v), `${form}: d loss / d s⁺ = ${v} should be negative`);
    }
  });

  it('contrastive: identical views give a lower loss than unrelated ones (with and without in-batch)', () => {
    const rng = new Rng(11);
    const B = 6;
    const d = 16;
    const M2 = 4;
    const v1 = tf.tensor2d(randomMatrix(rng, B, d));
    const unrelated = tf.tensor2d(randomMatrix(rng, B, d));
    const negs = tf.tensor3d(Array.from({ length: B }, () => randomMatrix(rng, M2, d)));
    for (const inBatch of [false, true]) {
      const same = value(contrastiveLoss(v1, v1, negs, 0.2, { inBatch }));
      const diff = value(contrastiveLoss(v1, unrelated, negs, 0.2, { inBatch }));
      assert.ok(same < diff, `inBatch=${inBatch}: ${same} should be < ${diff}`);
    }
  });

  it('contrastive: matches a hand computation on one sample (symmetrised InfoNCE, cosine / tau)', () => {
    const v1 = [[1, 0]];
    const v2 = [[1, 1]];
    const negs = [[[0, 1], [-1, 0]]];
    const tau = 0.5;
    const cos = (a: number[], b: number[]): number =>
      (a[0] * b[0] + a[1] * b[1]) / (Math.hypot(a[0], a[1]) * Math.hypot(b[0], b[1]));
    const dir = (a: number[], p: number[]): number => {
      const pos = Math.exp(cos(a, p) / tau);
      const den = pos + negs[0].reduce((s, n) => s + Math.exp(cos(a, n) / tau), 0);
      return -Math.log(pos / den);
    };
    const expected = (dir(v1[0], v2[0]) + dir(v2[0], v1[0])) / 2;
    const got = value(contrastiveLoss(tf.tensor2d(v1), tf.tensor2d(v2), tf.tensor3d(negs), tau, { inBatch: false }));
    assert.ok(Math.abs(got - expected) < 1e-5, `${got} vs ${expected}`);
  });

  it('contrastive: in-batch negatives add the other samples views and never the own sample', () => {
    // two samples whose views are all orthogonal to each other: in-batch adds exactly
    // 2 + 2·M2 terms of exp(0) per anchor
    const v1 = tf.tensor2d([
      [1, 0, 0, 0],
      [0, 0, 1, 0],
    ]);
    const negs = tf.tensor3d([[[0, 1, 0, 0]], [[0, 0, 0, 1]]]);
    const tau = 1;
    const withoutInBatch = value(contrastiveLoss(v1, v1, negs, tau, { inBatch: false }));
    const withInBatch = value(contrastiveLoss(v1, v1, negs, tau, { inBatch: true }));
    // own group: pos e^1, neg e^0 → -log(e/(e+1)); in-batch adds the other sample's v1, v2, neg (3 × e^0)
    assert.ok(Math.abs(withoutInBatch - -Math.log(Math.E / (Math.E + 1))) < 1e-6);
    assert.ok(Math.abs(withInBatch - -Math.log(Math.E / (Math.E + 4))) < 1e-6, `${withInBatch}`);
  });
});
