import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Param } from '../../src/model/params.js';
import { Optimizer, type OptimizerConfig } from '../../src/train/optimizer.js';

const table = (): Param => ({ name: 'anchors.user', shape: [4, 2], group: 'anchors', data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8) });
const base: OptimizerConfig = { kind: 'adam', lr: 0.1, momentum: 0.9, weightDecay: 0, clip: { mode: 'none', max: 1 } };
// rows 2 and 0 of the table have gradients; rows 1 and 3 do not
const rowGrad = () => ({ rows: Int32Array.of(2, 0), grad: Float32Array.of(0.5, -1, 2, 3) });
const fullGrad = () => Float32Array.of(2, 3, 0, 0, 0.5, -1, 0, 0);

describe('Optimizer (Adam / SGD over typed arrays, table rows dense or lazy)', () => {
  test("dense row updates equal a dense Adam over the whole table with zero gradients for absent rows", () => {
    const a = table();
    const b = table();
    const oa = new Optimizer({ ...base, anchorUpdate: 'dense' });
    const ob = new Optimizer(base);
    for (let t = 0; t < 4; t++) {
      // after the first step, rows 1 and 3 still move in the dense case: their moments are non-zero only for rows 0 and 2
      oa.step([], [{ param: a, ...rowGrad() }]);
      ob.step([{ param: b, grad: fullGrad() }]);
    }
    a.data.forEach((v, i) => assert.ok(Math.abs(v - b.data[i]) < 1e-6, `entry ${i}: ${v} vs ${b.data[i]}`));
  });

  test('lazy row updates leave absent rows and their moments untouched', () => {
    const a = table();
    const o = new Optimizer({ ...base, anchorUpdate: 'lazy' });
    o.step([], [{ param: a, ...rowGrad() }]);
    const afterOne = a.data.slice();
    o.step([], [{ param: a, rows: Int32Array.of(1), grad: Float32Array.of(1, 1) }]);
    // rows 0 and 2 are not in the second step: unchanged (a dense update would move them by momentum)
    for (const i of [0, 1, 4, 5]) assert.equal(a.data[i], afterOne[i]);
    assert.notEqual(a.data[2], afterOne[2]);
    // Adam's first step moves each coordinate by lr against the gradient's sign
    assert.ok(Math.abs(afterOne[0] - (1 - 0.1)) < 1e-6 && Math.abs(afterOne[5] - (6 + 0.1)) < 1e-6);
  });

  test('clipping by global norm scales every gradient together; by value clips entries; weight decay is added first', () => {
    const p: Param = { name: 'w', shape: [2], group: 'projection', data: Float32Array.of(1, -1) };
    const grad = Float32Array.of(3, 4); // norm 5
    new Optimizer({ ...base, kind: 'sgd', momentum: 0, clip: { mode: 'norm', max: 1 } }).step([{ param: p, grad }]);
    assert.ok(Math.abs(grad[0] - 0.6) < 1e-6 && Math.abs(grad[1] - 0.8) < 1e-6);
    assert.ok(Math.abs(p.data[0] - (1 - 0.06)) < 1e-6);
    const g2 = Float32Array.of(3, -0.2);
    new Optimizer({ ...base, kind: 'sgd', momentum: 0, weightDecay: 1, clip: { mode: 'value', max: 0.5 } }).step([{ param: p, grad: g2 }]);
    // 3 + wd·0.94 → clipped to 0.5; −0.2 + wd·(−1) → −1.2 → clipped to −0.5
    assert.deepEqual(Array.from(g2), [0.5, -0.5]);
  });

  test('state() and load() continue exactly where the optimizer was', () => {
    const a = table();
    const o = new Optimizer(base);
    o.step([{ param: a, grad: fullGrad() }]);
    const b = { ...table(), data: a.data.slice() };
    const restored = new Optimizer(base);
    restored.load(o.state().map((t) => ({ ...t, data: t.data.slice() })), o.steps);
    o.step([{ param: a, grad: fullGrad() }]);
    restored.step([{ param: b, grad: fullGrad() }]);
    assert.deepEqual(Array.from(b.data), Array.from(a.data));
  });
});
