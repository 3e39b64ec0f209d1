/**
 * Set Transformer outfit encoder (method.md §2.3; Lee et al. 2019): `z_o = PMA(SAB(SAB(e_1..e_n)))`,
 * h heads, per-head scaling 1/sqrt(d/h).
 *
 * Variable length: outfits are padded to the batch's longest; a key bias of 0 (real slot) or
 * −1e9 (padded slot) is added to the attention logits, so a padded key gets a softmax weight of
 * exactly 0 and contributes nothing (nor receives any gradient). Padded query rows are computed but
 * never read: the next block sees them only as masked keys, and PMA's only query is the seed. A
 * padded outfit therefore gets the same embedding as the unpadded one.
 */
import type { Graph, Value } from '../engine/graph.js';
import type { Rng } from '../rng.js';
import type { WeightOf } from './backbones.js';
import { glorotUniform, heUniform, onesInit, zerosInit, type ParamTable } from './params.js';

/** Added to a padded key's logit: exp(−1e9 − max) is exactly 0 in float32. */
export const MASKED_LOGIT = -1e9;

const BLOCKS = ['encoder.sab1', 'encoder.sab2', 'encoder.pma'] as const;
const SEED = 'encoder.pma.seed';

/** Creates the encoder's weights: per block `{q,k,v,o}.{weight,bias}`, `ln{0,1}.{weight,bias}`; the PMA seed. */
export function createSetTransformerParams(dim: number, heads: number, params: ParamTable, rng: Rng): void {
  if (dim % heads !== 0) throw new Error(`SetTransformer: dim ${dim} must be a multiple of heads ${heads}`);
  for (const prefix of BLOCKS) {
    const blockRng = rng.fork(prefix.slice('encoder.'.length));
    for (const name of ['q', 'k', 'v', 'o']) {
      // the feed-forward (o) is followed by a ReLU: He; the attention projections: Glorot
      const init = name === 'o' ? heUniform(blockRng, dim) : glorotUniform(blockRng, dim, dim);
      params.create(`${prefix}.${name}.weight`, [dim, dim], 'setTransformer', init);
      params.create(`${prefix}.${name}.bias`, [dim], 'setTransformer', zerosInit);
    }
    for (const name of ['ln0', 'ln1']) {
      params.create(`${prefix}.${name}.weight`, [dim], 'setTransformer', onesInit);
      params.create(`${prefix}.${name}.bias`, [dim], 'setTransformer', zerosInit);
    }
  }
  // Xavier-uniform seed, stored as [1, d]
  params.create(SEED, [1, dim], 'setTransformer', glorotUniform(rng.fork('seed'), 1, dim));
}

/**
 * MAB with an already projected query `qp` [n|1, Sq, d] and keys `y` [n, Sk, d] (method.md §2.3):
 * `H = LN(Q' + MultiHead(Q', K, K))`, `out = LN(H + ReLU(H W_o + b_o))`.
 */
function attend(g: Graph, w: WeightOf, prefix: string, heads: number, qp: Value, y: Value, keyBias: Value): Value {
  const d = qp.shape[2] as number;
  const dh = d / heads;
  const [n, sq] = [y.shape[0], qp.shape[1]];
  const sk = y.shape[1] as number;
  const kp = g.linear(y, w(`${prefix}.k.weight`), w(`${prefix}.k.bias`));
  const vp = g.linear(y, w(`${prefix}.v.weight`), w(`${prefix}.v.bias`));
  // Sets are tiny (S ≤ 4), so attention is written as broadcast products summed over an axis, in
  // the [outfit, query, key, head, …] layout: no head transposes, which cost more than the
  // arithmetic at these sizes. Head h reads columns h·d/heads .. (h+1)·d/heads.
  const q5 = g.reshape(qp, [qp.shape[0], sq, 1, heads, dh]);
  const k5 = g.reshape(kp, [n, 1, sk, heads, dh]);
  const logits = g.add(g.mul(g.reduceSum(g.mul(q5, k5), [4]), 1 / Math.sqrt(dh)), g.reshape(keyBias, [n, 1, sk, 1]));
  // softmax over the keys (axis 2), with the row max held constant as log-sum-exp does
  const e = g.exp(g.sub(logits, g.stopGradient(g.reduceMax(logits, [2], true))));
  const weights = g.div(e, g.reduceSum(e, [2], true)); // [n, Sq, Sk, heads]
  const v5 = g.reshape(vp, [n, 1, sk, heads, dh]);
  const attended = g.reshape(g.reduceSum(g.mul(g.unsqueeze(weights, [4]), v5), [2]), [n, sq, d]);
  const hidden = g.layerNorm(g.add(qp, attended), w(`${prefix}.ln0.weight`), w(`${prefix}.ln0.bias`));
  const ff = g.relu(g.linear(hidden, w(`${prefix}.o.weight`), w(`${prefix}.o.bias`)));
  return g.layerNorm(g.add(hidden, ff), w(`${prefix}.ln1.weight`), w(`${prefix}.ln1.bias`));
}

function projectQuery(g: Graph, w: WeightOf, prefix: string, x: Value): Value {
  return g.linear(x, w(`${prefix}.q.weight`), w(`${prefix}.q.bias`));
}

/**
 * Items `x` [n, S, d] → outfit embeddings z [n, d]. `keyBias` [n, 1, 1, S] holds 0 for real slots
 * and MASKED_LOGIT for padded ones (`keyBiasFromSlots`).
 */
export function setTransformer(g: Graph, w: WeightOf, heads: number, x: Value, keyBias: Value): Value {
  const sab = (prefix: string, h: Value): Value => attend(g, w, prefix, heads, projectQuery(g, w, prefix, h), h, keyBias);
  const h2 = sab('encoder.sab2', sab('encoder.sab1', x));
  // the seed's query projection is the same for every outfit: projected once, broadcast by matmul
  const d = x.shape[2] as number;
  const seedQuery = g.reshape(projectQuery(g, w, 'encoder.pma', w(SEED)), [1, 1, d]);
  const z = attend(g, w, 'encoder.pma', heads, seedQuery, h2, keyBias);
  return g.reshape(z, [x.shape[0], d]);
}

/**
 * Key bias [n·S] (to feed as [n, 1, 1, S]) from a slot table (method.md §2.3 masking): 0 where
 * `slotIndex[i] >= 0`, MASKED_LOGIT where it is −1 (padding).
 */
export function keyBiasFromSlots(slotIndex: Int32Array): Float32Array {
  const bias = new Float32Array(slotIndex.length);
  for (let i = 0; i < slotIndex.length; i++) if (slotIndex[i] < 0) bias[i] = MASKED_LOGIT;
  return bias;
}
