/**
 * The engine fixes of DESIGN.md "Engine" (2, 3, 6 and the missing-kernel fallback), installed
 * once per process by `installEngineFixes()`. Measurements behind each: notes/engine-research.md §2, §4.
 *
 * These touch tfjs 4.22.0 internals (backend.readSync / makeOutput / typedArrayFromHeap,
 * registerKernel, registerGradient), which is why every @tensorflow package is pinned.
 */
import { tf, type Tensor } from './tf.js';

type DataType = 'float32' | 'int32' | 'bool' | 'complex64' | 'string';
type TypedArray = Float32Array | Int32Array | Uint8Array;
interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: DataType;
}
/** What the fixes use of a backend: common to tfjs-backend-cpu and tfjs-backend-wasm. */
interface BackendLike {
  readSync(dataId: object): unknown;
  disposeData(dataId: object, force?: boolean): boolean;
}
interface WasmBackendLike extends BackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
}
interface CpuBackendLike extends BackendLike {
  makeTensorInfo(shape: number[], dtype: DataType, values?: TypedArray): TensorInfo;
}
type KernelParams = { inputs: Record<string, TensorInfo>; backend: BackendLike; attrs?: Record<string, unknown> };
type KernelFunc = (params: KernelParams) => TensorInfo | TensorInfo[];

function isWasm(backend: BackendLike): backend is WasmBackendLike {
  return typeof (backend as Partial<WasmBackendLike>).typedArrayFromHeap === 'function';
}

/** A new output tensor on `backend`, filled by `fill` (written in place on the wasm heap). */
function allocOutput(
  backend: BackendLike,
  shape: number[],
  dtype: DataType,
  fill: (out: TypedArray) => void,
): TensorInfo {
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, dtype);
    // The view is taken after makeOutput: growing the heap detaches earlier views.
    const view = backend.typedArrayFromHeap(info);
    view.fill(0);
    fill(view);
    return info;
  }
  const size = shape.reduce((p, s) => p * s, 1);
  const values = dtype === 'int32' ? new Int32Array(size) : dtype === 'bool' ? new Uint8Array(size) : new Float32Array(size);
  fill(values);
  return (backend as CpuBackendLike).makeTensorInfo(shape, dtype, values);
}

function readValues(backend: BackendLike, info: TensorInfo): TypedArray {
  return backend.readSync(info.dataId) as TypedArray;
}

/**
 * O(n) UnsortedSegmentSum: out[ids[i], :] += x[i, :]. It is the gradient of tf.gather (anchor
 * look-ups). Missing on wasm; O(numSegments × n) on cpu (1.8 s per step for 630 users).
 * Ids outside [0, numSegments) are dropped, as TensorFlow does.
 */
export const unsortedSegmentSumKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs;
  const numSegments = Number(attrs?.numSegments);
  const rows = x.shape[0];
  if (segmentIds.shape.reduce((p, s) => p * s, 1) !== rows) {
    throw new Error(`UnsortedSegmentSum: ${rows} rows but segmentIds has shape [${segmentIds.shape}]`);
  }
  const inner = x.shape.slice(1).reduce((p, s) => p * s, 1);
  const ids = readValues(backend, segmentIds);
  const xs = readValues(backend, x);
  return allocOutput(backend, [numSegments, ...x.shape.slice(1)], x.dtype, (out) => {
    for (let i = 0; i < rows; i++) {
      const seg = ids[i];
      if (seg < 0 || seg >= numSegments) continue;
      const src = i * inner;
      const dst = seg * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += xs[src + j];
    }
  });
};

/**
 * Runs the tfjs-cpu kernel `kernelName` for a wasm caller: copy inputs to the cpu backend, run,
 * copy outputs back. Correct but only as fast as tfjs-cpu: for rare small ops, never conv.
 */
export function cpuFallbackKernel(kernelName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = tf.findBackend('cpu') as unknown as CpuBackendLike | null;
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    if (!cpu || !cpuKernel) throw new Error(`cpu fallback for ${kernelName}: no cpu kernel`);
    const moved: Record<string, TensorInfo> = {};
    const toDispose: TensorInfo[] = [];
    try {
      for (const [name, info] of Object.entries(inputs)) {
        if (!info) continue;
        const copy = cpu.makeTensorInfo(info.shape.slice(), info.dtype, readValues(backend, info).slice());
        moved[name] = copy;
        toDispose.push(copy);
      }
      const result = (cpuKernel.kernelFunc as unknown as KernelFunc)({ inputs: moved, backend: cpu, attrs });
      const outs = Array.isArray(result) ? result : [result];
      toDispose.push(...outs);
      const back = outs.map((o) => {
        const values = readValues(cpu, o);
        return allocOutput(backend, o.shape.slice(), o.dtype, (out) => out.set(values));
      });
      return Array.isArray(result) ? back : back[0];
    } finally {
      for (const info of toDispose) cpu.disposeData(info.dataId, true);
    }
  };
}

/** Sums `g` over the axes it was broadcast along so that it has `shape` (batched matMul). */
function reduceToShape(g: Tensor, shape: number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((s, i) => s === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

/** Swaps the last two axes. */
function swapLast2(x: Tensor): Tensor {
  const perm = [...Array(x.rank).keys()];
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}

/**
 * BatchMatMul gradient (Engine fix 3). wasm runs XNNPACK only for untransposed rank-2 operands;
 * the stock gradient uses transposeA/transposeB and falls to a scalar loop (12–27× slower), so
 * the transposes are materialised here. Batched operands keep the stock formulas (the wasm batched
 * matMul is the naive loop either way) plus a sum over broadcast batch axes.
 */
function batchMatMulGrad(dy: Tensor, saved: Tensor[], attrs: Record<string, unknown>): Record<string, () => Tensor> {
  const [a, b] = saved;
  const tA = Boolean(attrs.transposeA);
  const tB = Boolean(attrs.transposeB);
  const T = swapLast2;
  const mm = (x: Tensor, y: Tensor) => tf.matMul(x, y);
  let da: () => Tensor;
  let db: () => Tensor;
  if (!tA && !tB) {
    da = () => mm(dy, T(b));
    db = () => mm(T(a), dy);
  } else if (!tA && tB) {
    da = () => mm(dy, b);
    db = () => mm(T(dy), a);
  } else if (tA && !tB) {
    da = () => mm(b, T(dy));
    db = () => mm(a, dy);
  } else {
    da = () => T(mm(dy, b));
    db = () => T(mm(a, dy));
  }
  return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) };
}

/**
 * Kernels missing on wasm that a model could reach, routed to tfjs-cpu (rare, small ops). The
 * project's conv layers never reach Conv2DBackpropFilter (layers.ts computes it as a forward
 * conv); the fallback keeps plain tf.conv2d trainable. MaxPoolGrad is replaced because the wasm
 * kernel routes the gradient wrongly when a whole window is negative (engine-research §2).
 */
const CPU_FALLBACK_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'Einsum',
  'MaxPoolGrad',
];

let installed = false;

/** Installs the engine fixes for both backends. Idempotent. */
export function installEngineFixes(): void {
  if (installed) return;
  installed = true;
  for (const backendName of ['cpu', 'wasm']) {
    if (tf.getKernel('UnsortedSegmentSum', backendName)) tf.unregisterKernel('UnsortedSegmentSum', backendName);
    tf.registerKernel({
      kernelName: 'UnsortedSegmentSum',
      backendName,
      kernelFunc: unsortedSegmentSumKernel as unknown as tf.KernelFunc,
    });
  }
  for (const kernelName of CPU_FALLBACK_KERNELS) {
    if (!tf.getKernel(kernelName, 'cpu')) continue;
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: cpuFallbackKernel(kernelName) as unknown as tf.KernelFunc,
    });
  }
  // registerGradient replaces the stock entry (tfjs warns about the overwrite unless PROD).
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: batchMatMulGrad as unknown as tf.GradConfig['gradFunc'],
  });
}
