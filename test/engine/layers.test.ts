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
  multiHeadAttention,
  type Activation,
} from '../../src/engine/layers.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../../src/engine/tf.js';
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

  it('inputGrad false: x gets zeros, filter and bias gradients unchanged', async () => {
    const xv = randomValues([2, 7, 7, 3], 27);
    const wv = randomValues([3, 3, 3, 4], 28);
    const bv = randomValues([4], 29);
    const run = (inputGrad: boolean) => () => {
      const x = tf.tensor4d(xv, [2, 7, 7, 3]);
      const w = tf.tensor4d(wv, [3, 3, 3, 4]);
      const b = tf.tensor1d(bv);
      return tf.grads((xa: Tensor, wa: Tensor, ba: Tensor) =>
        weightedSum(conv2d(xa as Tensor4D, wa as Tensor4D, ba as Tensor1D, 2, 'same', 'relu', { inputGrad }), 30),
      )([x, w, b]);
    };
    const [dx, dw, db] = await computeOn('wasm', run(false));
    const full = await computeOn('wasm', run(true));
    assert.ok(dx.values.every((v) => v === 0));
    assert.ok(full[0].values.some((v) => v !== 0));
    assertAllClose([dw, db], full.slice(1), 1e-6, 'dw/db');
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

describe('multiHeadAttention', () => {
  /** Reference by stock ops: heads split out, softmax(q kᵀ·scale + bias) v per head. */
  function referenceAttention(q: Tensor, k: Tensor, v: Tensor, heads: number, bias: Tensor | null): Tensor {
    const [n, sq, d] = q.shape as number[];
    const sk = k.shape[1] as number;
    const dh = d / heads;
    const split = (x: Tensor, s: number) => tf.transpose(tf.reshape(x, [n, s, heads, dh]), [0, 2, 1, 3]); // [n,h,S,dh]
    const qh = split(q, sq);
    const kh = split(k, sk);
    const vh = split(v, sk);
    let logits = tf.mul(tf.sum(tf.mul(tf.expandDims(qh, 3), tf.expandDims(kh, 2)), 4), 1 / Math.sqrt(dh)); // [n,h,Sq,Sk]
    if (bias) logits = tf.add(logits, tf.reshape(bias, [n, 1, 1, sk]));
    const w = tf.softmax(logits);
    const o = tf.sum(tf.mul(tf.expandDims(w, 4), tf.expandDims(vh, 2)), 3); // [n,h,Sq,dh]
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [n, sq, d]);
  }

  const cases = [
    { n: 3, sq: 3, sk: 3, d: 8, heads: 2, masked: false },
    { n: 3, sq: 4, sk: 4, d: 12, heads: 3, masked: true },
    { n: 4, sq: 1, sk: 4, d: 8, heads: 4, masked: true },
  ];
  for (const c of cases) {
    it(`n=${c.n} Sq=${c.sq} Sk=${c.sk} d=${c.d} heads=${c.heads} masked=${c.masked}: value and q/k/v gradients match stock ops on cpu`, async () => {
      const qv = randomValues([c.n, c.sq, c.d], 80);
      const kv = randomValues([c.n, c.sk, c.d], 81);
      const vv = randomValues([c.n, c.sk, c.d], 82);
      // last key of every other outfit padded
      const bias = new Float32Array(c.n * c.sk);
      if (c.masked) for (let b = 0; b < c.n; b += 2) bias[b * c.sk + c.sk - 1] = -1e9;
      const run = (useLayer: boolean) => () => {
        const q = tf.tensor3d(qv, [c.n, c.sq, c.d]);
        const k = tf.tensor3d(kv, [c.n, c.sk, c.d]);
        const v = tf.tensor3d(vv, [c.n, c.sk, c.d]);
        const kb = c.masked ? tf.tensor4d(bias, [c.n, 1, 1, c.sk]) : null;
        const f = (a: Tensor, b: Tensor, e: Tensor) =>
          useLayer ? multiHeadAttention(a as Tensor3D, b as Tensor3D, e as Tensor3D, c.heads, kb) : referenceAttention(a, b, e, c.heads, kb);
        return [f(q, k, v), ...tf.grads((a: Tensor, b: Tensor, e: Tensor) => weightedSum(f(a, b, e), 83))([q, k, v])];
      };
      const want = await computeOn('cpu', run(false));
      assertAllClose(await computeOn('wasm', run(true)), want, 1e-5, `wasm ${JSON.stringify(c)}`);
      assertAllClose(await computeOn('cpu', run(true)), want, 1e-5, `cpu ${JSON.stringify(c)}`);
    });
  }

  it('a padded key changes nothing: the outfit without it gives the same output', async () => {
    const [n, d, heads] = [1, 8, 2];
    const qv = randomValues([n, 3, d], 84);
    const kv = randomValues([n, 3, d], 85);
    const [padded, unpadded] = await computeOn('wasm', () => {
      const q = tf.tensor3d(qv, [n, 3, d]);
      const k = tf.tensor3d(kv, [n, 3, d]);
      const full = multiHeadAttention(q, k, k, heads, tf.tensor4d([0, 0, -1e9], [1, 1, 1, 3]));
      const k2 = tf.slice(k, [0, 0, 0], [n, 2, d]);
      return [full, multiHeadAttention(q, k2, k2, heads)];
    });
    assertAllClose([padded], [unpadded], 1e-6, 'padding');
  });
});
