import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { AnchorTable, SHARED_ANCHORS, USER_ANCHORS, dedupe, logDetDivergenceWithGradient, userVectorsInGraph } from '../../src/model/anchors.js';
import { defaultModelConfig, type ModelConfigInput } from '../../src/model/config.js';
import { OutfitModel, weightInputs } from '../../src/model/outfit-model.js';
import { ParamTable } from '../../src/model/params.js';
import { checkGradients } from '../engine/onnx-grad-check.js';
import { f32, maxAbsDiff, runGraph } from '../helpers/run-graph.js';

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

function randomZ(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * D }, () => rng.normal());
}

/** ĥ = normalise(W_t z + b_t) through the model's graph piece. */
async function project(m: OutfitModel, z: Float32Array): Promise<Float32Array> {
  const n = z.length / D;
  const [hats] = await runGraph((g) => [m.projectOutfits(g, weightInputs(g, m.params), g.input('z', [n, D]))], { feeds: { z: f32(z, [n, D]) }, params: m.params });
  return hats;
}

/** The inference score of outfit embeddings z for row-aligned users. */
async function scoreOutfits(m: OutfitModel, z: Float32Array, users: Int32Array): Promise<Float32Array> {
  return m.scoreProjected(await project(m, z), users);
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
function bruteForceScores(m: OutfitModel, z: Float32Array, users: Int32Array, tauS: number): number[] {
  const w = m.params.get('projection.weight').data;
  const b = m.params.get('projection.bias').data;
  const shared = m.anchors.getSharedAnchors();
  return Array.from(users, (u, i) => {
    const h = Array.from(b, (bj, j) => {
      let s = bj;
      for (let k = 0; k < D; k++) s += z[i * D + k] * w[k * D + j];
      return s;
    });
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

/** Σ_k â_uk per user, computed in a graph from the table's rows (the training path). */
async function userVectorsViaGraph(m: OutfitModel, users: Int32Array): Promise<Float32Array> {
  const a = m.anchors;
  const [v] = await runGraph(
    (g) => {
      const rows = g.input('rows', [users.length, a.userK, D]);
      const shared = a.sharedK > 0 ? weightInputs(g, m.params)(SHARED_ANCHORS) : null;
      return [userVectorsInGraph(g, rows, shared)];
    },
    { feeds: { rows: { data: a.gatherRows(users), dims: [users.length, a.userK, D] } }, params: m.params },
  );
  return v;
}

describe('LPAE anchors and score (method.md §3)', () => {
  test('default score is the sum of cosines (τ_s = 1/K); mean with a temperature divides by K·τ', async () => {
    const users = Int32Array.from([0, 2, 2, 1, 0]);
    const z = randomZ(users.length, 3);
    const sum = model();
    assert.equal(sum.scoreDivisor, 1);
    assertClose(await scoreOutfits(sum, z, users), bruteForceScores(sum, z, users, 1 / 4), 1e-5, 'sum');
    const mean = model({ scoreReduction: 'mean', scoreTemperature: 0.1 });
    assert.ok(Math.abs(mean.scoreDivisor - 0.4) < 1e-12);
    assertClose(await scoreOutfits(mean, z, users), bruteForceScores(mean, z, users, 0.1), 1e-5, 'mean/τ');
    // the projected outfits are unit vectors
    const hats = await project(sum, z);
    for (let i = 0; i < users.length; i++) assert.ok(Math.abs(Math.hypot(...hats.subarray(i * D, (i + 1) * D)) - 1) < 1e-5);
    await sum.dispose();
    await mean.dispose();
  });

  test('user vectors: the training graph (userVectorsInGraph) and inference (userVectors) agree', async () => {
    for (const over of [{}, { sharedAnchors: true, anchors: 6 }]) {
      const m = model(over);
      const users = Int32Array.from([2, 0, 2, 1]);
      const inference = m.userVectors(users);
      assert.equal(inference.length, users.length * D);
      const graph = await userVectorsViaGraph(m, users);
      assert.ok(maxAbsDiff(graph, inference) < 1e-5, `${JSON.stringify(over)}: differ by ${maxAbsDiff(graph, inference)}`);
      // Σ_k â_uk by hand for user 1
      const own = m.getUserAnchors(1);
      const shared = m.anchors.getSharedAnchors();
      const byHand = new Float64Array(D);
      for (const rows of shared ? [own, shared] : [own]) {
        for (let k = 0; k < rows.length / D; k++) {
          const r = rows.subarray(k * D, (k + 1) * D);
          const norm = Math.hypot(...r);
          r.forEach((v, j) => (byHand[j] += v / norm));
        }
      }
      assert.ok(maxAbsDiff(inference.subarray(3 * D, 4 * D), byHand) < 1e-5);
      await m.dispose();
    }
  });

  test('userVectorsInGraph: gradients match finite differences (own and shared anchors)', async () => {
    await checkGradients('userVectorsInGraph', {
      shapes: [[3, 2, 4], [2, 4]],
      build: (g, [rows, shared]) => {
        const v = userVectorsInGraph(g, rows, shared);
        return g.reduceSum(g.mul(v, g.constant([0.3, -1, 0.5, 2, 1, 0.1, -0.4, 0.7, -2, 0.2, 0.9, -0.6], [3, 4])), [0, 1]);
      },
    });
  });

  test('LPAE-g: K/2 anchors per user plus K/2 shared by all users', async () => {
    const m = model({ sharedAnchors: true, anchors: 6 });
    const shapes = Object.fromEntries(m.namedParams().filter((p) => p.group === 'anchors').map((p) => [p.name, p.shape]));
    assert.deepEqual(shapes, { 'anchors.user': [3, 3, D], 'anchors.shared': [3, D] });
    assert.equal(m.anchors.totalK, 6);
    const users = Int32Array.from([0, 1, 2]);
    const z = randomZ(3, 9);
    assertClose(await scoreOutfits(m, z, users), bruteForceScores(m, z, users, 1 / 6), 1e-5, 'LPAE-g');
    // two users with the same own anchors score every outfit identically: the rest is shared
    m.setUserAnchors(1, m.getUserAnchors(0));
    const hats = await project(m, z);
    for (let r = 0; r < 3; r++) {
      const row = hats.subarray(r * D, (r + 1) * D);
      const [s0, s1] = m.scoreProjected(Float32Array.from([...row, ...row]), Int32Array.from([0, 1]));
      assert.ok(Math.abs(s0 - s1) < 1e-6);
    }
    // and the shared half does move every user's score
    const before = m.scoreProjected(hats, users);
    const shared = m.params.get(SHARED_ANCHORS).data;
    shared.forEach((v, i) => (shared[i] = -v));
    const after = m.scoreProjected(hats, users);
    assert.ok(before.every((v, i) => Math.abs(v - after[i]) > 1e-4));
    await m.dispose();
  });

  test('anchors are initialised in U(±sqrt(3/d))', () => {
    const m = model({ numUsers: 50 });
    const values = m.params.get(USER_ANCHORS).data;
    assert.equal(values.length, 50 * 4 * D);
    const limit = Math.sqrt(3 / D);
    let max = 0;
    for (const v of values) max = Math.max(max, Math.abs(v));
    assert.ok(max <= limit && max > 0.9 * limit, `max |a| = ${max}, limit ${limit}`);
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
    const fd = (m: number[][], k: number, j: number, eps = 1e-6): number => {
      const plus = m.map((r) => [...r]);
      const minus = m.map((r) => [...r]);
      plus[k][j] += eps;
      minus[k][j] -= eps;
      return (byHand(plus) - byHand(minus)) / (2 * eps);
    };
    // the float64 maths alone
    for (const m of [a, b]) {
      const r = logDetDivergenceWithGradient(Float64Array.from(m.flat()), 2, 3);
      assert.ok(Math.abs(r.value - byHand(m)) < 1e-12, `value ${r.value} vs ${byHand(m)}`);
      for (let k = 0; k < 2; k++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(r.grad[k * 3 + j] - fd(m, k, j)) < 1e-6, `grad[${k}][${j}] ${r.grad[k * 3 + j]} vs ${fd(m, k, j)}`);
    }
    // through the table: weights 2/3 and 1/3 (user A twice and user B once in a batch of three)
    const table = new AnchorTable(2, 2, 0, 3, new ParamTable(), new Rng(1));
    table.setUserAnchors(0, Float32Array.from(a.flat()));
    table.setUserAnchors(1, Float32Array.from(b.flat()));
    // the table holds float32: compare with the hand formula on the float32-rounded values
    const a32 = a.map((r) => r.map(Math.fround));
    const b32 = b.map((r) => r.map(Math.fround));
    const reg = table.regularizer(Int32Array.from([0, 1, 0]));
    assert.deepEqual(Array.from(reg.unique), [0, 1]);
    const expected = (2 / 3) * byHand(a32) + (1 / 3) * byHand(b32);
    assert.ok(Math.abs(reg.value - expected) < 1e-9, `value ${reg.value} vs ${expected}`);
    assert.equal(reg.grad.length, 2 * 2 * 3);
    [a32, b32].forEach((m, i) => {
      const weight = i === 0 ? 2 / 3 : 1 / 3;
      for (let k = 0; k < 2; k++) {
        for (let j = 0; j < 3; j++) {
          const g = reg.grad[i * 6 + k * 3 + j];
          assert.ok(Math.abs(g - weight * fd(m, k, j)) < 1e-5, `grad[${i}][${k}][${j}] ${g} vs finite difference ${weight * fd(m, k, j)}`);
        }
      }
    });
  });

  test('regulariser averages over the batch users, duplicates included; orthonormal anchors give exactly K', () => {
    const m = model({ numUsers: 3, anchors: 3 });
    const single = (u: number): number => m.anchors.regularizer(Int32Array.of(u)).value;
    const batch = m.anchors.regularizer(Int32Array.from([0, 0, 2])).value;
    assert.ok(Math.abs(batch - (2 * single(0) + single(2)) / 3) < 1e-9);
    // near-orthonormal anchors give a smaller divergence than the random init (minimum K at A Aᵀ = I)
    const eye = new Float32Array(3 * D);
    for (let k = 0; k < 3; k++) eye[k * D + k] = 1;
    m.setUserAnchors(1, eye);
    assert.ok(Math.abs(single(1) - 3) < 1e-9);
    assert.ok(single(0) > 3 && single(2) > 3);
    // at the minimum the gradient is zero
    assert.ok(m.anchors.regularizer(Int32Array.of(1)).grad.every((v) => Math.abs(v) < 1e-6));
  });

  test('regulariser errors: K > d and linearly dependent anchors', () => {
    const wide = new AnchorTable(1, 3, 0, 2, new ParamTable(), new Rng(1));
    assert.throws(() => wide.regularizer(Int32Array.of(0)), /G_u = A_u A_uᵀ is singular when K_user \(3\) > dim \(2\)/);
    const table = new AnchorTable(1, 2, 0, 3, new ParamTable(), new Rng(1));
    table.setUserAnchors(0, Float32Array.from([1, 2, 3, 2, 4, 6]));
    assert.throws(() => table.regularizer(Int32Array.of(0)), /linearly dependent/);
  });

  test('dedupe and gatherRows: distinct users in first-seen order, their rows fed to the step', () => {
    const { unique, inverse } = dedupe(Int32Array.from([4, 1, 4, 4, 0, 1]));
    assert.deepEqual(Array.from(unique), [4, 1, 0]);
    assert.deepEqual(Array.from(inverse), [0, 1, 0, 0, 2, 1]);
    const m = model();
    const rows = m.anchors.gatherRows(Int32Array.from([2, 0]));
    assert.deepEqual(rows, Float32Array.from([...m.getUserAnchors(2), ...m.getUserAnchors(0)]));
    assert.throws(() => m.setUserAnchors(0, new Float32Array(3)), /expected 4×8 = 32 values, got 3/);
  });

  test('cold users: addUsers appends fresh anchors and keeps existing ones', async () => {
    const m = model();
    const old = m.getUserAnchors(2);
    const first = m.addUsers(2, new Rng(99));
    assert.equal(first, 3);
    assert.equal(m.config.numUsers, 5);
    assert.deepEqual(m.params.get(USER_ANCHORS).shape, [5, 4, D]);
    assert.deepEqual(m.getUserAnchors(2), old);
    assert.notDeepEqual(m.getUserAnchors(3), m.getUserAnchors(4));
    const z = randomZ(1, 1);
    const s = await scoreOutfits(m, z, Int32Array.of(4));
    assert.equal(s.length, 1);
    assert.ok(Number.isFinite(s[0]));
    const hats = await project(m, z);
    assert.throws(() => m.scoreProjected(hats, Int32Array.of(5)), (e: unknown) => e instanceof UserError && /user 5 is outside the model's users 0\.\.4/.test(e.message));
    assert.throws(() => m.getUserAnchors(-1), /user -1 is outside/);
    assert.throws(() => m.addUsers(0, new Rng(1)), /count must be a positive integer, got 0/);
    await m.dispose();
  });
});
