/**
 * Ranking metrics of method.md §7: per-user AUC and the all-cut-off "max"-discount
 * NDCG, macro-averaged over users, and FITB accuracy. Pure functions on plain arrays; no tf.
 *
 * Tie rules, chosen so that a constant scorer can never look good (method.md §7):
 * - AUC counts a tied positive/negative pair as ½ (= sklearn's roc_auc_score);
 * - NDCG ranks a negative before a positive of equal score (more generally: lower label first);
 * - FITB counts a question as right only when the answer scores strictly above every other candidate.
 */

/** Per-user AUC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) over all positive×negative pairs (method.md §7). */
export function aucOfUser(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const p = pos.length;
  const n = neg.length;
  if (p === 0 || n === 0) return NaN;
  // Mann–Whitney U with mid-ranks for ties: sort all scores once, O((p+n) log(p+n)).
  const total = p + n;
  const values = new Float64Array(total);
  for (let i = 0; i < p; i++) values[i] = checkScore(pos[i], i);
  for (let j = 0; j < n; j++) values[p + j] = checkScore(neg[j], p + j);
  const order = sortedOrder(values);
  let positiveRankSum = 0;
  let i = 0;
  while (i < total) {
    let j = i + 1;
    while (j < total && values[order[j]] === values[order[i]]) j++;
    // ranks i+1..j (1-based) share the mid-rank (i+1+j)/2
    const midRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (order[t] < p) positiveRankSum += midRank;
    i = j;
  }
  return (positiveRankSum - (p * (p + 1)) / 2) / (p * n);
}

/**
 * Per-user NDCG (method.md §7): order by score descending with ties against the positives,
 * gain 2^y − 1, discount log2(max(i, 2)), NDCG@k = DCG@k / IDCG@k for k = 1..n, returns the mean over k.
 * NaN when the user has no item with positive gain (IDCG is 0).
 */
export function ndcgOfUser(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`ndcgOfUser: ${n} scores but ${labels.length} labels`);
  if (n === 0) return NaN;
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = checkScore(scores[i], i);
  const order = Array.from({ length: n }, (_, i) => i);
  // Descending score; on equal scores the lower label first (a negative before a positive), then index
  // order so the result never depends on the sort implementation.
  order.sort((a, b) => s[b] - s[a] || labels[a] - labels[b] || a - b);
  const idealLabels = Array.from(labels).sort((a, b) => b - a);
  if (!(2 ** idealLabels[0] - 1 > 0)) return NaN;
  let dcg = 0;
  let idcg = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const discount = Math.log2(Math.max(i + 1, 2));
    dcg += (2 ** labels[order[i]] - 1) / discount;
    idcg += (2 ** idealLabels[i] - 1) / discount;
    sum += dcg / idcg;
  }
  return sum / n;
}

export interface UserRanking {
  user: number;
  auc: number;
  ndcg: number;
  positives: number;
  negatives: number;
}

export interface RankingResult {
  /** Unweighted mean of the per-user AUCs (NaN when no user could be evaluated). */
  auc: number;
  /** Unweighted mean of the per-user NDCGs. */
  ndcg: number;
  /** Users evaluated (those with at least one positive and one negative). */
  users: number;
  /** Users present in the input but skipped for lack of positives or of negatives. */
  skippedUsers: number;
  /** One entry per evaluated user, in increasing user id. */
  perUser: UserRanking[];
}

/**
 * Macro-averaged AUC and NDCG over users (method.md §7). Element i is a candidate of `users[i]` with score
 * `scores[i]` and binary label `labels[i]` (1 = positive). Candidate order does not matter.
 */
export function evaluateRanking(users: Int32Array, scores: ArrayLike<number>, labels: Uint8Array): RankingResult {
  const n = users.length;
  if (scores.length !== n || labels.length !== n) {
    throw new RangeError(`evaluateRanking: ${n} users, ${scores.length} scores, ${labels.length} labels`);
  }
  // Group candidate indices by user with a stable sort (keeps the within-user order of the input).
  const byUser = Array.from({ length: n }, (_, i) => i).sort((a, b) => users[a] - users[b] || a - b);
  const perUser: UserRanking[] = [];
  let skippedUsers = 0;
  let aucSum = 0;
  let ndcgSum = 0;
  let start = 0;
  while (start < n) {
    const user = users[byUser[start]];
    let end = start + 1;
    while (end < n && users[byUser[end]] === user) end++;
    const pos: number[] = [];
    const neg: number[] = [];
    const userScores = new Float64Array(end - start);
    const userLabels = new Uint8Array(end - start);
    for (let t = start; t < end; t++) {
      const idx = byUser[t];
      const label = labels[idx];
      if (label !== 0 && label !== 1) throw new RangeError(`evaluateRanking: label ${label} at ${idx} is not 0 or 1`);
      userScores[t - start] = scores[idx];
      userLabels[t - start] = label;
      (label === 1 ? pos : neg).push(scores[idx]);
    }
    if (pos.length === 0 || neg.length === 0) {
      skippedUsers++;
    } else {
      const auc = aucOfUser(pos, neg);
      const ndcg = ndcgOfUser(userScores, userLabels);
      perUser.push({ user, auc, ndcg, positives: pos.length, negatives: neg.length });
      aucSum += auc;
      ndcgSum += ndcg;
    }
    start = end;
  }
  const evaluated = perUser.length;
  return {
    auc: evaluated > 0 ? aucSum / evaluated : NaN,
    ndcg: evaluated > 0 ? ndcgSum / evaluated : NaN,
    users: evaluated,
    skippedUsers,
    perUser,
  };
}

/**
 * FITB accuracy (method.md §7): `scores` holds `candidatesPerQuestion` consecutive
 * candidates per question, the first being the answer. A question counts as right only when the
 * answer scores strictly higher than every other candidate: ties count as wrong, consistent with
 * breaking ties against the positive elsewhere.
 */
export function fitbAccuracy(scores: ArrayLike<number>, candidatesPerQuestion = 4): number {
  if (!Number.isInteger(candidatesPerQuestion) || candidatesPerQuestion < 2) {
    throw new RangeError(`fitbAccuracy: candidatesPerQuestion must be an integer >= 2, got ${candidatesPerQuestion}`);
  }
  if (scores.length % candidatesPerQuestion !== 0) {
    throw new RangeError(`fitbAccuracy: ${scores.length} scores is not a multiple of ${candidatesPerQuestion}`);
  }
  const questions = scores.length / candidatesPerQuestion;
  if (questions === 0) return NaN;
  let right = 0;
  for (let q = 0; q < questions; q++) {
    const base = q * candidatesPerQuestion;
    const answer = checkScore(scores[base], base);
    let best = true;
    for (let c = 1; c < candidatesPerQuestion; c++) {
      if (checkScore(scores[base + c], base + c) >= answer) {
        best = false;
        break;
      }
    }
    if (best) right++;
  }
  return right / questions;
}

/** NaN compares false with everything and would silently corrupt every order above. */
function checkScore(v: number, index: number): number {
  if (Number.isNaN(v)) throw new RangeError(`score at index ${index} is NaN`);
  return v;
}

/** Indices sorted by ascending value. */
function sortedOrder(values: Float64Array): Uint32Array {
  const order = new Uint32Array(values.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => values[a] - values[b]);
}

/** A bootstrap interval of a mean: `level` coverage, from `resamples` draws. */
export interface BootstrapInterval {
  low: number;
  high: number;
  level: number;
  resamples: number;
}

/**
 * Percentile bootstrap interval of the mean of `values` (e.g. the per-user AUCs of one scorer):
 * `resamples` means of `values.length` draws with replacement, cut at (1 − level)/2 and
 * (1 + level)/2. Seeded: the same rng state gives the same resampled users, so rows evaluated on
 * the same users are resampled alike. NaN bounds for no values.
 */
export function bootstrapMeanInterval(values: ArrayLike<number>, rng: { int(n: number): number }, resamples = 1000, level = 0.95): BootstrapInterval {
  const n = values.length;
  if (n === 0) return { low: NaN, high: NaN, level, resamples };
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[rng.int(n)];
    means[b] = sum / n;
  }
  means.sort();
  const at = (q: number): number => means[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return { low: at((1 - level) / 2), high: at((1 + level) / 2), level, resamples };
}
