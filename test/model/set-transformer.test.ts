import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../src/engine/autodiff.js';
import type { Feed } from '../../src/engine/runtime.js';
import { Rng } from '../../src/rng.js';
import { defaultModelConfig } from '../../src/model/config.js';
import { featureInputSource } from '../../src/model/inputs.js';
import { OutfitModel, gatherIndexFromSlots, weightInputs } from '../../src/model/outfit-model.js';
import { MASKED_LOGIT, keyBiasFromSlots } from '../../src/model/set-transformer.js';
import { f32, maxAbsDiff, runGraph } from '../helpers/run-graph.js';

const F = 12;
const D = 16;

function smallModel(seed = 1): OutfitModel {
  const cfg = defaultModelConfig({ backbone: { kind: 'features', width: 0, inputDim: F, outDim: F }, dim: D, heads: 4, anchors: 4, numUsers: 3 });
  return OutfitModel.create(cfg, new Rng(seed));
}

function randomFeatures(rows: number, seed: number): Feed {
  const rng = new Rng(seed);
  return f32(Array.from({ length: rows * F }, () => rng.normal()), [rows, F]);
}

/** The feeds that place item rows in outfit slots (−1 = padding) for `outfitEmbedding`. */
function slotFeeds(slotIndex: Int32Array, slots: number): Record<string, Feed> {
  const n = slotIndex.length / slots;
  return {
    idx: { data: gatherIndexFromSlots(slotIndex), dims: [slotIndex.length] },
    bias: { data: keyBiasFromSlots(slotIndex), dims: [n, 1, 1, slots] },
  };
}

/**
 * z [n · d] (the Set Transformer's output, no projection) of the outfits `slotIndex` over the items
 * `features` (rows of item inputs): item embedding, gather into slots, encoder.
 */
async function embedOutfits(model: OutfitModel, features: Feed, slotIndex: Int32Array, slots: number): Promise<Float32Array> {
  const n = slotIndex.length / slots;
  const [z] = await runGraph(
    (g) => {
      const w = weightInputs(g, model.params);
      const e = model.itemEmbedding(g, w, g.input('items', features.dims), null);
      return [model.outfitEmbedding(g, w, e, g.input('idx', [slotIndex.length], 'int64'), g.input('bias', [n, 1, 1, slots]), n, slots)];
    },
    { feeds: { items: features, ...slotFeeds(slotIndex, slots) }, params: model.params },
  );
  return z;
}

type Matrix = number[][];

/** A weight of the table as a JS matrix ([rows, cols] row-major) or vector. */
function weightsOf(model: OutfitModel): Map<string, number[] | Matrix> {
  return new Map<string, number[] | Matrix>(
    model.namedParams().map((p): [string, number[] | Matrix] => {
      if (p.shape.length !== 2) return [p.name, Array.from(p.data)];
      const [rows, cols] = p.shape;
      return [p.name, Array.from({ length: rows }, (_, r) => Array.from(p.data.subarray(r * cols, (r + 1) * cols)))];
    }),
  );
}

/** method.md §2.3 MAB in plain float64 JS, from the model's weights: the reference for the graph version. */
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
  test('key bias: 0 for real slots, MASKED_LOGIT (−1e9) for padding; padding gathers row 0', () => {
    const slots = Int32Array.from([3, -1, 0, -1]);
    assert.deepEqual(Array.from(keyBiasFromSlots(slots)), [0, MASKED_LOGIT, 0, MASKED_LOGIT]);
    assert.equal(MASKED_LOGIT, -1e9);
    assert.deepEqual(Array.from(gatherIndexFromSlots(slots)), [3n, 0n, 0n, 0n]);
  });

  test('a padded outfit gets the embedding of the unpadded one, wherever the padding sits', async () => {
    const model = smallModel();
    const features = randomFeatures(9, 7);
    // three 3-item outfits over distinct feature rows
    const plain = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // the same outfits in 4 slots, padding first, in the middle and last, next to a real 4-item outfit
    const padded = Int32Array.from([-1, 0, 1, 2, 3, 4, -1, 5, 6, 7, 8, -1, 0, 3, 6, 8]);
    const a = await embedOutfits(model, features, plain, 3);
    const zPadded = await embedOutfits(model, features, padded, 4);
    const b = zPadded.subarray(0, 3 * D);
    const diff = maxAbsDiff(a, b);
    assert.ok(diff <= 1e-6, `padded vs unpadded embeddings differ by ${diff}`);
    // the 4-item outfit is not the 3-item one: the mask is not hiding real items
    const four = zPadded.subarray(3 * D, 4 * D);
    assert.ok(maxAbsDiff(four, a.subarray(0, D)) > 1e-3);
  });

  test('z = PMA(SAB(SAB(e))) matches a plain-JS evaluation of the method.md §2.3 formulas, padding included', async () => {
    const model = smallModel(4);
    const features = randomFeatures(5, 17);
    const slotIndex = Int32Array.from([0, 1, 2, 3, -1, 4]);
    const z = await embedOutfits(model, features, slotIndex, 3);
    const weights = weightsOf(model);
    // e from the inference path (embedItems), which must agree with the graph's itemEmbedding
    const source = featureInputSource(features.data as Float32Array, F);
    const eFlat = await model.embedItems(source, Int32Array.from([0, 1, 2, 3, 4]));
    const e = Array.from({ length: 5 }, (_, i) => Array.from(eFlat.subarray(i * D, (i + 1) * D)));
    const seed = (weights.get('encoder.pma.seed') as Matrix)[0];
    for (let r = 0; r < 2; r++) {
      const ids = Array.from(slotIndex.subarray(r * 3, r * 3 + 3));
      const real = ids.map((id) => id >= 0);
      const x = ids.map((id) => (id >= 0 ? e[id] : new Array(D).fill(0)));
      const h1 = referenceMab(weights, 'encoder.sab1', x, x, real, 4);
      const h2 = referenceMab(weights, 'encoder.sab2', h1, h1, real, 4);
      const expected = referenceMab(weights, 'encoder.pma', [seed], h2, real, 4)[0];
      const diff = maxAbsDiff(z.subarray(r * D, (r + 1) * D), expected);
      assert.ok(diff < 1e-4, `outfit ${r}: graph vs reference differ by ${diff}`);
    }
    await model.dispose();
  });

  test('the embedding does not depend on the order of the items', async () => {
    const model = smallModel(2);
    const features = randomFeatures(4, 11);
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
    ];
    const z = await embedOutfits(model, features, Int32Array.from(orders.flat()), 4);
    for (let r = 1; r < orders.length; r++) {
      const diff = maxAbsDiff(z.subarray(0, D), z.subarray(r * D, (r + 1) * D));
      assert.ok(diff <= 1e-5, `order ${orders[r]} changes the embedding by ${diff}`);
    }
  });

  test('a padded slot contributes nothing and receives no gradient, whatever item row it reads', async () => {
    const model = smallModel(5);
    const rng = new Rng(21);
    // an item-embedding table fed directly: row 3 is read ONLY by padded slots
    const table = Float32Array.from({ length: 4 * D }, () => rng.normal());
    const slots = 3;
    const index = BigInt64Array.from([0n, 1n, 3n, 2n, 3n, 0n]);
    const bias = keyBiasFromSlots(Int32Array.from([0, 1, -1, 2, -1, 0]));
    const run = async (rows: Float32Array) =>
      runGraph(
        (g) => {
          const w = weightInputs(g, model.params);
          const e = g.input('table', [4, D]);
          const z = model.outfitEmbedding(g, w, e, g.input('idx', [6], 'int64'), g.input('bias', [2, 1, 1, slots]), 2, slots);
          const [dTable] = gradients(g, g.reduceSum(g.square(z), [0, 1]), [e]);
          return [z, dTable];
        },
        {
          feeds: { table: { data: rows, dims: [4, D] }, idx: { data: index, dims: [6] }, bias: { data: bias, dims: [2, 1, 1, slots] } },
          params: model.params,
        },
      );
    const [z, dTable] = await run(table);
    assert.ok(dTable.subarray(3 * D).every((v) => v === 0), `padding row gradient ${Array.from(dTable.subarray(3 * D))}`);
    assert.ok(dTable.subarray(0, 3 * D).some((v) => v !== 0));
    // another value in the padding-only row changes nothing
    const changed = table.slice();
    changed.fill(100, 3 * D);
    const [z2] = await run(changed);
    assert.deepEqual(z2, z);
  });

  test('gradients through padded batches are finite and reach every encoder weight', async () => {
    const model = smallModel(3);
    const features = randomFeatures(5, 13);
    const slotIndex = Int32Array.from([0, 1, 2, -1, 3, 4, 0, 1]);
    const encoder = model.namedParams().filter((p) => p.group !== 'anchors' && p.group !== 'projection');
    assert.ok(encoder.some((p) => p.name === 'encoder.pma.seed') && encoder.some((p) => p.name === 'embed.linear.weight'));
    const grads = await runGraph(
      (g) => {
        const w = weightInputs(g, model.params);
        const e = model.itemEmbedding(g, w, g.input('items', [5, F]), null);
        const z = model.outfitEmbedding(g, w, e, g.input('idx', [8], 'int64'), g.input('bias', [2, 1, 1, 4]), 2, 4);
        const loss = g.reduceSum(g.square(z), [0, 1]);
        return gradients(g, loss, encoder.map((p) => w(p.name)));
      },
      { feeds: { items: features, ...slotFeeds(slotIndex, 4) }, params: model.params },
    );
    encoder.forEach((p, i) => {
      const g = grads[i];
      assert.equal(g.length, p.data.length, `${p.name}: gradient size`);
      assert.ok(g.every(Number.isFinite), `${p.name}: non-finite gradient`);
      assert.ok(g.some((x) => x !== 0), `${p.name}: gradient is all zero`);
    });
  });

  test('symbolic outfit counts: one graph serves any number of outfits', async () => {
    const model = smallModel(6);
    const features = randomFeatures(6, 3);
    const rows = async (slotIndex: Int32Array): Promise<Float32Array> => {
      const n = slotIndex.length / 3;
      const [z] = await runGraph(
        (g) => {
          const w = weightInputs(g, model.params);
          const e = model.itemEmbedding(g, w, g.input('items', ['items', F]), null);
          return [model.outfitEmbedding(g, w, e, g.input('idx', ['entries'], 'int64'), g.input('bias', ['outfits', 1, 1, 3]), 'outfits', 3)];
        },
        { feeds: { items: features, ...slotFeeds(slotIndex, 3) }, params: model.params },
      );
      assert.equal(z.length, n * D);
      return z;
    };
    const both = await rows(Int32Array.from([0, 1, 2, 3, -1, 5]));
    const second = await rows(Int32Array.from([3, -1, 5]));
    assert.ok(maxAbsDiff(both.subarray(D), second) <= 1e-6);
  });

  test('an outfit with no items, or a slot outside the table, is rejected', async () => {
    const model = smallModel();
    const table = new Float32Array(2 * D);
    await assert.rejects(model.projectEmbedded(table, Int32Array.from([0, 1, -1, -1]), 2), /outfit 1 has no items/);
    await assert.rejects(model.projectEmbedded(table, Int32Array.from([0, 2]), 2), /slot index 2 outside -1\.\.1/);
    await assert.rejects(model.projectEmbedded(table, Int32Array.from([0, 1, 0]), 2), /3 slot entries do not split into rows of 2/);
    await model.dispose();
  });
});
