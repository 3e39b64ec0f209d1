/**
 * Training objectives (method.md §4) as graph builders: each takes score or embedding values of a graph
 * and returns a scalar loss value, which the training step differentiates. No weights, no
 * randomness, so they can be tested on hand-built inputs.
 */
import type { Graph, Value } from '../engine/graph.js';
import { ConfigError } from '../errors.js';

/**
 * LPAE soft-margin pairwise loss over EVERY positive/negative pair of the batch, across users
 * (method.md §4 "Pairwise"; LPAE's code pairs all B×B'): `mean_{p,n} log(1 + exp(-(s⁺_p - s⁻_n)))`.
 * The 0.01·L_reg anchor term is added by the trainer, not here.
 */
export function pairwiseLoss(g: Graph, sPos: Value, sNeg: Value): Value {
  // [B, 1] - [1, B'] → [B, B'] margins
  const margin = g.sub(g.unsqueeze(sPos, [1]), g.unsqueeze(sNeg, [0]));
  return g.reduceMean(g.softplus(g.neg(margin)), [0, 1]);
}

/**
 * Sampled softmax over one positive and its M negatives (method.md §4 Eq. T):
 * `L_T = mean_b [ logsumexp(s⁺_b, s⁻_b1..s⁻_bM) - s⁺_b ]`.
 */
export function softmaxLoss(g: Graph, sPos: Value, sNeg: Value): Value {
  if (sPos.shape.length !== 1 || sNeg.shape.length !== 2 || sNeg.shape[0] !== sPos.shape[0]) {
    throw new Error(`expected sPos [B] and sNeg [B, M], got [${sPos.shape}] and [${sNeg.shape}]`);
  }
  const logits = g.concat([g.unsqueeze(sPos, [1]), sNeg], 1);
  return g.reduceMean(g.sub(g.logSumExp(logits, 1), sPos), [0]);
}

/**
 * How the teacher's view enters the student's loss (method.md §4 "Variants"): `shift` and
 * `indicator` move the negatives' logits inside the student's softmax; `distill` leaves the
 * student's softmax alone and adds an explicit distillation term (distillationLoss).
 */
export type FndForm = 'shift' | 'indicator' | 'distill';

/**
 * False Negative Distillation (method.md §4 Eq. S) as a shift of each negative's logit, computed from
 * the teacher's φ outside the graph (φ is a constant: no gradient reaches the teacher). The
 * student's loss is then `softmaxLoss(s⁺, s⁻ + shift)`.
 *
 * - `shift` (Eq. S): shift_j = α·φ_j, i.e. the negative's exp-term is multiplied by exp(α·φ_j).
 *   α = 0 is Eq. T exactly (a shift of +0). α > 0 is the paper's described mechanism (a suspected
 *   false negative, φ > 0, weighs MORE in the denominator); α < 0 is the inverted variant.
 * - `indicator`: the exp-term is multiplied by w_j = α when φ_j > 0 and 1 otherwise, i.e.
 *   shift_j = log w_j. α = 1 is Eq. T; α > 1 penalises suspected false negatives harder; α = 0
 *   drops them from the denominator (a shift of −∞). α must be ≥ 0 (a weight on an exponential).
 */
export function fndShift(phi: Float32Array, alpha: number, form: Exclude<FndForm, 'distill'>): Float32Array {
  if (!Number.isFinite(alpha)) throw new ConfigError('fnd.alpha', `must be a finite number, got ${alpha}`);
  if (form === 'shift') return Float32Array.from(phi, (p) => alpha * p);
  if (alpha < 0) throw new ConfigError('fnd.alpha', `the indicator form weights exp-terms, so alpha must be >= 0, got ${alpha}`);
  const logAlpha = Math.log(alpha);
  return Float32Array.from(phi, (p) => (p > 0 ? logAlpha : 0));
}

/**
 * The teacher's distribution over each positive and its M negatives, as log-probabilities
 * [B, M+1] (row b: the positive, then its negatives), for distillationLoss:
 * log q_b = log softmax(t⁺_b, t⁻_b1..t⁻_bM) of the teacher's scores, in float64.
 */
export function teacherLogProbs(tPos: Float32Array, tNeg: Float32Array): Float32Array {
  const b = tPos.length;
  const m = tNeg.length / b;
  if (!Number.isInteger(m) || m < 1) throw new Error(`teacherLogProbs: ${tNeg.length} negative scores are not rows for ${b} positives`);
  const out = new Float32Array(b * (m + 1));
  for (let i = 0; i < b; i++) {
    let max = tPos[i];
    for (let j = 0; j < m; j++) max = Math.max(max, tNeg[i * m + j]);
    let sum = Math.exp(tPos[i] - max);
    for (let j = 0; j < m; j++) sum += Math.exp(tNeg[i * m + j] - max);
    const lse = max + Math.log(sum);
    out[i * (m + 1)] = tPos[i] - lse;
    for (let j = 0; j < m; j++) out[i * (m + 1) + 1 + j] = tNeg[i * m + j] - lse;
  }
  return out;
}

/**
 * The `distill` form of FND (method.md §4 "Variants"): explicit ranking distillation,
 * `mean_b KL(q_b ‖ p_b)` with q_b the teacher's softmax over the positive and its M negatives
 * (`logQ`, from teacherLogProbs) and p_b the student's softmax over the same outfits. The
 * student's own scores are compared with the teacher's; they are never added to them, so the
 * student is not trained inside a product of experts with the teacher. A negative the teacher
 * scores high (a suspected false negative) keeps a large share in q: the student is not pushed to
 * score it far below the positive, in proportion to the teacher's belief.
 */
export function distillationLoss(g: Graph, sPos: Value, sNeg: Value, logQ: Value): Value {
  const logits = g.concat([g.unsqueeze(sPos, [1]), sNeg], 1);
  if (logQ.shape.length !== 2 || logQ.shape[0] !== logits.shape[0] || logQ.shape[1] !== logits.shape[1]) {
    throw new Error(`distillationLoss: teacher log-probabilities [${logQ.shape}] do not match the logits [${logits.shape}]`);
  }
  const logP = g.sub(logits, g.logSumExp(logits, 1, true));
  return g.reduceMean(g.reduceSum(g.mul(g.exp(logQ), g.sub(logQ, logP)), [1]), [0]);
}

export interface ContrastiveOptions {
  /** Also use every view belonging to the batch's OTHER samples as negatives (SimCLR proper). */
  inBatch: boolean;
}

/**
 * Outfit-to-outfit InfoNCE (method.md §4 "Contrastive"): cosine similarity over projected views, τ-scaled.
 * For sample b the anchor v1_b has positive v2_b and negatives negViews_b (the 2M erase/replace
 * views of its own negatives); with `inBatch`, every view of every other sample b' ≠ b
 * (v1_b', v2_b' and negViews_b') is an extra negative. Symmetrised: the v2→v1 direction uses the
 * same negatives, and the loss is the mean of the two directions.
 */
export function contrastiveLoss(g: Graph, v1: Value, v2: Value, negViews: Value, tau: number, opts: ContrastiveOptions): Value {
  const [batch, dim] = v1.shape as number[];
  const negPerSample = negViews.shape[1] as number;
  if (v2.shape[0] !== batch || v2.shape[1] !== dim || negViews.shape[0] !== batch || negViews.shape[2] !== dim) {
    throw new Error(`contrastiveLoss: shapes v1 [${v1.shape}], v2 [${v2.shape}], negViews [${negViews.shape}] disagree`);
  }
  if (!(tau > 0)) throw new ConfigError('cl.tau', `must be > 0, got ${tau}`);
  const n1 = g.l2Normalize(v1);
  const n2 = g.l2Normalize(v2);
  const nNeg = g.l2Normalize(negViews);
  const posSim = g.mul(g.reduceSum(g.mul(n1, n2), [1]), 1 / tau);

  let inBatchViews: Value | null = null;
  let otherSampleMask: Value | null = null;
  if (opts.inBatch && batch > 1) {
    inBatchViews = g.concat([n1, n2, g.reshape(nNeg, [batch * negPerSample, dim])], 0);
    // additive mask over the view rows: the anchor's own sample (its positive and own negatives
    // are already in the other terms; itself must not be a negative) gets a large negative
    const rows = 2 * batch + batch * negPerSample;
    const mask = new Float32Array(batch * rows);
    for (let b = 0; b < batch; b++) {
      mask[b * rows + b] = -1e9;
      mask[b * rows + batch + b] = -1e9;
      for (let m = 0; m < negPerSample; m++) mask[b * rows + 2 * batch + b * negPerSample + m] = -1e9;
    }
    otherSampleMask = g.constant(g.float === 'float32' ? mask : Float64Array.from(mask), [batch, rows]);
  }

  const direction = (anchor: Value): Value => {
    const groupSim = g.mul(g.reduceSum(g.mul(g.unsqueeze(anchor, [1]), nNeg), [2]), 1 / tau);
    const parts: Value[] = [g.unsqueeze(posSim, [1]), groupSim];
    if (inBatchViews && otherSampleMask) parts.push(g.add(g.mul(g.matmul(anchor, g.transposeLast(inBatchViews)), 1 / tau), otherSampleMask));
    return g.reduceMean(g.sub(g.logSumExp(g.concat(parts, 1), 1), posSim), [0]);
  };
  return g.mul(g.add(direction(n1), direction(n2)), 0.5);
}
