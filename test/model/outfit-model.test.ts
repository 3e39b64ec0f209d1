import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { defaultModelConfig, parseModelConfig } from '../../src/model/config.js';
import { featureInputSource } from '../../src/model/inputs.js';
import { OutfitModel, packOutfitItems } from '../../src/model/outfit-model.js';

const F = 10;

function model(seed: number, dropout = 0.2): OutfitModel {
  return OutfitModel.create(
    defaultModelConfig({ backbone: { kind: 'features', width: 1, inputDim: F, outDim: 12 }, dim: 8, heads: 2, anchors: 4, dropout, numUsers: 4 }),
    new Rng(seed),
  );
}

function features(count: number, seed: number) {
  const rng = new Rng(seed);
  return featureInputSource(Float32Array.from({ length: count * F }, () => rng.normal()), F);
}

describe('OutfitModel (method.md §2–§3)', () => {
  before(async () => {
    await initEngine({ backend: 'cpu' });
  });

  test('the same seed gives the same weights; another seed does not', () => {
    const a = model(42);
    const b = model(42);
    const c = model(43);
    const va = a.namedVariables();
    const vb = b.namedVariables();
    assert.deepEqual(va.map((v) => v.name), vb.map((v) => v.name));
    va.forEach((v, i) => assert.deepEqual(vb[i].variable.dataSync(), v.variable.dataSync(), v.name));
    const differs = c.namedVariables().filter((v, i) => {
      const x = v.variable.dataSync();
      const y = va[i].variable.dataSync();
      return x.some((e, j) => e !== y[j]);
    });
    assert.ok(differs.length > 10);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('parameter counts per group at the LPAE shape (F 512, d 128, 4 heads, K 64, 630 users)', () => {
    const m = OutfitModel.create(defaultModelConfig({ backbone: { kind: 'features', width: 0, inputDim: 512, outDim: 512 }, numUsers: 630 }), new Rng(0));
    assert.deepEqual(m.paramCounts(), {
      backbone: 0,
      itemEmbedding: 512 * 128 + 128 + 2 * 128,
      setTransformer: 199_808, // 3 MABs of 66,560 + the 128-d seed (method.md §2.3)
      projection: 128 * 128 + 128,
      anchors: 5_160_960,
      total: 65_920 + 199_808 + 16_512 + 5_160_960,
    });
    m.dispose();
  });

  test('scoreTable equals scoring outfit by outfit, for any batch size, with absent slots', async () => {
    const m = model(7);
    const inputs = features(9, 3);
    // 4 slots, -1 = missing second top (method.md §6.1 519-style rows), repeated items across rows
    const table = {
      slots: 4,
      users: Int32Array.from([0, 3, 0, 1, 2]),
      items: Int32Array.from([0, -1, 4, 7, 1, 2, 5, 8, 0, -1, 4, 7, 3, -1, 6, 8, 1, 0, 5, 7]),
    };
    const oneByOne = Float32Array.from(table.users, (u, r) =>
      tf.tidy(() => m.scoreOutfits(m.encodeOutfits(inputs, table.items.subarray(r * 4, r * 4 + 4), 4, false), Int32Array.of(u)).dataSync()[0]),
    );
    for (const batchSize of [1, 2, 1024]) {
      const scores = await m.scoreTable(inputs, table, { batchSize });
      scores.forEach((s, i) => assert.ok(Math.abs(s - oneByOne[i]) < 1e-5, `batch ${batchSize} row ${i}: ${s} vs ${oneByOne[i]}`));
    }
    // rows 0 and 2 are the same outfit for the same user
    assert.equal(oneByOne[0], oneByOne[2]);
    m.dispose();
  });

  test('packOutfitItems dedupes items and pads to the longest outfit', () => {
    const packed = packOutfitItems(Int32Array.from([5, 9, -1, 9, 5, 2]), 3);
    assert.deepEqual(Array.from(packed.itemIds), [5, 9, 2]);
    assert.deepEqual(Array.from(packed.slotIndex), [0, 1, -1, 1, 0, 2]);
    // absent slots are dropped when no outfit of the batch needs them
    const short = packOutfitItems(Int32Array.from([5, -1, 9, 9, -1, 5]), 3);
    assert.equal(short.slots, 2);
    assert.deepEqual(Array.from(short.slotIndex), [0, 1, 1, 0]);
  });

  test('dropout acts only in training and is reproducible from the seed', () => {
    const inputs = features(6, 5);
    const items = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const embed = (m: OutfitModel, training: boolean) => tf.tidy(() => m.encodeOutfits(inputs, items, 3, training).dataSync().slice());
    const a = model(11);
    const b = model(11);
    const evalA = embed(a, false);
    assert.deepEqual(embed(a, false), evalA);
    const trainA = embed(a, true);
    assert.ok(trainA.some((v, i) => Math.abs(v - evalA[i]) > 1e-4), 'training embedding equals eval embedding');
    assert.deepEqual(embed(b, true), trainA);
    const noDropout = model(11, 0);
    assert.deepEqual(embed(noDropout, true), embed(noDropout, false));
    [a, b, noDropout].forEach((m) => m.dispose());
  });

  test('a training step leaks no tensors and gives every group a gradient', async () => {
    const m = model(13);
    const inputs = features(8, 9);
    const items = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 4, 6]);
    const users = Int32Array.from([0, 1, 2, 3]);
    const vars = m.namedVariables();
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const z = m.encodeOutfits(inputs, items, 3, true);
        return tf.add(tf.neg(tf.mean(m.scoreOutfits(z, users))), tf.mul(0.01, m.anchorRegularizer(users))) as tf.Scalar;
      }, vars.map((v) => v.variable));
      for (const v of vars) {
        const g = grads[v.variable.name].dataSync();
        assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0), `${v.name}: gradient`);
      }
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    await m.scoreTable(inputs, { slots: 3, users, items });
    assert.equal(tf.memory().numTensors, before);
    m.dispose();
  });

  test('config: defaults, unknown keys and bad values are ConfigErrors naming the field', () => {
    const cfg = defaultModelConfig({ backbone: { inputDim: 512 }, numUsers: 10 });
    assert.deepEqual(cfg, {
      backbone: { kind: 'features', width: 1, outDim: 512, inputDim: 512 },
      dim: 128,
      heads: 4,
      dropout: 0.2,
      anchors: 64,
      sharedAnchors: false,
      scoreReduction: 'sum',
      scoreTemperature: 1,
      numUsers: 10,
    });
    assert.deepEqual(parseModelConfig(cfg), cfg);
    const field = (raw: unknown) => {
      try {
        parseModelConfig(raw);
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.field;
      }
      assert.fail('no error');
    };
    assert.equal(field({ ...cfg, anchorz: 3 }), 'model.anchorz');
    assert.equal(field({ ...cfg, backbone: { ...cfg.backbone, depth: 3 } }), 'model.backbone.depth');
    assert.equal(field({ ...cfg, heads: 5 }), 'model.heads');
    assert.equal(field({ ...cfg, sharedAnchors: true, anchors: 5 }), 'model.anchors');
    assert.equal(field({ ...cfg, numUsers: undefined }), 'model.numUsers');
  });
});
