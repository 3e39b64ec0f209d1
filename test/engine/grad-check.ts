/**
 * Shared helpers for the engine tests: run the same computation on a named backend and compare
 * values with a tolerance (architecture.md §4.7: single forward/gradient evaluations, never a
 * trajectory).
 */
import assert from 'node:assert/strict';
import { withBackend, type BackendName } from '../../src/engine/backend.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { Rng } from '../../src/rng.js';

/** Seeded normal values for a tensor of `shape`, as a plain array usable on any backend. */
export function randomValues(shape: number[], seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const n = shape.reduce((p, s) => p * s, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

export interface Computed {
  shape: number[];
  values: Float32Array;
}

/** Runs `fn` on `backend` inside a tidy and copies every returned tensor out. */
export async function computeOn(backend: BackendName, fn: () => Tensor[]): Promise<Computed[]> {
  return withBackend(backend, () =>
    tf.tidy(() => fn()).map((t) => {
      const out = { shape: t.shape.slice(), values: Float32Array.from(t.dataSync()) };
      t.dispose();
      return out;
    }),
  );
}

/** max |a - e| / max(1, max |e|) <= tol, element by element over equally shaped results. */
export function assertClose(actual: Computed, expected: Computed, tol: number, label: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  let scale = 1;
  for (const v of expected.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.values.length; i++) {
    const d = Math.abs(actual.values[i] - expected.values[i]);
    if (Number.isNaN(d)) {
      worst = Infinity;
      at = i;
      break;
    }
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  assert.ok(
    worst / scale <= tol,
    `${label}: max abs diff ${worst} at ${at} (actual ${actual.values[at]}, expected ${expected.values[at]}), scale ${scale}, tol ${tol}`,
  );
}

export function assertAllClose(actual: Computed[], expected: Computed[], tol: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: number of results`);
  actual.forEach((a, i) => assertClose(a, expected[i], tol, `${label}[${i}]`));
}

/** a·b by broadcast multiply and sum: a reference whose gradient never touches BatchMatMul. */
export function referenceMatMul(a: Tensor, b: Tensor): Tensor {
  return tf.sum(tf.mul(tf.expandDims(a, 2), tf.expandDims(b, 0)), 1);
}
