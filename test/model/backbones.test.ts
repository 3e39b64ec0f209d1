import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../src/engine/autodiff.js';
import { Graph } from '../../src/engine/graph.js';
import { Rng } from '../../src/rng.js';
import { Backbone, averagePoolSame, describeBackbone } from '../../src/model/backbones.js';
import { BackboneConfigSchema, type BackboneConfig } from '../../src/model/config.js';
import { featureInputSource, imageInputSource } from '../../src/model/inputs.js';
import { weightInputs } from '../../src/model/outfit-model.js';
import { ParamTable } from '../../src/model/params.js';
import { f32, maxAbsDiff, runGraph } from '../helpers/run-graph.js';

function backboneConfig(raw: Partial<BackboneConfig>): BackboneConfig {
  return BackboneConfigSchema.parse(raw);
}

describe('backbones (method.md §2.1)', () => {
  test('parameter counts: AlexNet-large 57,003,840 and AlexNet-small 12,957,504 (method.md §2.1)', () => {
    assert.equal(describeBackbone(backboneConfig({ kind: 'alexnet', width: 1, outDim: 4096 })).paramCount, 57_003_840);
    assert.equal(describeBackbone(backboneConfig({ kind: 'alexnet', width: 0.25, outDim: 1024 })).paramCount, 12_957_504);
    // conv trunk 2,469,696 + fc6 (256·36·1024 + 1024) + fc7 (1024·512 + 512)
    assert.equal(describeBackbone(backboneConfig({ kind: 'alexnet', width: 0.25, outDim: 512 })).paramCount, 2_469_696 + 9_438_208 + 524_800);
  });

  test('parameter counts: convnet (torch_ref.py shape) and features', () => {
    // 3→32→64→128 convs 3×3 + linear 128→512
    assert.equal(describeBackbone(backboneConfig({ kind: 'convnet', width: 1, outDim: 512 })).paramCount, 896 + 18_496 + 73_856 + 66_048);
    // width 0.25: 3→8→16→32 + linear 32→64
    assert.equal(describeBackbone(backboneConfig({ kind: 'convnet', width: 0.25, outDim: 64 })).paramCount, 224 + 1_168 + 4_640 + 2_112);
    assert.equal(describeBackbone(backboneConfig({ kind: 'features', width: 0, inputDim: 512, outDim: 512 })).paramCount, 0);
    assert.equal(describeBackbone(backboneConfig({ kind: 'features', width: 1, inputDim: 512, outDim: 512 })).paramCount, 2 * (512 * 512 + 512));
  });

  test('image backbones map 28 and 64 px NHWC images to [u, F]', async () => {
    for (const cfg of [
      backboneConfig({ kind: 'convnet', width: 0.25, outDim: 24 }),
      backboneConfig({ kind: 'alexnet', width: 0.25, outDim: 32 }),
    ]) {
      const params = new ParamTable();
      const backbone = new Backbone(cfg, params, new Rng(1));
      const counted = params.list().reduce((s, p) => s + p.data.length, 0);
      assert.equal(counted, backbone.paramCount, `${cfg.kind}: allocated weights = described count`);
      assert.ok(params.list().every((p) => p.group === 'backbone' && p.name.startsWith('backbone.')));
      for (const size of [28, 64]) {
        const rng = new Rng(size);
        const pixels = Uint8Array.from({ length: 3 * size * size * 3 }, () => rng.int(256));
        const source = imageInputSource({ n: 3, height: size, width: size, channels: 3, pixels });
        const x = source.gather(Int32Array.from([2, 0]));
        assert.deepEqual(x.dims, [2, size, size, 3]);
        let shape: readonly (number | string)[] = [];
        const [f] = await runGraph(
          (g) => {
            const out = backbone.forward(g, weightInputs(g, params), g.input('x', x.dims));
            shape = out.shape;
            return [out];
          },
          { feeds: { x }, params },
        );
        assert.deepEqual(shape, [2, cfg.outDim], `${cfg.kind} at ${size} px`);
        assert.equal(f.length, 2 * cfg.outDim);
        assert.ok(f.every(Number.isFinite));
        assert.ok(f.some((v) => v !== 0), `${cfg.kind} at ${size} px: all-zero features`);
      }
    }
  });

  test('the features backbone is fc2(relu(fc1 x)) by hand; width 0 is the identity', async () => {
    const cfg = backboneConfig({ kind: 'features', width: 0.5, inputDim: 3, outDim: 4 });
    const params = new ParamTable();
    const backbone = new Backbone(cfg, params, new Rng(6));
    assert.deepEqual(params.list().map((p) => [p.name, p.shape]), [
      ['backbone.fc1.weight', [3, 2]],
      ['backbone.fc1.bias', [2]],
      ['backbone.fc2.weight', [2, 4]],
      ['backbone.fc2.bias', [4]],
    ]);
    // non-zero biases, so that they are exercised
    params.get('backbone.fc1.bias').data.set([0.1, -0.2]);
    params.get('backbone.fc2.bias').data.set([0.3, 0, -0.1, 0.05]);
    const x = [
      [1, -2, 0.5],
      [0.3, 0.7, -1],
    ];
    const dense = (row: number[], name: string, inDim: number, outDim: number, relu: boolean): number[] => {
      const w = params.get(`backbone.${name}.weight`).data;
      const b = params.get(`backbone.${name}.bias`).data;
      return Array.from({ length: outDim }, (_, j) => {
        let s = b[j];
        for (let i = 0; i < inDim; i++) s += row[i] * w[i * outDim + j];
        return relu ? Math.max(0, s) : s;
      });
    };
    const expected = x.flatMap((row) => dense(dense(row, 'fc1', 3, 2, true), 'fc2', 2, 4, false));
    const [f] = await runGraph((g) => [backbone.forward(g, weightInputs(g, params), g.input('x', [2, 3]))], { feeds: { x: f32(x.flat(), [2, 3]) }, params });
    assert.ok(maxAbsDiff(f, expected) < 1e-6, `${Array.from(f)} vs ${expected}`);

    const identity = new Backbone(backboneConfig({ kind: 'features', width: 0, inputDim: 3, outDim: 3 }), new ParamTable(), new Rng(1));
    assert.ok(identity.isIdentity);
    assert.equal(identity.outDim, 3);
    const g = new Graph('float32');
    const input = g.input('x', [2, 3]);
    assert.equal(identity.forward(g, weightInputs(g, new ParamTable()), input), input);
  });

  test('backbones reject inputs of the wrong kind', () => {
    const features = new Backbone(backboneConfig({ kind: 'features', width: 1, inputDim: 4, outDim: 4 }), new ParamTable(), new Rng(1));
    const convParams = new ParamTable();
    const convnet = new Backbone(backboneConfig({ kind: 'convnet', width: 0.25, outDim: 8 }), convParams, new Rng(1));
    const g = new Graph('float32');
    assert.throws(() => features.forward(g, () => assert.fail('no weight read'), g.input('img', [2, 8, 8, 3])), /backbone 'features' takes \[u, inputDim\] vectors, got \[2,8,8,3\]/);
    assert.throws(() => convnet.forward(g, weightInputs(g, convParams), g.input('vec', [2, 4])), /backbone 'convnet' takes \[u, H, W, 3\] images, got \[2,4\]/);
    assert.throws(() => convnet.forward(g, weightInputs(g, convParams), g.input('nchw', [2, 3, 8, 8])), /takes \[u, H, W, 3\] images/);
  });

  test("average pooling averages over the window's real pixels only ('same' padding)", async () => {
    // a constant image pools to the same constant everywhere, borders included
    const [ones] = await runGraph((g) => [averagePoolSame(g, g.constant(new Float32Array(2 * 5 * 5).fill(2), [1, 2, 5, 5]), 3, 2)]);
    assert.equal(ones.length, 2 * 3 * 3);
    assert.ok(ones.every((v) => Math.abs(v - 2) < 1e-6), `${Array.from(ones)}`);
    // 4×4 ramp, 3×3/2 windows: output 2×2; 'same' pads 1 at the end, so the windows are rows/cols
    // 0..2 and 2..3 (real pixels only)
    const ramp = Array.from({ length: 16 }, (_, i) => i);
    const [pooled] = await runGraph((g) => [averagePoolSame(g, g.constant(ramp, [1, 1, 4, 4]), 3, 2)]);
    const mean = (rows: number[], cols: number[]) => rows.flatMap((r) => cols.map((c) => ramp[r * 4 + c])).reduce((a, b) => a + b, 0) / (rows.length * cols.length);
    const expected = [mean([0, 1, 2], [0, 1, 2]), mean([0, 1, 2], [2, 3]), mean([2, 3], [0, 1, 2]), mean([2, 3], [2, 3])];
    assert.ok(maxAbsDiff(pooled, expected) < 1e-5, `${Array.from(pooled)} vs ${expected}`);
  });

  test('convnet gradients reach every conv weight', async () => {
    const params = new ParamTable();
    const backbone = new Backbone(backboneConfig({ kind: 'convnet', width: 0.25, outDim: 8 }), params, new Rng(2));
    const rng = new Rng(3);
    const x = f32(Array.from({ length: 2 * 28 * 28 * 3 }, () => rng.normal()), [2, 28, 28, 3]);
    const names = params.list().map((p) => p.name);
    const grads = await runGraph(
      (g) => {
        const w = weightInputs(g, params);
        const f = backbone.forward(g, w, g.input('x', [2, 28, 28, 3]));
        const loss = g.reduceSum(g.square(f), [0, 1]);
        return gradients(g, loss, names.map((n) => w(n)));
      },
      { feeds: { x }, params },
    );
    names.forEach((name, i) => {
      const g = grads[i];
      assert.equal(g.length, params.get(name).data.length, `${name}: gradient size`);
      assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0), `${name}: gradient`);
    });
  });

  test('inputs: image normalisation (x/255 − 0.5)/0.25 and feature gathering', () => {
    const pixels = Uint8Array.from([0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]);
    const images = imageInputSource({ n: 2, height: 1, width: 2, channels: 3, pixels });
    const batch = images.gather(Int32Array.of(0));
    assert.deepEqual(batch.dims, [1, 1, 2, 3]);
    const expected = [0, 255, 51, 102, 153, 204].map((v) => (v / 255 - 0.5) / 0.25);
    assert.ok(maxAbsDiff(batch.data, expected) < 1e-6);
    assert.throws(() => images.gather(Int32Array.of(2)), /item id 2 is outside 0\.\.1/);
    const features = featureInputSource(Float32Array.from([1, 2, 3, 4, 5, 6]), 2);
    assert.equal(features.count, 3);
    const gathered = features.gather(Int32Array.from([2, 0]));
    assert.deepEqual(Array.from(gathered.data), [5, 6, 1, 2]);
    assert.deepEqual(gathered.dims, [2, 2]);
  });

  test('the feature backbone needs inputDim and identity needs outDim = inputDim', () => {
    assert.throws(() => backboneConfig({ kind: 'features' }), /inputDim/);
    assert.throws(() => backboneConfig({ kind: 'features', width: 0, inputDim: 512, outDim: 256 }), /identity/);
    assert.throws(() => backboneConfig({ kind: 'convnet', width: 0 }), /must be > 0/);
  });
});
