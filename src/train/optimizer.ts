/**
 * Adam and momentum SGD over typed arrays. The anchor table is a table parameter: with
 * `anchorUpdate: 'lazy'` a step changes only the rows of the batch's users (their moments
 * included), like PyTorch's SparseAdam, O(batch) instead of O(users); with 'dense' (the run
 * config's default, chosen by measurement: docs/results.md §2) every row moves at every step,
 * absent users by their moments, as a dense Adam over the whole table.
 *
 * Gradient processing before the update, as configured (method.md §4 "Training loop"): coupled
 * weight decay (g += wd·θ), then clipping by value or by the global L2 norm of every gradient of
 * the step.
 */
import type { Param } from '../model/params.js';

export interface OptimizerConfig {
  kind: 'adam' | 'sgd';
  lr: number;
  momentum: number;
  weightDecay: number;
  clip: { mode: 'value' | 'norm' | 'none'; max: number };
  /** 'lazy': table rows are updated only where a step has them; 'dense' (when absent too): every row, every step. */
  anchorUpdate?: 'lazy' | 'dense';
}

export interface DenseGradient {
  param: Param;
  grad: Float32Array;
}

/** The gradient of some rows of a table parameter: `rows` distinct row ids, `grad` [rows · rowSize]. */
export interface RowGradient {
  param: Param;
  rows: Int32Array;
  grad: Float32Array;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;

export class Optimizer {
  /** Adam: first and second moments; SGD: the momentum buffer (in `first`). */
  private readonly first = new Map<string, Float32Array>();
  private readonly second = new Map<string, Float32Array>();
  /** Steps taken (Adam's bias correction). */
  steps = 0;
  lr: number;

  constructor(private readonly cfg: OptimizerConfig) {
    this.lr = cfg.lr;
  }

  private slots(p: Param): [Float32Array, Float32Array] {
    let m = this.first.get(p.name);
    if (!m || m.length !== p.data.length) {
      m = new Float32Array(p.data.length);
      this.first.set(p.name, m);
    }
    let v = this.second.get(p.name);
    if (!v || v.length !== p.data.length) {
      v = new Float32Array(this.cfg.kind === 'adam' ? p.data.length : 0);
      this.second.set(p.name, v);
    }
    return [m, v];
  }

  /** One update of every dense parameter and of the given table rows. Gradients are modified in place. */
  step(dense: readonly DenseGradient[], rows: readonly RowGradient[] = []): void {
    const { weightDecay, clip } = this.cfg;
    const rowSize = (r: RowGradient): number => r.param.data.length / r.param.shape[0];
    if (weightDecay > 0) {
      for (const { param, grad } of dense) for (let i = 0; i < grad.length; i++) grad[i] += weightDecay * param.data[i];
      for (const r of rows) {
        const size = rowSize(r);
        r.rows.forEach((row, k) => {
          for (let j = 0; j < size; j++) r.grad[k * size + j] += weightDecay * r.param.data[row * size + j];
        });
      }
    }
    const all = [...dense.map((d) => d.grad), ...rows.map((r) => r.grad)];
    if (clip.mode === 'value') {
      for (const g of all) for (let i = 0; i < g.length; i++) g[i] = Math.min(clip.max, Math.max(-clip.max, g[i]));
    } else if (clip.mode === 'norm') {
      let sq = 0;
      for (const g of all) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
      const scale = Math.min(1, clip.max / (Math.sqrt(sq) + 1e-6));
      if (scale < 1) for (const g of all) for (let i = 0; i < g.length; i++) g[i] *= scale;
    }
    this.steps += 1;
    for (const { param, grad } of dense) this.update(param, grad, 0, 0, grad.length);
    if (this.cfg.anchorUpdate !== 'lazy') {
      // the whole table, absent rows with a zero gradient
      for (const r of rows) {
        const size = rowSize(r);
        const zero = new Float32Array(size);
        const gradRow = new Int32Array(r.param.shape[0]).fill(-1);
        r.rows.forEach((row, k) => (gradRow[row] = k));
        for (let row = 0; row < gradRow.length; row++) {
          const k = gradRow[row];
          if (k >= 0) this.update(r.param, r.grad, k * size, row * size, size);
          else this.update(r.param, zero, 0, row * size, size);
        }
      }
      return;
    }
    for (const r of rows) {
      const size = rowSize(r);
      r.rows.forEach((row, k) => this.update(r.param, r.grad, k * size, row * size, size));
    }
  }

  /** Updates param.data[at .. at+count) from grad[from .. from+count). */
  private update(param: Param, grad: Float32Array, from: number, at: number, count: number): void {
    const [m, v] = this.slots(param);
    const x = param.data;
    if (this.cfg.kind === 'sgd') {
      const mu = this.cfg.momentum;
      for (let i = 0; i < count; i++) {
        const acc = mu * m[at + i] + grad[from + i];
        m[at + i] = acc;
        x[at + i] -= this.lr * acc;
      }
      return;
    }
    const t = this.steps;
    const stepSize = (this.lr * Math.sqrt(1 - BETA2 ** t)) / (1 - BETA1 ** t);
    for (let i = 0; i < count; i++) {
      const g = grad[from + i];
      const mi = BETA1 * m[at + i] + (1 - BETA1) * g;
      const vi = BETA2 * v[at + i] + (1 - BETA2) * g * g;
      m[at + i] = mi;
      v[at + i] = vi;
      x[at + i] -= (stepSize * mi) / (Math.sqrt(vi) + EPSILON);
    }
  }

  /** The optimizer state as named arrays (for optimizer.safetensors). */
  state(): Array<{ name: string; shape: number[]; data: Float32Array }> {
    const out: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    for (const [name, m] of this.first) out.push({ name: `${this.cfg.kind}.m.${name}`, shape: [m.length], data: m });
    for (const [name, v] of this.second) if (v.length > 0) out.push({ name: `${this.cfg.kind}.v.${name}`, shape: [v.length], data: v });
    return out;
  }

  /** Restores `state()` output; `named` may hold other tensors too (they are ignored). */
  load(named: ReadonlyArray<{ name: string; data: Float32Array | Int32Array }>, steps: number): void {
    this.steps = steps;
    for (const { name, data } of named) {
      const prefix = `${this.cfg.kind}.`;
      if (!name.startsWith(prefix) || !(data instanceof Float32Array)) continue;
      const rest = name.slice(prefix.length);
      if (rest.startsWith('m.')) this.first.set(rest.slice(2), data);
      else if (rest.startsWith('v.')) this.second.set(rest.slice(2), data);
    }
  }
}
