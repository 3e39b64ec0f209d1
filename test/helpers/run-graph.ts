/**
 * Build a small graph from a function, run it once in ONNX Runtime, return its outputs as typed
 * arrays (in the order `build` returned them). For unit tests of graph builders: no session is kept.
 *
 *   const [y] = await runGraph((g) => [g.relu(g.constant([-1, 2], [2]))]);
 *
 * Weight inputs (`g.param`, e.g. through `weightInputs(g, model.params)`) are fed from `params`
 * unless `feeds` names them.
 */
import { Graph, type FloatType, type Value } from '../../src/engine/graph.js';
import { CompiledGraph, type Feed } from '../../src/engine/runtime.js';
import type { ParamTable } from '../../src/model/params.js';

export interface RunGraphOptions {
  /** Feeds of the graph's data inputs (and of any weight to override). */
  feeds?: Record<string, Feed>;
  /** Feeds every weight input not in `feeds` from this table. */
  params?: ParamTable;
}

async function run(float: FloatType, build: (g: Graph) => readonly Value[], opts: RunGraphOptions): Promise<unknown[]> {
  const g = new Graph(float);
  for (const v of build(g)) g.output(v);
  const feeds: Record<string, Feed> = { ...(opts.feeds ?? {}) };
  for (const input of g.inputs) {
    const name = input.value.name;
    if (feeds[name] || !input.param) continue;
    if (!opts.params) throw new Error(`runGraph: weight input '${name}' has no feed and no params table was given`);
    const p = opts.params.get(name);
    feeds[name] = { data: p.data, dims: p.shape };
  }
  const compiled = await CompiledGraph.create(g);
  try {
    return await compiled.run(feeds);
  } finally {
    await compiled.release();
  }
}

/** Runs a float32 graph; float outputs come back as Float32Arrays. */
export async function runGraph(build: (g: Graph) => readonly Value[], opts: RunGraphOptions = {}): Promise<Float32Array[]> {
  return (await run('float32', build, opts)) as Float32Array[];
}

/** Runs a float64 graph (ops with float64 kernels only: no Conv, LayerNorm is decomposed). */
export async function runGraph64(build: (g: Graph) => readonly Value[], opts: RunGraphOptions = {}): Promise<Float64Array[]> {
  return (await run('float64', build, opts)) as Float64Array[];
}

/** A float32 feed from numbers. */
export function f32(values: ArrayLike<number>, dims: readonly number[]): Feed {
  return { data: Float32Array.from(values), dims };
}

/** A float64 feed from numbers. */
export function f64(values: ArrayLike<number>, dims: readonly number[]): Feed {
  return { data: Float64Array.from(values), dims };
}

/** Largest |a[i] − b[i]| (lengths must agree). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
