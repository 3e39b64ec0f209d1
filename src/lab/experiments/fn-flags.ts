/**
 * How well a teacher's false-negativeness φ (method.md §4, Eq. S: φ_j = r̂_u − d^T(u, o⁻_j)) finds the
 * sampled negatives that truly are false negatives, judged against the synthetic benchmark's ground
 * truth flags (method.md §6.3). Pure arithmetic on arrays; the experiment that feeds it lives in
 * fn-analysis.ts.
 */
import { aucOfUser } from '../../eval/metrics.js';

export interface FlagThresholdRow {
  /** The rule is "flag when φ > threshold". */
  threshold: number;
  /** Threshold in units of φ's standard deviation (0 is the paper's rule φ > 0). */
  thresholdInStd: number;
  flagged: number;
  truePositives: number;
  /** Share of flagged negatives that truly are false negatives (NaN when nothing is flagged). */
  precision: number;
  /** Share of true false negatives that are flagged (NaN when there are none). */
  recall: number;
  f1: number;
}

export interface FlagQuality {
  negatives: number;
  trueFalseNegatives: number;
  /** trueFalseNegatives / negatives: the precision a coin would get. */
  baseRate: number;
  /** P(φ of a true false negative > φ of a true negative), ties ½: threshold-free quality of φ. */
  rankingAuc: number;
  meanPhi: number;
  stdPhi: number;
  rows: FlagThresholdRow[];
}

/** Thresholds used by the report, in units of φ's std around 0 (0 = the paper's rule). */
export const DEFAULT_THRESHOLDS_IN_STD = [-1, -0.5, 0, 0.5, 1, 2];

/**
 * Precision/recall of "φ > t" against the truth, for each t = k·std(φ), k in `thresholdsInStd`.
 * `phi[i]` and `isFalseNegative[i]` describe the same sampled negative.
 */
export function flagQuality(
  phi: ArrayLike<number>,
  isFalseNegative: ArrayLike<number | boolean>,
  thresholdsInStd: readonly number[] = DEFAULT_THRESHOLDS_IN_STD,
): FlagQuality {
  const n = phi.length;
  if (isFalseNegative.length !== n) {
    throw new RangeError(`flagQuality: ${n} φ values but ${isFalseNegative.length} flags`);
  }
  const fnPhi: number[] = [];
  const tnPhi: number[] = [];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(phi[i])) throw new RangeError(`flagQuality: φ[${i}] = ${phi[i]} is not finite`);
    sum += phi[i];
    (isFalseNegative[i] ? fnPhi : tnPhi).push(phi[i]);
  }
  const mean = n > 0 ? sum / n : NaN;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (phi[i] - mean) ** 2;
  const std = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  const rows = thresholdsInStd.map((k): FlagThresholdRow => {
    const threshold = k * std;
    let flagged = 0;
    let truePositives = 0;
    for (let i = 0; i < n; i++) {
      if (phi[i] > threshold) {
        flagged++;
        if (isFalseNegative[i]) truePositives++;
      }
    }
    const precision = flagged > 0 ? truePositives / flagged : NaN;
    const recall = fnPhi.length > 0 ? truePositives / fnPhi.length : NaN;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { threshold, thresholdInStd: k, flagged, truePositives, precision, recall, f1 };
  });
  return {
    negatives: n,
    trueFalseNegatives: fnPhi.length,
    baseRate: n > 0 ? fnPhi.length / n : NaN,
    rankingAuc: aucOfUser(fnPhi, tnPhi),
    meanPhi: mean,
    stdPhi: std,
    rows,
  };
}

/** Pearson correlation of two equally long series (NaN with fewer than 3 points or no variance). */
export function pearson(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new RangeError(`pearson: ${xs.length} x values but ${ys.length} y values`);
  const pairs = xs.map((x, i) => [x, ys[i]] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pairs.length < 3) return NaN;
  const mx = pairs.reduce((a, [x]) => a + x, 0) / pairs.length;
  const my = pairs.reduce((a, [, y]) => a + y, 0) / pairs.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const [x, y] of pairs) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}
