import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initEngine, shutdownEngine } from '../../src/engine/backend.js';
import { conv2d, dense } from '../../src/engine/layers.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { wasmThreadsCount } from '../../src/engine/threads.js';
import { assertAllClose, computeOn, randomValues } from './grad-check.js';

// This file runs in its own process (node --test): threads must be chosen before wasm first starts.
before(async () => {
  await initEngine({ backend: 'wasm', threads: 2 });
});

// pthread workers keep the process alive until the backend is removed
after(() => {
  shutdownEngine();
});

describe('wasm threads shim', () => {
  it('runs the wasm backend on 2 threads', () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(wasmThreadsCount(), 2);
  });

  it('computes dense and conv gradients on 2 threads like the cpu reference', async () => {
    const xv = randomValues([64, 48], 90);
    const wv = randomValues([48, 40], 91);
    const iv = randomValues([4, 9, 9, 3], 92);
    const fv = randomValues([3, 3, 3, 8], 93);
    const bv = randomValues([8], 94);
    const run = () => {
      const x = tf.tensor2d(xv, [64, 48]);
      const w = tf.tensor2d(wv, [48, 40]);
      const img = tf.tensor4d(iv, [4, 9, 9, 3]);
      const f = tf.tensor4d(fv, [3, 3, 3, 8]);
      const b = tf.tensor1d(bv);
      const denseGrads = tf.grads((a: Tensor, c: Tensor) => tf.sum(tf.square(dense(a as Tensor2D, c as Tensor2D, null, 'relu'))))([x, w]);
      const convGrads = tf.grads((a: Tensor, c: Tensor, e: Tensor) =>
        tf.sum(tf.square(conv2d(a as Tensor4D, c as Tensor4D, e as Tensor1D, 2, 'same', 'relu'))),
      )([img, f, b]);
      return [...denseGrads, ...convGrads];
    };
    assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 1e-4, 'threads');
  });
});
