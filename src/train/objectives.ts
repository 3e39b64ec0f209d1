/**
 * Training objectives (method.md §4). Every function takes score or embedding tensors and returns a
 * scalar loss; they are pure tf (no variables, no randomness) so they can be tested on hand-built
 * tensors and differentiated by whatever optimizer calls them.
 */
import { ConfigError } from '../errors.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../engine/tf.js';

/**
 * LPAE soft-margin pairwise loss over EVERY positive/negative pair of the batch, across users
 * (method.md §4 "Pairwise": LPAE's code pairs all B×B'):
 * `mean_{p,n} log(1 + exp(-(s⁺_p - s⁻_n)))`, written as softplus for stability.
 * The 0.01·L_reg anchor term is added by the trainer, not here.
 */
export function pairwiseLoss(sPos: Tensor1D, sNeg: Tensor1D): Tensor {
  return tf.tidy(() => {
    // [B, 1] - [1, B'] → [B, B'] margins
    const margin = tf.sub(tf.expandDims(sPos, 1), tf.expandDims(sNeg, 0));
    return tf.mean(tf.softplus(tf.neg(margin)));
  });
}

/**
 * Sampled softmax over one positive and its M negatives (method.md §4 Eq. T):
 * `L_T = mean_b [ logsumexp(s⁺_b, s⁻_b1..s⁻_bM) - s⁺_b ]`.
 */
export function softmaxLoss(sPos: Tensor1D, sNeg: Tensor2D): Tensor {
  checkGroupShapes(sPos, sNeg);
  return tf.tidy(() => {
    const logits = tf.concat([tf.expandDims(sPos, 1), sNeg], 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), sPos));
  });
}

export type FndForm = 'shift' | 'indicator';

/**
 * False Negative Distillation student loss (method.md §4 Eq. S). `phi[b, j] = r̂_u - d^T(u, o⁻_j)` is the
 * teacher's false-negativeness of negative j (a constant: no gradient reaches the teacher).
 *
 * - `shift` (Eq. S): each negative's logit becomes `s⁻_j + α·φ_j`, i.e. its exp-term in the
 *   softmax denominator is multiplied by `exp(α·φ_j)`. α = 0 is Eq. T exactly.
 * - `indicator`: the negative's exp-term `e^{s⁻_j}` in the denominator is multiplied by a weight
 *   w_j = α when φ_j > 0 (the teacher puts it inside the user's radius) and w_j = 1 otherwise.
 *   α = 1 is Eq. T; α > 1 penalises false negatives harder; α = 0 drops them from the
 *   denominator. α must be ≥ 0 (a weight on an exponential).
 */
export function fndLoss(sPos: Tensor1D, sNeg: Tensor2D, phi: Tensor2D, alpha: number, form: FndForm): Tensor {
  checkGroupShapes(sPos, sNeg);
  if (phi.shape[0] !== sNeg.shape[0] || phi.shape[1] !== sNeg.shape[1]) {
    throw new Error(`fndLoss: phi shape [${phi.shape}] must equal sNeg shape [${sNeg.shape}]`);
  }
  if (!Number.isFinite(alpha)) throw new ConfigError('fnd.alpha', `must be a finite number, got ${alpha}`);
  if (form === 'shift') {
    // α = 0: return Eq. T itself, so the identity is exact by construction, not by float luck
    if (alpha === 0) return softmaxLoss(sPos, sNeg);
    return tf.tidy(() => softmaxLoss(sPos, tf.add(sNeg, tf.mul(phi, alpha)) as Tensor2D));
  }
  if (alpha < 0) throw new ConfigError('fnd.alpha', `the indicator form weights exp-terms, so alpha must be >= 0, got ${alpha}`);
  return tf.tidy(() => {
    // log-sum-exp with per-negative weights, shifted by the row max for stability:
    // L = m + log(e^{s⁺-m} + Σ_j w_j e^{s⁻_j-m}) - s⁺
    const isFalseNegative = tf.cast(tf.greater(phi, 0), 'float32');
    const weights = tf.add(tf.mul(isFalseNegative, alpha - 1), 1); // α on φ>0, 1 elsewhere
    const logits = tf.concat([tf.expandDims(sPos, 1), sNeg], 1);
    const rowMax = tf.max(logits, 1, true);
    const posTerm = tf.exp(tf.sub(tf.expandDims(sPos, 1), rowMax));
    const negTerms = tf.mul(weights, tf.exp(tf.sub(sNeg, rowMax)));
    const denominator = tf.add(tf.squeeze(posTerm, [1]), tf.sum(negTerms, 1));
    return tf.mean(tf.sub(tf.add(tf.squeeze(rowMax, [1]), tf.log(denominator)), sPos));
  });
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
export function contrastiveLoss(
  v1: Tensor2D,
  v2: Tensor2D,
  negViews: Tensor3D,
  tau: number,
  opts: ContrastiveOptions,
): Tensor {
  const [batch, dim] = v1.shape;
  if (v2.shape[0] !== batch || v2.shape[1] !== dim || negViews.shape[0] !== batch || negViews.shape[2] !== dim) {
    throw new Error(`contrastiveLoss: shapes v1 [${v1.shape}], v2 [${v2.shape}], negViews [${negViews.shape}] disagree`);
  }
  if (!(tau > 0)) throw new ConfigError('cl.tau', `must be > 0, got ${tau}`);
  const negPerSample = negViews.shape[1];
  return tf.tidy(() => {
    const n1 = l2Normalize(v1);
    const n2 = l2Normalize(v2);
    const nNeg = l2Normalize(negViews);
    const posSim = tf.div(tf.sum(tf.mul(n1, n2), 1), tau) as Tensor1D;

    let inBatchViews: Tensor2D | null = null;
    let otherSampleMask: Tensor2D | null = null;
    if (opts.inBatch && batch > 1) {
      inBatchViews = tf.concat([n1, n2, tf.reshape(nNeg, [batch * negPerSample, dim])], 0) as Tensor2D;
      // owner of each view row, to mask out the anchor's own sample (its positive and own
      // negatives are already in the positive / group terms; itself must not be a negative)
      const owners = new Int32Array(inBatchViews.shape[0]);
      for (let b = 0; b < batch; b++) {
        owners[b] = b;
        owners[batch + b] = b;
        for (let m = 0; m < negPerSample; m++) owners[2 * batch + b * negPerSample + m] = b;
      }
      const own = tf.equal(tf.expandDims(tf.range(0, batch, 1, 'int32'), 1), tf.expandDims(tf.tensor1d(owners, 'int32'), 0));
      // additive mask: 0 for other samples' views, a large negative for the own sample's
      otherSampleMask = tf.mul(tf.cast(own, 'float32'), -1e9) as Tensor2D;
    }

    const direction = (anchor: Tensor2D): Tensor => {
      const groupSim = tf.div(tf.sum(tf.mul(tf.expandDims(anchor, 1), nNeg), 2), tau);
      const parts: Tensor[] = [tf.expandDims(posSim, 1), groupSim];
      if (inBatchViews && otherSampleMask) {
        const sims = tf.div(tf.matMul(anchor, tf.transpose(inBatchViews)), tau);
        parts.push(tf.add(sims, otherSampleMask));
      }
      return tf.mean(tf.sub(tf.logSumExp(tf.concat(parts, 1), 1), posSim));
    };
    return tf.mul(tf.add(direction(n1), direction(n2)), 0.5);
  });
}

/** Unit-normalises the last axis (eps keeps an all-zero view finite). */
function l2Normalize<T extends Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12))) as T);
}

function checkGroupShapes(sPos: Tensor1D, sNeg: Tensor2D): void {
  if (sPos.rank !== 1 || sNeg.rank !== 2 || sNeg.shape[0] !== sPos.shape[0]) {
    throw new Error(`expected sPos [B] and sNeg [B, M], got [${sPos.shape}] and [${sNeg.shape}]`);
  }
}
