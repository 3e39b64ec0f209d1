/**
 * LPAE user anchors (method.md §3, as in LPAE's code). User u has anchors a_uk ∈ R^d; the score of an
 * outfit is a reduction of cos(h_o, a_uk) over k. Because
 *   Σ_k cos(h_o, a_uk) = ĥ_o · Σ_k â_uk,
 * each user collapses to ONE vector (the sum of its normalised anchors): scoring never needs the
 * [n, K, d] tensor of per-outfit anchors, and "distance to the user" (FND, method.md §4) is well defined.
 */
import { UserError } from '../errors.js';
import { tf, type Rank, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../engine/tf.js';
import type { Rng } from '../rng.js';
import { uniformInit, type ParamStore } from './params.js';

/** x / ||x|| over the last axis (PyTorch F.normalize's eps keeps zero vectors finite). */
export function normalizeLastAxis<T extends Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12))) as T);
}

/** Distinct values in first-seen order and, per input position, the index of its value among them. */
export function dedupe(values: Int32Array): { unique: Int32Array; inverse: Int32Array } {
  const index = new Map<number, number>();
  const unique: number[] = [];
  const inverse = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let j = index.get(values[i]);
    if (j === undefined) {
      j = unique.length;
      index.set(values[i], j);
      unique.push(values[i]);
    }
    inverse[i] = j;
  }
  return { unique: Int32Array.from(unique), inverse };
}

/** U(±sqrt(3/d)) (method.md §3). */
function anchorInit(rng: Rng, dim: number) {
  return uniformInit(rng, Math.sqrt(3 / dim));
}

export class AnchorTable {
  /** [numUsers, Ku, d]: `anchors.user`. */
  private user: Variable<Rank.R3>;
  /** [Ks, d]: `anchors.shared` (LPAE-g), or null. */
  private readonly shared: Variable<Rank.R2> | null;

  constructor(
    numUsers: number,
    readonly userK: number,
    readonly sharedK: number,
    readonly dim: number,
    private readonly store: ParamStore,
    rng: Rng,
  ) {
    this.user = store.create('anchors.user', [numUsers, userK, dim], 'anchors', anchorInit(rng.fork('user'), dim));
    this.shared = sharedK > 0 ? store.create('anchors.shared', [sharedK, dim], 'anchors', anchorInit(rng.fork('shared'), dim)) : null;
  }

  get numUsers(): number {
    return this.user.shape[0];
  }

  /** K, all anchors a user is scored against (own + shared). */
  get totalK(): number {
    return this.userK + this.sharedK;
  }

  private checkUsers(users: Int32Array): void {
    const n = this.numUsers;
    for (let i = 0; i < users.length; i++) {
      const u = users[i];
      if (!(u >= 0 && u < n)) throw new UserError(`user ${u} is outside the model's users 0..${n - 1}`);
    }
  }

  /** Σ_k â_uk per entry of `users` (own and shared anchors): [users.length, d]. */
  userVectors(users: Int32Array): Tensor2D {
    this.checkUsers(users);
    const { unique, inverse } = dedupe(users);
    return tf.tidy(() => {
      // gather only the batch's distinct users: its gradient is an UnsortedSegmentSum (architecture.md §5)
      const own = tf.gather(this.user, tf.tensor1d(unique, 'int32')) as Tensor3D;
      let vectors = tf.sum(normalizeLastAxis(own), 1) as Tensor2D;
      if (this.shared) vectors = tf.add(vectors, tf.sum(normalizeLastAxis(this.shared), 0, true));
      const identity = unique.length === users.length && inverse.every((v, i) => v === i);
      return identity ? vectors : (tf.gather(vectors, tf.tensor1d(inverse, 'int32')) as Tensor2D);
    });
  }

  /**
   * L_reg = mean over `users` of [tr(G_u) − log det(G_u)], G_u = A_u A_uᵀ over the user's own
   * un-normalised anchors (method.md §3; LPAE averages over the batch's users, duplicates included).
   */
  regularizer(users: Int32Array): tf.Scalar {
    this.checkUsers(users);
    if (users.length === 0) return tf.scalar(0);
    if (this.userK > this.dim) {
      throw new Error(`anchor regulariser: G_u = A_u A_uᵀ is singular when K_user (${this.userK}) > dim (${this.dim})`);
    }
    const { unique, inverse } = dedupe(users);
    const weights = new Float64Array(unique.length);
    for (let i = 0; i < inverse.length; i++) weights[inverse[i]] += 1 / users.length;
    return tf.tidy(() => {
      const a = tf.gather(this.user, tf.tensor1d(unique, 'int32')) as Tensor3D;
      return logDetDivergence(a, weights);
    });
  }

  /** Appends `count` new (cold) users with freshly drawn anchors; returns the first new user id. */
  addUsers(count: number, rng: Rng): number {
    if (!(Number.isInteger(count) && count > 0)) throw new Error(`addUsers: count must be a positive integer, got ${count}`);
    const first = this.numUsers;
    const old = this.user.dataSync() as Float32Array;
    const per = this.userK * this.dim;
    const values = new Float32Array(old.length + count * per);
    values.set(old);
    values.set(anchorInit(rng, this.dim)(count * per, [count, this.userK, this.dim]), old.length);
    // a variable cannot change shape: the store swaps in a new one under the same name, so an
    // optimizer holding the old variable must be created again after this call
    this.user = this.store.replace('anchors.user', values, [first + count, this.userK, this.dim]);
    return first;
  }

  /** User u's own anchors, [Ku, d] row-major (serving, cold start "SU"). */
  getUserAnchors(u: number): Float32Array {
    this.checkUsers(Int32Array.of(u));
    return tf.tidy(() => tf.slice(this.user, [u, 0, 0], [1, this.userK, this.dim]).dataSync() as Float32Array).slice();
  }

  /** Overwrites user u's own anchors with `values` ([Ku, d] row-major). */
  setUserAnchors(u: number, values: Float32Array): void {
    this.checkUsers(Int32Array.of(u));
    const per = this.userK * this.dim;
    if (values.length !== per) throw new Error(`setUserAnchors: expected ${this.userK}×${this.dim} = ${per} values, got ${values.length}`);
    tf.tidy(() => {
      const row = tf.tensor3d(values, [1, this.userK, this.dim]);
      const parts: Tensor[] = [];
      if (u > 0) parts.push(tf.slice(this.user, [0, 0, 0], [u, this.userK, this.dim]));
      parts.push(row);
      if (u < this.numUsers - 1) parts.push(tf.slice(this.user, [u + 1, 0, 0], [this.numUsers - u - 1, this.userK, this.dim]));
      this.user.assign(tf.concat(parts, 0) as Tensor3D);
    });
  }

  /** The shared (LPAE-g) anchors, [Ks, d] row-major, or null for LPAE-u. */
  getSharedAnchors(): Float32Array | null {
    return this.shared ? (this.shared.dataSync() as Float32Array).slice() : null;
  }
}

/**
 * Σ_i w_i [tr(G_i) − log det(G_i)] for the stacked anchor sets `a` [m, K, d], G_i = A_i A_iᵀ.
 * tfjs has neither Cholesky nor logdet, so value and gradient are computed in Float64 JS
 * (K ≤ 64: cheap) inside a custom gradient:
 *   ∂/∂A [tr(AAᵀ) − log det(AAᵀ)] = 2A − 2(AAᵀ)⁻¹A.
 */
export function logDetDivergence(a: Tensor3D, weights: Float64Array): tf.Scalar {
  const [m, k, d] = a.shape;
  if (weights.length !== m) throw new Error(`logDetDivergence: ${weights.length} weights for ${m} anchor sets`);
  const op = tf.customGrad((...args: Array<Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as Tensor;
    // a Float64 copy: exact enough for log det, and the backward pass runs after this scope,
    // when x may be disposed
    const values = Float64Array.from(x.dataSync() as Float32Array);
    const factors: Float64Array[] = [];
    let total = 0;
    for (let i = 0; i < m; i++) {
      const block = values.subarray(i * k * d, (i + 1) * k * d);
      const chol = choleskyOfGram(block, k, d);
      if (!chol) throw new Error(`logDetDivergence: anchor set ${i} has linearly dependent anchors (G is singular)`);
      let trace = 0;
      for (let j = 0; j < k * d; j++) trace += block[j] * block[j];
      let logDet = 0;
      for (let j = 0; j < k; j++) logDet += 2 * Math.log(chol[j * k + j]);
      total += weights[i] * (trace - logDet);
      factors.push(chol);
    }
    return {
      value: tf.scalar(total),
      gradFunc: (dy: Tensor) => {
        const grad = new Float32Array(m * k * d);
        for (let i = 0; i < m; i++) {
          const block = values.subarray(i * k * d, (i + 1) * k * d);
          const ginvA = solveWithCholesky(factors[i], block, k, d);
          const off = i * k * d;
          for (let j = 0; j < k * d; j++) grad[off + j] = 2 * weights[i] * (block[j] - ginvA[j]);
        }
        return tf.mul(dy, tf.tensor3d(grad, [m, k, d]));
      },
    };
  });
  return op(a) as tf.Scalar;
}

/**
 * tr(G) − log det(G) for G = A Aᵀ (A [K, d] row-major, Float64) and its gradient 2A − 2G⁻¹A
 * (method.md §3 L_reg). The one implementation of this maths: `logDetDivergence` above wraps it per
 * anchor set for tfjs, and the cold-start optimiser calls it directly.
 */
export function logDetDivergenceWithGradient(a: Float64Array, k: number, d: number): { value: number; grad: Float64Array } {
  const chol = choleskyOfGram(a, k, d);
  if (!chol) throw new Error('anchor regulariser: the anchors are linearly dependent (G is singular)');
  let trace = 0;
  for (let j = 0; j < k * d; j++) trace += a[j] * a[j];
  let logDet = 0;
  for (let j = 0; j < k; j++) logDet += 2 * Math.log(chol[j * k + j]);
  const ginvA = solveWithCholesky(chol, a, k, d);
  const grad = new Float64Array(k * d);
  for (let j = 0; j < k * d; j++) grad[j] = 2 * (a[j] - ginvA[j]);
  return { value: trace - logDet, grad };
}

/** Lower Cholesky factor L (row-major K×K) of G = A Aᵀ for A [K, d] row-major; null if G is not SPD. */
function choleskyOfGram(a: Float64Array, k: number, d: number): Float64Array | null {
  const g = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    const ro = r * d;
    for (let c = 0; c <= r; c++) {
      const co = c * d;
      let s = 0;
      for (let t = 0; t < d; t++) s += a[ro + t] * a[co + t];
      g[r * k + c] = s;
    }
  }
  const l = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c <= r; c++) {
      let s = g[r * k + c];
      for (let t = 0; t < c; t++) s -= l[r * k + t] * l[c * k + t];
      if (r === c) {
        if (!(s > 0)) return null;
        l[r * k + r] = Math.sqrt(s);
      } else {
        l[r * k + c] = s / l[c * k + c];
      }
    }
  }
  return l;
}

/**
 * X = G⁻¹A with G = L Lᵀ, A [K, d] row-major. Each of the d columns is solved as a K-vector
 * (forward substitution with L, backward with Lᵀ) so that every inner loop is a contiguous dot
 * product, the form V8 runs fastest.
 */
function solveWithCholesky(l: Float64Array, a: Float64Array, k: number, d: number): Float64Array {
  const lt = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c <= r; c++) lt[c * k + r] = l[r * k + c];
  const x = new Float64Array(k * d);
  const col = new Float64Array(k);
  for (let t = 0; t < d; t++) {
    for (let r = 0; r < k; r++) {
      let s = a[r * d + t];
      const lo = r * k;
      for (let c = 0; c < r; c++) s -= l[lo + c] * col[c];
      col[r] = s / l[lo + r];
    }
    for (let r = k - 1; r >= 0; r--) {
      let s = col[r];
      const lo = r * k;
      for (let c = r + 1; c < k; c++) s -= lt[lo + c] * col[c];
      col[r] = s / lt[lo + r];
    }
    for (let r = 0; r < k; r++) x[r * d + t] = col[r];
  }
  return x;
}
