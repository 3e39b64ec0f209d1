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
  const kp = g.linear(y, w(`${prefix}.k.weight`), w(`${prefix}.k.bias`));
  const vp = g.linear(y, w(`${prefix}.v.weight`), w(`${prefix}.v.bias`));
  return mabTail(g, w, prefix, qp, multiHead(g, heads, qp, kp, vp, keyBias));
}

/** MultiHead(Q', K', V') [n, Sq, d] from projected queries [n|1, Sq, d], keys and values [n, Sk, d]. */
function multiHead(g: Graph, heads: number, qp: Value, kp: Value, vp: Value, keyBias: Value): Value {
  const d = qp.shape[2] as number;
  const dh = d / heads;
  const [n, sq] = [kp.shape[0], qp.shape[1]];
  const sk = kp.shape[1] as number;
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
  return g.reshape(g.reduceSum(g.mul(g.unsqueeze(weights, [4]), v5), [2]), [n, sq, d]);
}

/** The rest of a MAB after attention: `H = LN(Q' + A)`, `out = LN(H + ReLU(H W_o + b_o))`. */
function mabTail(g: Graph, w: WeightOf, prefix: string, qp: Value, attended: Value): Value {
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

// ---- serving: the same z with less arithmetic per outfit (method.md §3.1) ------------------------

/**
 * Per item row of `x` [rows, d]: SAB1's query, key and value projections, [rows, 3d]. SAB1 reads an
 * item only through these three (its residual is the projected query), so serving computes them
 * once per catalog item instead of once per item per scored outfit.
 */
export function sab1Projections(g: Graph, w: WeightOf, x: Value): Value {
  const p = 'encoder.sab1';
  return g.concat(['q', 'k', 'v'].map((name) => g.linear(x, w(`${p}.${name}.weight`), w(`${p}.${name}.bias`))), 1);
}

/**
 * `setTransformer` from SAB1's per-item projections `qkv` [n, S, 3d] (`sab1Projections`), the
 * same z up to float rounding, with two savings per outfit: SAB1's three S×d×d products are gone,
 * and PMA's keys are never formed. PMA's only query is the fixed seed q, so head h's logit of
 * key i is `q_h · (W_k y_i + b_k)_h = y_i · u_h + q_h · b_k,h` with `u_h = W_k[:, h] q_h` (a d×heads
 * matrix built once per call); the second term is the same for every key of the outfit and
 * cancels in the softmax. Counting d×d products per outfit of S items (with the projection W_t):
 * 10·S + 2 in `setTransformer`, 6·S + 2 here, so 32 → 20 for a 3-item outfit.
 */
export function setTransformerFromProjections(g: Graph, w: WeightOf, heads: number, qkv: Value, keyBias: Value): Value {
  const d = (qkv.shape[2] as number) / 3;
  const [n, s] = [qkv.shape[0], qkv.shape[1] as number];
  const [qp, kp, vp] = [0, 1, 2].map((i) => g.slice(qkv, 2, i * d, (i + 1) * d));
  const bias = g.reshape(keyBias, [n, s]);
  const h1 = mabTail(g, w, 'encoder.sab1', qp, selfAttentionByKeys(g, heads, qp, kp, vp, bias));
  const sab2 = 'encoder.sab2';
  const q2 = projectQuery(g, w, sab2, h1);
  const k2 = g.linear(h1, w(`${sab2}.k.weight`), w(`${sab2}.k.bias`));
  const v2 = g.linear(h1, w(`${sab2}.v.weight`), w(`${sab2}.v.bias`));
  const h2 = mabTail(g, w, sab2, q2, selfAttentionByKeys(g, heads, q2, k2, v2, bias));
  const p = 'encoder.pma';
  const dh = d / heads;
  const seedQuery = projectQuery(g, w, p, w(SEED)); // [1, d]
  // u_h with the 1/√(d/h) scale folded in: [d, heads]
  const u = g.mul(g.reduceSum(g.reshape(g.mul(w(`${p}.k.weight`), seedQuery), [d, heads, dh]), [2]), 1 / Math.sqrt(dh));
  const v = g.linear(h2, w(`${p}.v.weight`), w(`${p}.v.bias`)); // [n, S, d]
  const logits = Array.from({ length: s }, (_, j) => g.add(g.linear(itemOf(g, h2, j), u, null), g.slice(bias, 1, j, j + 1))); // [n, heads] each
  const attended = g.reshape(attendByKeys(g, heads, logits, Array.from({ length: s }, (_, j) => itemOf(g, v, j))), [n, 1, d]);
  const z = mabTail(g, w, p, g.reshape(seedQuery, [1, 1, d]), attended);
  return g.reshape(z, [n, d]);
}

/** Item j of every outfit of `x` [n, S, d]: [n, d]. */
function itemOf(g: Graph, x: Value, j: number): Value {
  return g.reshape(g.slice(x, 1, j, j + 1), [x.shape[0], x.shape[2]]);
}

/**
 * `multiHead` for serving, one key at a time (S ≤ 4, fixed per graph): key j's logits for every
 * query and head are `(Q ⊙ k_j) C` with C [d, heads] the head indicator scaled by 1/√(d/h) (one
 * small GEMM), `bias` [n, S] the padding bias. The same values as `multiHead` up to float rounding
 * (test/model/absent-slots.test.ts), in about 60 % of its time: ONNX Runtime's ReduceSum over an
 * axis that is not the last, and Mul broadcasting a size-1 innermost axis, are slow at these
 * shapes; elementwise ops over S separate tensors are not (method.md §3.1).
 */
function selfAttentionByKeys(g: Graph, heads: number, qp: Value, kp: Value, vp: Value, bias: Value): Value {
  const [n, s, d] = [kp.shape[0], kp.shape[1] as number, kp.shape[2] as number];
  const dh = d / heads;
  const indicator = new Float32Array(d * heads);
  for (let c = 0; c < d; c++) indicator[c * heads + Math.floor(c / dh)] = 1 / Math.sqrt(dh);
  const scaled = g.constant(indicator, [d, heads]);
  const logits: Value[] = [];
  const values: Value[] = [];
  for (let j = 0; j < s; j++) {
    const key = g.reshape(itemOf(g, kp, j), [n, 1, d]);
    logits.push(g.add(g.linear(g.mul(qp, key), scaled, null), g.reshape(g.slice(bias, 1, j, j + 1), [n, 1, 1]))); // [n, S, heads]
    values.push(g.reshape(itemOf(g, vp, j), [n, 1, d]));
  }
  return attendByKeys(g, heads, logits, values);
}

/**
 * Softmax over the keys of per-key logits [..., heads] (one tensor per key), then the weighted sum
 * of the per-key values [..., d]: each weight is widened from its head to the head's d/h columns by
 * a [heads, d] 0/1 matrix. The row maximum is held constant, as log-sum-exp does.
 */
function attendByKeys(g: Graph, heads: number, logits: readonly Value[], values: readonly Value[]): Value {
  const d = values[0].shape[values[0].shape.length - 1] as number;
  const dh = d / heads;
  const widen = new Float32Array(heads * d);
  for (let c = 0; c < d; c++) widen[Math.floor(c / dh) * d + c] = 1;
  const wide = g.constant(widen, [heads, d]);
  const shift = g.maxOf(logits);
  const e = logits.map((l) => g.exp(g.sub(l, shift)));
  const total = g.sumOf(e);
  return g.sumOf(e.map((ej, j) => g.mul(g.linear(g.div(ej, total), wide, null), values[j])));
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
