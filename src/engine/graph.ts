/**
 * A typed graph builder over ONNX operators (docs/architecture.md "Engine").
 *
 * A `Graph` is a list of ONNX nodes in creation order (which is already a topological order), plus
 * its inputs, constant initialisers and outputs. Every value carries a dtype and a shape whose dims
 * are numbers or symbols (a string such as 'items' for a size known only when the graph runs).
 * The builder methods check shapes as they go, so a model written against it fails at build time,
 * naming the op, rather than inside ONNX Runtime.
 *
 * Float tensors use the graph's `float` type: float32 for models, float64 for gradient checks.
 * Autodiff (autodiff.ts) adds the backward pass as more nodes of the same graph.
 */

export type Dim = number | string;
export type Shape = readonly Dim[];
export type DType = 'float32' | 'float64' | 'int64' | 'bool';
export type FloatType = 'float32' | 'float64';

export interface Value {
  readonly id: number;
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: ConstTensor };

export interface ConstTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Uint8Array;
}

export interface GraphNode {
  readonly op: string;
  readonly inputs: ReadonlyArray<Value | null>;
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** Extra facts a backward rule needs that the ONNX attributes do not say (e.g. a slice's axis). */
  readonly meta?: Readonly<Record<string, unknown>>;
}

export interface GraphInput {
  readonly value: Value;
  /** A trainable weight (fed from the parameter table) rather than data. */
  readonly param: boolean;
}

export interface Initializer {
  readonly value: Value;
  readonly tensor: ConstTensor;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Numpy broadcasting of two shapes; symbols broadcast only against themselves or 1. */
export function broadcastShapes(a: Shape, b: Shape, op: string): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
  }
  return out;
}

function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) throw new Error(`${op}: axis ${axis} outside a rank-${rank} tensor`);
  return a;
}

export class Graph {
  readonly nodes: GraphNode[] = [];
  readonly inputs: GraphInput[] = [];
  readonly initializers: Initializer[] = [];
  readonly outputs: Value[] = [];
  private nextId = 0;
  private readonly names = new Set<string>();
  private readonly scalarCache = new Map<string, Value>();

  constructor(readonly float: FloatType = 'float32') {}

  private newValue(dtype: DType, shape: Shape, name?: string): Value {
    const id = this.nextId++;
    const n = name ?? `v${id}`;
    if (this.names.has(n)) throw new Error(`graph: duplicate value name '${n}'`);
    this.names.add(n);
    return { id, name: n, dtype, shape: [...shape] };
  }

  private node(op: string, inputs: Array<Value | null>, outShapes: Array<{ dtype: DType; shape: Shape }>, attrs: Record<string, AttrValue> = {}, meta?: Record<string, unknown>): Value[] {
    const outputs = outShapes.map((o) => this.newValue(o.dtype, o.shape));
    this.nodes.push({ op, inputs, outputs, attrs, meta });
    return outputs;
  }

  private unary(op: string, x: Value, attrs: Record<string, AttrValue> = {}): Value {
    return this.node(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0];
  }

  // ---- sources ------------------------------------------------------------------------------

  /** A graph input fed at run time; `param` marks trainable weights. */
  input(name: string, shape: Shape, dtype: DType = this.float, opts: { param?: boolean } = {}): Value {
    const value = this.newValue(dtype, shape, name);
    this.inputs.push({ value, param: opts.param === true });
    return value;
  }

  param(name: string, shape: readonly number[]): Value {
    return this.input(name, shape, this.float, { param: true });
  }

  constant(data: ConstTensor['data'] | number[], dims: readonly number[], dtype: DType = this.float): Value {
    let typed: ConstTensor['data'];
    if (Array.isArray(data)) {
      if (dtype === 'float32') typed = Float32Array.from(data);
      else if (dtype === 'float64') typed = Float64Array.from(data);
      else if (dtype === 'int64') typed = BigInt64Array.from(data.map((v) => BigInt(v)));
      else typed = Uint8Array.from(data);
    } else typed = data;
    if (typed.length !== sizeOf(dims)) throw new Error(`constant: ${typed.length} values for dims ${fmt(dims)}`);
    const value = this.newValue(dtype, dims);
    this.initializers.push({ value, tensor: { dtype, dims: [...dims], data: typed } });
    return value;
  }

  /** A float scalar of the graph's type (shared between uses). */
  scalar(v: number): Value {
    const key = `f:${v}`;
    let c = this.scalarCache.get(key);
    if (!c) {
      c = this.constant([v], [], this.float);
      this.scalarCache.set(key, c);
    }
    return c;
  }

  /** An int64 vector constant (shapes, axes, indices). */
  ints(values: readonly number[]): Value {
    const key = `i:${values.join(',')}`;
    let c = this.scalarCache.get(key);
    if (!c) {
      c = this.constant([...values], [values.length], 'int64');
      this.scalarCache.set(key, c);
    }
    return c;
  }

  /**
   * Marks `v` as a graph output, under `name` when given (through an Identity when it is named, an
   * input, a constant or already an output).
   */
  output(v: Value, name?: string): Value {
    const produced = this.nodes.some((n) => n.outputs.includes(v));
    let out = v;
    if (name !== undefined || !produced || this.outputs.includes(v)) {
      out = this.newValue(v.dtype, v.shape, name);
      this.nodes.push({ op: 'Identity', inputs: [v], outputs: [out], attrs: {} });
    }
    this.outputs.push(out);
    return out;
  }

  // ---- elementwise --------------------------------------------------------------------------

  private binary(op: string, a: Value, b: Value, outDtype?: DType): Value {
    if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes ${a.dtype} and ${b.dtype} differ`);
    return this.node(op, [a, b], [{ dtype: outDtype ?? a.dtype, shape: broadcastShapes(a.shape, b.shape, op) }])[0];
  }

  private lift(x: Value | number): Value {
    return typeof x === 'number' ? this.scalar(x) : x;
  }

  add(a: Value | number, b: Value | number): Value {
    return this.binary('Add', this.lift(a), this.lift(b));
  }
  sub(a: Value | number, b: Value | number): Value {
    return this.binary('Sub', this.lift(a), this.lift(b));
  }
  mul(a: Value | number, b: Value | number): Value {
    return this.binary('Mul', this.lift(a), this.lift(b));
  }
  div(a: Value | number, b: Value | number): Value {
    return this.binary('Div', this.lift(a), this.lift(b));
  }
  greater(a: Value | number, b: Value | number): Value {
    return this.binary('Greater', this.lift(a), this.lift(b), 'bool');
  }
  less(a: Value, b: Value): Value {
    return this.binary('Less', a, b, 'bool');
  }
  neg(x: Value): Value {
    return this.unary('Neg', x);
  }
  relu(x: Value): Value {
    return this.unary('Relu', x);
  }
  exp(x: Value): Value {
    return this.unary('Exp', x);
  }
  log(x: Value): Value {
    return this.unary('Log', x);
  }
  sqrt(x: Value): Value {
    return this.unary('Sqrt', x);
  }
  reciprocal(x: Value): Value {
    return this.unary('Reciprocal', x);
  }
  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x);
  }
  /** log(1 + eˣ) as relu(x) + log(1 + e^−|x|): stable, and built from ops with float64 kernels. */
  softplus(x: Value): Value {
    const abs = this.add(this.relu(x), this.relu(this.neg(x)));
    return this.add(this.relu(x), this.log(this.add(this.exp(this.neg(abs)), 1)));
  }
  square(x: Value): Value {
    return this.mul(x, x);
  }
  /** The value without a gradient path (autodiff stops here). */
  stopGradient(x: Value): Value {
    return this.node('Identity', [x], [{ dtype: x.dtype, shape: x.shape }], {}, { stopGradient: true })[0];
  }
  cast(x: Value, to: DType): Value {
    return this.node('Cast', [x], [{ dtype: to, shape: x.shape }], { to: onnxTypeCode(to) })[0];
  }
  where(cond: Value, a: Value | number, b: Value | number): Value {
    const av = this.lift(a);
    const bv = this.lift(b);
    if (cond.dtype !== 'bool') throw new Error('where: condition must be bool');
    if (av.dtype !== bv.dtype) throw new Error(`where: dtypes ${av.dtype} and ${bv.dtype} differ`);
    const shape = broadcastShapes(broadcastShapes(cond.shape, av.shape, 'Where'), bv.shape, 'Where');
    return this.node('Where', [cond, av, bv], [{ dtype: av.dtype, shape }])[0];
  }

  // ---- linear algebra -----------------------------------------------------------------------

  /** Numpy matmul: [..., m, k] × [..., k, n] → [..., m, n] (ranks ≥ 2, batch dims broadcast). */
  matmul(a: Value, b: Value): Value {
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: ranks must be >= 2, got ${fmt(a.shape)} × ${fmt(b.shape)}`);
    const ka = a.shape[a.shape.length - 1];
    const kb = b.shape[b.shape.length - 2];
    if (ka !== kb) throw new Error(`matmul: inner dims differ: ${fmt(a.shape)} × ${fmt(b.shape)}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
    const shape = [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]];
    return this.node('MatMul', [a, b], [{ dtype: a.dtype, shape }])[0];
  }

  /**
   * x W + b over the last axis (W [in, out], b [out] or null). Inputs of rank > 2 are flattened to
   * rows first, so that ONNX Runtime fuses the product and the bias into one Gemm (a 3-D MatMul
   * followed by a broadcast Add runs as two much slower kernels).
   */
  linear(x: Value, w: Value, b: Value | null): Value {
    if (x.shape.length > 2) {
      const inDim = x.shape[x.shape.length - 1];
      const lead = x.shape.slice(0, -1);
      const rows = lead.every((d) => typeof d === 'number') ? lead.reduce((p: number, q) => p * (q as number), 1) : 'rows';
      const y = this.linear(this.reshape(x, [rows, inDim]), w, b);
      return this.reshape(y, [...lead, w.shape[1]]);
    }
    const y = this.matmul(x, w);
    return b ? this.add(y, b) : y;
  }

  // ---- reductions ---------------------------------------------------------------------------

  private reduced(x: Value, axes: readonly number[], keepdims: boolean, op: string): { axes: number[]; shape: Dim[] } {
    const r = x.shape.length;
    const norm = axes.map((a) => normAxis(a, r, op)).sort((p, q) => p - q);
    const shape: Dim[] = [];
    x.shape.forEach((d, i) => {
      if (norm.includes(i)) {
        if (keepdims) shape.push(1);
      } else shape.push(d);
    });
    return { axes: norm, shape };
  }

  reduceSum(x: Value, axes: readonly number[], keepdims = false): Value {
    const { axes: a, shape } = this.reduced(x, axes, keepdims, 'ReduceSum');
    return this.node('ReduceSum', [x, this.ints(a)], [{ dtype: x.dtype, shape }], { keepdims: keepdims ? 1 : 0 }, { axes: a })[0];
  }

  /** Mean over static axes. */
  reduceMean(x: Value, axes: readonly number[], keepdims = false): Value {
    const { axes: a } = this.reduced(x, axes, keepdims, 'ReduceMean');
    let count = 1;
    for (const i of a) {
      const d = x.shape[i];
      if (typeof d !== 'number') throw new Error(`reduceMean: axis ${i} of ${fmt(x.shape)} has no static size`);
      count *= d;
    }
    return this.mul(this.reduceSum(x, a, keepdims), 1 / count);
  }

  /** Max over axes; not differentiable (use it under stopGradient, as log-sum-exp does). */
  reduceMax(x: Value, axes: readonly number[], keepdims = false): Value {
    const { axes: a, shape } = this.reduced(x, axes, keepdims, 'ReduceMax');
    return this.node('ReduceMax', [x], [{ dtype: x.dtype, shape }], { axes: a, keepdims: keepdims ? 1 : 0 }, { noGradient: true })[0];
  }

  /** log Σ exp(x) over one axis, stabilised by the (gradient-free) row max. */
  logSumExp(x: Value, axis: number, keepdims = false): Value {
    const m = this.stopGradient(this.reduceMax(x, [axis], true));
    const s = this.log(this.reduceSum(this.exp(this.sub(x, m)), [axis], true));
    const out = this.add(s, m);
    return keepdims ? out : this.squeeze(out, [axis]);
  }

  /** Elementwise maximum of several tensors (ONNX Max, broadcasting); like reduceMax it passes no gradient. */
  maxOf(xs: readonly Value[]): Value {
    if (xs.length === 1) return xs[0];
    const shape = xs.slice(1).reduce((acc: Shape, x) => broadcastShapes(acc, x.shape, 'Max'), xs[0].shape);
    return this.node('Max', [...xs], [{ dtype: xs[0].dtype, shape }], {}, { noGradient: true })[0];
  }

  /** Elementwise sum of several tensors in one node (ONNX Sum, broadcasting). */
  sumOf(xs: readonly Value[]): Value {
    if (xs.length === 1) return xs[0];
    const shape = xs.slice(1).reduce((acc: Shape, x) => broadcastShapes(acc, x.shape, 'Sum'), xs[0].shape);
    return this.node('Sum', [...xs], [{ dtype: xs[0].dtype, shape }])[0];
  }

  softmax(x: Value, axis = -1): Value {
    const a = normAxis(axis, x.shape.length, 'Softmax');
    return this.node('Softmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: a }, { axis: a })[0];
  }

  /** x / sqrt(Σ x² + eps) over the last axis (eps keeps a zero vector finite). */
  l2Normalize(x: Value, eps = 1e-12): Value {
    const ss = this.reduceSum(this.square(x), [-1], true);
    return this.mul(x, this.reciprocal(this.sqrt(this.add(ss, eps))));
  }

  /**
   * LayerNormalization over the last axis. Float32: ONNX's fused op (opset 17), which also returns
   * the mean and 1/std its backward rule reuses. Float64 (gradient checks only; ONNX Runtime has no
   * float64 kernel for it): the same maths from primitives.
   */
  layerNorm(x: Value, gamma: Value, beta: Value, eps = 1e-5): Value {
    if (x.dtype === 'float64') {
      const centred = this.sub(x, this.reduceMean(x, [-1], true));
      const invStd = this.reciprocal(this.sqrt(this.add(this.reduceMean(this.square(centred), [-1], true), eps)));
      return this.add(this.mul(this.mul(centred, invStd), gamma), beta);
    }
    const statShape = [...x.shape.slice(0, -1), 1];
    const [y] = this.node(
      'LayerNormalization',
      [x, gamma, beta],
      [
        { dtype: x.dtype, shape: x.shape },
        { dtype: x.dtype, shape: statShape },
        { dtype: x.dtype, shape: statShape },
      ],
      { axis: x.shape.length - 1, epsilon: { float: eps } },
    );
    return y;
  }

  // ---- shape ops ----------------------------------------------------------------------------

  /**
   * Reshape to `shape`; a symbol in `shape` must be the input's dim at the same position (emitted
   * as 0 = copy) or the single unknown (emitted as −1).
   */
  reshape(x: Value, shape: Shape): Value {
    const spec: number[] = [];
    let unknown = 0;
    shape.forEach((d, i) => {
      if (typeof d === 'number') spec.push(d);
      else if (x.shape[i] === d) spec.push(0);
      else {
        spec.push(-1);
        unknown++;
      }
    });
    if (unknown > 1) throw new Error(`reshape: ${fmt(x.shape)} → ${fmt(shape)} has more than one unknown dim`);
    if (isStatic(x.shape) && isStatic(shape) && sizeOf(x.shape) !== sizeOf(shape)) {
      throw new Error(`reshape: ${fmt(x.shape)} → ${fmt(shape)} changes the size`);
    }
    return this.node('Reshape', [x, this.ints(spec)], [{ dtype: x.dtype, shape }])[0];
  }

  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.length !== x.shape.length) throw new Error(`transpose: perm [${perm}] for ${fmt(x.shape)}`);
    return this.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], { perm: [...perm] })[0];
  }

  /** Swaps the last two axes. */
  transposeLast(x: Value): Value {
    const r = x.shape.length;
    const perm = [...Array(r).keys()];
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return this.transpose(x, perm);
  }

  concat(xs: readonly Value[], axis: number): Value {
    if (xs.length === 1) return xs[0];
    const r = xs[0].shape.length;
    const a = normAxis(axis, r, 'Concat');
    let total = 0;
    for (const x of xs) {
      const d = x.shape[a];
      if (typeof d !== 'number') throw new Error('concat: the concatenated axis must be static');
      total += d;
      x.shape.forEach((dim, i) => {
        if (i !== a && dim !== xs[0].shape[i]) throw new Error(`concat: shapes ${fmt(xs[0].shape)} and ${fmt(x.shape)} differ off axis ${a}`);
      });
    }
    const shape = [...xs[0].shape];
    shape[a] = total;
    return this.node('Concat', [...xs], [{ dtype: xs[0].dtype, shape }], { axis: a }, { axis: a })[0];
  }

  /** x[start:end] along one static axis. */
  slice(x: Value, axis: number, start: number, end: number): Value {
    const a = normAxis(axis, x.shape.length, 'Slice');
    const d = x.shape[a];
    if (typeof d !== 'number' || !(start >= 0 && end <= d && start < end)) {
      throw new Error(`slice: [${start}, ${end}) on axis ${a} of ${fmt(x.shape)}`);
    }
    const shape = [...x.shape];
    shape[a] = end - start;
    return this.node('Slice', [x, this.ints([start]), this.ints([end]), this.ints([a])], [{ dtype: x.dtype, shape }], {}, { axis: a, start, end })[0];
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    const r = x.shape.length + axes.length;
    const norm = axes.map((a) => normAxis(a, r, 'Unsqueeze')).sort((p, q) => p - q);
    const shape: Dim[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
    return this.node('Unsqueeze', [x, this.ints(norm)], [{ dtype: x.dtype, shape }])[0];
  }

  squeeze(x: Value, axes: readonly number[]): Value {
    const norm = axes.map((a) => normAxis(a, x.shape.length, 'Squeeze'));
    for (const a of norm) if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${a} of ${fmt(x.shape)} is not 1`);
    return this.node('Squeeze', [x, this.ints(norm)], [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !norm.includes(i)) }])[0];
  }

  /** Broadcasts x to a static shape (or to the runtime shape of `like`). */
  expand(x: Value, shape: readonly number[] | Value): Value {
    if (Array.isArray(shape)) {
      const out = broadcastShapes(x.shape, shape as number[], 'Expand');
      return this.node('Expand', [x, this.ints(shape as number[])], [{ dtype: x.dtype, shape: out }])[0];
    }
    const like = shape as Value;
    return this.node('Expand', [x, this.shapeOf(like)], [{ dtype: x.dtype, shape: broadcastShapes(x.shape, like.shape, 'Expand') }])[0];
  }

  /** Rows of x (axis 0) at int64 `indices` (any shape): [...indices, ...x.shape[1:]]. */
  gather(x: Value, indices: Value): Value {
    if (indices.dtype !== 'int64') throw new Error('gather: indices must be int64');
    return this.node('Gather', [x, indices], [{ dtype: x.dtype, shape: [...indices.shape, ...x.shape.slice(1)] }], { axis: 0 })[0];
  }

  /** x reshaped to the runtime shape of `like` (same element count). */
  reshapeLike(x: Value, like: Value): Value {
    if (isStatic(like.shape)) return this.reshape(x, like.shape);
    return this.node('Reshape', [x, this.shapeOf(like)], [{ dtype: x.dtype, shape: like.shape }])[0];
  }

  /** The runtime shape of x as an int64 vector (no gradient). */
  shapeOf(x: Value): Value {
    return this.node('Shape', [x], [{ dtype: 'int64', shape: [x.shape.length] }])[0];
  }

  /** Zeros of x's runtime shape and dtype. */
  zerosLike(x: Value): Value {
    const value = { tensor: { dtype: x.dtype, dims: [1], data: x.dtype === 'float64' ? new Float64Array(1) : new Float32Array(1) } };
    return this.node('ConstantOfShape', [this.shapeOf(x)], [{ dtype: x.dtype, shape: x.shape }], { value })[0];
  }

  /** data with `updates` added at rows `indices` (int64 [k]); duplicates accumulate. */
  scatterAddRows(data: Value, indices: Value, updates: Value): Value {
    const idx = this.unsqueeze(indices, [-1]);
    return this.node('ScatterND', [data, idx, updates], [{ dtype: data.dtype, shape: data.shape }], { reduction: 'add' })[0];
  }

  /** Zero padding: `pads` = [begin_0, …, begin_{r−1}, end_0, …, end_{r−1}]. */
  pad(x: Value, pads: readonly number[]): Value {
    const r = x.shape.length;
    if (pads.length !== 2 * r) throw new Error(`pad: ${pads.length} pads for rank ${r}`);
    const shape = x.shape.map((d, i) => (pads[i] === 0 && pads[r + i] === 0 ? d : (d as number) + pads[i] + pads[r + i]));
    return this.node('Pad', [x, this.ints(pads)], [{ dtype: x.dtype, shape }], { mode: 'constant' }, { pads: [...pads] })[0];
  }

  // ---- convolution (NCHW; ONNX Runtime's CPU kernels are float32 only) ---------------------

  /** 2-D convolution, x [N, C, H, W], w [O, C/group, kh, kw]; explicit pads [top, left, bottom, right]. */
  conv(x: Value, w: Value, b: Value | null, opts: { strides: [number, number]; pads: [number, number, number, number]; dilations?: [number, number]; group?: number }): Value {
    const [, c, h, wd] = x.shape;
    const [o, ci, kh, kw] = w.shape as number[];
    const group = opts.group ?? 1;
    const dil = opts.dilations ?? [1, 1];
    if (typeof c === 'number' && typeof ci === 'number' && ci * group !== c) throw new Error(`conv: input has ${c} channels, filter expects ${ci}×${group}`);
    if (typeof h !== 'number' || typeof wd !== 'number' || typeof kh !== 'number' || typeof kw !== 'number') throw new Error('conv: spatial dims must be static');
    const ho = Math.floor((h + opts.pads[0] + opts.pads[2] - ((kh - 1) * dil[0] + 1)) / opts.strides[0]) + 1;
    const wo = Math.floor((wd + opts.pads[1] + opts.pads[3] - ((kw - 1) * dil[1] + 1)) / opts.strides[1]) + 1;
    if (!(ho > 0 && wo > 0)) throw new Error(`conv: ${kh}×${kw} filter does not fit ${h}×${wd} with pads [${opts.pads}]`);
    const inputs = b ? [x, w, b] : [x, w];
    return this.node(
      'Conv',
      inputs,
      [{ dtype: x.dtype, shape: [x.shape[0], o, ho, wo] }],
      { strides: [...opts.strides], pads: [...opts.pads], dilations: [...dil], group, kernel_shape: [kh, kw] },
    )[0];
  }

  /** The transposed convolution that is conv's input gradient; `outHW` fixes the output size. */
  convTranspose(dy: Value, w: Value, opts: { strides: [number, number]; pads: [number, number, number, number]; group?: number; outHW: [number, number] }): Value {
    const [, , hy, wy] = dy.shape as number[];
    const [, ci, kh, kw] = w.shape as number[];
    const group = opts.group ?? 1;
    const outPad = [0, 1].map((i) => {
      const base = opts.strides[i] * ((i === 0 ? hy : wy) - 1) + (i === 0 ? kh : kw) - opts.pads[i] - opts.pads[i + 2];
      return opts.outHW[i] - base;
    });
    if (outPad.some((p, i) => p < 0 || p >= opts.strides[i])) throw new Error(`convTranspose: output ${opts.outHW} not reachable`);
    return this.node(
      'ConvTranspose',
      [dy, w],
      [{ dtype: dy.dtype, shape: [dy.shape[0], ci * group, opts.outHW[0], opts.outHW[1]] }],
      { strides: [...opts.strides], pads: [...opts.pads], output_padding: outPad, group, kernel_shape: [kh, kw] },
    )[0];
  }
}

export function onnxTypeCode(dtype: DType): number {
  switch (dtype) {
    case 'float32':
      return 1;
    case 'float64':
      return 11;
    case 'int64':
      return 7;
    case 'bool':
      return 9;
  }
}
