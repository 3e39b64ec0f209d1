/**
 * Central finite differences against the engine's reverse-mode gradients. A check builds a graph
 * with float inputs and a scalar loss, asks `gradients` for d loss / d input, runs both in ONNX
 * Runtime, then perturbs every input element (or a sample of them) by ±h and compares.
 *
 * Float64 graphs (h = 1e-6, tolerance 1e-6 relative) wherever the CPU provider has float64
 * kernels; convolutions have float32 kernels only, so their checks run in float32 with h = 1e-2
 * on losses that are linear in each perturbed tensor, where central differences are exact up to
 * rounding (tolerance 2e-3 relative).
 */
import assert from 'node:assert/strict';
import { gradients } from '../../src/engine/autodiff.js';
import { Graph, sizeOf, type FloatType, type Value } from '../../src/engine/graph.js';
import { CompiledGraph, type Feed } from '../../src/engine/runtime.js';
import { Rng } from '../../src/rng.js';

export interface CheckSpec {
  float?: FloatType;
  /** Builds the loss from the float inputs (created by the harness, in the order of `shapes`). */
  build: (g: Graph, xs: Value[]) => Value;
  shapes: number[][];
  /** Extra non-differentiated inputs (int64 indices, masks) by name. */
  extra?: (g: Graph) => { values: Value[]; feeds: Record<string, Feed> };
  seed?: number;
  h?: number;
  tol?: number;
  /** At most this many elements per input are perturbed (spread evenly). */
  maxProbes?: number;
  /** Replaces the default N(0,1) values of input i. */
  init?: (i: number, n: number, rng: Rng) => number[];
}

function floatArray(float: FloatType, values: number[]): Float32Array | Float64Array {
  return float === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}

export async function checkGradients(label: string, spec: CheckSpec): Promise<void> {
  const float = spec.float ?? 'float64';
  const g = new Graph(float);
  const xs = spec.shapes.map((s, i) => g.input(`x${i}`, s));
  const extra = spec.extra?.(g);
  const loss = spec.build(g, [...xs, ...(extra?.values ?? [])]);
  const grads = gradients(g, loss, xs);
  g.output(loss);
  for (const d of grads) g.output(d);
  const compiled = await CompiledGraph.create(g);
  const rng = new Rng(spec.seed ?? 7);
  const values = spec.shapes.map((s, i) => {
    const n = sizeOf(s);
    return spec.init ? spec.init(i, n, rng) : Array.from({ length: n }, () => rng.normal());
  });
  const run = async (vals: number[][]): Promise<Array<Float32Array | Float64Array>> => {
    const feeds: Record<string, Feed> = { ...(extra?.feeds ?? {}) };
    vals.forEach((v, i) => (feeds[`x${i}`] = { data: floatArray(float, v), dims: spec.shapes[i] }));
    return (await compiled.run(feeds)) as Array<Float32Array | Float64Array>;
  };
  const base = await run(values);
  const h = spec.h ?? (float === 'float64' ? 1e-6 : 1e-2);
  const tol = spec.tol ?? (float === 'float64' ? 1e-6 : 2e-3);
  for (let i = 0; i < xs.length; i++) {
    const analytic = base[1 + i];
    assert.equal(analytic.length, values[i].length, `${label}: gradient ${i} has ${analytic.length} values for ${values[i].length}`);
    let scale = 1e-3;
    for (const v of analytic) scale = Math.max(scale, Math.abs(v));
    const n = values[i].length;
    const probes = Math.min(n, spec.maxProbes ?? 24);
    for (let p = 0; p < probes; p++) {
      const k = Math.floor((p * n) / probes);
      const plus = values.map((v) => [...v]);
      const minus = values.map((v) => [...v]);
      plus[i][k] += h;
      minus[i][k] -= h;
      const numeric = ((await run(plus))[0][0] - (await run(minus))[0][0]) / (2 * h);
      const err = Math.abs(numeric - analytic[k]) / scale;
      assert.ok(err <= tol, `${label}: d loss / d x${i}[${k}] analytic ${analytic[k]} vs numeric ${numeric} (rel. err ${err.toExponential(2)})`);
    }
  }
  await compiled.release();
}

/** Σ x · R with a fixed random R: a loss whose gradient with respect to x is R (exposes every element). */
export function weightedSum(g: Graph, x: Value, seed = 11): Value {
  const rng = new Rng(seed);
  const shape = x.shape as number[];
  const r = g.constant(Array.from({ length: sizeOf(shape) }, () => rng.normal()), shape, g.float);
  return g.reduceSum(g.mul(x, r), [...shape.keys()]);
}
