import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { Rng } from '../../src/rng.js';
import { Backbone, describeBackbone } from '../../src/model/backbones.js';
import { BackboneConfigSchema, type BackboneConfig } from '../../src/model/config.js';
import { featureInputSource, imageInputSource } from '../../src/model/inputs.js';
import { ParamStore } from '../../src/model/params.js';

function backboneConfig(raw: Partial<BackboneConfig>): BackboneConfig {
  return BackboneConfigSchema.parse(raw);
}

describe('backbones (method.md §2.1)', () => {
  before(async () => {
    await initEngine({ backend: 'cpu' });
  });

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

  test('image backbones map 28 and 64 px NHWC images to [u, F]', () => {
    for (const cfg of [
      backboneConfig({ kind: 'convnet', width: 0.25, outDim: 24 }),
      backboneConfig({ kind: 'alexnet', width: 0.25, outDim: 32 }),
    ]) {
      const store = new ParamStore();
      const backbone = new Backbone(cfg, store, new Rng(1));
      const counted = store.list().reduce((s, v) => s + v.variable.size, 0);
      assert.equal(counted, backbone.paramCount, `${cfg.kind}: allocated weights = described count`);
      for (const size of [28, 64]) {
        const rng = new Rng(size);
        const pixels = Uint8Array.from({ length: 3 * size * size * 3 }, () => rng.int(256));
        const source = imageInputSource({ n: 3, height: size, width: size, channels: 3, pixels });
        const x = source.gather(Int32Array.from([2, 0]));
        const f = backbone.forward(x);
        assert.deepEqual(f.shape, [2, cfg.outDim], `${cfg.kind} at ${size} px`);
        assert.ok(f.dataSync().every(Number.isFinite));
        tf.dispose([x, f]);
      }
      store.dispose();
    }
  });

  test('convnet gradients reach every conv weight', () => {
    const store = new ParamStore();
    const backbone = new Backbone(backboneConfig({ kind: 'convnet', width: 0.25, outDim: 8 }), store, new Rng(2));
    const rng = new Rng(3);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 28 * 28 * 3 }, () => rng.normal()), [2, 28, 28, 3]);
    const vars = store.list().map((v) => v.variable);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(backbone.forward(x))) as tf.Scalar, vars);
    for (const v of store.list()) {
      const g = grads[v.variable.name].dataSync();
      assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0), `${v.name}: gradient`);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    store.dispose();
  });

  test('inputs: image normalisation (x/255 − 0.5)/0.25 and feature gathering', () => {
    const pixels = Uint8Array.from([0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]);
    const images = imageInputSource({ n: 2, height: 1, width: 2, channels: 3, pixels });
    const got = images.gather(Int32Array.of(0)).dataSync();
    const expected = [0, 255, 51, 102, 153, 204].map((v) => (v / 255 - 0.5) / 0.25);
    expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-6));
    assert.throws(() => images.gather(Int32Array.of(2)), /item id 2 is outside 0\.\.1/);
    const features = featureInputSource(Float32Array.from([1, 2, 3, 4, 5, 6]), 2);
    assert.equal(features.count, 3);
    assert.deepEqual(Array.from(features.gather(Int32Array.from([2, 0])).dataSync()), [5, 6, 1, 2]);
  });

  test('the feature backbone needs inputDim and identity needs outDim = inputDim', () => {
    assert.throws(() => backboneConfig({ kind: 'features' }), /inputDim/);
    assert.throws(() => backboneConfig({ kind: 'features', width: 0, inputDim: 512, outDim: 256 }), /identity/);
    assert.throws(() => backboneConfig({ kind: 'convnet', width: 0 }), /must be > 0/);
  });
});
