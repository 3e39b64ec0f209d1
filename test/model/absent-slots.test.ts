/**
 * docs/method.md §6.5: a layout.json set may leave ANY optional slot empty, not only the second top
 * of 519/32, so the Set Transformer must mask an absent slot wherever it sits: an outfit's embedding
 * is the same whichever slots its items are in and wherever its −1 gaps are.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/rng.js';
import { defaultModelConfig } from '../../src/model/config.js';
import { OutfitModel } from '../../src/model/outfit-model.js';

/** A small features model of width d (dropout off). */
function smallModel(d: number, heads: number, seed: number): OutfitModel {
  return OutfitModel.create(
    defaultModelConfig({ backbone: { kind: 'features', width: 1, inputDim: 6, outDim: 12 }, dim: d, heads, anchors: 4, dropout: 0, numUsers: 2 }),
    new Rng(seed),
  );
}

describe('absent slots anywhere in a row', () => {
  test('projectEmbedded gives one embedding per item set, whatever the gaps', async () => {
    const d = 8;
    const model = smallModel(d, 2, 5);
    try {
      const rng = new Rng(9);
      const table = Float32Array.from({ length: 7 * d }, () => rng.normal());
      // the same two items {2, 5} in 7 slots: first slots, last slots, gaps in between; then {1, 3, 6} likewise
      const rows = [
        [2, 5, -1, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1, 5, 2],
        [-1, 2, -1, -1, 5, -1, -1],
        [1, 3, 6, -1, -1, -1, -1],
        [-1, 6, -1, 1, -1, -1, 3],
      ];
      const hats = await model.projectEmbedded(table, Int32Array.from(rows.flat()), 7);
      const row = (r: number): number[] => Array.from(hats.subarray(r * d, (r + 1) * d));
      const close = (a: number[], b: number[]): boolean => a.every((x, i) => Math.abs(x - b[i]) < 1e-5);
      assert.ok(close(row(0), row(1)) && close(row(0), row(2)), 'the gaps of {2, 5} change nothing');
      assert.ok(close(row(3), row(4)), 'the gaps of {1, 3, 6} change nothing');
      assert.ok(!close(row(0), row(3)), 'different item sets differ');
      // and the compact 2-slot graph agrees with the 7-slot one
      const compact = await model.projectEmbedded(table, Int32Array.from([2, 5]), 2);
      assert.ok(close(Array.from(compact), row(0)));
    } finally {
      await model.dispose();
    }
  });
});

describe('the serving graph (method.md §3.1)', () => {
  test('projectServing over servingTable gives projectEmbedded’s ĥ, with biases and LayerNorm parameters perturbed', async () => {
    const d = 16;
    const model = smallModel(d, 4, 11);
    try {
      const rng = new Rng(3);
      // biases start at zero and LayerNorm at (1, 0): perturb them, so PMA's key bias (the term the
      // serving graph drops because it cancels in the softmax) is really there; small enough that
      // the attention weights stay far from one-hot (where a wrong logit scale would go unseen)
      for (const p of model.namedParams()) {
        if (p.group === 'setTransformer' && p.shape.length === 1) p.data.forEach((x, i) => (p.data[i] = x + 0.3 * rng.normal()));
      }
      const items = 9;
      const table = Float32Array.from({ length: items * d }, () => rng.normal());
      const serving = await model.servingTable(table);
      assert.equal(serving.length, items * 3 * d);
      for (const slots of [1, 2, 3, 4]) {
        // 40 outfits per slot count, a random gap in about a third of the rows of 3 and 4 slots
        const rows = Array.from({ length: 40 }, () => {
          const row = Array.from({ length: slots }, () => rng.int(items));
          if (slots > 2 && rng.next() < 0.35) row[rng.int(slots)] = -1;
          return row;
        });
        const idx = Int32Array.from(rows.flat());
        const expected = await model.projectEmbedded(table, idx, slots);
        const got = await model.projectServing(serving, idx, slots);
        let worst = 0;
        expected.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - got[i]))));
        assert.ok(worst < 1e-5, `${slots} slots: max |Δĥ| ${worst}`);
      }
      await assert.rejects(model.projectServing(serving, Int32Array.from([0, items]), 2), /slot index 9 outside -1\.\.8/);
    } finally {
      await model.dispose();
    }
  });
});
