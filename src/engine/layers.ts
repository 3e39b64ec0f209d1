/**
 * Layer primitives the model is written in. Their signatures are the contract between
 * engine/ and model/; their insides are where the tfjs-wasm fixes of architecture.md §5 live:
 * every product in a forward or backward pass is an untransposed rank-2 matMul or a forward
 * convolution, so wasm runs it on XNNPACK.
 *
 * Custom gradients keep what the backward pass needs through `save` (the engine keeps saved
 * tensors alive until backprop; tensors merely captured by the closure may already be disposed).
 */
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from './kernels.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from './tf.js';

export type Activation = 'linear' | 'relu';

type Save = (tensors: Tensor[]) => void;
type CustomGradFn = (...args: Tensor[]) => Tensor;
type CustomGradArg = Parameters<typeof tf.customGrad>[0];

function transpose2d(x: Tensor): Tensor2D {
  return tf.transpose(x as Tensor2D, [1, 0]);
}

/** Column sums of a matrix (bias and layer-norm parameter gradients): [..., c] → [c]. */
function sumRows(g: Tensor): Tensor1D {
  const cols = g.shape[g.rank - 1];
  return tf.sum(g.rank === 2 ? g : tf.reshape(g, [-1, cols]), 0) as Tensor1D;
}

/**
 * act(x·w + b) as ONE kernel. tf.fused.matMul / tf.fused.conv2d fall back to separate matMul, add
 * and relu kernels whenever a gradient is being recorded (their own gradient cannot fuse relu);
 * our custom gradients handle relu themselves, so the fused kernels are called directly.
 */
function fusedMatMul(x: Tensor2D, w: Tensor2D, b: Tensor1D | undefined, activation: Activation): Tensor2D {
  const [n, k] = x.shape;
  const out = w.shape[1];
  const inputs: Record<string, Tensor> = { a: tf.reshape(x, [1, n, k]), b: tf.reshape(w, [1, k, out]) };
  if (b) inputs.bias = b;
  const y = tf.engine().runKernel('_FusedMatMul', inputs, { transposeA: false, transposeB: false, activation }) as Tensor;
  return tf.reshape(y, [n, out]);
}

function fusedConv(x: Tensor4D, w: Tensor4D, b: Tensor1D | undefined, stride: number, pad: 'same' | 'valid', activation: Activation): Tensor4D {
  const inputs: Record<string, Tensor> = { x, filter: w };
  if (b) inputs.bias = b;
  return tf.engine().runKernel('FusedConv2D', inputs, {
    strides: [stride, stride],
    pad,
    dataFormat: 'NHWC',
    dilations: [1, 1],
    activation,
  }) as Tensor4D;
}

/** dy masked by the relu output: relu'(z) = 1 where y = relu(z) > 0 (0 at 0, as tf.relu). */
function reluBackward(dy: Tensor, y: Tensor): Tensor {
  return tf.mul(dy, tf.step(y));
}

const denseCache = new Map<string, CustomGradFn>();

/** One tf.customGrad per (bias?, activation, inputGrad?) combination, built on first use. */
function denseFn(hasBias: boolean, activation: Activation, inputGrad: boolean): CustomGradFn {
  const key = `${hasBias}/${activation}/${inputGrad}`;
  let fn = denseCache.get(key);
  if (fn) return fn;
  const relu = activation === 'relu';
  fn = tf.customGrad(((...args: unknown[]) => {
    const x = args[0] as Tensor2D;
    const w = args[1] as Tensor2D;
    const b = hasBias ? (args[2] as Tensor1D) : undefined;
    const save = args[hasBias ? 3 : 2] as Save;
    // One XNNPACK kernel: matMul + bias + relu.
    const y = fusedMatMul(x, w, b, activation);
    save(relu ? [x, w, y] : [x, w]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, ws, ys] = saved;
        const g = relu ? reluBackward(dy, ys) : dy;
        // Explicit transposes keep both products on XNNPACK (a transposed operand does not).
        const dx = inputGrad ? tf.matMul(g as Tensor2D, transpose2d(ws)) : tf.zerosLike(xs);
        const dw = tf.matMul(transpose2d(xs), g as Tensor2D);
        return hasBias ? [dx, dw, sumRows(g)] : [dx, dw];
      },
    };
  }) as unknown as CustomGradArg) as unknown as CustomGradFn;
  denseCache.set(key, fn);
  return fn;
}

/**
 * y = act(x·w + b) for x [n, in], w [in, out], b [out] (or null).
 * `inputGrad: false` skips the gradient w.r.t. x (first layer over constant inputs): x receives
 * zeros, which saves an [n,out]×[out,in] product per step.
 */
export function dense(
  x: Tensor2D,
  w: Tensor2D,
  b: Tensor1D | null,
  activation: Activation = 'linear',
  opts: { inputGrad?: boolean } = {},
): Tensor2D {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new Error(`dense: x [${x.shape}] does not match w [${w.shape}]`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[1])) {
    throw new Error(`dense: bias [${b.shape}] does not match w [${w.shape}]`);
  }
  const fn = denseFn(b !== null, activation, opts.inputGrad ?? true);
  return (b ? fn(x, w, b) : fn(x, w)) as Tensor2D;
}

/** Dense over the last axis of a tensor of any rank >= 2. */
export function denseNd(
  x: Tensor,
  w: Tensor2D,
  b: Tensor1D | null,
  activation: Activation = 'linear',
  opts: { inputGrad?: boolean } = {},
): Tensor {
  return tf.tidy(() => {
    const shape = x.shape;
    const flat = tf.reshape(x, [-1, shape[shape.length - 1]]) as Tensor2D;
    const y = dense(flat, w, b, activation, opts);
    return tf.reshape(y, [...shape.slice(0, -1), w.shape[1]]);
  });
}

/**
 * a·b (optionally transposed) for rank-2 or batched rank-3 operands. For rank 2 the transposes are
 * materialised so that the product runs on XNNPACK (wasm falls to a scalar loop for transposed
 * operands); the gradient then goes through the re-registered BatchMatMul gradient (kernels.ts).
 */
export function mm<T extends Tensor>(a: T, b: T, transposeA = false, transposeB = false): T {
  if (a.rank === 2 && b.rank === 2) {
    const a2 = transposeA ? transpose2d(a) : (a as unknown as Tensor2D);
    const b2 = transposeB ? transpose2d(b) : (b as unknown as Tensor2D);
    return tf.matMul(a2, b2) as unknown as T;
  }
  return tf.matMul(a as unknown as Tensor2D, b as unknown as Tensor2D, transposeA, transposeB) as unknown as T;
}

/** Geometry of a 2-D convolution along one spatial axis (TensorFlow's 'same'/'valid' rules). */
interface ConvAxis {
  /** input size */
  size: number;
  /** output size */
  out: number;
  /** zero rows added before the input */
  padBefore: number;
  /** rows of the zero-padded input that the kernel actually reads: (out-1)·stride + kernel */
  used: number;
}

function convAxis(size: number, kernel: number, stride: number, pad: 'same' | 'valid'): ConvAxis {
  const out = pad === 'same' ? Math.ceil(size / stride) : Math.ceil((size - kernel + 1) / stride);
  if (out < 1) throw new Error(`conv2d: kernel ${kernel} does not fit input size ${size} with 'valid' padding`);
  const padTotal = pad === 'same' ? Math.max((out - 1) * stride + kernel - size, 0) : 0;
  return { size, out, padBefore: Math.floor(padTotal / 2), used: (out - 1) * stride + kernel };
}

/** Pads (or crops, where negative) axes 1 and 2 of an NHWC tensor. */
function padOrCrop(x: Tensor4D, top: number, bottom: number, left: number, right: number): Tensor4D {
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    const h = y.shape[1] - t - Math.max(-bottom, 0);
    const w = y.shape[2] - l - Math.max(-right, 0);
    y = tf.slice(y, [0, t, l, 0], [-1, h, w, -1]);
  }
  const p = [Math.max(top, 0), Math.max(bottom, 0), Math.max(left, 0), Math.max(right, 0)];
  if (p.some((v) => v > 0)) {
    y = tf.pad(y, [
      [0, 0],
      [p[0], p[1]],
      [p[2], p[3]],
      [0, 0],
    ]);
  }
  return y;
}

/**
 * The filter rearranged for the input gradient of a stride-s convolution, by output phase:
 * input row h = s·m + p only receives dy[m - a]·w[s·a + p], so each of the s² phases (p, q) is a
 * stride-1 correlation of dy with a ceil(k/s)-tap filter. All phases form one filter
 * [kph, kpw, Cout, s²·Cin] whose output channels are laid out as depthToSpace expects:
 * F[c, d, co, (p·s + q)·Cin + ci] = w[s(kph-1-c) + p, s(kpw-1-d) + q, ci, co] (0 past the kernel).
 * For s = 1 it is the flipped, channel-swapped filter.
 */
function phaseFilter(w: Tensor4D, stride: number): Tensor4D {
  const [kh, kw, cin, cout] = w.shape;
  const kph = Math.ceil(kh / stride);
  const kpw = Math.ceil(kw / stride);
  const padded = tf.pad(w, [
    [0, kph * stride - kh],
    [0, kpw * stride - kw],
    [0, 0],
    [0, 0],
  ]);
  const split = tf.reverse(tf.reshape(padded, [kph, stride, kpw, stride, cin, cout]), [0, 2]);
  return tf.reshape(tf.transpose(split, [0, 2, 5, 1, 3, 4]), [kph, kpw, cout, stride * stride * cin]);
}

/**
 * Filter and input gradients of y = conv(x, w) as forward convolutions (architecture.md §5):
 * - dW[i,j,ci,co] = Σ x_pad[n, oh·s+i, ow·s+j, ci] · g[n,oh,ow,co]: one dilated conv with the batch
 *   and channel axes swapped (x_pad as a batch of Cin images with N channels, g as an Ho×Wo filter).
 * - dX: per output phase a stride-1 correlation of g (see phaseFilter), interleaved and cropped
 *   back to x's rows and columns (rows the kernel never read get zero).
 */
function convBackward(
  x: Tensor4D,
  w: Tensor4D,
  g: Tensor4D,
  stride: number,
  pad: 'same' | 'valid',
  inputGrad: boolean,
): [Tensor4D, Tensor4D] {
  const [kh, kw] = w.shape;
  const ah = convAxis(x.shape[1], kh, stride, pad);
  const aw = convAxis(x.shape[2], kw, stride, pad);
  // Each half in its own tidy: its temporaries (transposed copies, as large as the activations)
  // are freed before the other half allocates, which keeps big image batches inside wasm's heap.
  const dw = tf.tidy(() => {
    const [top, bottom] = [ah.padBefore, ah.used - ah.size - ah.padBefore];
    const [left, right] = [aw.padBefore, aw.used - aw.size - aw.padBefore];
    // zero padding goes into the convolution itself (explicit padding: no padded copy of x);
    // rows the kernel never reads ('valid' with a remainder) are cropped first
    const xc = padOrCrop(x, Math.min(top, 0), Math.min(bottom, 0), Math.min(left, 0), Math.min(right, 0));
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [Math.max(top, 0), Math.max(bottom, 0)],
      [Math.max(left, 0), Math.max(right, 0)],
      [0, 0],
    ];
    const dwSwapped = tf.conv2d(tf.transpose(xc, [3, 1, 2, 0]) as Tensor4D, tf.transpose(g, [1, 2, 0, 3]) as Tensor4D, 1, pads, 'NHWC', [stride, stride]);
    return tf.transpose(dwSwapped, [1, 2, 0, 3]);
  });

  if (!inputGrad) return [tf.zerosLike(x), dw];
  // dX without materialising the zero-upsampled gradient (4× its size at stride 2): one stride-1
  // conv of dy with the phase filter, interleaved back to full resolution by depthToSpace.
  const dx = tf.tidy(() => {
    const [kph, kpw] = [Math.ceil(kh / stride), Math.ceil(kw / stride)];
    const phases = tf.conv2d(g, phaseFilter(w, stride), 1, [
      [0, 0],
      [kph - 1, kph - 1],
      [kpw - 1, kpw - 1],
      [0, 0],
    ]);
    const dxp = (stride === 1 ? phases : tf.depthToSpace(phases, stride)) as Tensor4D; // rows of the padded input
    return padOrCrop(dxp, -ah.padBefore, ah.size + ah.padBefore - dxp.shape[1], -aw.padBefore, aw.size + aw.padBefore - dxp.shape[2]);
  });
  return [dx, dw];
}

/**
 * NHWC convolution: act(conv(x, w, stride, pad) + b); w is [kh, kw, in, out].
 * `inputGrad: false` skips the gradient w.r.t. x (first layer over images): x receives zeros.
 */
export function conv2d(
  x: Tensor4D,
  w: Tensor4D,
  b: Tensor1D | null,
  stride: number,
  pad: 'same' | 'valid',
  activation: Activation = 'linear',
  opts: { inputGrad?: boolean } = {},
): Tensor4D {
  if (x.rank !== 4 || w.rank !== 4 || x.shape[3] !== w.shape[2]) {
    throw new Error(`conv2d: x [${x.shape}] does not match filter [${w.shape}] (NHWC, [kh,kw,in,out])`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[3])) {
    throw new Error(`conv2d: bias [${b.shape}] does not match filter [${w.shape}]`);
  }
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`conv2d: stride must be a positive integer, got ${stride}`);
  const relu = activation === 'relu';
  const hasBias = b !== null;
  const inputGrad = opts.inputGrad ?? true;
  const fn = tf.customGrad(((...args: unknown[]) => {
    const xs = args[0] as Tensor4D;
    const ws = args[1] as Tensor4D;
    const bs = hasBias ? (args[2] as Tensor1D) : undefined;
    const save = args[hasBias ? 3 : 2] as Save;
    const y = fusedConv(xs, ws, bs, stride, pad, activation);
    save(relu ? [xs, ws, y] : [xs, ws]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xv, wv, yv] = saved as Tensor4D[];
        const g = (relu ? reluBackward(dy, yv) : dy) as Tensor4D;
        const [dx, dw] = convBackward(xv, wv, g, stride, pad, inputGrad);
        return hasBias ? [dx, dw, sumRows(g)] : [dx, dw];
      },
    };
  }) as unknown as CustomGradArg) as unknown as CustomGradFn;
  return (b ? fn(x, w, b) : fn(x, w)) as Tensor4D;
}

/**
 * Average pool over size×size windows (NHWC). Trainable on wasm; use it (or a strided conv)
 * instead of max-pool, whose wasm gradient is wrong for all-negative windows (architecture.md §5).
 */
export function avgPool(x: Tensor4D, size: number, stride: number, pad: 'same' | 'valid' = 'valid'): Tensor4D {
  return tf.avgPool(x, size, stride, pad);
}

/** Mean over the spatial axes: [N,H,W,C] → [N,C]. */
export function globalAvgPool(x: Tensor4D): Tensor2D {
  return tf.mean(x, [1, 2]) as Tensor2D;
}

/**
 * Repeats `v` (leading dim 1) n times along axis 0. tf.tile's own gradient is one slice + add per
 * repeat (architecture.md §5); here the forward is one Tile kernel and the backward one sum.
 */
export function broadcastRows<T extends Tensor>(v: T, n: number): T {
  if (v.shape[0] !== 1) throw new Error(`broadcastRows: leading dim must be 1, got [${v.shape}]`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`broadcastRows: n must be a positive integer, got ${n}`);
  const fn = tf.customGrad(((...args: unknown[]) => {
    const x = args[0] as Tensor;
    return {
      value: tf.tile(x, [n, ...x.shape.slice(1).map(() => 1)]),
      gradFunc: (dy: Tensor) => [tf.sum(dy, 0, true)],
    };
  }) as unknown as CustomGradArg) as unknown as CustomGradFn;
  return fn(v) as T;
}

const layerNormCache = new Map<number, CustomGradFn>();

function layerNormFn(eps: number): CustomGradFn {
  let fn = layerNormCache.get(eps);
  if (fn) return fn;
  fn = tf.customGrad(((...args: unknown[]) => {
    const x = args[0] as Tensor2D;
    const gamma = args[1] as Tensor1D;
    const beta = args[2] as Tensor1D;
    const save = args[3] as Save;
    const mean = tf.mean(x, 1, true);
    const xc = tf.sub(x, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, rs, gm] = saved;
        // d/dx of (x - μ)/σ: rstd · (ĝ - mean(ĝ) - x̂ · mean(ĝ·x̂)), ĝ = dy·γ.
        const gh = tf.mul(dy, gm);
        const dx = tf.mul(
          rs,
          tf.sub(tf.sub(gh, tf.mean(gh, 1, true)), tf.mul(xh, tf.mean(tf.mul(gh, xh), 1, true))),
        );
        return [dx, sumRows(tf.mul(dy, xh)), sumRows(dy)];
      },
    };
  }) as unknown as CustomGradArg) as unknown as CustomGradFn;
  layerNormCache.set(eps, fn);
  return fn;
}

/** Layer normalisation over the last axis (one custom gradient: ~11 kernels instead of ~30). */
export function layerNorm(x: Tensor, gamma: Tensor1D, beta: Tensor1D, eps = 1e-5): Tensor {
  const d = x.shape[x.rank - 1];
  if (gamma.shape[0] !== d || beta.shape[0] !== d) {
    throw new Error(`layerNorm: gamma [${gamma.shape}] / beta [${beta.shape}] do not match last axis of [${x.shape}]`);
  }
  return tf.tidy(() => {
    const flat = x.rank === 2 ? x : tf.reshape(x, [-1, d]);
    const y = layerNormFn(eps)(flat, gamma, beta);
    return x.rank === 2 ? y : tf.reshape(y, x.shape);
  });
}

/**
 * Softmax over the last axis where `mask` (broadcastable to logits, 1 = keep, 0 = drop) removes
 * entries: they get probability 0. A row with nothing kept comes out uniform; callers ignore
 * such rows (padded queries, method.md §2.3). The mask receives no gradient.
 */
export function maskedSoftmax(logits: Tensor, mask: Tensor): Tensor {
  return tf.tidy(() => {
    const bias = tf.mul(tf.sub(mask, 1), 1e9);
    return tf.softmax(tf.add(logits, bias));
  });
}

/**
 * Multi-head scaled dot-product attention for small sets (method.md §2.3), fused into one kernel per
 * pass (kernels.ts attentionKernel): q [n,Sq,d], k and v [n,Sk,d] already projected; head h uses
 * columns h·d/heads..(h+1)·d/heads, scaled by 1/sqrt(d/heads). `keyBias` holds n·Sk additive
 * logits (0 for real keys, −1e9 for padded ones, e.g. shaped [n,1,1,Sk]); it gets no gradient.
 * Returns softmax(q_h k_hᵀ·scale + bias) v_h with the heads concatenated: [n,Sq,d].
 */
export function multiHeadAttention(q: Tensor3D, k: Tensor3D, v: Tensor3D, heads: number, keyBias: Tensor | null = null): Tensor3D {
  const [n, , d] = q.shape;
  const sk = k.shape[1];
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3 || k.shape[0] !== n || v.shape[0] !== n || k.shape[2] !== d || v.shape[2] !== d || v.shape[1] !== sk) {
    throw new Error(`multiHeadAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] must be [n,Sq,d], [n,Sk,d], [n,Sk,d]`);
  }
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) throw new Error(`multiHeadAttention: d ${d} must be a multiple of heads ${heads}`);
  if (keyBias && keyBias.size !== n * sk) throw new Error(`multiHeadAttention: keyBias [${keyBias.shape}] must hold n·Sk = ${n * sk} values`);
  const attrs = { heads, scale: 1 / Math.sqrt(d / heads) };
  const hasBias = keyBias !== null;
  const fn = tf.customGrad(((...args: unknown[]) => {
    const [qs, ks, vs] = args as Tensor[];
    const bias = hasBias ? (args[3] as Tensor) : null;
    const save = args[hasBias ? 4 : 3] as Save;
    const inputs: Record<string, Tensor> = { q: qs, k: ks, v: vs };
    if (bias) inputs.keyBias = bias;
    const [out, weights] = tf.engine().runKernel(ATTENTION_KERNEL, inputs, attrs) as Tensor[];
    save([qs, ks, vs, weights]);
    return {
      value: out,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [qv, kv, vv, wv] = saved;
        const grads = tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, q: qv, k: kv, v: vv, weights: wv }, attrs) as Tensor[];
        return bias ? [...grads, tf.zerosLike(bias)] : grads;
      },
    };
  }) as unknown as CustomGradArg) as unknown as CustomGradFn;
  return (keyBias ? fn(q, k, v, keyBias) : fn(q, k, v)) as Tensor3D;
}
