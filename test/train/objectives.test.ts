/**
 * The training objectives (method.md §4) as graph builders, run in ONNX Runtime on hand-built scores:
 * values against hand computations, FND's shift (its sign included) and indicator forms, gradients.
 * Float64 graphs, so that "equals" can mean exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../src/engine/autodiff.js';
import { Graph, type Value } from '../../src/engine/graph.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { contrastiveLoss, fndShift, pairwiseLoss, softmaxLoss } from '../../src/train/objectives.js';
import { checkGradients } from '../engine/onnx-grad-check.js';
import { runGraph64 } from '../helpers/run-graph.js';

const softplus = (x: number): number => Math.log1p(Math.exp(x));

function randomMatrix(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

/** A float64 constant from nested arrays (shape taken from the nesting). */
function tensor(g: Graph, values: number | number[] | number[][] | number[][][]): Value {
  const dims: number[] = [];
  for (let v: unknown = values; Array.isArray(v); v = v[0]) dims.push(v.length);
  const flat = Array.isArray(values) ? (values as number[][][]).flat(2) : [values];
  return g.constant(flat, dims);
}

/** The scalar value of one loss graph. */
async function lossOf(build: (g: Graph) => Value): Promise<number> {
  const [out] = await runGraph64((g) => [build(g)]);
  return out[0];
}

/** softmaxLoss(s⁺, s⁻ + fndShift(φ, α, form)): the FND student loss. */
function fndLoss(g: Graph, sPos: number[], sNeg: number[][], phi: number[][], alpha: number, form: 'shift' | 'indicator'): Value {
  const shift = fndShift(Float32Array.from(phi.flat()), alpha, form);
  const shifted = g.add(tensor(g, sNeg), g.constant(Float64Array.from(shift), [sNeg.length, sNeg[0].length]));
  return softmaxLoss(g, tensor(g, sPos), shifted);
}

/** −log softmax share of the positive among [s⁺, ...s⁻], by hand. */
function handSoftmaxLoss(sPos: number, sNeg: number[]): number {
  const denom = Math.exp(sPos) + sNeg.reduce((a, s) => a + Math.exp(s), 0);
  return -Math.log(Math.exp(sPos) / denom);
}

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

describe('objectives (method.md §4)', () => {
  it('pairwise: mean softplus over every positive×negative pair, by hand on 2×2', async () => {
    const sPos = [2, -1];
    const sNeg = [0.5, 1];
    let expected = 0;
    for (const p of sPos) for (const n of sNeg) expected += softplus(-(p - n));
    expected /= 4;
    const got = await lossOf((g) => pairwiseLoss(g, tensor(g, sPos), tensor(g, sNeg)));
    assertClose(got, expected, 1e-12, 'pairwise');
  });

  it('pairwise pairs across users: B positives × B′ negatives with B ≠ B′, large margins stay finite', async () => {
    const sPos = [40, -3, 0.25];
    const sNeg = [-40, 1];
    let expected = 0;
    for (const p of sPos) for (const n of sNeg) expected += softplus(-(p - n));
    expected /= 6;
    const got = await lossOf((g) => pairwiseLoss(g, tensor(g, sPos), tensor(g, sNeg)));
    assertClose(got, expected, 1e-12, 'pairwise 3×2');
  });

  it('softmax: -log softmax of the positive among 1+M, by hand', async () => {
    const sPos = [1.5, 0];
    const sNeg = [
      [0, 1, -1],
      [2, 0.5, 0],
    ];
    const expected = (handSoftmaxLoss(sPos[0], sNeg[0]) + handSoftmaxLoss(sPos[1], sNeg[1])) / 2;
    const got = await lossOf((g) => softmaxLoss(g, tensor(g, sPos), tensor(g, sNeg)));
    assertClose(got, expected, 1e-12, 'softmax');
    // log-sum-exp is stabilised: logits of ±1000 give the exact finite value
    const big = await lossOf((g) => softmaxLoss(g, tensor(g, [1000]), tensor(g, [[1000, -1000]])));
    assertClose(big, Math.log(2), 1e-12, 'softmax at ±1000');
  });

  it('softmax rejects scores that are not sPos [B] and sNeg [B, M]', () => {
    const g = new Graph('float64');
    assert.throws(() => softmaxLoss(g, tensor(g, [1, 2]), tensor(g, [[1, 2, 3]])), /expected sPos \[B\] and sNeg \[B, M\], got \[2\] and \[1,3\]/);
    assert.throws(() => softmaxLoss(g, tensor(g, [1]), tensor(g, [1, 2])), /expected sPos \[B\] and sNeg \[B, M\]/);
  });

  it('fnd shift: alpha = 0 equals softmax exactly on the same batch', async () => {
    const rng = new Rng(3);
    const sPos = Array.from({ length: 8 }, () => rng.normal() * 3);
    const sNeg = randomMatrix(rng, 8, 10).map((r) => r.map((x) => x * 3));
    const phi = randomMatrix(rng, 8, 10);
    const shift = fndShift(Float32Array.from(phi.flat()), 0, 'shift');
    assert.ok(shift.every((s) => s === 0), 'α = 0 shifts nothing');
    const [fnd, plain] = await runGraph64((g) => [fndLoss(g, sPos, sNeg, phi, 0, 'shift'), softmaxLoss(g, tensor(g, sPos), tensor(g, sNeg))]);
    assert.equal(fnd[0], plain[0]);
  });

  it('fnd shift is α·φ per negative', () => {
    const phi = Float32Array.from([0.5, -0.25, 0, 2]);
    assert.deepEqual(Array.from(fndShift(phi, 0.7, 'shift')), Array.from(phi, (p) => Math.fround(0.7 * p)));
    assert.deepEqual(Array.from(fndShift(phi, -2, 'shift')), [-1, 0.5, -0, -4]);
  });

  it('fnd shift sign: a suspected false negative (φ > 0) gets MORE softmax share at α > 0, less at α < 0', async () => {
    // φ = (0.8, 0, 0), s⁺ = 1, s⁻ = (0, 0, 0): the first negative's logit becomes 0 + α·0.8
    const sPos = [1];
    const sNeg = [[0, 0, 0]];
    const phi = [[0.8, 0, 0]];
    const e = Math.E;
    const byHand = new Map([
      [1, { share: Math.exp(0.8) / (e + Math.exp(0.8) + 2), loss: -Math.log(e / (e + Math.exp(0.8) + 2)) }],
      [0, { share: 1 / (e + 3), loss: -Math.log(e / (e + 3)) }],
      [-1, { share: Math.exp(-0.8) / (e + Math.exp(-0.8) + 2), loss: -Math.log(e / (e + Math.exp(-0.8) + 2)) }],
    ]);
    // the hand values themselves, to three decimals
    assert.equal(byHand.get(1)!.share.toFixed(3), '0.321');
    assert.equal(byHand.get(0)!.share.toFixed(3), '0.175');
    assert.equal(byHand.get(-1)!.share.toFixed(3), '0.087');
    const losses = new Map<number, number>();
    for (const alpha of [1, 0, -1]) {
      const shift = fndShift(Float32Array.from(phi.flat()), alpha, 'shift');
      const [loss, shares] = await runGraph64((g) => {
        const sp = tensor(g, sPos);
        const shifted = g.add(tensor(g, sNeg), g.constant(Float64Array.from(shift), [1, 3]));
        return [softmaxLoss(g, sp, shifted), g.softmax(g.concat([g.unsqueeze(sp, [1]), shifted], 1), 1)];
      });
      const hand = byHand.get(alpha)!;
      // shift is float32 (0.8 is not exact in it): 1e-7 covers that rounding
      assertClose(shares[1], hand.share, 1e-7, `α = ${alpha}: share of the suspected false negative`);
      assertClose(loss[0], hand.loss, 1e-7, `α = ${alpha}: loss`);
      losses.set(alpha, loss[0]);
    }
    assert.ok(losses.get(1)! > losses.get(0)!, `L(α=+1) ${losses.get(1)} should exceed L(0) ${losses.get(0)}`);
    assert.ok(losses.get(0)! > losses.get(-1)!, `L(0) ${losses.get(0)} should exceed L(α=−1) ${losses.get(-1)}`);
  });

  it('fnd shift: a negative inside the radius (phi > 0) raises the loss, one outside lowers it', async () => {
    const sPos = [1];
    const sNeg = [[0, 0, 0]];
    const [base, inside, outside] = await runGraph64((g) => [
      softmaxLoss(g, tensor(g, sPos), tensor(g, sNeg)),
      fndLoss(g, sPos, sNeg, [[0.8, 0, 0]], 1, 'shift'),
      fndLoss(g, sPos, sNeg, [[-0.8, 0, 0]], 1, 'shift'),
    ]);
    assert.ok(inside[0] > base[0], `false negative: ${inside[0]} should exceed ${base[0]}`);
    assert.ok(outside[0] < base[0], `plain negative: ${outside[0]} should be below ${base[0]}`);
    // exact value: the shifted logit is 0 + 1·0.8
    assertClose(inside[0], -Math.log(Math.E / (Math.E + Math.exp(0.8) + 2)), 1e-7, 'inside');
  });

  it('fnd indicator: weight alpha multiplies exp-terms of negatives with phi > 0 only', async () => {
    const sPos = [1];
    const sNeg = [[0.5, -0.5]];
    const phi = [[0.3, -0.3]];
    assert.deepEqual(Array.from(fndShift(Float32Array.from(phi.flat()), 3, 'indicator')), [Math.fround(Math.log(3)), 0]);
    const got = await lossOf((g) => fndLoss(g, sPos, sNeg, phi, 3, 'indicator'));
    assertClose(got, -Math.log(Math.E / (Math.E + 3 * Math.exp(0.5) + Math.exp(-0.5))), 1e-7, 'α = 3');
  });

  it('fnd indicator: α = 1 is the softmax loss exactly', async () => {
    const rng = new Rng(5);
    const sPos = Array.from({ length: 4 }, () => rng.normal());
    const sNeg = randomMatrix(rng, 4, 5);
    const phi = randomMatrix(rng, 4, 5);
    assert.ok(fndShift(Float32Array.from(phi.flat()), 1, 'indicator').every((s) => s === 0));
    const [fnd, plain] = await runGraph64((g) => [fndLoss(g, sPos, sNeg, phi, 1, 'indicator'), softmaxLoss(g, tensor(g, sPos), tensor(g, sNeg))]);
    assert.equal(fnd[0], plain[0]);
  });

  it('fnd indicator: α = 0 drops the φ > 0 negatives from the denominator (and from the gradient)', async () => {
    const sPos = [1, -0.5];
    const sNeg = [
      [0.5, -0.5, 2],
      [0, 3, 1],
    ];
    const phi = [
      [0.3, -0.3, 0.9],
      [0, 0.1, -1],
    ];
    const shift = fndShift(Float32Array.from(phi.flat()), 0, 'indicator');
    assert.deepEqual(Array.from(shift), [-Infinity, 0, -Infinity, 0, -Infinity, 0]);
    // only the negatives with φ ≤ 0 remain: row 0 keeps −0.5, row 1 keeps 0 and 1
    const expected = (handSoftmaxLoss(1, [-0.5]) + handSoftmaxLoss(-0.5, [0, 1])) / 2;
    const [loss, dPos, dNeg] = await runGraph64((g) => {
      const sp = g.input('sPos', [2]);
      const sn = g.input('sNeg', [2, 3]);
      const l = softmaxLoss(g, sp, g.add(sn, g.constant(Float64Array.from(shift), [2, 3])));
      return [l, ...gradients(g, l, [sp, sn])];
    }, { feeds: { sPos: { data: Float64Array.from(sPos), dims: [2] }, sNeg: { data: Float64Array.from(sNeg.flat()), dims: [2, 3] } } });
    assertClose(loss[0], expected, 1e-12, 'α = 0');
    assert.ok([...dPos, ...dNeg].every(Number.isFinite), `gradients ${[...dPos, ...dNeg]}`);
    // a dropped negative gets no gradient; a kept one gets its softmax share / B
    [0, 2, 4].forEach((i) => assert.equal(dNeg[i], 0, `dropped negative ${i}`));
    const share = (s: number, kept: number[], x: number) => Math.exp(x) / (Math.exp(s) + kept.reduce((a, k) => a + Math.exp(k), 0));
    assertClose(dNeg[1], share(1, [-0.5], -0.5) / 2, 1e-12, 'd/ds⁻[0][1]');
    assertClose(dNeg[3], share(-0.5, [0, 1], 0) / 2, 1e-12, 'd/ds⁻[1][0]');
    assertClose(dPos[0], (share(1, [-0.5], 1) - 1) / 2, 1e-12, 'd/ds⁺[0]');
  });

  it('fnd: α < 0 in the indicator form and a non-finite α are ConfigErrors on fnd.alpha', () => {
    const phi = Float32Array.from([0.3, -0.3]);
    const isAlphaError = (e: unknown) => e instanceof ConfigError && e.field === 'fnd.alpha';
    assert.throws(() => fndShift(phi, -1, 'indicator'), isAlphaError);
    assert.throws(() => fndShift(phi, -1e-9, 'indicator'), (e: unknown) => isAlphaError(e) && /alpha must be >= 0/.test((e as Error).message));
    assert.throws(() => fndShift(phi, Number.NaN, 'shift'), isAlphaError);
    assert.throws(() => fndShift(phi, Infinity, 'indicator'), isAlphaError);
    // a negative α is fine in the shift form (the inverted variant)
    assert.doesNotThrow(() => fndShift(phi, -1, 'shift'));
  });

  it('fnd and softmax have gradients w.r.t. the student scores: d L / d s⁺ = share⁺ − 1', async () => {
    const sNeg = [[0.2, -0.1]];
    const phi = [[0.5, -0.5]];
    for (const form of ['shift', 'indicator'] as const) {
      const shift = fndShift(Float32Array.from(phi.flat()), 2, form);
      const [dPos] = await runGraph64((g) => {
        const sp = g.input('sPos', [1]);
        const l = softmaxLoss(g, sp, g.add(tensor(g, sNeg), g.constant(Float64Array.from(shift), [1, 2])));
        return gradients(g, l, [sp]);
      }, { feeds: { sPos: { data: Float64Array.of(0.3), dims: [1] } } });
      const denom = Math.exp(0.3) + Math.exp(0.2 + shift[0]) + Math.exp(-0.1 + shift[1]);
      assert.ok(dPos[0] < 0 && Number.isFinite(dPos[0]), `${form}: d loss / d s⁺ = ${dPos[0]} should be negative`);
      assertClose(dPos[0], Math.exp(0.3) / denom - 1, 1e-12, `${form}: d loss / d s⁺`);
    }
  });

  it('gradients of pairwise, softmax and contrastive losses match finite differences', async () => {
    await checkGradients('pairwise', { shapes: [[3], [4]], build: (g, [p, n]) => pairwiseLoss(g, p, n) });
    await checkGradients('softmax', { shapes: [[3], [3, 4]], build: (g, [p, n]) => softmaxLoss(g, p, n) });
    await checkGradients('contrastive', {
      shapes: [[2, 4], [2, 4], [2, 3, 4]],
      build: (g, [a, b, n]) => contrastiveLoss(g, a, b, n, 0.5, { inBatch: true }),
    });
  });

  it('contrastive: identical views give a lower loss than unrelated ones (with and without in-batch)', async () => {
    const rng = new Rng(11);
    const B = 6;
    const d = 16;
    const M2 = 4;
    const v1 = randomMatrix(rng, B, d);
    const unrelated = randomMatrix(rng, B, d);
    const negs = Array.from({ length: B }, () => randomMatrix(rng, M2, d));
    for (const inBatch of [false, true]) {
      const [same, diff] = await runGraph64((g) => [
        contrastiveLoss(g, tensor(g, v1), tensor(g, v1), tensor(g, negs), 0.2, { inBatch }),
        contrastiveLoss(g, tensor(g, v1), tensor(g, unrelated), tensor(g, negs), 0.2, { inBatch }),
      ]);
      assert.ok(same[0] < diff[0], `inBatch=${inBatch}: ${same[0]} should be < ${diff[0]}`);
    }
  });

  it('contrastive: matches a hand computation on one sample (symmetrised InfoNCE, cosine / tau)', async () => {
    const v1 = [[1, 0]];
    const v2 = [[1, 1]];
    const negs = [
      [
        [0, 1],
        [-1, 0],
      ],
    ];
    const tau = 0.5;
    const cos = (a: number[], b: number[]): number => (a[0] * b[0] + a[1] * b[1]) / (Math.hypot(a[0], a[1]) * Math.hypot(b[0], b[1]));
    const dir = (a: number[], p: number[]): number => {
      const pos = Math.exp(cos(a, p) / tau);
      const den = pos + negs[0].reduce((s, n) => s + Math.exp(cos(a, n) / tau), 0);
      return -Math.log(pos / den);
    };
    const expected = (dir(v1[0], v2[0]) + dir(v2[0], v1[0])) / 2;
    const got = await lossOf((g) => contrastiveLoss(g, tensor(g, v1), tensor(g, v2), tensor(g, negs), tau, { inBatch: false }));
    assertClose(got, expected, 1e-10, 'contrastive');
    // with one sample there is no other sample: in-batch changes nothing
    const inBatch = await lossOf((g) => contrastiveLoss(g, tensor(g, v1), tensor(g, v2), tensor(g, negs), tau, { inBatch: true }));
    assertClose(inBatch, expected, 1e-10, 'contrastive, in-batch with B = 1');
  });

  it('contrastive: in-batch negatives add the other samples views and never the own sample', async () => {
    // two samples whose views are all orthogonal to each other: in-batch adds exactly
    // 2 + 2·M2 terms of exp(0) per anchor
    const v1 = [
      [1, 0, 0, 0],
      [0, 0, 1, 0],
    ];
    const negs = [[[0, 1, 0, 0]], [[0, 0, 0, 1]]];
    const tau = 1;
    const [withoutInBatch, withInBatch] = await runGraph64((g) => [
      contrastiveLoss(g, tensor(g, v1), tensor(g, v1), tensor(g, negs), tau, { inBatch: false }),
      contrastiveLoss(g, tensor(g, v1), tensor(g, v1), tensor(g, negs), tau, { inBatch: true }),
    ]);
    // own group: pos e^1, neg e^0 → -log(e/(e+1)); in-batch adds the other sample's v1, v2, neg (3 × e^0)
    assertClose(withoutInBatch[0], -Math.log(Math.E / (Math.E + 1)), 1e-12, 'without in-batch');
    assertClose(withInBatch[0], -Math.log(Math.E / (Math.E + 4)), 1e-12, 'with in-batch');
  });

  it('contrastive: τ ≤ 0 is a ConfigError on cl.tau; disagreeing shapes are rejected', () => {
    const g = new Graph('float64');
    const v = tensor(g, [[1, 0]]);
    const n = tensor(g, [[[0, 1]]]);
    assert.throws(() => contrastiveLoss(g, v, v, n, 0, { inBatch: false }), (e: unknown) => e instanceof ConfigError && e.field === 'cl.tau');
    assert.throws(() => contrastiveLoss(g, v, tensor(g, [[1, 0, 0]]), n, 1, { inBatch: false }), /contrastiveLoss: shapes/);
  });
});
