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

describe('absent slots anywhere in a row', () => {
  test('projectEmbedded gives one embedding per item set, whatever the gaps', async () => {
    const d = 8;
    const model = OutfitModel.create(
      defaultModelConfig({ backbone: { kind: 'features', width: 1, inputDim: 6, outDim: 12 }, dim: d, heads: 2, anchors: 4, dropout: 0, numUsers: 2 }),
      new Rng(5),
    );
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
