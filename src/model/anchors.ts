/**
 * LPAE user anchors (method.md §3). User u has anchors a_uk ∈ R^d; the score of an
 * outfit is a reduction of cos(h_o, a_uk) over k. Because
 *   Σ_k cos(h_o, a_uk) = ĥ_o · Σ_k â_uk,
 * each user collapses to ONE vector (the sum of its normalised anchors): scoring never needs the
 * [n, K, d] tensor of per-outfit anchors, and "distance to the user" (FND, method.md §4) is well defined.
 */
import { UserError } from '../errors.js';
import type { Graph, Value } from '../engine/graph.js';
import type { Rng } from '../rng.js';
import { uniformInit, type ParamTable } from './params.js';
import { addNormalizedRows } from './scoring.js';

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

export const USER_ANCHORS = 'anchors.user';
export const SHARED_ANCHORS = 'anchors.shared';

/**
 * The anchor table: `anchors.user` [numUsers, Ku, d] and, for LPAE-g, `anchors.shared` [Ks, d].
 * It lives in typed arrays; a training step feeds only its users' rows to the graph and the
 * optimizer updates those rows (method.md §3).
 */
export class AnchorTable {
  constructor(
    numUsers: number,
    readonly userK: number,
    readonly sharedK: number,
    readonly dim: number,
    private readonly params: ParamTable,
    rng: Rng,
  ) {
    params.create(USER_ANCHORS, [numUsers, userK, dim], 'anchors', anchorInit(rng.fork('user'), dim));
    if (sharedK > 0) params.create(SHARED_ANCHORS, [sharedK, dim], 'anchors', anchorInit(rng.fork('shared'), dim));
  }

  private get user(): Float32Array {
    return this.params.get(USER_ANCHORS).data;
  }

  get numUsers(): number {
    return this.params.get(USER_ANCHORS).shape[0];
  }

  /** K, all anchors a user is scored against (own + shared). */
  get totalK(): number {
    return this.userK + this.sharedK;
  }

  checkUsers(users: Int32Array): void {
    const n = this.numUsers;
    for (let i = 0; i < users.length; i++) {
      const u = users[i];
      if (!(u >= 0 && u < n)) throw new UserError(`user ${u} is outside the model's users 0..${n - 1}`);
    }
  }

  /** Σ_k â_k over the shared anchors ([d] zeros for LPAE-u). */
  sharedSum(): Float32Array {
    const d = this.dim;
    const out = new Float32Array(d);
    if (this.sharedK > 0) addNormalizedRows(this.params.get(SHARED_ANCHORS).data, 0, this.sharedK, d, out);
    return out;
  }

  /** Σ_k â_uk per entry of `users` (own and shared anchors): [users.length · d] row-major. */
  userVectors(users: Int32Array): Float32Array {
    this.checkUsers(users);
    const d = this.dim;
    const shared = this.sharedSum();
    const out = new Float32Array(users.length * d);
    const per = this.userK * d;
    for (let i = 0; i < users.length; i++) {
      const row = out.subarray(i * d, (i + 1) * d);
      row.set(shared);
      addNormalizedRows(this.user, users[i] * per, this.userK, d, row);
    }
    return out;
  }

  /**
   * L_reg = mean over `users` of [tr(G_u) − log det(G_u)], G_u = A_u A_uᵀ over the user's own
   * un-normalised anchors (method.md §3; LPAE averages over the batch's users, duplicates included),
   * and its gradient with respect to each distinct user's rows (`unique` order).
   */
  regularizer(users: Int32Array): { value: number; unique: Int32Array; grad: Float32Array } {
    this.checkUsers(users);
    const { unique, inverse } = dedupe(users);
    const k = this.userK;
    const d = this.dim;
    if (k > d) throw new Error(`anchor regulariser: G_u = A_u A_uᵀ is singular when K_user (${k}) > dim (${d})`);
    const weights = new Float64Array(unique.length);
    for (let i = 0; i < inverse.length; i++) weights[inverse[i]] += 1 / users.length;
    const grad = new Float32Array(unique.length * k * d);
    let value = 0;
    unique.forEach((u, i) => {
      const a = Float64Array.from(this.user.subarray(u * k * d, (u + 1) * k * d));
      const r = logDetDivergenceWithGradient(a, k, d);
      value += weights[i] * r.value;
      for (let j = 0; j < k * d; j++) grad[i * k * d + j] = weights[i] * r.grad[j];
    });
    return { value, unique, grad };
  }

  /** Appends `count` new (cold) users with freshly drawn anchors; returns the first new user id. */
  addUsers(count: number, rng: Rng): number {
    if (!(Number.isInteger(count) && count > 0)) throw new Error(`addUsers: count must be a positive integer, got ${count}`);
    const first = this.numUsers;
    const old = this.user;
    const per = this.userK * this.dim;
    const values = new Float32Array(old.length + count * per);
    values.set(old);
    values.set(anchorInit(rng, this.dim)(count * per, [count, this.userK, this.dim]), old.length);
    this.params.replace(USER_ANCHORS, values, [first + count, this.userK, this.dim]);
    return first;
  }

  /** User u's own anchors, [Ku, d] row-major (serving, cold start "SU"). */
  getUserAnchors(u: number): Float32Array {
    this.checkUsers(Int32Array.of(u));
    const per = this.userK * this.dim;
    return this.user.slice(u * per, (u + 1) * per);
  }

  /** Overwrites user u's own anchors with `values` ([Ku, d] row-major). */
  setUserAnchors(u: number, values: Float32Array): void {
    this.checkUsers(Int32Array.of(u));
    const per = this.userK * this.dim;
    if (values.length !== per) throw new Error(`setUserAnchors: expected ${this.userK}×${this.dim} = ${per} values, got ${values.length}`);
    this.user.set(values, u * per);
  }

  /** The rows of `users` (distinct), [users.length, Ku, d] row-major: what a training step feeds. */
  gatherRows(users: Int32Array): Float32Array {
    this.checkUsers(users);
    const per = this.userK * this.dim;
    const out = new Float32Array(users.length * per);
    users.forEach((u, i) => out.set(this.user.subarray(u * per, (u + 1) * per), i * per));
    return out;
  }

  /** The shared (LPAE-g) anchors, [Ks, d] row-major, or null for LPAE-u. */
  getSharedAnchors(): Float32Array | null {
    return this.sharedK > 0 ? this.params.get(SHARED_ANCHORS).data.slice() : null;
  }
}

/**
 * In a graph: Σ_k â_uk for anchor rows `rows` [users, Ku, d] plus the shared anchors' sum
 * (`shared` [Ks, d] or null): [users, d]. Training differentiates through this; inference uses
 * `AnchorTable.userVectors`, the same sum in plain arithmetic.
 */
export function userVectorsInGraph(g: Graph, rows: Value, shared: Value | null): Value {
  const own = g.reduceSum(g.l2Normalize(rows), [1]);
  return shared ? g.add(own, g.reduceSum(g.l2Normalize(shared), [0], true)) : own;
}

/**
 * tr(G) − log det(G) for G = A Aᵀ (A [K, d] row-major, Float64) and its gradient 2A − 2G⁻¹A
 * (method.md §3 L_reg). The one implementation of this maths: `AnchorTable.regularizer` and the
 * cold-start optimiser call it.
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
