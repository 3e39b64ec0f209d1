/**
 * Every backward rule of src/engine/autodiff.ts against central finite differences
 * (test/engine/onnx-grad-check.ts explains the precisions and tolerances).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradients } from '../../src/engine/autodiff.js';
import { Graph } from '../../src/engine/graph.js';
import { CompiledGraph } from '../../src/engine/runtime.js';
import { checkGradients, weightedSum } from './onnx-grad-check.js';

const positive = (_i: number, n: number, rng: { uniform(a: number, b: number): number }): number[] => Array.from({ length: n }, () => rng.uniform(0.5, 2));

test('broadcasting arithmetic: add, sub, mul, div un-broadcast their gradients', async () => {
  await checkGradients('add/sub/mul', {
    shapes: [[3, 4], [4], [3, 1]],
    build: (g, [a, b, c]) => weightedSum(g, g.mul(g.sub(g.add(a, b), c), g.add(b, 0.5))),
  });
  await checkGradients('div', {
    shapes: [[2, 3], [1, 3]],
    init: (i, n, rng) => (i === 1 ? positive(i, n, rng) : Array.from({ length: n }, () => rng.normal())),
    build: (g, [a, b]) => weightedSum(g, g.div(a, b)),
  });
});

test('unary ops: neg, relu, exp, log, sqrt, reciprocal, sigmoid, softplus', async () => {
  await checkGradients('neg/exp/sigmoid/softplus', {
    shapes: [[2, 5]],
    build: (g, [x]) => weightedSum(g, g.add(g.add(g.neg(g.exp(x)), g.sigmoid(x)), g.softplus(x))),
  });
  await checkGradients('log/sqrt/reciprocal', {
    shapes: [[7]],
    init: positive,
    build: (g, [x]) => weightedSum(g, g.add(g.add(g.log(x), g.sqrt(x)), g.reciprocal(x))),
  });
  // values kept away from the kink so ±h never crosses 0
  await checkGradients('relu', {
    shapes: [[6]],
    init: (_i, n, rng) => Array.from({ length: n }, (_, k) => (k % 2 ? 1 : -1) * rng.uniform(0.1, 1)),
    build: (g, [x]) => weightedSum(g, g.relu(x)),
  });
});

test('matmul: plain, batched, and a shared weight under a batch', async () => {
  await checkGradients('matmul 2d', { shapes: [[3, 4], [4, 5]], build: (g, [a, b]) => weightedSum(g, g.matmul(a, b)) });
  await checkGradients('matmul batched', { shapes: [[2, 3, 4], [2, 4, 2]], build: (g, [a, b]) => weightedSum(g, g.matmul(a, b)) });
  await checkGradients('matmul shared weight', { shapes: [[2, 3, 4], [4, 5], [5]], build: (g, [a, w, b]) => weightedSum(g, g.linear(a, w, b)) });
  await checkGradients('matmul broadcast batch', { shapes: [[1, 3, 4], [2, 4, 2]], build: (g, [a, b]) => weightedSum(g, g.matmul(a, b)) });
});

test('reductions, softmax, log-sum-exp, l2 normalisation', async () => {
  await checkGradients('reduceSum/Mean', {
    shapes: [[2, 3, 4]],
    build: (g, [x]) => g.add(weightedSum(g, g.reduceSum(x, [1])), weightedSum(g, g.reduceMean(g.square(x), [0, 2], true))),
  });
  await checkGradients('softmax', { shapes: [[3, 5]], build: (g, [x]) => weightedSum(g, g.softmax(x, -1)) });
  await checkGradients('logSumExp', { shapes: [[4, 6]], build: (g, [x]) => weightedSum(g, g.logSumExp(g.mul(x, 3), 1)) });
  await checkGradients('l2Normalize', { shapes: [[3, 4]], build: (g, [x]) => weightedSum(g, g.l2Normalize(x)) });
});

test("layer normalisation: the fused op's rule (float32) matches the float64 primitives", async () => {
  // the float64 graph builds LayerNorm from primitives, whose rules the other tests check
  await checkGradients('layerNorm float64', { shapes: [[2, 3, 6], [6], [6]], build: (g, [x, gm, bt]) => weightedSum(g, g.layerNorm(x, gm, bt)) });
  const run = async (float: 'float32' | 'float64'): Promise<number[][]> => {
    const g = new Graph(float);
    const x = g.input('x', [4, 8]);
    const gm = g.input('gm', [8]);
    const bt = g.input('bt', [8]);
    const loss = weightedSum(g, g.layerNorm(x, gm, bt));
    for (const d of gradients(g, loss, [x, gm, bt])) g.output(d);
    const c = await CompiledGraph.create(g);
    const arr = (n: number, f: (i: number) => number) => (float === 'float32' ? Float32Array.from({ length: n }, (_, i) => f(i)) : Float64Array.from({ length: n }, (_, i) => f(i)));
    const out = await c.run({
      x: { data: arr(32, (i) => Math.sin(i * 1.7) * 2), dims: [4, 8] },
      gm: { data: arr(8, (i) => 1 + 0.1 * i), dims: [8] },
      bt: { data: arr(8, (i) => 0.05 * i), dims: [8] },
    });
    await c.release();
    return out.map((a) => Array.from(a as Float32Array));
  };
  const [fused, reference] = [await run('float32'), await run('float64')];
  fused.forEach((grad, k) => grad.forEach((v, i) => assert.ok(Math.abs(v - reference[k][i]) < 1e-4, `gradient ${k}[${i}]: ${v} vs ${reference[k][i]}`)));
});

test('shape ops: reshape, transpose, concat, slice, unsqueeze, squeeze, expand, pad', async () => {
  await checkGradients('reshape/transpose', {
    shapes: [[2, 6]],
    build: (g, [x]) => weightedSum(g, g.transpose(g.reshape(x, [2, 3, 2]), [2, 0, 1])),
  });
  await checkGradients('concat/slice', {
    shapes: [[2, 3], [2, 2]],
    build: (g, [a, b]) => {
      const c = g.concat([a, b, a], 1);
      return g.add(weightedSum(g, g.slice(c, 1, 1, 6)), weightedSum(g, g.slice(c, 0, 1, 2), 3));
    },
  });
  await checkGradients('unsqueeze/squeeze/expand/pad', {
    shapes: [[3, 1], [4]],
    build: (g, [a, b]) => {
      const e = g.expand(g.unsqueeze(g.squeeze(a, [1]), [0]), [2, 3]);
      return g.add(weightedSum(g, e), weightedSum(g, g.pad(g.expand(b, [2, 4]), [1, 0, 0, 2]), 5));
    },
  });
});

test('where routes the gradient by the condition', async () => {
  await checkGradients('where', {
    shapes: [[2, 4], [4]],
    build: (g, [a, b]) => weightedSum(g, g.where(g.greater(g.stopGradient(a), 0), a, b)),
  });
});

test('gather: duplicate rows accumulate (scatter-add), multi-dimensional indices', async () => {
  await checkGradients('gather', {
    shapes: [[5, 3]],
    extra: (g) => {
      const idx = g.input('idx', [2, 3], 'int64');
      return { values: [idx], feeds: { idx: { data: BigInt64Array.from([0n, 2n, 2n, 4n, 0n, 1n]), dims: [2, 3] } } };
    },
    build: (g, [x, idx]) => weightedSum(g, g.gather(x, idx)),
  });
});

test('symbolic batch dims: a gather over a runtime-sized table and a shared-weight matmul', async () => {
  const g = new Graph('float64');
  const table = g.input('table', ['items', 2]);
  const w = g.input('w', [2, 3]);
  const idx = g.input('idx', [4], 'int64');
  const loss = g.reduceSum(g.matmul(g.gather(g.relu(table), idx), w), [0, 1]);
  const [dTable, dW] = gradients(g, loss, [table, w]);
  g.output(loss);
  g.output(dTable);
  g.output(dW);
  const c = await CompiledGraph.create(g);
  for (const items of [3, 5]) {
    const t = Float64Array.from({ length: items * 2 }, (_, i) => i + 1);
    const out = await c.run({
      table: { data: t, dims: [items, 2] },
      w: { data: Float64Array.from([1, 2, 3, 4, 5, 6]), dims: [2, 3] },
      idx: { data: BigInt64Array.from([0n, 2n, 2n, 1n]), dims: [4] },
    });
    assert.equal(out[1].length, items * 2, 'table gradient follows the runtime size');
    // row 2 is gathered twice: its gradient is twice the row sums of w
    assert.deepEqual(Array.from((out[1] as Float64Array).slice(4, 6)), [12, 30]);
  }
  await c.release();
});

test('convolution: input, filter and bias gradients (strided, padded, float32)', async () => {
  await checkGradients('conv stride 1 same', {
    float: 'float32',
    shapes: [[2, 3, 5, 5], [4, 3, 3, 3], [4]],
    build: (g, [x, w, b]) => weightedSum(g, g.conv(x, w, b, { strides: [1, 1], pads: [1, 1, 1, 1] })),
    maxProbes: 12,
  });
  await checkGradients('conv stride 2 uneven pads', {
    float: 'float32',
    shapes: [[1, 2, 6, 7], [3, 2, 3, 3]],
    build: (g, [x, w]) => weightedSum(g, g.conv(x, w, null, { strides: [2, 2], pads: [0, 1, 1, 1] })),
    maxProbes: 12,
  });
  await checkGradients('conv 11x11 stride 4', {
    float: 'float32',
    shapes: [[1, 1, 16, 16], [2, 1, 11, 11]],
    build: (g, [x, w]) => weightedSum(g, g.conv(x, w, null, { strides: [4, 4], pads: [4, 4, 5, 5] })),
    maxProbes: 12,
  });
});

test('stopGradient blocks the path and an unused input gets zeros', async () => {
  const g = new Graph('float64');
  const x = g.input('x', [3]);
  const y = g.input('y', [3]);
  const loss = g.reduceSum(g.mul(g.stopGradient(x), x), [0]);
  const [dx, dy] = gradients(g, loss, [x, y]);
  g.output(dx);
  g.output(dy);
  const c = await CompiledGraph.create(g);
  const [gx, gy] = await c.run({ x: { data: Float64Array.from([1, 2, 3]), dims: [3] }, y: { data: new Float64Array(3), dims: [3] } });
  assert.deepEqual(Array.from(gx as Float64Array), [1, 2, 3], 'only the non-stopped factor is differentiated');
  assert.deepEqual(Array.from(gy as Float64Array), [0, 0, 0]);
  await c.release();
});

test('grouped convolution (the average pool of the AlexNet backbone): input gradient', async () => {
  await checkGradients('grouped conv', {
    float: 'float32',
    shapes: [[2, 3, 7, 7]],
    build: (g, [x]) => {
      const ones = g.constant(new Float32Array(3 * 9).fill(1), [3, 1, 3, 3], 'float32');
      return weightedSum(g, g.conv(x, ones, null, { strides: [2, 2], pads: [1, 1, 1, 1], group: 3 }));
    },
    maxProbes: 20,
  });
});

test("the backbones' average pool ('same' padding, mean over real pixels only)", async () => {
  const { averagePoolSame } = await import('../../src/model/backbones.js');
  await checkGradients('average pool same', {
    float: 'float32',
    shapes: [[1, 2, 5, 5]],
    build: (g, [x]) => weightedSum(g, averagePoolSame(g, x, 3, 2)),
    maxProbes: 25,
  });
});
