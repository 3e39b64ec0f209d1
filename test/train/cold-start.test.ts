import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ItemPools } from '../../src/data/augment.js';
import type { OutfitTable } from '../../src/data/types.js';
import { aucOfUser } from '../../src/eval/metrics.js';
import { featureInputSource, type ItemInputSource } from '../../src/model/inputs.js';
import { OutfitModel } from '../../src/model/outfit-model.js';
import { NORM_EPS } from '../../src/model/scoring.js';
import { Rng } from '../../src/rng.js';
import {
  addFittedUsers,
  anchorLossAndGradient,
  soFitting,
  logDetDivergenceWithGradient,
  type AnchorProblem,
  fitAnchorsForNewUser,
  fitAnchorsForNewUsers,
  projectedOutfitEmbeddings,
} from '../../src/train/cold-start.js';

// A hand-made catalog whose item features form two clusters (two "styles"): 3 categories × 30 items,
// items 0..14 of each category near centre A, 15..29 near centre B. Item features reach the
// Set Transformer through an identity backbone, so even an untrained model maps a cluster's
// outfits close together: SO must find that direction from a few outfits.
const F = 12;
const PER_CATEGORY = 30;
const CATEGORIES = 3;

function clusteredFeatures(seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = [0, 1].map(() => Float32Array.from({ length: F }, () => rng.normal()));
  const values = new Float32Array(CATEGORIES * PER_CATEGORY * F);
  for (let c = 0; c < CATEGORIES; c++) {
    for (let i = 0; i < PER_CATEGORY; i++) {
      const centre = centres[i < PER_CATEGORY / 2 ? 0 : 1];
      const id = c * PER_CATEGORY + i;
      for (let t = 0; t < F; t++) values[id * F + t] = centre[t] + 0.35 * rng.normal() + (c - 1) * 0.2;
    }
  }
  return values;
}

const pools: ItemPools = {
  byCategory: Array.from({ length: CATEGORIES }, (_, c) => Int32Array.from({ length: PER_CATEGORY }, (_, i) => c * PER_CATEGORY + i)),
  categoryOf: Uint8Array.from({ length: CATEGORIES * PER_CATEGORY }, (_, id) => Math.floor(id / PER_CATEGORY)),
};

/** `n` outfits (top, bottom, shoe) of one cluster, items drawn from `lo..hi-1` of each category. */
function clusterOutfits(n: number, lo: number, hi: number, rng: Rng): number[][] {
  return Array.from({ length: n }, () => [0, 1, 2].map((c) => c * PER_CATEGORY + lo + rng.int(hi - lo)));
}

function randomOutfits(n: number, rng: Rng): number[][] {
  return Array.from({ length: n }, () => [0, 1, 2].map((c) => c * PER_CATEGORY + rng.int(PER_CATEGORY)));
}

function tableOf(outfits: number[][]): OutfitTable {
  return { slots: 3, users: new Int32Array(outfits.length), items: Int32Array.from(outfits.flat()) };
}

/** Scores of outfits for a user of `model` given its anchors (written into user `slot`). */
async function scoresWith(model: OutfitModel, inputs: ItemInputSource, slot: number, anchors: Float32Array, outfits: number[][]): Promise<Float32Array> {
  model.setUserAnchors(slot, anchors);
  const t = tableOf(outfits);
  return model.scoreTable(inputs, { ...t, users: new Int32Array(outfits.length).fill(slot) });
}

function makeModel(over: { sharedAnchors?: boolean } = {}): OutfitModel {
  return OutfitModel.create(
    { backbone: { kind: 'features', width: 0, inputDim: F, outDim: F }, dim: 16, heads: 2, anchors: 4, numUsers: 3, dropout: 0, ...over },
    new Rng(11),
  );
}

describe('cold start (method.md §5)', () => {
  let inputs: ItemInputSource;
  before(() => {
    inputs = featureInputSource(clusteredFeatures(4), F);
  });

  test('SO raises the new user\'s scores of held-out outfits of their style over random anchors', async (t) => {
    const model = makeModel();
    const rng = new Rng(5);
    const shots = clusterOutfits(5, 0, 15, rng);
    const heldOut = clusterOutfits(40, 0, 15, rng.fork('held-out'));
    // random-mix negatives of the whole catalog, as in evaluation (method.md §7)
    const mixes = randomOutfits(200, rng.fork('mixes'));
    const started = performance.now();
    const anchors = await fitAnchorsForNewUser(model, inputs, shots, { strategy: 'so', rng: new Rng(1), pools });
    t.diagnostic(`SO fit from 5 outfits: ${(performance.now() - started).toFixed(1)} ms (150 steps)`);
    assert.equal(anchors.length, 4 * 16);
    assert.ok(anchors.every(Number.isFinite));

    const slot = model.addUsers(1, new Rng(2));
    const fitted = aucOfUser(await scoresWith(model, inputs, slot, anchors, heldOut), await scoresWith(model, inputs, slot, anchors, mixes));
    // random anchors (the SO starting point) over several draws: no preference on average
    const baselines: number[] = [];
    for (let draw = 0; draw < 8; draw++) {
      const r = new Rng(100 + draw);
      const random = Float32Array.from({ length: 4 * 16 }, () => r.uniform(-Math.sqrt(3 / 16), Math.sqrt(3 / 16)));
      baselines.push(aucOfUser(await scoresWith(model, inputs, slot, random, heldOut), await scoresWith(model, inputs, slot, random, mixes)));
    }
    const baseline = baselines.reduce((a, b) => a + b, 0) / baselines.length;
    t.diagnostic(`held-out outfits of the style vs random mixes, AUC: SO ${fitted.toFixed(3)}, random anchors ${baseline.toFixed(3)} (mean of 8)`);
    assert.ok(fitted > 0.85, `SO AUC ${fitted}`);
    assert.ok(fitted > baseline + 0.2, `SO AUC ${fitted} vs random ${baseline}`);
    await model.dispose();
  });

  test('the SO gradient matches central differences (softmax and LPAE\'s pairwise objective, + anchor regulariser)', () => {
    const rng = new Rng(71);
    const d = 5;
    const ku = 3;
    const users = 2;
    const rows = 14;
    const hats = Float64Array.from({ length: rows * d }, () => rng.normal());
    for (let r = 0; r < rows; r++) {
      const n = Math.hypot(...hats.subarray(r * d, r * d + d));
      for (let t = 0; t < d; t++) hats[r * d + t] /= n;
    }
    const problem: AnchorProblem = {
      dim: d,
      anchorsPerUser: ku,
      users,
      hats,
      posRows: Int32Array.of(0, 1, 2),
      posUsers: Int32Array.of(0, 0, 1),
      shared: Float64Array.from({ length: d }, () => 0.3 * rng.normal()),
      divisor: 0.7,
      regWeight: 0.05,
    };
    const m = 3;
    const negRows = Int32Array.from({ length: 3 * m }, (_, i) => 3 + i);
    const anchors = Float64Array.from({ length: users * ku * d }, () => rng.normal());
    for (const objective of ['softmax', 'pairwise'] as const) {
      const p = { ...problem, objective };
      const { grad } = anchorLossAndGradient(p, anchors, negRows, m);
      const h = 1e-6;
      for (let i = 0; i < anchors.length; i++) {
        const plus = Float64Array.from(anchors);
        plus[i] += h;
        const minus = Float64Array.from(anchors);
        minus[i] -= h;
        const numeric = (anchorLossAndGradient(p, plus, negRows, m).loss - anchorLossAndGradient(p, minus, negRows, m).loss) / (2 * h);
        assert.ok(Math.abs(numeric - grad[i]) < 1e-6 * Math.max(1, Math.abs(numeric)), `${objective}, coordinate ${i}: ${grad[i]} vs ${numeric}`);
      }
    }
    // the pairwise value by hand (no regulariser): user 1 has one positive (row 2) and negatives rows 9..11
    const v = new Float64Array(d).fill(0);
    for (let t = 0; t < d; t++) v[t] = problem.shared[t];
    for (let k = 0; k < ku; k++) {
      const a = anchors.subarray((ku + k) * d, (ku + k + 1) * d);
      const n = Math.hypot(...a);
      for (let t = 0; t < d; t++) v[t] += a[t] / n;
    }
    const score = (r: number) => hats.subarray(r * d, r * d + d).reduce((acc, x, t) => acc + x * v[t], 0) / problem.divisor;
    const handUser1 = [9, 10, 11].reduce((acc, r) => acc + Math.log1p(Math.exp(score(r) - score(2))), 0) / 3;
    const onlyUser1 = { ...problem, objective: 'pairwise' as const, regWeight: 0, posRows: Int32Array.of(2), posUsers: Int32Array.of(1) };
    const got = anchorLossAndGradient(onlyUser1, anchors, Int32Array.of(9, 10, 11), 3).loss;
    assert.ok(Math.abs(got - handUser1) < 1e-12, `pairwise loss ${got} vs by hand ${handUser1}`);
  });

  test('the softmax objective\'s four-rows-at-a-time loops give the plain loops\' loss and gradient bit for bit', () => {
    // M = 10 negatives: two sweeps of four rows and a remainder of three (positive included)
    const rng = new Rng(5);
    const d = 64;
    const ku = 4;
    const m = 10;
    const rows = 2 * (1 + m);
    const hats = Float64Array.from({ length: rows * d }, () => rng.normal() / 8);
    const shared = new Float64Array(d);
    const problem: AnchorProblem = { dim: d, anchorsPerUser: ku, users: 1, hats, posRows: Int32Array.of(0, 11), posUsers: Int32Array.of(0, 0), shared, divisor: 0.3, regWeight: 0 };
    const negRows = Int32Array.from({ length: 2 * m }, (_, i) => (i < m ? 1 + i : 12 + i - m));
    const anchors = Float64Array.from({ length: ku * d }, () => rng.normal());
    // the plain arithmetic: one row at a time, every sum in index order
    const norms = Array.from({ length: ku }, (_, k) => {
      let ss = 0;
      for (let t = 0; t < d; t++) ss += anchors[k * d + t] * anchors[k * d + t];
      return Math.sqrt(ss + NORM_EPS);
    });
    const v = new Float64Array(d);
    for (let k = 0; k < ku; k++) for (let t = 0; t < d; t++) v[t] += anchors[k * d + t] * (1 / norms[k]);
    const gv = new Float64Array(d);
    let loss = 0;
    for (let p = 0; p < 2; p++) {
      const rs = [problem.posRows[p], ...negRows.subarray(p * m, (p + 1) * m)];
      const logits = rs.map((r) => {
        let sum = 0;
        for (let t = 0; t < d; t++) sum += hats[r * d + t] * v[t];
        return sum / problem.divisor;
      });
      const max = Math.max(...logits);
      let z = 0;
      for (const l of logits) z += Math.exp(l - max);
      loss += 0.5 * (max + Math.log(z) - logits[0]);
      rs.forEach((r, i) => {
        const g = (0.5 * (Math.exp(logits[i] - max) / z - (i === 0 ? 1 : 0))) / problem.divisor;
        for (let t = 0; t < d; t++) gv[t] += g * hats[r * d + t];
      });
    }
    const got = anchorLossAndGradient(problem, anchors, negRows, m);
    assert.equal(got.loss, loss);
    for (let k = 0; k < ku; k++) {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += gv[t] * anchors[k * d + t];
      dot /= norms[k];
      for (let t = 0; t < d; t++) assert.equal(got.grad[k * d + t], (gv[t] - (dot * anchors[k * d + t]) / norms[k]) / norms[k], `anchor ${k}, coordinate ${t}`);
    }
  });

  test('SO fits a new user the way the run was trained: LPAE pairwise + its regulariser, the softmax family Eq. T', () => {
    assert.deepEqual(soFitting({ method: 'lpae', regWeight: 0.01 }), { objective: 'pairwise', regWeight: 0.01, label: 'pairwise + 0.01·L_reg' });
    for (const method of ['softmax', 'softmax+cl', 'fnd', 'fnd+cl']) assert.deepEqual(soFitting({ method, regWeight: 0.01 }), { objective: 'softmax', regWeight: 0, label: 'Eq. T' });
  });

  test('the Float64 regulariser equals tr(G) − log det(G) and the model\'s anchor regulariser', async () => {
    const rng = new Rng(81);
    const a = Float32Array.from({ length: 4 * 6 }, () => rng.normal());
    const ours = logDetDivergenceWithGradient(Float64Array.from(a), 4, 6).value;
    // brute force: G = A Aᵀ, det by Gaussian elimination with partial pivoting
    const k = 4;
    const g = Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, c) => {
      let s = 0;
      for (let t = 0; t < 6; t++) s += a[r * 6 + t] * a[c * 6 + t];
      return s;
    }));
    const trace = g.reduce((s, row, i) => s + row[i], 0);
    let det = 1;
    for (let c = 0; c < k; c++) {
      let p = c;
      for (let r = c + 1; r < k; r++) if (Math.abs(g[r][c]) > Math.abs(g[p][c])) p = r;
      if (p !== c) {
        [g[p], g[c]] = [g[c], g[p]];
        det = -det;
      }
      det *= g[c][c];
      for (let r = c + 1; r < k; r++) {
        const f = g[r][c] / g[c][c];
        for (let t = c; t < k; t++) g[r][t] -= f * g[c][t];
      }
    }
    const brute = trace - Math.log(det);
    assert.ok(Math.abs(ours - brute) < 1e-9 * Math.abs(brute), `${ours} vs ${brute}`);
    // the model's regulariser (method.md §3 L_reg) on a user holding these anchors
    const model = OutfitModel.create(
      { backbone: { kind: 'features', width: 1, inputDim: F, outDim: 6 }, dim: 6, heads: 2, anchors: 4, numUsers: 2, dropout: 0 },
      new Rng(11),
    );
    model.setUserAnchors(1, a);
    const theirs = model.anchors.regularizer(Int32Array.of(1)).value;
    assert.ok(Math.abs(ours - theirs) < 1e-9 * Math.abs(ours), `${ours} vs ${theirs}`);
    await model.dispose();
  });

  test('SO accepts a table, is seeded, and leaves every model weight untouched', async () => {
    const model = makeModel();
    const before = model.namedParams().map((p) => p.data.slice());
    const outfits = tableOf(clusterOutfits(3, 0, 15, new Rng(8)));
    const a = await fitAnchorsForNewUser(model, inputs, outfits, { rng: new Rng(9), pools, steps: 20 });
    const b = await fitAnchorsForNewUser(model, inputs, outfits, { rng: new Rng(9), pools, steps: 20 });
    assert.deepEqual(a, b);
    const after = model.namedParams();
    assert.equal(after.length, before.length);
    after.forEach((p, i) => assert.deepEqual(p.data, before[i], p.name));
    await model.dispose();
  });

  test('the batch version fits each user to their own style', async () => {
    const model = makeModel();
    const rng = new Rng(21);
    const styleA = clusterOutfits(5, 0, 15, rng);
    const styleB = clusterOutfits(5, 15, 30, rng);
    const [a, b] = await fitAnchorsForNewUsers(model, inputs, [styleA, styleB], { rng: new Rng(1), pools });
    const first = addFittedUsers(model, [a, b], new Rng(3));
    assert.equal(first, 3);
    assert.equal(model.config.numUsers, 5);
    const heldA = clusterOutfits(20, 0, 15, rng);
    const heldB = clusterOutfits(20, 15, 30, rng);
    const scoreFor = (user: number, outfits: number[][]) => model.scoreTable(inputs, { ...tableOf(outfits), users: new Int32Array(outfits.length).fill(user) });
    assert.ok(aucOfUser(await scoreFor(first, heldA), await scoreFor(first, heldB)) > 0.9);
    assert.ok(aucOfUser(await scoreFor(first + 1, heldB), await scoreFor(first + 1, heldA)) > 0.9);
    await model.dispose();
  });

  test('SU copies the existing user who scores the new outfits highest', async () => {
    const model = makeModel();
    const rng = new Rng(31);
    // user 1 becomes a style-A user; users 0 and 2 are style B
    const [a, b] = await fitAnchorsForNewUsers(model, inputs, [clusterOutfits(5, 0, 15, rng), clusterOutfits(5, 15, 30, rng)], { rng: new Rng(1), pools });
    model.setUserAnchors(0, b);
    model.setUserAnchors(1, a);
    model.setUserAnchors(2, b);
    const copied = await fitAnchorsForNewUser(model, inputs, clusterOutfits(2, 0, 15, rng), { strategy: 'su', rng: new Rng(2) });
    assert.deepEqual(copied, model.getUserAnchors(1));
    // candidateUsers restricts the search
    const restricted = await fitAnchorsForNewUser(model, inputs, clusterOutfits(2, 0, 15, rng), { strategy: 'su', rng: new Rng(2), candidateUsers: Int32Array.of(2) });
    assert.deepEqual(restricted, model.getUserAnchors(2));
    await model.dispose();
  });

  test('SA takes existing anchors, the nearest one to each outfit first', async () => {
    const model = makeModel();
    const outfits = clusterOutfits(2, 0, 15, new Rng(41));
    const anchors = await fitAnchorsForNewUser(model, inputs, outfits, { strategy: 'sa', rng: new Rng(2) });
    const d = 16;
    const existing = [0, 1, 2].flatMap((u) => {
      const all = model.getUserAnchors(u);
      return Array.from({ length: 4 }, (_, k) => all.slice(k * d, (k + 1) * d));
    });
    const rows = Array.from({ length: 4 }, (_, k) => anchors.slice(k * d, (k + 1) * d));
    for (const row of rows) assert.ok(existing.some((e) => e.every((v, i) => v === row[i])), 'every SA anchor is an existing anchor');
    assert.equal(new Set(rows.map((r) => r.join(','))).size, 4, 'no anchor taken twice');
    // the first anchor is the one nearest (cosine) to the first outfit's projected embedding
    const hats = await projectedOutfitEmbeddings(model, inputs, Int32Array.from(outfits.flat()), 3);
    assert.equal(hats.length, outfits.length * d);
    const h = hats.slice(0, d);
    const cos = (x: Float32Array) => x.reduce((s, v, i) => s + v * h[i], 0) / Math.hypot(...x);
    const best = Math.max(...existing.map(cos));
    assert.ok(Math.abs(cos(rows[0]) - best) < 1e-6);
    await model.dispose();
  });

  test('LPAE-g: SO fits only the own anchors; own + frozen shared anchors give the model\'s score', async () => {
    const model = makeModel({ sharedAnchors: true });
    const outfits = clusterOutfits(4, 0, 15, new Rng(51));
    const anchors = await fitAnchorsForNewUser(model, inputs, outfits, { rng: new Rng(1), pools, steps: 30 });
    assert.equal(anchors.length, 2 * 16, 'K/2 own anchors');
    const slot = model.addUsers(1, new Rng(2));
    const scores = await scoresWith(model, inputs, slot, anchors, outfits);
    // the score SO optimised: ĥ·(Σ own â + Σ shared â) / divisor
    const d = 16;
    const v = model.anchors.sharedSum();
    for (let k = 0; k < 2; k++) {
      const row = anchors.slice(k * d, (k + 1) * d);
      const n = Math.hypot(...row);
      row.forEach((x, t) => (v[t] += x / n));
    }
    const h = await projectedOutfitEmbeddings(model, inputs, Int32Array.from(outfits.flat()), 3);
    assert.equal(h.length, outfits.length * d);
    outfits.forEach((_, r) => {
      const ours = h.slice(r * d, (r + 1) * d).reduce((s, x, t) => s + x * v[t], 0) / model.scoreDivisor;
      assert.ok(Math.abs(ours - scores[r]) < 1e-4, `outfit ${r}: ${ours} vs model ${scores[r]}`);
    });
    await model.dispose();
  });

  test('bad input is a UserError naming the problem', async () => {
    const model = makeModel();
    await assert.rejects(() => fitAnchorsForNewUser(model, inputs, [], { rng: new Rng(1), pools }), /no outfits/);
    await assert.rejects(() => fitAnchorsForNewUser(model, inputs, [[0, 999, 60]], { rng: new Rng(1), pools }), /item 999 is outside/);
    await assert.rejects(() => fitAnchorsForNewUser(model, inputs, [[0, 30, 60]], { rng: new Rng(1) }), /needs item pools/);
    await assert.rejects(
      () => fitAnchorsForNewUser(model, inputs, [[0, 30, 60]], { rng: new Rng(1), pools, strategy: 'xx' as 'so' }),
      /must be one of so, su, sa/,
    );
    await model.dispose();
  });
});
