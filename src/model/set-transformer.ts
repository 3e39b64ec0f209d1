/**
 * Set Transformer outfit encoder (method.md §2.3; Lee et al. 2019, as LPAE's code builds it):
 * `z_o = PMA(SAB(SAB(e_1..e_n)))`, h heads, per-head scaling 1/sqrt(d/h).
 *
 * Variable length: outfits are padded to the batch's longest; a key bias of 0 (real slot) or
 * −1e9 (padded slot) is added to the attention logits, so a padded key gets a softmax weight of
 * exactly 0 and contributes nothing. Padded query rows are computed but never read: the next
 * block sees them only as (masked) keys, and PMA's only query is the seed. A padded outfit
 * therefore gets the same embedding as the unpadded one.
 */
import { broadcastRows, denseNd, layerNorm, multiHeadAttention } from '../engine/layers.js';
import { tf, type Rank, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../engine/tf.js';
import type { Rng } from '../rng.js';
import { glorotUniform, heUniform, onesInit, zerosInit, type ParamStore } from './params.js';

/** Added to a padded key's logit: exp(−1e9 − max) is exactly 0 in float32. */
export const MASKED_LOGIT = -1e9;

interface Linear {
  w: Variable<Rank.R2>;
  b: Variable<Rank.R1>;
}

interface Norm {
  gamma: Variable<Rank.R1>;
  beta: Variable<Rank.R1>;
}

/** Multihead attention block MAB(Q, K) (method.md §2.3). Weights `<prefix>.{q,k,v,o}.*`, `<prefix>.ln{0,1}.*`. */
export class MultiheadAttentionBlock {
  private readonly q: Linear;
  private readonly k: Linear;
  private readonly v: Linear;
  private readonly o: Linear;
  private readonly ln0: Norm;
  private readonly ln1: Norm;

  constructor(
    prefix: string,
    readonly dim: number,
    readonly heads: number,
    store: ParamStore,
    rng: Rng,
  ) {
    const linear = (name: string, relu: boolean): Linear => ({
      w: store.create(`${prefix}.${name}.weight`, [dim, dim], 'setTransformer', relu ? heUniform(rng, dim) : glorotUniform(rng, dim, dim)),
      b: store.create(`${prefix}.${name}.bias`, [dim], 'setTransformer', zerosInit),
    });
    const norm = (name: string): Norm => ({
      gamma: store.create(`${prefix}.${name}.weight`, [dim], 'setTransformer', onesInit),
      beta: store.create(`${prefix}.${name}.bias`, [dim], 'setTransformer', zerosInit),
    });
    this.q = linear('q', false);
    this.k = linear('k', false);
    this.v = linear('v', false);
    this.o = linear('o', true);
    this.ln0 = norm('ln0');
    this.ln1 = norm('ln1');
  }

  /** Q' = Q W_q + b_q over the last axis. */
  projectQuery(x: Tensor): Tensor {
    return denseNd(x, this.q.w, this.q.b);
  }

  /**
   * MAB with an already projected query `qp` [n, Sq, d] and keys `y` [n, Sk, d];
   * `keyBias` [n, 1, 1, Sk] holds 0 for real keys and MASKED_LOGIT for padded ones.
   */
  attendProjected(qp: Tensor3D, y: Tensor3D, keyBias: Tensor | null): Tensor3D {
    return tf.tidy(() => {
      const kp = denseNd(y, this.k.w, this.k.b);
      const vp = denseNd(y, this.v.w, this.v.b);
      // per-head softmax(Q'_h K'_hᵀ/sqrt(d/h) + keyBias) V'_h, heads concatenated: one fused
      // engine kernel per pass (engine/kernels.ts) instead of ~20 small tf ops
      const attended = multiHeadAttention(qp, kp as Tensor3D, vp as Tensor3D, this.heads, keyBias);
      // residual on the projected query (method.md §2.3; torch_ref.py MAB)
      const hidden = layerNorm(tf.add(qp, attended), this.ln0.gamma, this.ln0.beta);
      const ff = denseNd(hidden, this.o.w, this.o.b, 'relu');
      return layerNorm(tf.add(hidden, ff), this.ln1.gamma, this.ln1.beta) as Tensor3D;
    });
  }

  /** MAB(X, Y). */
  forward(x: Tensor3D, y: Tensor3D, keyBias: Tensor | null): Tensor3D {
    return tf.tidy(() => this.attendProjected(this.projectQuery(x) as Tensor3D, y, keyBias));
  }
}

/** The outfit encoder: two SABs and a one-seed PMA (method.md §2.3). Weights under `encoder.`. */
export class SetTransformer {
  readonly sab1: MultiheadAttentionBlock;
  readonly sab2: MultiheadAttentionBlock;
  readonly pma: MultiheadAttentionBlock;
  private readonly seed: Variable<Rank.R2>;

  constructor(
    readonly dim: number,
    readonly heads: number,
    store: ParamStore,
    rng: Rng,
  ) {
    if (dim % heads !== 0) throw new Error(`SetTransformer: dim ${dim} must be a multiple of heads ${heads}`);
    this.sab1 = new MultiheadAttentionBlock('encoder.sab1', dim, heads, store, rng.fork('sab1'));
    this.sab2 = new MultiheadAttentionBlock('encoder.sab2', dim, heads, store, rng.fork('sab2'));
    this.pma = new MultiheadAttentionBlock('encoder.pma', dim, heads, store, rng.fork('pma'));
    // Xavier-uniform seed as in LPAE's code (method.md §2.3), stored as [1, d]
    this.seed = store.create('encoder.pma.seed', [1, dim], 'setTransformer', glorotUniform(rng.fork('seed'), 1, dim));
  }

  /**
   * Items `x` [n, S, d] → outfit embeddings [n, d]. `keyBias` is [n, 1, 1, S] (see `keyBiasFromSlots`),
   * or null when no slot is padded.
   */
  forward(x: Tensor3D, keyBias: Tensor | null): Tensor2D {
    return tf.tidy(() => {
      const n = x.shape[0];
      const h1 = this.sab1.forward(x, x, keyBias);
      const h2 = this.sab2.forward(h1, h1, keyBias);
      // The seed's query projection is the same for every outfit: project once, then broadcast
      // (never tf.tile, architecture.md §5).
      const seedQuery = tf.reshape(this.pma.projectQuery(this.seed), [1, 1, this.dim]);
      const z = this.pma.attendProjected(broadcastRows(seedQuery, n) as Tensor3D, h2, keyBias);
      return tf.reshape(z, [n, this.dim]) as Tensor2D;
    });
  }
}

/**
 * Key bias [n, 1, 1, S] from a slot table (method.md §2.3 masking): 0 where `slotIndex[i*S+j] >= 0`,
 * MASKED_LOGIT where it is −1 (padding). Returns null when nothing is padded.
 */
export function keyBiasFromSlots(slotIndex: Int32Array, slots: number): Tensor | null {
  const n = slotIndex.length / slots;
  const bias = new Float32Array(slotIndex.length);
  let padded = false;
  for (let i = 0; i < slotIndex.length; i++) {
    if (slotIndex[i] < 0) {
      bias[i] = MASKED_LOGIT;
      padded = true;
    }
  }
  return padded ? tf.tensor4d(bias, [n, 1, 1, slots]) : null;
}
