/**
 * ONNX Runtime sessions for compiled graphs (docs/architecture.md "Engine").
 *
 * A `CompiledGraph` is one ONNX Runtime session over one graph: created once, run many times. Feeds
 * are typed arrays wrapped without copies; outputs come back as typed arrays. The thread count is
 * process-wide (`setEngineThreads`, default 1: on these 2-core machines one intra-op thread per
 * session gave the best step time, and the other core stays free for data work or a second job).
 */
import ort from 'onnxruntime-node';
import { toOnnx } from './onnx.js';
import { isStatic, sizeOf, type DType, type Graph } from './graph.js';

export type TypedArray = Float32Array | Float64Array | BigInt64Array | Uint8Array;

export interface Feed {
  readonly data: TypedArray;
  readonly dims: readonly number[];
}

let intraOpThreads = 1;

/** Intra-op threads of every session created after this call. */
export function setEngineThreads(threads: number): void {
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`threads must be a positive integer, got ${threads}`);
  intraOpThreads = threads;
}

/** The one session set-up of the engine (CPU provider, the process-wide thread count): graphs and loaded models alike. */
function sessionOptions(): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // OUTFITREC_ORT_PROFILE=prefix writes ONNX Runtime's per-node timings (bench/README.md)
    ...(process.env.OUTFITREC_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.OUTFITREC_ORT_PROFILE } : {}),
  };
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { float32: 'float32', float64: 'float64', int64: 'int64', bool: 'bool' };

export class CompiledGraph {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputs: ReadonlyArray<{ name: string; dtype: DType }>,
    readonly outputNames: readonly string[],
    /** The serialised model (for export and debugging). */
    readonly bytes: Uint8Array,
    /** Pre-allocated tensors for the outputs of static shape (`reuseOutputs`), filled by every run. */
    private readonly fetches: Record<string, ort.Tensor> | null,
  ) {}

  /**
   * Compiles `g`. With `reuseOutputs`, every output of static shape is written into one buffer
   * allocated here and reused by every run (a training step's weight gradients: tens of MB per
   * step otherwise); the arrays `run` returns for those outputs are then overwritten by the next
   * run, so a caller must be done with them (or copy them) before running again.
   */
  static async create(g: Graph, opts: { name?: string; reuseOutputs?: boolean } = {}): Promise<CompiledGraph> {
    const bytes = toOnnx(g, { name: opts.name });
    const session = await ort.InferenceSession.create(bytes, sessionOptions());
    const inputs = g.inputs.map((i) => ({ name: i.value.name, dtype: i.value.dtype }));
    let fetches: Record<string, ort.Tensor> | null = null;
    if (opts.reuseOutputs) {
      fetches = {};
      for (const o of g.outputs) {
        if (!isStatic(o.shape) || (o.dtype !== 'float32' && o.dtype !== 'float64')) continue;
        const size = sizeOf(o.shape);
        fetches[o.name] = new ort.Tensor(o.dtype, o.dtype === 'float32' ? new Float32Array(size) : new Float64Array(size), [...o.shape]);
      }
    }
    return new CompiledGraph(session, inputs, g.outputs.map((o) => o.name), bytes, fetches);
  }

  /** Runs the graph; `feeds` must name every input. Outputs in the graph's output order. */
  async run(feeds: Record<string, Feed>): Promise<TypedArray[]> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const { name, dtype } of this.inputs) {
      const f = feeds[name];
      if (!f) throw new Error(`run: no feed for input '${name}'`);
      const data = dtype === 'bool' ? new Uint8Array(f.data as Uint8Array) : f.data;
      ortFeeds[name] = new ort.Tensor(ORT_TYPE[dtype], data as never, f.dims as number[]);
    }
    const result = this.fetches
      ? await this.session.run(ortFeeds, Object.fromEntries(this.outputNames.map((n) => [n, this.fetches?.[n] ?? null])))
      : await this.session.run(ortFeeds);
    return this.outputNames.map((n) => result[n].data as TypedArray);
  }

  async release(): Promise<void> {
    if (process.env.OUTFITREC_ORT_PROFILE) this.session.endProfiling();
    await this.session.release();
  }
}

/** An input or output of a loaded model as the model declares it; `shape` entries are sizes or symbolic names. */
export interface ModelValueInfo {
  readonly name: string;
  /** ONNX Runtime's element type ('float32', 'float16', 'int64', …); undefined for a non-tensor value. */
  readonly type: string | undefined;
  /** Undefined when the model declares no shape. */
  readonly shape: ReadonlyArray<number | string> | undefined;
}

/**
 * A model made elsewhere (a user's ONNX file), run on the same session set-up as the engine's own
 * graphs: the declared inputs and outputs for checking, and float32 runs of one input → one output.
 * Loading throws a plain Error carrying ONNX Runtime's message; callers name the file.
 */
export class LoadedModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputs: readonly ModelValueInfo[],
    readonly outputs: readonly ModelValueInfo[],
  ) {}

  /** From a file path (weights in external data files beside it are found) or the model's bytes. */
  static async load(model: string | Uint8Array): Promise<LoadedModel> {
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions()) : await ort.InferenceSession.create(model, sessionOptions());
    const info = (m: ort.InferenceSession.ValueMetadata): ModelValueInfo =>
      m.isTensor ? { name: m.name, type: m.type, shape: m.shape.length > 0 ? [...m.shape] : undefined } : { name: m.name, type: undefined, shape: undefined };
    return new LoadedModel(session, session.inputMetadata.map(info), session.outputMetadata.map(info));
  }

  /** Feeds `input` with `feed` (float32) and returns `output` with its dimensions. */
  async run(input: string, feed: { data: Float32Array; dims: readonly number[] }, output: string): Promise<{ data: Float32Array; dims: number[] }> {
    const result = await this.session.run({ [input]: new ort.Tensor('float32', feed.data, [...feed.dims]) }, [output]);
    const t = result[output];
    if (t.type !== 'float32') throw new Error(`output '${output}' is ${t.type}, expected float32`);
    return { data: t.data as Float32Array, dims: [...t.dims] };
  }

  async release(): Promise<void> {
    if (process.env.OUTFITREC_ORT_PROFILE) this.session.endProfiling();
    await this.session.release();
  }
}

/** The onnxruntime-node version in use (reports name it next to their timings). */
export function ortVersion(): string {
  return ort.env.versions.node ?? 'unknown';
}
