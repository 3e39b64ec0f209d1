import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../src/engine/autodiff.js';
import type { Value } from '../../src/engine/graph.js';
import { ConfigError, UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { USER_ANCHORS, userVectorsInGraph } from '../../src/model/anchors.js';
import { defaultModelConfig, parseModelConfig } from '../../src/model/config.js';
import { featureInputSource } from '../../src/model/inputs.js';
import { OutfitModel, gatherIndexFromSlots, packOutfitItems, weightInputs } from '../../src/model/outfit-model.js';
import { keyBiasFromSlots } from '../../src/model/set-transformer.js';
import type { Feed } from '../../src/engine/runtime.js';
import { maxAbsDiff, runGraph } from '../helpers/run-graph.js';

const F = 10;
const D = 8;

function model(seed: number, dropout = 0.2): OutfitModel {
  return OutfitModel.create(
    defaultModelConfig({ backbone: { kind: 'features', width: 1, inputDim: F, outDim: 12 }, dim: D, heads: 2, anchors: 4, dropout, numUsers: 4 }),
    new Rng(seed),
  );
}

function features(count: number, seed: number) {
  const rng = new Rng(seed);
  return featureInputSource(Float32Array.from({ length: count * F }, () => rng.normal()), F);
}

/** Feeds of the pieces' data inputs for a batch of outfits (`items`: n·slots global ids, −1 = absent). */
function batchFeeds(inputs: ReturnType<typeof features>, items: Int32Array, slots: number) {
  const packed = packOutfitItems(items, slots);
  const n = items.length / slots;
  const feeds: Record<string, Feed> = {
    items: inputs.gather(packed.itemIds),
    idx: { data: gatherIndexFromSlots(packed.slotIndex), dims: [packed.slotIndex.length] },
    bias: { data: keyBiasFromSlots(packed.slotIndex), dims: [n, 1, 1, packed.slots] },
  };
  return { packed, n, feeds };
}

describe('OutfitModel (method.md §2–§3)', () => {
  test('gatherIndexFromSlots: the row per slot as int64, padding (−1) reading row 0', () => {
    const slots = Int32Array.from([0, 5, -1, 2147483647, 1, -1]);
    assert.deepEqual(Array.from(gatherIndexFromSlots(slots)), [0n, 5n, 0n, 2147483647n, 1n, 0n]);
  });

  test('the same seed gives the same weights; another seed does not', () => {
    const a = model(42);
    const b = model(42);
    const c = model(43);
    const pa = a.namedParams();
    const pb = b.namedParams();
    assert.deepEqual(pa.map((p) => p.name), pb.map((p) => p.name));
    pa.forEach((p, i) => {
      assert.deepEqual(pb[i].shape, p.shape, p.name);
      assert.deepEqual(pb[i].data, p.data, p.name);
    });
    const differs = c.namedParams().filter((p, i) => p.data.some((e, j) => e !== pa[i].data[j]));
    assert.ok(differs.length > 10);
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
    // the counts are the sizes of the weights that exist
    assert.equal(m.namedParams().reduce((s, p) => s + p.data.length, 0), m.paramCounts().total);
  });

  test('scoreTable equals scoring outfit by outfit, for any table length, with absent slots; repeated rows score the same', async () => {
    const m = model(7);
    const inputs = features(9, 3);
    // 4 slots, -1 = missing second top (method.md §6.1 519-style rows), repeated items across rows
    const table = {
      slots: 4,
      users: Int32Array.from([0, 3, 0, 1, 2]),
      items: Int32Array.from([0, -1, 4, 7, 1, 2, 5, 8, 0, -1, 4, 7, 3, -1, 6, 8, 1, 0, 5, 7]),
    };
    const oneByOne = new Float32Array(table.users.length);
    for (let r = 0; r < oneByOne.length; r++) {
      const row = { slots: 4, users: table.users.subarray(r, r + 1), items: table.items.subarray(r * 4, r * 4 + 4) };
      [oneByOne[r]] = await m.scoreTable(inputs, row);
    }
    const scores = await m.scoreTable(inputs, table);
    scores.forEach((s, i) => assert.ok(Math.abs(s - oneByOne[i]) < 1e-5, `row ${i}: ${s} vs ${oneByOne[i]}`));
    // rows 0 and 2 are the same outfit for the same user
    assert.equal(oneByOne[0], oneByOne[2]);
    assert.equal(scores[0], scores[2]);
    // the pieces by hand: embedItems → projectEmbedded → scoreProjected
    const packed = packOutfitItems(table.items, 4);
    const e = await m.embedItems(inputs, packed.itemIds);
    const hats = await m.projectEmbedded(e, packed.slotIndex, packed.slots);
    assert.deepEqual(m.scoreProjected(hats, table.users), scores);
    assert.deepEqual(await m.scoreTable(inputs, { slots: 4, users: new Int32Array(0), items: new Int32Array(0) }), new Float32Array(0));
    // a table longer than one outfit batch (2048) scores every row as the short table did
    const copies = 420;
    const long = {
      slots: 4,
      users: Int32Array.from({ length: 5 * copies }, (_, i) => table.users[i % 5]),
      items: Int32Array.from({ length: 20 * copies }, (_, i) => table.items[i % 20]),
    };
    const longScores = await m.scoreTable(inputs, long);
    assert.equal(longScores.length, 2100);
    longScores.forEach((s, i) => assert.ok(Math.abs(s - scores[i % 5]) < 1e-6, `long table row ${i}: ${s} vs ${scores[i % 5]}`));
    await m.dispose();
  });

  test('scoreTable rejects unknown items and users (UserError) and mis-sized tables', async () => {
    const m = model(8);
    const inputs = features(9, 3);
    await assert.rejects(
      m.scoreTable(inputs, { slots: 2, users: Int32Array.of(0, 1), items: Int32Array.of(0, 1, 2, 9) }),
      (e: unknown) => e instanceof UserError && /outfit row 1: item 9 is outside the 9 items with inputs/.test(e.message),
    );
    await assert.rejects(m.scoreTable(inputs, { slots: 2, users: Int32Array.of(4), items: Int32Array.of(0, 1) }), (e: unknown) => e instanceof UserError && /user 4 is outside/.test(e.message));
    await assert.rejects(m.scoreTable(inputs, { slots: 2, users: Int32Array.of(0), items: Int32Array.of(0, 1, 2) }), /scoreTable: 3 items for 1 rows of 2 slots/);
    await m.dispose();
  });

  test('embedItems gives each item the same row whatever the batch (across the 512-item chunks)', async () => {
    const m = model(9);
    const inputs = features(700, 4);
    const all = Int32Array.from({ length: 700 }, (_, i) => 699 - i);
    const e = await m.embedItems(inputs, all);
    assert.equal(e.length, 700 * D);
    const some = Int32Array.from([5, 600, 0]);
    const few = await m.embedItems(inputs, some);
    some.forEach((id, i) => {
      const r = 699 - id;
      assert.ok(maxAbsDiff(few.subarray(i * D, (i + 1) * D), e.subarray(r * D, (r + 1) * D)) < 1e-6, `item ${id}`);
    });
    await m.dispose();
  });

  test('packOutfitItems dedupes items and pads to the longest outfit', () => {
    const packed = packOutfitItems(Int32Array.from([5, 9, -1, 9, 5, 2]), 3);
    assert.deepEqual(Array.from(packed.itemIds), [5, 9, 2]);
    assert.deepEqual(Array.from(packed.slotIndex), [0, 1, -1, 1, 0, 2]);
    // absent slots are dropped when no outfit of the batch needs them
    const short = packOutfitItems(Int32Array.from([5, -1, 9, 9, -1, 5]), 3);
    assert.equal(short.slots, 2);
    assert.deepEqual(Array.from(short.slotIndex), [0, 1, 1, 0]);
    assert.throws(() => packOutfitItems(Int32Array.from([1, 2, 3]), 2), /3 slot entries do not split into rows of 2/);
  });

  test('dropout is a fed mask: no mask is inference (embedItems), a mask multiplies e elementwise', async () => {
    const m = model(11);
    const inputs = features(6, 5);
    const ids = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const x = inputs.gather(ids);
    const rng = new Rng(12);
    // inverted dropout at rate 0.2: multipliers 0 or 1/(1 − 0.2)
    const mask = Float32Array.from({ length: 6 * D }, () => (rng.next() < 0.2 ? 0 : 1 / 0.8));
    assert.ok(mask.some((v) => v === 0) && mask.some((v) => v !== 0));
    const [plain, masked, ones] = await runGraph(
      (g) => {
        const w = weightInputs(g, m.params);
        const items = g.input('items', x.dims);
        return [
          m.itemEmbedding(g, w, items, null),
          m.itemEmbedding(g, w, items, g.input('mask', [6, D])),
          m.itemEmbedding(g, w, items, g.input('ones', [6, D])),
        ];
      },
      { feeds: { items: x, mask: { data: mask, dims: [6, D] }, ones: { data: new Float32Array(6 * D).fill(1), dims: [6, D] } }, params: m.params },
    );
    // inference is the graph piece without a mask
    assert.ok(maxAbsDiff(await m.embedItems(inputs, ids), plain) < 1e-6);
    // e = ReLU(LN(…)) ≥ 0 and not all zero
    assert.ok(plain.every((v) => v >= 0) && plain.some((v) => v > 0));
    // a mask of ones (rate 0) changes nothing; a dropout mask zeroes and rescales
    assert.deepEqual(ones, plain);
    masked.forEach((v, i) => assert.ok(Math.abs(v - plain[i] * mask[i]) <= 1e-6 * Math.max(1, Math.abs(v)), `entry ${i}: ${v} vs ${plain[i]}·${mask[i]}`));
    await m.dispose();
  });

  test('a training step (pieces + userVectorsInGraph + anchor regulariser) gives every weight a gradient', async () => {
    const m = model(13);
    const inputs = features(8, 9);
    const items = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 4, 6]);
    const users = Int32Array.from([0, 1, 2, 3]);
    const { packed, n, feeds } = batchFeeds(inputs, items, 3);
    const rng = new Rng(14);
    const mask = Float32Array.from({ length: packed.itemIds.length * D }, () => (rng.next() < 0.2 ? 0 : 1 / 0.8));
    const names = m.namedParams().map((p) => p.name);
    const [loss, ...grads] = await runGraph(
      (g) => {
        const w = weightInputs(g, m.params);
        const e = m.itemEmbedding(g, w, g.input('items', feeds.items.dims), g.input('mask', [packed.itemIds.length, D]));
        const z = m.outfitEmbedding(g, w, e, g.input('idx', feeds.idx.dims, 'int64'), g.input('bias', feeds.bias.dims), n, packed.slots);
        const hats = m.projectOutfits(g, w, z);
        const vectors = g.gather(userVectorsInGraph(g, w(USER_ANCHORS), null), g.constant(Array.from(users), [users.length], 'int64'));
        const s = g.mul(g.reduceSum(g.mul(hats, vectors), [1]), 1 / m.scoreDivisor);
        const l = g.neg(g.reduceMean(s, [0]));
        const wrt: Value[] = names.map((name) => w(name));
        return [l, ...gradients(g, l, wrt)];
      },
      { feeds: { ...feeds, mask: { data: mask, dims: [packed.itemIds.length, D] } }, params: m.params },
    );
    assert.ok(Number.isFinite(loss[0]));
    names.forEach((name, i) => {
      const g = grads[i];
      assert.equal(g.length, m.params.get(name).data.length, `${name}: gradient size`);
      assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0), `${name}: gradient`);
    });
    // the anchor regulariser's gradient (plain arithmetic, added by the trainer) covers every batch user
    const reg = m.anchors.regularizer(users);
    assert.ok(Number.isFinite(reg.value));
    assert.deepEqual(Array.from(reg.unique), [0, 1, 2, 3]);
    assert.ok(reg.grad.every(Number.isFinite) && reg.grad.some((v) => v !== 0));
    // and the loss is the inference score: −mean of scoreTable (no dropout) differs only by the mask
    const [noDrop] = await runGraph(
      (g) => {
        const w = weightInputs(g, m.params);
        const e = m.itemEmbedding(g, w, g.input('items', feeds.items.dims), null);
        const z = m.outfitEmbedding(g, w, e, g.input('idx', feeds.idx.dims, 'int64'), g.input('bias', feeds.bias.dims), n, packed.slots);
        const vectors = g.gather(userVectorsInGraph(g, w(USER_ANCHORS), null), g.constant(Array.from(users), [users.length], 'int64'));
        return [g.mul(g.reduceSum(g.mul(m.projectOutfits(g, w, z), vectors), [1]), 1 / m.scoreDivisor)];
      },
      { feeds, params: m.params },
    );
    const scores = await m.scoreTable(inputs, { slots: 3, users, items });
    assert.ok(maxAbsDiff(noDrop, scores) < 1e-5, `training graph vs scoreTable: ${maxAbsDiff(noDrop, scores)}`);
    await m.dispose();
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
    // OutfitModel.create validates too
    assert.throws(() => OutfitModel.create({ ...cfg, heads: 3 }, new Rng(1)), (e: unknown) => e instanceof ConfigError && e.field === 'model.heads');
  });
});
