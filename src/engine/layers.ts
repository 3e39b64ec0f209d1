/**
 * Layer primitives the model is written in. Their signatures are the contract between
 * engine/ and model/; their insides are where the DESIGN.md Engine fixes live.
 */
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D } from './tf.js';

export type Activation = 'linear' | 'relu';

/**
 * y = act(x·w + b) for x [n, in], w [in, out], b [out] (or null).
 * `inputGrad: false` skips the gradient w.r.t. x (first layer over constant inputs).
 */
export function dense(
  x: Tensor2D,
  w: Tensor2D,
  b: Tensor1D | null,
  activation: Activation = 'linear',
  opts: { inputGrad?: boolean } = {},
): Tensor2D {
  void opts;
  return tf.tidy(() => {
    let y = tf.matMul(x, w);
    if (b) y = tf.add(y, b);
    return (activation === 'relu' ? tf.relu(y) : y) as Tensor2D;
  });
}

/** Dense over the last axis of a tensor of any rank >= 2. */
export function denseNd(x: Tensor, w: Tensor2D, b: Tensor1D | null, activation: Activation = 'linear'): Tensor {
  return tf.tidy(() => {
    const shape = x.shape;
    const flat = tf.reshape(x, [-1, shape[shape.length - 1]]) as Tensor2D;
    const y = dense(flat, w, b, activation);
    return tf.reshape(y, [...shape.slice(0, -1), w.shape[1]]);
  });
}

/** a·b (optionally transposed) for rank-2 or batched rank-3 operands. */
export function mm<T extends Tensor>(a: T, b: T, transposeA = false, transposeB = false): T {
  return tf.matMul(a as unknown as Tensor2D, b as unknown as Tensor2D, transposeA, transposeB) as unknown as T;
}

/** NHWC convolution with a square kernel: act(conv(x, w, stride, pad) + b); w is [kh, kw, in, out]. */
export function conv2d(
  x: Tensor4D,
  w: Tensor4D,
  b: Tensor1D | null,
  stride: number,
  pad: 'same' | 'valid',
  activation: Activation = 'linear',
): Tensor4D {
  return tf.tidy(() => {
    let y = tf.conv2d(x, w, stride, pad);
    if (b) y = tf.add(y, b);
    return (activation === 'relu' ? tf.relu(y) : y) as Tensor4D;
  });
}

/** Repeats `v` (leading dim 1) n times along axis 0, without tf.tile (Engine fix 4). */
export function broadcastRows<T extends Tensor>(v: T, n: number): T {
  return tf.tidy(() => tf.mul(tf.ones([n, ...v.shape.slice(1)]), v) as T);
}

/** Layer normalisation over the last axis. */
export function layerNorm(x: Tensor, gamma: Tensor1D, beta: Tensor1D, eps = 1e-5): Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}
