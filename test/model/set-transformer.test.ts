import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { tf, type Tensor2D } from '../../src/engine/tf.js';
import { Rng } from '../../src/rng.js';
import { defaultModelConfig } from '../../src/model/config.js';
import { OutfitModel } from '../../src/model/outfit-model.js';

const F = 12;

function smallModel(seed = 1): OutfitModel {
  const cfg = defaultModelConfig({ backbone: { kind: 'features', width: 0, inputDim: F, outDim: F }, dim: 16, heads: 4, anchors: 4, numUsers: 3 });
  return OutfitModel.create(cfg, new Rng(seed));
}

function randomFeatures(rows: number, seed: number): Tensor2D {
  const rng = new Rng(seed);
  return tf.tensor2d(Float32Array.from({ length: rows * F }, () => rng.normal()), [rows, F]);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}


type Matrix = number[][];

/** method.md §2.3 MAB in plain float64 JS, from the model's weights: the reference for the tf version. */
function referenceMab(w: Map<string, number[] | Matrix>, prefix: string, q: Matrix, y: Matrix, realKeys: boolean[], heads: number): Matrix {
  const linear = (x: Matrix, name: string, relu = false): Matrix => {
    const W = w.get(`${prefix}.${name}.weight`) as Matrix;
    const b = w.get(`${prefix}.${name}.bias`) as number[];
    return x.map((row) => b.map((bj, j) => Math.max(relu ? 0 : -Infinity, bj + row.reduce((s, v, i) => s + v * W[i][j], 0))));
  };
  const norm = (x: Matrix, name: string): Matrix => {
    const g = w.get(`${prefix}.${name}.weight`) as number[];
    const b = w.get(`${prefix}.${name}.bias`) as number[];
    return x.map((row) => {
      const mean = row.reduce((s, v) => s + v, 0) / row.length;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
      return row.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[j] + b[j]);
    });
  };
  const qp = linear(q, 'q');
  const kp = linear(y, 'k');
  const vp = linear(y, 'v');
  const d = qp[0].length;
  const dh = d / heads;
  const o = qp.map((qrow) => {
    const out = [...qrow];
    for (let h = 0; h < heads; h++) {
      const cols = [...Array(dh).keys()].map((c) => h * dh + c);
      const logits = kp.map((krow, j) => (realKeys[j] ? cols.reduce((s, c) => s + qrow[c] * krow[c], 0) / Math.sqrt(dh) : -Infinity));
      const max = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - max));
      const z = e.reduce((s, v) => s + v, 0);
      for (const c of cols) out[c] += e.reduce((s, ej, j) => s + (ej / z) * vp[j][c], 0);
    }
    return out;
  });
  const hidden = norm(o, 'ln0');
  const ff = linear(hidden, 'o', true);
  return norm(hidden.map((row, i) => row.map((v, j) => v + ff[i][j])), 'ln1');
}

describe('Set Transformer (method.md §2.3)', () => {
  before(async () => {
    await initEngine({ backend: 'cpu' });
  });

  test('a padded outfit gets the embedding of the unpadded one, wherever the padding sits', () => {
    const model = smallModel();
    const features = randomFeatures(9, 7);
    // three 3-item outfits over distinct feature rows
    const plain = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // the same outfits in 4 slots, padding first, in the middle and last, next to a real 4-item outfit
    const padded = Int32Array.from([-1, 0, 1, 2, 3, 4, -1, 5, 6, 7, 8, -1, 0, 3, 6, 8]);
    const zPlain = model.embedOutfits(features, plain, 3, false);
    const zPadded = model.embedOutfits(features, padded, 4, false);
    const a = zPlain.dataSync() as Float32Array;
    const b = (zPadded.dataSync() as Float32Array).subarray(0, 3 * 16);
    const diff = maxAbsDiff(a, b);
    assert.ok(diff <= 1e-6, `padded vs unpadded embeddings differ by ${diff}`);
    // the 4-item outfit is not the 3-item one: the mask is not hiding real items
    const four = (zPadded.dataSync() as Float32Array).subarray(3 * 16, 4 * 16);
    assert.ok(maxAbsDiff(four, a.subarray(0, 16)) > 1e-3);
    tf.dispose([features, zPlain, zPadded]);
    model.dispose();
  });

  test('z = PMA(SAB(SAB(e))) matches a plain-JS evaluation of the method.md §2.3 formulas, padding included', () => {
    const model = smallModel(4);
    const features = randomFeatures(5, 17);
    const slotIndex = Int32Array.from([0, 1, 2, 3, -1, 4]);
    const z = model.embedOutfits(features, slotIndex, 3, false).arraySync();
    const weights = new Map(model.namedVariables().map((v) => [v.name, v.variable.arraySync() as number[] | Matrix]));
    const e = model.embedItems(features, false).arraySync();
    const seed = (weights.get('encoder.pma.seed') as Matrix)[0];
    for (let r = 0; r < 2; r++) {
      const ids = Array.from(slotIndex.subarray(r * 3, r * 3 + 3));
      const real = ids.map((id) => id >= 0);
      const x = ids.map((id) => (id >= 0 ? e[id] : new Array(16).fill(0)));
      const h1 = referenceMab(weights, 'encoder.sab1', x, x, real, 4);
      const h2 = referenceMab(weights, 'encoder.sab2', h1, h1, real, 4);
      const expected = referenceMab(weights, 'encoder.pma', [seed], h2, real, 4)[0];
      const diff = maxAbsDiff(Float32Array.from(z[r]), Float32Array.from(expected));
      assert.ok(diff < 1e-4, `outfit ${r}: tf vs reference differ by ${diff}`);
    }
    features.dispose();
    model.dispose();
  });

  test('the embedding does not depend on the order of the items', () => {
    const model = smallModel(2);
    const features = randomFeatures(4, 11);
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
    ];
    const z = model.embedOutfits(features, Int32Array.from(orders.flat()), 4, false);
    const rows = z.arraySync() as number[][];
    for (let r = 1; r < rows.length; r++) {
      const diff = maxAbsDiff(Float32Array.from(rows[0]), Float32Array.from(rows[r]));
      assert.ok(diff <= 1e-5, `order ${orders[r]} changes the embedding by ${diff}`);
    }
    tf.dispose([features, z]);
    model.dispose();
  });

  test('gradients through padded batches are finite and reach every encoder weight', () => {
    const model = smallModel(3);
    const features = randomFeatures(5, 13);
    const slots = Int32Array.from([0, 1, 2, -1, 3, 4, 0, 1]);
    const encoderVars = model.namedVariables().filter((v) => v.group !== 'anchors' && v.group !== 'projection');
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(model.embedOutfits(features, slots, 4, false))) as tf.Scalar,
      encoderVars.map((v) => v.variable),
    );
    for (const v of encoderVars) {
      const g = grads[v.variable.name].dataSync();
      assert.ok(g.every(Number.isFinite), `${v.name}: non-finite gradient`);
      assert.ok(g.some((x) => x !== 0), `${v.name}: gradient is all zero`);
    }
    tf.dispose([value, features, ...Object.values(grads)]);
    model.dispose();
  });

  test('an outfit with no items is rejected', () => {
    const model = smallModel();
    const features = randomFeatures(2, 1);
    assert.throws(() => model.embedOutfits(features, Int32Array.from([0, 1, -1, -1]), 2, false), /outfit 1 has no items/);
    features.dispose();
    model.dispose();
  });
});
