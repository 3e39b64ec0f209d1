import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { tf, type Tensor3D } from '../../src/engine/tf.js';
import { Rng } from '../../src/rng.js';
import { logDetDivergence } from '../../src/model/anchors.js';
import { defaultModelConfig, type ModelConfigInput } from '../../src/model/config.js';
import { OutfitModel } from '../../src/model/outfit-model.js';

const D = 8;

function model(over: Partial<ModelConfigInput> = {}, seed = 5): OutfitModel {
  const cfg = defaultModelConfig({
    backbone: { kind: 'features', width: 0, inputDim: 6, outDim: 6 },
    dim: D,
    heads: 2,
    anchors: 4,
    numUsers: 3,
    ...over,
  });
  return OutfitModel.create(cfg, new Rng(seed));
}

function randomZ(n: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  return tf.tensor2d(Float32Array.from({ length: n * D }, () => rng.normal()), [n, D]);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** s(u,o) = (1/τ_s)·mean_k cos(h_o, a_uk) computed anchor by anchor (method.md §3). */
function bruteForceScores(m: OutfitModel, z: tf.Tensor2D, users: Int32Array, tauS: number): number[] {
  const byName = new Map(m.namedVariables().map((v) => [v.name, v.variable]));
  const w = byName.get('projection.weight')!.arraySync() as number[][];
  const b = byName.get('projection.bias')!.arraySync() as number[];
  const zs = z.arraySync();
  const shared = m.anchors.getSharedAnchors();
  return Array.from(users, (u, i) => {
    const h = b.map((bj, j) => bj + zs[i].reduce((s, zk, k) => s + zk * w[k][j], 0));
    const own = m.getUserAnchors(u);
    const anchors: Float32Array[] = [];
    for (let k = 0; k < own.length / D; k++) anchors.push(own.subarray(k * D, (k + 1) * D));
    if (shared) for (let k = 0; k < shared.length / D; k++) anchors.push(shared.subarray(k * D, (k + 1) * D));
    const meanCos = anchors.reduce((s, a) => s + cosine(h, a), 0) / anchors.length;
    return meanCos / tauS;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('LPAE anchors and score (method.md §3)', () => {
  before(async () => {
    await initEngine({ backend: 'cpu' });
  });

  test('default score is the sum of cosines (τ_s = 1/K); mean with a temperature divides by K·τ', () => {
    const users = Int32Array.from([0, 2, 2, 1, 0]);
    const z = randomZ(users.length, 3);
    const sum = model();
    assertClose(sum.scoreOutfits(z, users).dataSync(), bruteForceScores(sum, z, users, 1 / 4), 1e-5, 'sum');
    const mean = model({ scoreReduction: 'mean', scoreTemperature: 0.1 });
    assertClose(mean.scoreOutfits(z, users).dataSync(), bruteForceScores(mean, z, users, 0.1), 1e-5, 'mean/τ');
    // scoreMatrix gives the same numbers, outfit × user
    const matrix = sum.scoreMatrix(z, Int32Array.from([0, 1, 2])).arraySync();
    const direct = sum.scoreOutfits(z, users).dataSync();
    users.forEach((u, i) => assert.ok(Math.abs(matrix[i][u] - direct[i]) < 1e-5));
    z.dispose();
    sum.dispose();
    mean.dispose();
  });

  test('LPAE-g: K/2 anchors per user plus K/2 shared by all users', () => {
    const m = model({ sharedAnchors: true, anchors: 6 });
    const shapes = Object.fromEntries(m.namedVariables().filter((v) => v.group === 'anchors').map((v) => [v.name, v.variable.shape]));
    assert.deepEqual(shapes, { 'anchors.user': [3, 3, D], 'anchors.shared': [3, D] });
    const users = Int32Array.from([0, 1, 2]);
    const z = randomZ(3, 9);
    assertClose(m.scoreOutfits(z, users).dataSync(), bruteForceScores(m, z, users, 1 / 6), 1e-5, 'LPAE-g');
    // two users with the same own anchors score every outfit identically: the rest is shared
    m.setUserAnchors(1, m.getUserAnchors(0));
    const s = m.scoreMatrix(z, Int32Array.from([0, 1])).arraySync();
    for (const row of s) assert.ok(Math.abs(row[0] - row[1]) < 1e-6);
    // and the shared half does move every user's score
    const shared = m.namedVariables().find((v) => v.name === 'anchors.shared')!.variable;
    const before = m.scoreMatrix(z, users).dataSync().slice();
    shared.assign(tf.neg(shared));
    const after = m.scoreMatrix(z, users).dataSync();
    assert.ok(before.every((v, i) => Math.abs(v - after[i]) > 1e-4));
    z.dispose();
    m.dispose();
  });

  test('anchors are initialised in U(±sqrt(3/d))', () => {
    const m = model({ numUsers: 50 });
    const values = m.namedVariables().find((v) => v.name === 'anchors.user')!.variable.dataSync();
    const limit = Math.sqrt(3 / D);
    let max = 0;
    for (const v of values) max = Math.max(max, Math.abs(v));
    assert.ok(max <= limit && max > 0.9 * limit, `max |a| = ${max}, limit ${limit}`);
    m.dispose();
  });

  test('regulariser equals tr(G) − log det(G) by hand (K = 2, d = 3) and its gradient matches finite differences', () => {
    const a = [
      [0.3, -0.2, 0.5],
      [0.1, 0.4, -0.3],
    ];
    const b = [
      [1.0, 0.2, 0.0],
      [-0.5, 0.7, 0.25],
    ];
    const byHand = (m: number[][]): number => {
      const g11 = m[0].reduce((s, x) => s + x * x, 0);
      const g22 = m[1].reduce((s, x) => s + x * x, 0);
      const g12 = m[0].reduce((s, x, i) => s + x * m[1][i], 0);
      return g11 + g22 - Math.log(g11 * g22 - g12 * g12);
    };
    // weights 2/3 and 1/3: user A twice and user B once in a batch of three
    const regOf = (x: number[][][]): number => (2 / 3) * byHand(x[0]) + (1 / 3) * byHand(x[1]);
    const weights = Float64Array.from([2 / 3, 1 / 3]);
    const anchors = tf.variable(tf.tensor3d([a, b])) as tf.Variable<tf.Rank.R3>;
    const { value, grads } = tf.variableGrads(() => logDetDivergence(anchors as Tensor3D, weights), [anchors]);
    assert.ok(Math.abs(value.dataSync()[0] - regOf([a, b])) < 1e-5, `value ${value.dataSync()[0]} vs ${regOf([a, b])}`);
    const g = grads[anchors.name].arraySync() as number[][][];
    const eps = 1e-6;
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 2; k++) {
        for (let j = 0; j < 3; j++) {
          const plus = [a, b].map((m) => m.map((r) => [...r]));
          const minus = [a, b].map((m) => m.map((r) => [...r]));
          plus[i][k][j] += eps;
          minus[i][k][j] -= eps;
          const fd = (regOf(plus) - regOf(minus)) / (2 * eps);
          assert.ok(Math.abs(g[i][k][j] - fd) < 1e-4, `grad[${i}][${k}][${j}] ${g[i][k][j]} vs finite difference ${fd}`);
        }
      }
    }
    tf.dispose([anchors, value, ...Object.values(grads)]);
  });

  test('anchorRegularizer averages over the batch users, duplicates included', () => {
    const m = model({ numUsers: 3, anchors: 3 });
    const single = (u: number): number => m.anchorRegularizer(Int32Array.of(u)).dataSync()[0];
    const batch = m.anchorRegularizer(Int32Array.from([0, 0, 2])).dataSync()[0];
    assert.ok(Math.abs(batch - (2 * single(0) + single(2)) / 3) < 1e-4);
    // near-orthonormal anchors give a smaller divergence than the random init (minimum K at A Aᵀ = I)
    const eye = new Float32Array(3 * D);
    for (let k = 0; k < 3; k++) eye[k * D + k] = 1;
    m.setUserAnchors(1, eye);
    assert.ok(Math.abs(single(1) - 3) < 1e-5);
    m.dispose();
  });

  test('cold users: addUsers appends fresh anchors and keeps existing ones', () => {
    const m = model();
    const old = m.getUserAnchors(2);
    const first = m.addUsers(2, new Rng(99));
    assert.equal(first, 3);
    assert.equal(m.config.numUsers, 5);
    assert.deepEqual(m.getUserAnchors(2), old);
    assert.notDeepEqual(m.getUserAnchors(3), m.getUserAnchors(4));
    const z = randomZ(1, 1);
    assert.equal(m.scoreOutfits(z, Int32Array.of(4)).shape[0], 1);
    assert.throws(() => m.scoreOutfits(z, Int32Array.of(5)), /user 5 is outside/);
    z.dispose();
    m.dispose();
  });
});
