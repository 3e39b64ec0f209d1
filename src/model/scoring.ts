/**
 * The score of method.md §3 in plain arithmetic, outside any graph: one home for every scorer that
 * works on arrays (the model's inference, cold start, serving, composition). A user collapses to
 * one vector v_u = Σ_k a_uk/‖a_uk‖ (own and shared anchors); an outfit to its unit embedding ĥ_o;
 * the score is s(u, o) = ĥ_o · v_u / divisor, the divisor being τ (sum reduction) or K·τ (mean).
 * The graphs compute the same with `Graph.l2Normalize` and `userVectorsInGraph`.
 */

/** Added under the square root of every L2 norm, as `Graph.l2Normalize` does. */
export const NORM_EPS = 1e-12;

type Numbers = Float32Array | Float64Array;

/** The score divisor of method.md §3: τ for the sum over anchors, K·τ for their mean. */
export function scoreDivisorOf(reduction: 'sum' | 'mean', temperature: number, totalAnchors: number): number {
  return (reduction === 'mean' ? totalAnchors : 1) * temperature;
}

/** ‖row r‖ (with NORM_EPS) of `count` rows of `d` values from `offset`, into `out` (default a new array). */
export function rowNorms(values: ArrayLike<number>, d: number, count = values.length / d, offset = 0, out?: Float64Array): Float64Array {
  const norms = out ?? new Float64Array(count);
  for (let r = 0; r < count; r++) {
    const o = offset + r * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += values[o + j] * values[o + j];
    norms[r] = Math.sqrt(ss + NORM_EPS);
  }
  return norms;
}

/** Every row of `values` [n·d] divided by its L2 norm, into `out` (default a new Float32Array). */
export function l2NormalizeRows<T extends Numbers = Float32Array>(values: ArrayLike<number>, d: number, out?: T): T {
  const result = out ?? (new Float32Array(values.length) as T);
  const norms = rowNorms(values, d);
  for (let r = 0; r < norms.length; r++) {
    const inv = 1 / norms[r];
    for (let j = 0; j < d; j++) result[r * d + j] = values[r * d + j] * inv;
  }
  return result;
}

/** out += Σ_r rows[r] / ‖rows[r]‖ over `count` rows of `d` values from `offset`. */
export function addNormalizedRows(values: ArrayLike<number>, offset: number, count: number, d: number, out: Numbers): void {
  const norms = rowNorms(values, d, count, offset);
  for (let r = 0; r < count; r++) {
    const o = offset + r * d;
    const inv = 1 / norms[r];
    for (let j = 0; j < d; j++) out[j] += values[o + j] * inv;
  }
}

/** A user's vector from its own anchors [Ku·d] plus the shared anchors' sum: Σ_k â_k + shared. */
export function userVectorFromAnchors(anchors: Float32Array, d: number, sharedSum: Float32Array): Float32Array {
  const v = sharedSum.slice();
  addNormalizedRows(anchors, 0, anchors.length / d, d, v);
  return v;
}

/** s_r = ĥ_r · v / divisor for every row of `hats` [n·d] against ONE user vector `v` [d]. */
export function scoreAgainstVector(hats: Float32Array, v: ArrayLike<number>, d: number, divisor: number): Float32Array {
  const out = new Float32Array(hats.length / d);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += hats[r * d + t] * v[t];
    out[r] = s / divisor;
  }
  return out;
}

/** s_r = ĥ_r · v_r / divisor for row-aligned `hats` and user `vectors` (both [n·d]). */
export function scoreRowAligned(hats: Float32Array, vectors: Float32Array, d: number, divisor: number): Float32Array {
  const out = new Float32Array(hats.length / d);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += hats[r * d + t] * vectors[r * d + t];
    out[r] = s / divisor;
  }
  return out;
}
