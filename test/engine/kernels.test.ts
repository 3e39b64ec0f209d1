import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { installEngineFixes } from '../../src/engine/kernels.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { assertAllClose, computeOn, randomValues, referenceMatMul } from './grad-check.js';

before(async () => {
  await initEngine({ backend: 'wasm' });
});

describe('installEngineFixes', () => {
  it('is idempotent and registers UnsortedSegmentSum on wasm', () => {
    installEngineFixes();
    installEngineFixes();
    assert.ok(tf.getKernel('UnsortedSegmentSum', 'wasm'));
    assert.ok(tf.getKernel('UnsortedSegmentSum', 'cpu'));
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  });
});

describe('UnsortedSegmentSum', () => {
  // out[ids[i]] += x[i], ids out of range dropped (TensorFlow semantics)
  const ids = [2, 0, 2, 5, 2, 1];
  const xShape = [6, 2, 3];
  const xv = randomValues(xShape, 1);
  function expected(numSegments: number): Float32Array {
    const out = new Float32Array(numSegments * 6);
    ids.forEach((s, i) => {
      if (s < 0 || s >= numSegments) return;
      for (let j = 0; j < 6; j++) out[s * 6 + j] += xv[i * 6 + j];
    });
    return out;
  }
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`sums rows into segments on ${backend}, dropping out-of-range ids`, async () => {
      const [out] = await computeOn(backend, () => [
        tf.unsortedSegmentSum(tf.tensor(xv, xShape), tf.tensor1d(ids, 'int32'), 4),
      ]);
      assert.deepEqual(out.shape, [4, 2, 3]);
      assertAllClose([out], [{ shape: [4, 2, 3], values: expected(4) }], 1e-6, backend);
    });

    it(`gives tf.gather the right gradient with repeated indices on ${backend}`, async () => {
      const table = randomValues([7, 4], 2);
      const idx = [3, 3, 0, 6, 3, 0];
      const r = randomValues([6, 4], 3);
      const [g] = await computeOn(backend, () => [
        tf.grad((t: Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(idx, 'int32')), tf.tensor(r, [6, 4]))))(
          tf.tensor(table, [7, 4]),
        ),
      ]);
      const want = new Float32Array(28);
      idx.forEach((row, i) => {
        for (let j = 0; j < 4; j++) want[row * 4 + j] += r[i * 4 + j];
      });
      assertAllClose([g], [{ shape: [7, 4], values: want }], 1e-6, backend);
    });
  }

  it('handles a rank-3 table gathered by user ids (anchor look-ups) on wasm like cpu', async () => {
    const anchors = randomValues([9, 3, 5], 4);
    const users = [8, 1, 1, 4, 8, 8];
    const r = randomValues([6, 3, 5], 5);
    const run = () => [
      tf.grad((a: Tensor) => tf.sum(tf.mul(tf.gather(a, tf.tensor1d(users, 'int32')), tf.tensor(r, [6, 3, 5]))))(
        tf.tensor(anchors, [9, 3, 5]),
      ),
    ];
    assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 1e-6, 'anchors');
  });
});

describe('BatchMatMul gradient', () => {
  const combos: Array<[boolean, boolean]> = [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ];
  for (const [tA, tB] of combos) {
    it(`rank 2, transposeA=${tA} transposeB=${tB}: wasm matches a cpu reference`, async () => {
      const aShape = tA ? [5, 4] : [4, 5];
      const bShape = tB ? [3, 5] : [5, 3];
      const av = randomValues(aShape, 10);
      const bv = randomValues(bShape, 11);
      const r = randomValues([4, 3], 12);
      const loss = (y: Tensor) => tf.sum(tf.mul(y, tf.tensor(r, [4, 3])));
      const got = await computeOn('wasm', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        const f = (x: Tensor, y: Tensor) => loss(tf.matMul(x, y, tA, tB));
        return [tf.matMul(a, b, tA, tB), ...tf.grads(f)([a, b])];
      });
      const want = await computeOn('cpu', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        const f = (x: Tensor, y: Tensor) =>
          loss(referenceMatMul(tA ? tf.transpose(x) : x, tB ? tf.transpose(y) : y));
        const y = referenceMatMul(tA ? tf.transpose(a) : a, tB ? tf.transpose(b) : b);
        return [y, ...tf.grads(f)([a, b])];
      });
      assertAllClose(got, want, 1e-5, `tA=${tA} tB=${tB}`);
    });
  }

  for (const [tA, tB] of combos) {
    it(`rank 3 batched with a broadcast batch axis, transposeA=${tA} transposeB=${tB}`, async () => {
      const aShape = tA ? [3, 4, 2] : [3, 2, 4];
      const bShape = tB ? [1, 5, 4] : [1, 4, 5];
      const av = randomValues(aShape, 20);
      const bv = randomValues(bShape, 21);
      const r = randomValues([3, 2, 5], 22);
      const swap = (x: Tensor) => tf.transpose(x, [0, 2, 1]);
      const loss = (y: Tensor) => tf.sum(tf.mul(y, tf.tensor(r, [3, 2, 5])));
      const got = await computeOn('wasm', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        return tf.grads((x: Tensor, y: Tensor) => loss(tf.matMul(x, y, tA, tB)))([a, b]);
      });
      const want = await computeOn('cpu', () => {
        const a = tf.tensor(av, aShape);
        const b = tf.tensor(bv, bShape);
        // [n,m,k,1]·[n,1,k,p] summed over k
        const ref = (x: Tensor, y: Tensor) =>
          tf.sum(tf.mul(tf.expandDims(tA ? swap(x) : x, 3), tf.expandDims(tB ? swap(y) : y, 1)), 2);
        return tf.grads((x: Tensor, y: Tensor) => loss(ref(x, y)))([a, b]);
      });
      assertAllClose(got, want, 1e-5, `batched tA=${tA} tB=${tB}`);
    });
  }
});

describe('cpu-kernel fallbacks on wasm', () => {
  it('MaxPool gradient goes to the argmax even in an all-negative window (wasm bug fixed)', async () => {
    const xv = new Float32Array([-3, -1, -2, -4, 1, -5, 2, 0.5]);
    const run = () => [tf.grad((x: Tensor) => tf.sum(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor(xv, [1, 2, 4, 1]))];
    const [wasm] = await computeOn('wasm', run);
    // window 1 = [-3,-1,1,-5] → argmax index of 1 (position 4); window 2 = [-2,-4,2,0.5] → 2 (position 6)
    assert.deepEqual(Array.from(wasm.values), [0, 0, 0, 0, 1, 0, 1, 0]);
    const xNeg = new Float32Array([-3, -1, -2, -4]);
    const [neg] = await computeOn('wasm', () => [
      tf.grad((x: Tensor) => tf.sum(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor(xNeg, [1, 2, 2, 1])),
    ]);
    assert.deepEqual(Array.from(neg.values), [0, 1, 0, 0]);
  });

  it('stock tf.conv2d trains on wasm (Conv2DBackpropFilter through the cpu fallback)', async () => {
    const xv = randomValues([2, 5, 5, 2], 30);
    const wv = randomValues([3, 3, 2, 3], 31);
    const run = () => {
      const x = tf.tensor4d(xv, [2, 5, 5, 2]);
      const w = tf.tensor4d(wv, [3, 3, 2, 3]);
      return tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, w]);
    };
    assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 1e-5, 'conv2d grads');
  });
});

describe('GatherV2 and Tile on wasm (block-copy kernels)', () => {
  const gatherCases: Array<{ shape: number[]; axis: number; idxShape: number[]; label: string }> = [
    { shape: [7, 20], axis: 0, idxShape: [9], label: 'rows of a matrix (wide rows)' },
    { shape: [7, 3], axis: 0, idxShape: [4], label: 'rows of a matrix (narrow rows)' },
    { shape: [5, 6, 4], axis: 1, idxShape: [2, 3], label: 'middle axis with 2-D indices' },
    { shape: [4, 5], axis: -1, idxShape: [6], label: 'last axis, negative axis' },
  ];
  for (const c of gatherCases) {
    it(`gather ${c.label}: value and gradient match cpu`, async () => {
      const xv = randomValues(c.shape, 70);
      const axisSize = c.shape[c.axis < 0 ? c.axis + c.shape.length : c.axis];
      const n = c.idxShape.reduce((p, s) => p * s, 1);
      const idx = Array.from({ length: n }, (_, i) => (i * 3 + 1) % axisSize);
      const run = () => {
        const x = tf.tensor(xv, c.shape);
        const ind = tf.tensor(idx, c.idxShape, 'int32');
        const y = tf.gather(x, ind, c.axis);
        const r = tf.tensor(randomValues(y.shape, 71), y.shape);
        return [y, tf.grad((a: Tensor) => tf.sum(tf.mul(tf.gather(a, ind, c.axis), r)))(x)];
      };
      assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 1e-6, c.label);
    });
  }

  it('gather keeps int32 values and rejects an out-of-range index', async () => {
    const [out] = await computeOn('wasm', () => [tf.gather(tf.tensor1d([10, 20, 30], 'int32'), tf.tensor1d([2, 0, 2], 'int32'))]);
    assert.deepEqual(Array.from(out.values), [30, 10, 30]);
    await assert.rejects(
      computeOn('wasm', () => [tf.gather(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor1d([0, 2], 'int32'))]),
      /index 2 .*not in \[0, 1\]/,
    );
  });

  it('gather with batchDims 1 still works (stock kernel)', async () => {
    const run = () => [tf.gather(tf.tensor(randomValues([2, 3, 4], 72), [2, 3, 4]), tf.tensor2d([0, 2, 1, 1], [2, 2], 'int32'), 1, 1)];
    assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 1e-6, 'batchDims');
  });

  const tileCases: Array<{ shape: number[]; reps: number[] }> = [
    { shape: [1, 1, 5], reps: [7, 1, 1] },
    { shape: [3], reps: [4] },
    { shape: [2, 3], reps: [2, 3] },
    { shape: [2, 1, 3, 2], reps: [1, 4, 2, 3] },
    { shape: [2, 3], reps: [1, 1] },
  ];
  for (const c of tileCases) {
    it(`tile [${c.shape}] by [${c.reps}] matches cpu, with broadcastTo`, async () => {
      const xv = randomValues(c.shape, 73);
      const run = () => {
        const x = tf.tensor(xv, c.shape);
        return [tf.tile(x, c.reps), tf.broadcastTo(x, c.shape.map((s, i) => s * c.reps[i]).map((s, i) => (c.shape[i] === 1 ? s : c.shape[i])))];
      };
      assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 0, `tile ${c.shape} ${c.reps}`);
    });
  }
});

describe('Identity on wasm (shared data)', () => {
  it('tf.clone keeps its values after the original is disposed, and frees memory with the last reference', async () => {
    await computeOn('wasm', () => {
      const before = tf.memory().numDataBuffers;
      const x = tf.tensor1d([1, 2, 3]);
      const y = tf.clone(x);
      assert.equal(tf.memory().numDataBuffers - before, 1, 'a clone shares the data buffer');
      x.dispose();
      assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
      y.dispose();
      assert.equal(tf.memory().numDataBuffers, before);
      return [];
    });
  });
});

describe('Slice, PadV2, Transpose and DepthToSpace on wasm (strided-copy kernels)', () => {
  const xShape = [3, 5, 4, 6];
  const xv = randomValues(xShape, 100);
  const cases: Array<[string, (x: Tensor) => Tensor]> = [
    ['slice inner block', (x) => tf.slice(x, [1, 1, 0, 2], [2, 3, 4, 3])],
    ['slice with -1 sizes', (x) => tf.slice(x, [0, 2, 1, 0], [-1, -1, 2, -1])],
    ['slice of a rank-2 tensor', (x) => tf.slice(tf.reshape(x, [15, 24]), [3, 5], [7, 11])],
    ['pad with zeros', (x) => tf.pad(x, [[0, 1], [2, 0], [1, 1], [0, 0]])],
    ['pad with a constant', (x) => tf.pad(x, [[1, 0], [0, 0], [0, 2], [3, 1]], 1.5)],
    ['transpose [3,1,2,0] (batch and channels swapped, tiled)', (x) => tf.transpose(x, [3, 1, 2, 0])],
    ['transpose [1,2,0,3]', (x) => tf.transpose(x, [1, 2, 0, 3])],
    ['transpose [0,2,1,3]', (x) => tf.transpose(x, [0, 2, 1, 3])],
    ['transpose rank 6', (x) => tf.transpose(tf.reshape(x, [3, 5, 2, 2, 3, 2]), [0, 2, 5, 1, 3, 4])],
    ['transpose large enough for several tiles', (x) => tf.transpose(tf.tile(x, [25, 1, 1, 10]), [3, 1, 2, 0])],
    ['depthToSpace block 2', (x) => tf.depthToSpace(tf.reshape(x, [3, 5, 2, 12]) as tf.Tensor4D, 2)],
    ['depthToSpace block 3', (x) => tf.depthToSpace(tf.reshape(tf.tile(x, [1, 1, 1, 3]), [3, 5, 4, 18]) as tf.Tensor4D, 3)],
  ];
  for (const [label, f] of cases) {
    it(`${label}: matches cpu exactly`, async () => {
      const run = () => [f(tf.tensor(xv, xShape))];
      assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 0, label);
    });
  }

  it('keeps int32 values (slice and transpose)', async () => {
    const run = () => {
      const x = tf.tensor3d(Array.from({ length: 24 }, (_, i) => i - 7), [2, 3, 4], 'int32');
      return [tf.slice(x, [1, 0, 1], [1, 2, 2]), tf.transpose(x, [2, 0, 1])];
    };
    assertAllClose(await computeOn('wasm', run), await computeOn('cpu', run), 0, 'int32');
  });

  it('rejects a slice past the end', async () => {
    await assert.rejects(computeOn('wasm', () => [tf.slice(tf.zeros([4, 4]), [2, 0], [3, 4])]));
  });
});

describe('Transpose by the identity permutation on wasm', () => {
  it('shares the data and keeps the values', async () => {
    await computeOn('wasm', () => {
      const x = tf.tensor3d(randomValues([2, 3, 4], 110), [2, 3, 4]);
      const before = tf.memory().numDataBuffers;
      const y = tf.transpose(x, [0, 1, 2]);
      assert.equal(tf.memory().numDataBuffers, before);
      assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
      return [];
    });
  });
});
