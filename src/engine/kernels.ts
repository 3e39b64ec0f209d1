/**
 * The tfjs kernel and gradient fixes of architecture.md §5 (and the fused attention kernels),
 * installed once per process by `installEngineFixes()`.
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

/**
 * Input values as a typed array: a view into the wasm heap (no copy) or the cpu backend's array.
 * On wasm, take views only after every output of the kernel is allocated: growing the heap
 * detaches earlier views.
 */
function inputValues(backend: BackendLike, info: TensorInfo): TypedArray {
  if (isWasm(backend)) return backend.typedArrayFromHeap(info);
  return backend.readSync(info.dataId) as TypedArray;
}

function readValues(backend: BackendLike, info: TensorInfo): TypedArray {
  return backend.readSync(info.dataId) as TypedArray;
}

function sizeOf(shape: number[]): number {
  return shape.reduce((p, s) => p * s, 1);
}

function newTypedArray(dtype: DataType, size: number): TypedArray {
  return dtype === 'int32' ? new Int32Array(size) : dtype === 'bool' ? new Uint8Array(size) : new Float32Array(size);
}

/**
 * Allocates zero-filled outputs of `specs` on `backend`, then calls `fill` with their arrays
 * (written in place on the wasm heap); inputs must be read inside `fill` (see inputValues).
 */
function allocOutputs(
  backend: BackendLike,
  specs: Array<{ shape: number[]; dtype: DataType }>,
  fill: (outs: TypedArray[]) => void,
): TensorInfo[] {
  if (isWasm(backend)) {
    const infos = specs.map((s) => backend.makeOutput(s.shape, s.dtype));
    const views = infos.map((info) => backend.typedArrayFromHeap(info));
    for (const v of views) v.fill(0);
    fill(views);
    return infos;
  }
  const arrays = specs.map((s) => newTypedArray(s.dtype, sizeOf(s.shape)));
  fill(arrays);
  return specs.map((s, i) => (backend as CpuBackendLike).makeTensorInfo(s.shape, s.dtype, arrays[i]));
}

function allocOutput(backend: BackendLike, shape: number[], dtype: DataType, fill: (out: TypedArray) => void): TensorInfo {
  return allocOutputs(backend, [{ shape, dtype }], ([out]) => fill(out))[0];
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
  if (sizeOf(segmentIds.shape) !== rows) {
    throw new Error(`UnsortedSegmentSum: ${rows} rows but segmentIds has shape [${segmentIds.shape}]`);
  }
  const inner = sizeOf(x.shape.slice(1));
  return allocOutput(backend, [numSegments, ...x.shape.slice(1)], x.dtype, (out) => {
    const ids = inputValues(backend, segmentIds);
    const xs = inputValues(backend, x);
    for (let i = 0; i < rows; i++) {
      const seg = ids[i];
      if (seg < 0 || seg >= numSegments) continue;
      const src = i * inner;
      const dst = seg * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += xs[src + j];
    }
  });
};

function parseAxis(axis: unknown, rank: number): number {
  const a = Number(Array.isArray(axis) ? axis[0] : axis);
  return a < 0 ? a + rank : a;
}

/**
 * GatherV2 (batchDims 0) as row copies. wasm's own kernel computes every element's index and
 * takes ~28 ms for 6336 rows of 128 floats (the item-to-slot gather of every step); this is
 * ~1 ms. Other batchDims go to `fallback` (the stock kernel).
 */
export function gatherKernel(fallback: KernelFunc | null): KernelFunc {
  return (params) => {
    const { inputs, backend, attrs } = params;
    const { x, indices } = inputs;
    const batchDims = Number(attrs?.batchDims ?? 0);
    if (batchDims !== 0) {
      if (!fallback) throw new Error(`GatherV2: batchDims ${batchDims} is not supported`);
      return fallback(params);
    }
    const axis = parseAxis(attrs?.axis ?? 0, x.shape.length);
    const outer = sizeOf(x.shape.slice(0, axis));
    const axisSize = x.shape[axis];
    const inner = sizeOf(x.shape.slice(axis + 1));
    const count = sizeOf(indices.shape);
    const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    return allocOutput(backend, outShape, x.dtype, (out) => {
      const xs = inputValues(backend, x);
      const idx = inputValues(backend, indices);
      for (let i = 0; i < count; i++) {
        if (!(idx[i] >= 0 && idx[i] < axisSize)) {
          throw new Error(`GatherV2: index ${idx[i]} at position ${i} is not in [0, ${axisSize - 1}]`);
        }
      }
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < count; i++) {
          const src = (o * axisSize + idx[i]) * inner;
          const dst = (o * count + i) * inner;
          if (inner >= 16) out.set(xs.subarray(src, src + inner), dst);
          else for (let j = 0; j < inner; j++) out[dst + j] = xs[src + j];
        }
      }
    });
  };
}

/**
 * Tile as block copies: the output is built axis by axis from the innermost, each step copying
 * already-tiled contiguous blocks. wasm's own kernel takes ~18 ms to repeat a [1,1,128] seed
 * 2112 times (tf.broadcastTo runs on it too); this takes well under 1 ms.
 */
export const tileKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const reps = (attrs?.reps as number[]).map(Number);
  const rank = x.shape.length;
  if (reps.length !== rank) throw new Error(`Tile: reps [${reps}] must have one entry per axis of [${x.shape}]`);
  const outShape = x.shape.map((s, i) => s * reps[i]);
  return allocOutput(backend, outShape, x.dtype, (out) => {
    const xs = inputValues(backend, x);
    if (sizeOf(outShape) === 0) return;
    // Recursive: tile(axis, src, dst) writes the block for x's sub-tensor at `src` (axes >= axis)
    // to out at `dst`; an output block of axes > axis has size outInner[axis].
    const inInner: number[] = new Array(rank + 1).fill(1);
    const outInner: number[] = new Array(rank + 1).fill(1);
    for (let a = rank - 1; a >= 0; a--) {
      inInner[a] = inInner[a + 1] * x.shape[a];
      outInner[a] = outInner[a + 1] * outShape[a];
    }
    const tile = (axis: number, src: number, dst: number): void => {
      if (axis === rank) {
        out[dst] = xs[src];
        return;
      }
      const n = x.shape[axis];
      const block = outInner[axis + 1];
      if (axis === rank - 1) {
        for (let i = 0; i < n; i++) out[dst + i] = xs[src + i];
      } else {
        for (let i = 0; i < n; i++) tile(axis + 1, src + i * inInner[axis + 1], dst + i * block);
      }
      // repeat the first copy of this axis reps[axis]-1 times
      const span = n * block;
      for (let r = 1; r < reps[axis]; r++) out.copyWithin(dst + r * span, dst, dst + span);
    };
    if (rank === 0) out[0] = xs[0];
    else tile(0, 0, 0);
  });
};

/** Kernel names of the fused small-set attention (layers.ts multiHeadAttention). */
export const ATTENTION_KERNEL = 'OutfitrecSetAttention';
export const ATTENTION_GRAD_KERNEL = 'OutfitrecSetAttentionGrad';

/**
 * Multi-head attention over tiny sets in one pass: q [n,Sq,d], k and v [n,Sk,d] (projected), an
 * optional additive key bias with n·Sk entries (0 or −1e9 for padded keys, method.md §2.3); attrs
 * heads, scale. Outputs the attended values [n,Sq,d] (heads concatenated) and the softmax weights
 * [n,heads,Sq,Sk] for the backward pass. With 3–4 items per outfit every per-head product is a
 * 3×32·32×3 toy: as tensor ops this is dozens of kernels over [n,Sq,Sk,h,dh] broadcasts (~150 ms
 * per training step at the benchmark shape); as one loop it is a few ms.
 */
export const attentionKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, keyBias } = inputs;
  const heads = Number(attrs?.heads);
  const scale = Number(attrs?.scale);
  const [n, sq, d] = q.shape;
  const sk = k.shape[1];
  const dh = d / heads;
  return allocOutputs(
    backend,
    [
      { shape: [n, sq, d], dtype: 'float32' },
      { shape: [n, heads, sq, sk], dtype: 'float32' },
    ],
    ([out, w]) => {
      const qs = inputValues(backend, q);
      const ks = inputValues(backend, k);
      const vs = inputValues(backend, v);
      const bias = keyBias ? inputValues(backend, keyBias) : null;
      const logits = new Float64Array(sk);
      for (let b = 0; b < n; b++) {
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < sq; i++) {
            const qOff = (b * sq + i) * d + h * dh;
            let max = -Infinity;
            for (let j = 0; j < sk; j++) {
              const kOff = (b * sk + j) * d + h * dh;
              let dot = 0;
              for (let t = 0; t < dh; t++) dot += qs[qOff + t] * ks[kOff + t];
              const l = dot * scale + (bias ? bias[b * sk + j] : 0);
              logits[j] = l;
              if (l > max) max = l;
            }
            let sum = 0;
            for (let j = 0; j < sk; j++) {
              logits[j] = Math.exp(logits[j] - max);
              sum += logits[j];
            }
            const wOff = ((b * heads + h) * sq + i) * sk;
            for (let j = 0; j < sk; j++) {
              const wj = logits[j] / sum;
              w[wOff + j] = wj;
              if (wj === 0) continue;
              const vOff = (b * sk + j) * d + h * dh;
              for (let t = 0; t < dh; t++) out[qOff + t] += wj * vs[vOff + t];
            }
          }
        }
      }
    },
  );
};

/**
 * Gradient of attentionKernel: inputs dy [n,Sq,d], q, k, v and the saved weights; outputs dq, dk, dv.
 * Per head and query: dv_j += w_j dy; dlogit_j = w_j (dy·v_j − Σ_j' w_j' dy·v_j'); dq += scale
 * Σ_j dlogit_j k_j; dk_j += scale dlogit_j q. The key bias is a constant (no gradient).
 */
export const attentionGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, q, k, v, weights } = inputs;
  const heads = Number(attrs?.heads);
  const scale = Number(attrs?.scale);
  const [n, sq, d] = q.shape;
  const sk = k.shape[1];
  const dh = d / heads;
  return allocOutputs(
    backend,
    [
      { shape: [n, sq, d], dtype: 'float32' },
      { shape: [n, sk, d], dtype: 'float32' },
      { shape: [n, sk, d], dtype: 'float32' },
    ],
    ([dq, dk, dv]) => {
      const g = inputValues(backend, dy);
      const qs = inputValues(backend, q);
      const ks = inputValues(backend, k);
      const vs = inputValues(backend, v);
      const w = inputValues(backend, weights);
      const dw = new Float64Array(sk);
      for (let b = 0; b < n; b++) {
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < sq; i++) {
            const qOff = (b * sq + i) * d + h * dh;
            const wOff = ((b * heads + h) * sq + i) * sk;
            let weighted = 0;
            for (let j = 0; j < sk; j++) {
              const wj = w[wOff + j];
              const vOff = (b * sk + j) * d + h * dh;
              let dot = 0;
              for (let t = 0; t < dh; t++) {
                dot += g[qOff + t] * vs[vOff + t];
                dv[vOff + t] += wj * g[qOff + t];
              }
              dw[j] = dot;
              weighted += wj * dot;
            }
            for (let j = 0; j < sk; j++) {
              const dl = w[wOff + j] * (dw[j] - weighted) * scale;
              if (dl === 0) continue;
              const kOff = (b * sk + j) * d + h * dh;
              for (let t = 0; t < dh; t++) {
                dq[qOff + t] += dl * ks[kOff + t];
                dk[kOff + t] += dl * qs[qOff + t];
              }
            }
          }
        }
      }
    },
  );
};

function stridesOf(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  return strides;
}

/**
 * Copies a block of `shape` elements from src (element strides `ss`, start `so`) to dst (strides
 * `ds`, start `do_`): the one loop behind the data-movement kernels below. wasm's own Slice, Pad,
 * Transpose and DepthToSpace compute every element's index (or copy runs with one typed-array
 * object per run); on the conv backward pass of a 512-image batch they took 0.1–2.7 s each.
 */
function stridedCopy(
  src: TypedArray,
  so: number,
  ss: number[],
  dst: TypedArray,
  do_: number,
  ds: number[],
  shape: number[],
): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[do_] = src[so];
    return;
  }
  const last = rank - 1;
  // When src is read along another axis than dst is written (a transpose), copy that pair of axes
  // in 32×32 tiles: both sides then touch whole cache lines instead of one float per line.
  let across = -1;
  if (ss[last] !== 1) {
    for (let a = 0; a < last; a++) if (ss[a] === 1 && shape[a] > 1) across = a;
  }
  const n = shape[last];
  const sl = ss[last];
  const dl = ds[last];
  const TILE = 32;
  const leaf = (s: number, d: number): void => {
    if (across < 0) {
      if (sl === 1 && dl === 1) for (let t = 0; t < n; t++) dst[d + t] = src[s + t];
      else for (let t = 0; t < n; t++) dst[d + t * dl] = src[s + t * sl];
      return;
    }
    const m = shape[across];
    const da = ds[across];
    for (let i0 = 0; i0 < m; i0 += TILE) {
      const i1 = Math.min(m, i0 + TILE);
      for (let t0 = 0; t0 < n; t0 += TILE) {
        const t1 = Math.min(n, t0 + TILE);
        for (let t = t0; t < t1; t++) {
          const sRow = s + t * sl;
          const dRow = d + t * dl;
          for (let i = i0; i < i1; i++) dst[dRow + i * da] = src[sRow + i];
        }
      }
    }
  };
  const walk = (axis: number, s: number, d: number): void => {
    if (axis === last) {
      leaf(s, d);
      return;
    }
    if (axis === across) {
      walk(axis + 1, s, d);
      return;
    }
    for (let i = 0; i < shape[axis]; i++) walk(axis + 1, s + i * ss[axis], d + i * ds[axis]);
  };
  walk(0, so, do_);
}

export const sliceKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const rank = x.shape.length;
  const beginAttr = attrs?.begin as number[] | number;
  const sizeAttr = attrs?.size as number[] | number;
  const begin = Array.isArray(beginAttr) ? beginAttr.slice() : [beginAttr];
  const size = Array.isArray(sizeAttr) ? sizeAttr.slice() : [sizeAttr];
  for (let i = 0; i < rank; i++) {
    begin[i] = begin[i] ?? 0;
    if (size[i] === undefined || size[i] === -1) size[i] = x.shape[i] - begin[i];
    if (begin[i] < 0 || begin[i] + size[i] > x.shape[i]) {
      throw new Error(`Slice: begin [${begin}] size [${size}] outside [${x.shape}]`);
    }
  }
  return allocOutput(backend, size, x.dtype, (out) => {
    const xs = inputValues(backend, x);
    const strides = stridesOf(x.shape);
    const offset = begin.reduce((p, b, i) => p + b * strides[i], 0);
    stridedCopy(xs, offset, strides, out, 0, stridesOf(size), size);
  });
};

export const padKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const paddings = attrs?.paddings as Array<[number, number]>;
  const constantValue = Number(attrs?.constantValue ?? 0);
  const outShape = x.shape.map((s, i) => paddings[i][0] + s + paddings[i][1]);
  return allocOutput(backend, outShape, x.dtype, (out) => {
    if (constantValue !== 0) out.fill(constantValue);
    const xs = inputValues(backend, x);
    const outStrides = stridesOf(outShape);
    const offset = paddings.reduce((p, [before], i) => p + before * outStrides[i], 0);
    if (sizeOf(x.shape) > 0) stridedCopy(xs, 0, stridesOf(x.shape), out, offset, outStrides, x.shape);
  });
};

export const transposeKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const perm = (attrs?.perm as number[]).map(Number);
  const outShape = perm.map((p) => x.shape[p]);
  // tf.gather's gradient transposes by the identity permutation around every anchor look-up
  // ([630,64,128] twice per step): share the data instead of copying it
  if (perm.every((p, i) => p === i)) return identityKernel({ inputs, backend, attrs });
  return allocOutput(backend, outShape, x.dtype, (out) => {
    const xs = inputValues(backend, x);
    const inStrides = stridesOf(x.shape);
    stridedCopy(xs, 0, perm.map((p) => inStrides[p]), out, 0, stridesOf(outShape), outShape);
  });
};

/** DepthToSpace, NHWC: out[n, h·s+i, w·s+j, c] = x[n, h, w, (i·s+j)·C + c]. */
export const depthToSpaceKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const s = Number(attrs?.blockSize);
  const [n, h, w, depth] = x.shape;
  const c = depth / (s * s);
  const outShape = [n, h * s, w * s, c];
  return allocOutput(backend, outShape, x.dtype, (out) => {
    const xs = inputValues(backend, x);
    const wo = w * s;
    // walk x as [n, h, w, i, j, c]; place each (i, j) block at row h·s+i, column w·s+j
    stridedCopy(xs, 0, stridesOf([n, h, w, s, s, c]), out, 0, [h * s * wo * c, s * wo * c, s * c, wo * c, c, 1], [n, h, w, s, s, c]);
  });
};

/**
 * Replaces wasm kernel `name` by `fast`, keeping the stock kernel (and its setup, which binds its
 * wasm function) for the cases `useStock` picks.
 */
function replaceWasmKernel(name: string, fast: KernelFunc, useStock: (params: KernelParams) => boolean): void {
  const stock = tf.getKernel(name, 'wasm');
  if (stock) tf.unregisterKernel(name, 'wasm');
  const stockFunc = stock ? (stock.kernelFunc as unknown as KernelFunc) : null;
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ((params: KernelParams) => (stockFunc && useStock(params) ? stockFunc(params) : fast(params))) as unknown as tf.KernelFunc,
    setupFunc: stock?.setupFunc,
  });
}

/**
 * Identity that shares the input's data (reference count) instead of copying it, as the cpu
 * backend does. tfjs clones every tensor a gradient saves (engine `save`), ~260 full copies per
 * training step at the benchmark shape; tensor data is never written in place, so sharing is safe.
 */
export const identityKernel: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs;
  if (x.dtype === 'string' || !isWasm(backend)) throw new Error('Identity: shared-data kernel is for numeric wasm tensors');
  (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
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
 * BatchMatMul gradient (architecture.md §5). wasm runs XNNPACK only for untransposed rank-2 operands;
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
 * kernel routes the gradient wrongly when a whole window is negative (architecture.md §5).
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
  const stockGather = tf.getKernel('GatherV2', 'wasm');
  if (stockGather) tf.unregisterKernel('GatherV2', 'wasm');
  tf.registerKernel({
    kernelName: 'GatherV2',
    backendName: 'wasm',
    kernelFunc: gatherKernel(stockGather ? (stockGather.kernelFunc as unknown as KernelFunc) : null) as unknown as tf.KernelFunc,
    // the stock kernel binds its wasm function when the backend initialises
    setupFunc: stockGather?.setupFunc,
  });
  if (tf.getKernel('Tile', 'wasm')) tf.unregisterKernel('Tile', 'wasm');
  tf.registerKernel({ kernelName: 'Tile', backendName: 'wasm', kernelFunc: tileKernel as unknown as tf.KernelFunc });
  for (const backendName of ['cpu', 'wasm']) {
    tf.registerKernel({ kernelName: ATTENTION_KERNEL, backendName, kernelFunc: attentionKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: ATTENTION_GRAD_KERNEL, backendName, kernelFunc: attentionGradKernel as unknown as tf.KernelFunc });
  }
  const stockIdentity = tf.getKernel('Identity', 'wasm');
  if (stockIdentity) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ((params: KernelParams) =>
      params.inputs.x.dtype === 'string' && stockIdentity
        ? (stockIdentity.kernelFunc as unknown as KernelFunc)(params)
        : identityKernel(params)) as unknown as tf.KernelFunc,
  });
  const isString = (p: KernelParams) => Object.values(p.inputs).some((t) => t?.dtype === 'string');
  replaceWasmKernel('Slice', sliceKernel, isString);
  replaceWasmKernel('PadV2', padKernel, isString);
  // rank-2 transposes are fast in wasm already (0.5 ms for [6336,128])
  replaceWasmKernel('Transpose', transposeKernel, (p) => isString(p) || p.inputs.x.shape.length <= 2);
  replaceWasmKernel('DepthToSpace', depthToSpaceKernel, (p) => isString(p) || (p.attrs?.dataFormat ?? 'NHWC') !== 'NHWC');
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
