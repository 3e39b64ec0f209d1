import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { broadcastRows, conv2d, dense, globalAvgPool, layerNorm, maskedSoftmax, mm } from '../../src/engine/layers.js';
import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { randomValues } from './grad-check.js';

before(async () => {
  await initEngine({ backend: 'wasm' });
});

describe('engine memory', () => {
  it('keeps tf.memory().numTensors steady over Adam steps of a model built from the layers', () => {
    const v = (shape: number[], seed: number, scale = 0.2) => tf.variable(tf.tensor(randomValues(shape, seed, scale), shape));
    const params = {
      conv: v([3, 3, 2, 4], 1),
      convB: v([4], 2),
      w1: v([4, 8], 3),
      b1: v([8], 4),
      gamma: v([8], 5, 1),
      beta: v([8], 6),
      seed: v([1, 8], 7),
      anchors: v([5, 3, 8], 8),
    };
    const images = tf.tensor4d(randomValues([6, 5, 5, 2], 9), [6, 5, 5, 2]);
    const users = tf.tensor1d([0, 3, 3], 'int32');
    const keyMask = tf.tensor3d([1, 1, 0, 1, 1, 1], [2, 1, 3]);
    const optimizer = tf.train.adam(1e-2);
    const step = () =>
      optimizer.minimize(() => {
        const feat = globalAvgPool(conv2d(images, params.conv as Tensor4D, params.convB as Tensor1D, 2, 'same', 'relu'));
        const e = layerNorm(dense(feat, params.w1 as Tensor2D, params.b1 as Tensor1D, 'relu'), params.gamma as Tensor1D, params.beta as Tensor1D);
        const sets = tf.reshape(e, [2, 3, 8]);
        const att = maskedSoftmax(mm(sets, sets, false, true), keyMask);
        const pooled = tf.add(tf.sum(mm(att, sets), 1), broadcastRows(params.seed, 2));
        const a = tf.gather(params.anchors, users); // [3 users, 3 anchors, 8]
        const scores = tf.sum(tf.mul(tf.expandDims(tf.concat([pooled, tf.slice(pooled, [0, 0], [1, 8])], 0), 1), a), [1, 2]);
        return tf.mean(tf.square(tf.sub(scores, 1)));
      }, true) as tf.Scalar;

    const losses: number[] = [];
    const first = step();
    losses.push(first.dataSync()[0]);
    first.dispose();
    // Adam creates its two slot variables per parameter on the first step: count from here.
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const loss = step();
      losses.push(loss.dataSync()[0]);
      loss.dispose();
      assert.equal(tf.memory().numTensors, afterFirst, `tensor count after step ${i + 2}`);
    }
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[losses.length - 1] < losses[0], `loss should fall: ${losses}`);
    optimizer.dispose();
    tf.dispose([images, users, keyMask, ...Object.values(params)]);
  });
});
