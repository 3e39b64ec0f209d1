import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { featureInputSource } from '../../src/model/inputs.js';
import { OutfitModel } from '../../src/model/outfit-model.js';
import { Rng } from '../../src/rng.js';
import { ItemEmbeddingCache } from '../../src/train/item-cache.js';
import { averagePhiRows, userRadius } from '../../src/train/fnd.js';
import { tableOf } from '../helpers/make-set.js';

describe('ItemEmbeddingCache (frozen-model inference, items embedded once)', () => {
  it('scores exactly like OutfitModel.scoreTable, padded slots included', async () => {
    const rng = new Rng(5);
    const dim = 6;
    const items = 14;
    const values = Float32Array.from({ length: items * dim }, () => rng.normal());
    const inputs = featureInputSource(values, dim);
    const model = OutfitModel.create(
      { numUsers: 3, dim: 8, heads: 2, anchors: 4, backbone: { kind: 'features', inputDim: dim, width: 1, outDim: 8 } } as never,
      new Rng(1),
    );
    // 519-style rows: second top absent in some
    const table = tableOf(4, [
      [0, 0, 1, 5, 9],
      [1, 2, -1, 6, 10],
      [2, 3, 4, 7, 11],
      [0, 1, -1, 8, 9],
    ]);
    const expected = await model.scoreTable(inputs, table);
    const cache = await ItemEmbeddingCache.build(model, inputs, ItemEmbeddingCache.itemsOf(table));
    const got = await cache.scoreTable(table);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-5, `row ${i}: ${got[i]} vs ${expected[i]}`);
    await assert.rejects(() => cache.scoreTable(tableOf(4, [[0, 0, -1, 5, 13]])), /not cached/);
    await model.dispose();
  });

  it('user radius r̂_u: mean or max of the teacher distance -s over the user positives (method.md §4)', () => {
    const users = Int32Array.of(0, 0, 1, 1, 1);
    const scores = Float32Array.of(2, 4, -1, 0, 1);
    assert.deepEqual([...userRadius(users, scores, 3, 'mean')].slice(0, 2), [-3, 0]);
    assert.deepEqual([...userRadius(users, scores, 3, 'max')].slice(0, 2), [-2, 1]);
    assert.ok(Number.isNaN(userRadius(users, scores, 3, 'mean')[2]), 'a user without positives has no radius');
  });

  it('row-mean φ control: each positive\'s negatives share their mean φ, the overall mean is kept', () => {
    const phi = Float32Array.of(1, 2, 6, -3, 0, 0);
    averagePhiRows(phi, 3);
    assert.deepEqual([...phi], [3, 3, 3, -1, -1, -1]);
    assert.throws(() => averagePhiRows(new Float32Array(5), 3), /not rows of 3/);
  });
});
