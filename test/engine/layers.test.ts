import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import {
  avgPool,
  broadcastRows,
  conv2d,
  dense,
  denseNd,
  globalAvgPool,
  layerNorm,
  maskedSoftmax,
  mm,
  type Activation,
} from '../../src/engine/layers.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { assertAllClose, computeOn, randomValues, referenceMatMul } from './grad-check.js';

before(async () => {
  await initEngine({ backend: 'wasm' });
});

/** Weighted sum of y with fixed random weights: a loss whose gradient dy is not all ones. */
function weightedSum(y: Tensor, seed: number): Tensor {
  return tf.sum(tf.mul(y, tf.tensor(randomValues(y.shape, seed), y.shape)));
}

describe('dense', () => {
  const cases: Array<{ bias: boolean; act: Activation; inputGrad: boolean }> = [
    { bias: true, act: 'relu', inputGrad: true },
    { bias: true, act: 'linear', inputGrad: true },
    { bias: false, act: 'relu', inputGrad: true },
    { bias: false, act: 'linear', inputGrad: true },
    { bias: true, act: 'relu', inputGrad: false },
  ];
  for (const c of cases) {
    it(`bias=${c.bias} ${c.act} inputGrad=${c.inputGrad}: value and gradients on wasm match the cpu reference`, async () => {
      const xv = randomValues([6, 5], 1);
      const wv = randomValues([5, 4], 2);
      const bv = randomValues([4], 3);
      const got = await computeOn('wasm', () => {
        const x = tf.tensor2d(xv, [6, 5]);
        const w = tf.tensor2d(wv, [5, 4]);
        const b = tf.tensor1d(bv);
        const f = (xa: Tensor, wa: Tensor, ba: Tensor) =>
          dense(xa as Tensor2D, wa as Tensor2D, c.bias ? (ba as Tensor1D) : null, c.act, { inputGrad: c.inputGrad });
        const inputs = c.bias ? [x, w, b] : [x, w];
        const grads = tf.grads((xa: Tensor, wa: Tensor, ba: Tensor) => weightedSum(f(xa, wa, ba), 4))(inputs);
        return [f(x, w, b), ...grads];
      });
      const want = await computeOn('cpu', () => {
        const x = tf.tensor2d(xv, [6, 5]);
        const w = tf.tensor2d(wv, [5, 4]);
        const b = tf.tensor1d(bv);
        const f = (xa: Tensor, wa: Tensor, ba: Tensor) => {
          let y = referenceMatMul(xa, wa);
          if (c.bias) y = tf.add(y, ba);
          return c.act === 'relu' ? tf.relu(y) : y;
        };
        const inputs = c.bias ? [x, w, b] : [x, w];
        const grads = tf.grads((xa: Tensor, wa: Tensor, ba: Tensor) => weightedSum(f(xa, wa, ba), 4))(inputs);
        if (!c.inputGrad) grads[0] = tf.zerosLike(x);
        return [f(x, w, b), ...grads];
      });
      assertAllClose(got, want, 1e-5, JSON.stringify(c));
    });
  }

  it('denseNd applies dense over the last axis of a rank-3 tensor', async () => {
    const xv = randomValues([2, 3, 5], 5);
    const wv = randomValues([5, 4], 6);
    const run = (useLayer: boolean) => () => {
      const x = tf.tensor3d(xv, [2, 3, 5]);
      const w = tf.tensor2d(wv, [5, 4]);
      const f = (xa: Tensor, wa: Tensor) =>
        useLayer
          ? denseNd(xa, wa as Tensor2D, null, 'relu')
          : tf.reshape(tf.relu(referenceMatMul(tf.reshape(xa, [6, 5]), wa)), [2, 3, 4]);
      return [f(x, w), ...tf.grads((xa: Tensor, wa: Tensor) => weightedSum(f(xa, wa), 7))([x, w])];
    };
    const got = await computeOn('wasm', run(true));
    assert.deepEqual(got[0].shape, [2, 3, 4]);
    assertAllClose(got, await computeOn('cpu', run(false)), 1e-5, 'denseNd');
  });

  it('rejects mismatched shapes with the shapes in the message', () => {
    assert.throws(() => dense(tf.zeros([2, 3]) as Tensor2D, tf.zeros([4, 5]) as Tensor2D, null), /\[2,3\].*\[4,5\]/);
  });
});

describe('mm', () => {
  for (const [tA, tB] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ] as const) {
    it(`rank 2 transposeA=${tA} transposeB=${tB}: value and gradients match the cpu reference`, async () => {
      const aShape = tA ? [5, 3] : [3, 5];
      const bShape = tB ? [4, 5] : [5, 4];
      const av = randomValues(aShape, 8);
      const bv = randomValues(bShape, 9);
      const got = await computeOn('wasm', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        const f = (x: Tensor, y: Tensor) => mm(x, y, tA, tB);
        return [f(a, b), ...tf.grads((x: Tensor, y: Tensor) => weightedSum(f(x, y), 10))([a, b])];
      });
      const want = await computeOn('cpu', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        const f = (x: Tensor, y: Tensor) => referenceMatMul(tA ? tf.transpose(x) : x, tB ? tf.transpose(y) : y);
        return [f(a, b), ...tf.grads((x: Tensor, y: Tensor) => weightedSum(f(x, y), 10))([a, b])];
      });
      assertAllClose(got, want, 1e-5, `mm ${tA} ${tB}`);
    });
  }

  it('batched rank 3 with transposeB (attention logits) matches the cpu reference', async () => {
    const qv = randomValues([4, 3, 6], 11);
    const kv = randomValues([4, 3, 6], 12);
    const got = await computeOn('wasm', () => {
      const q = tf.tensor3d(qv, [4, 3, 6]);
      const k = tf.tensor3d(kv, [4, 3, 6]);
      const f = (a: Tensor, b: Tensor) => mm(a, b, false, true);
      return [f(q, k), ...tf.grads((a: Tensor, b: Tensor) => weightedSum(f(a, b), 13))([q, k])];
    });
    const want = await computeOn('cpu', () => {
      const q = tf.tensor3d(qv, [4, 3, 6]);
      const k = tf.tensor3d(kv, [4, 3, 6]);
      const f = (a: Tensor, b: Tensor) => tf.sum(tf.mul(tf.expandDims(a, 2), tf.expandDims(b, 1)), 3);
      return [f(q, k), ...tf.grads((a: Tensor, b: Tensor) => weightedSum(f(a, b), 13))([q, k])];
    });
    assertAllClose(got, want, 1e-5, 'batched mm');
  });
});

describe('conv2d', () => {
  // Odd and even sizes, both paddings, strides 1 and 2, 3x3 and 5x5: every crop/pad branch of the
  // custom backward pass (e.g. 'valid' with stride 2 on an even size leaves a row unread).
  const cases = [
    { h: 7, w: 9, k: 3, stride: 1, pad: 'same' },
    { h: 7, w: 9, k: 3, stride: 2, pad: 'same' },
    { h: 8, w: 6, k: 3, stride: 2, pad: 'same' },
    { h: 7, w: 9, k: 3, stride: 1, pad: 'valid' },
    { h: 8, w: 9, k: 3, stride: 2, pad: 'valid' },
    { h: 9, w: 7, k: 5, stride: 1, pad: 'same' },
    { h: 9, w: 8, k: 5, stride: 2, pad: 'same' },
    { h: 9, w: 10, k: 5, stride: 2, pad: 'valid' },
    { h: 11, w: 9, k: 5, stride: 1, pad: 'valid' },
  ] as const;
  for (const c of cases) {
    for (const act of ['relu', 'linear'] as const) {
      it(`${c.k}x${c.k} stride ${c.stride} '${c.pad}' on ${c.h}x${c.w}, ${act}: wasm matches stock tf.conv2d on cpu`, async () => {
        const xShape = [2, c.h, c.w, 3];
        const wShape = [c.k, c.k, 3, 4];
        const xv = randomValues(xShape, 20);
        const wv = randomValues(wShape, 21, 0.3);
        const bv = randomValues([4], 22);
        const run = (useLayer: boolean) => () => {
          const x = tf.tensor4d(xv, xShape as [number, number, number, number]);
          const w = tf.tensor4d(wv, wShape as [number, number, number, number]);
          const b = tf.tensor1d(bv);
          const f = (xa: Tensor, wa: Tensor, ba: Tensor) => {
            if (useLayer) return conv2d(xa as Tensor4D, wa as Tensor4D, ba as Tensor1D, c.stride, c.pad, act);
            const y = tf.add(tf.conv2d(xa as Tensor4D, wa as Tensor4D, c.stride, c.pad), ba);
            return act === 'relu' ? tf.relu(y) : y;
          };
          return [f(x, w, b), ...tf.grads((xa: Tensor, wa: Tensor, ba: Tensor) => weightedSum(f(xa, wa, ba), 23))([x, w, b])];
        };
        const got = await computeOn('wasm', run(true));
        const want = await computeOn('cpu', run(false));
        assertAllClose(got, want, 1e-4, JSON.stringify(c));
      });
    }
  }

  it('without bias, on the cpu backend too', async () => {
    const xv = randomValues([1, 6, 5, 2], 24);
    const wv = randomValues([3, 3, 2, 3], 25);
    const run = (useLayer: boolean) => () => {
      const x = tf.tensor4d(xv, [1, 6, 5, 2]);
      const w = tf.tensor4d(wv, [3, 3, 2, 3]);
      const f = (xa: Tensor, wa: Tensor) =>
        useLayer ? conv2d(xa as Tensor4D, wa as Tensor4D, null, 2, 'same') : tf.conv2d(xa as Tensor4D, wa as Tensor4D, 2, 'same');
      return [f(x, w), ...tf.grads((xa: Tensor, wa: Tensor) => weightedSum(f(xa, wa), 26))([x, w])];
    };
    assertAllClose(await computeOn('cpu', run(true)), await computeOn('cpu', run(false)), 1e-4, 'cpu conv');
  });

  it('rejects a filter whose input channels do not match', () => {
    assert.throws(() => conv2d(tf.zeros([1, 4, 4, 3]) as Tensor4D, tf.zeros([3, 3, 2, 4]) as Tensor4D, null, 1, 'same'), /filter/);
  });
});

describe('layerNorm', () => {
  it('rank 3: value and gradients (x, gamma, beta) on wasm match a moments-based cpu reference', async () => {
    const xv = randomValues([3, 4, 8], 30, 2);
    const gv = randomValues([8], 31);
    const bv = randomValues([8], 32);
    const run = (useLayer: boolean) => () => {
      const x = tf.tensor3d(xv, [3, 4, 8]);
      const g = tf.tensor1d(gv);
      const b = tf.tensor1d(bv);
      const f = (xa: Tensor, ga: Tensor, ba: Tensor) => {
        if (useLayer) return layerNorm(xa, ga as Tensor1D, ba as Tensor1D);
        const { mean, variance } = tf.moments(xa, 2, true);
        return tf.add(tf.mul(tf.div(tf.sub(xa, mean), tf.sqrt(tf.add(variance, 1e-5))), ga), ba);
      };
      return [f(x, g, b), ...tf.grads((xa: Tensor, ga: Tensor, ba: Tensor) => weightedSum(f(xa, ga, ba), 33))([x, g, b])];
    };
    assertAllClose(await computeOn('wasm', run(true)), await computeOn('cpu', run(false)), 1e-4, 'layerNorm');
  });
});

describe('broadcastRows', () => {
  it('repeats a [1,...] tensor n times; its gradient is the sum over the copies', async () => {
    const sv = randomValues([1, 2, 5], 40);
    const run = (useLayer: boolean) => () => {
      const s = tf.tensor3d(sv, [1, 2, 5]);
      const f = (a: Tensor) => (useLayer ? broadcastRows(a, 7) : tf.tile(a, [7, 1, 1]));
      return [f(s), tf.grad((a: Tensor) => weightedSum(f(a), 41))(s)];
    };
    const got = await computeOn('wasm', run(true));
    assert.deepEqual(got[0].shape, [7, 2, 5]);
    assertAllClose(got, await computeOn('cpu', run(false)), 1e-5, 'broadcastRows');
  });
});

describe('maskedSoftmax', () => {
  it('gives masked entries probability 0 and matches softmax over the kept entries, with gradients', async () => {
    const lv = randomValues([2, 3, 4], 50);
    // keys 0..3, key 3 padded in the first outfit, keys 2..3 in the second
    const mv = [1, 1, 1, 0, 1, 1, 0, 0];
    const got = await computeOn('wasm', () => {
      const l = tf.tensor3d(lv, [2, 3, 4]);
      const m = tf.reshape(tf.tensor1d(mv), [2, 1, 4]);
      const f = (a: Tensor) => maskedSoftmax(a, m);
      return [f(l), tf.grad((a: Tensor) => weightedSum(f(a), 51))(l)];
    });
    for (let r = 0; r < 6; r++) {
      const row = got[0].values.slice(r * 4, r * 4 + 4);
      const keep = mv.slice(Math.floor(r / 3) * 4, Math.floor(r / 3) * 4 + 4);
      assert.ok(Math.abs(row.reduce((p, v) => p + v, 0) - 1) < 1e-6);
      row.forEach((p, j) => (keep[j] ? assert.ok(p > 0) : assert.equal(p, 0)));
    }
    // reference: softmax of the kept entries only, computed per outfit
    const want = await computeOn('cpu', () => {
      const l = tf.tensor3d(lv, [2, 3, 4]);
      const f = (a: Tensor) => {
        const [a0, a1] = tf.split(a, 2, 0);
        const p0 = tf.concat([tf.softmax(tf.slice(a0, [0, 0, 0], [1, 3, 3])), tf.zeros([1, 3, 1])], 2);
        const p1 = tf.concat([tf.softmax(tf.slice(a1, [0, 0, 0], [1, 3, 2])), tf.zeros([1, 3, 2])], 2);
        return tf.concat([p0, p1], 0);
      };
      return [f(l), tf.grad((a: Tensor) => weightedSum(f(a), 51))(l)];
    });
    assertAllClose(got, want, 1e-5, 'maskedSoftmax');
  });
});

describe('pooling', () => {
  it('avgPool and globalAvgPool gradients on wasm match cpu', async () => {
    const xv = randomValues([2, 6, 6, 3], 60);
    const run = () => {
      const x = tf.tensor4d(xv, [2, 6, 6, 3]);
      const f = (a: Tensor) => globalAvgPool(avgPool(a as Tensor4D, 2, 2));
      return [f(x), tf.grad((a: Tensor) => weightedSum(f(a), 61))(x)];
    };
    const got = await computeOn('wasm', run);
    assert.deepEqual(got[0].shape, [2, 3]);
    assertAllClose(got, await computeOn('cpu', run), 1e-5, 'pooling');
  });
});
