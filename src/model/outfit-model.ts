/**
 * The personalised outfit model (method.md §2–§3), read top to bottom:
 *
 *   item inputs ─backbone→ f [u,F] ─item embedding→ e [u,d] ─gather into slots→ [n,S,d]
 *     ─Set Transformer→ z [n,d] ─projection W_t→ h [n,d] ─cosine with the user's anchors→ s [n]
 *
 * Items are processed once per DISTINCT item of a batch (method.md §2.1) and only then gathered into
 * outfit slots; `slotIndex` says which feature row fills which slot (−1 = padding).
 */
import { dense, layerNorm } from '../engine/layers.js';
import { tf, type Rank, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Variable } from '../engine/tf.js';
import { packOutfits } from '../data/batches.js';
import type { OutfitTable } from '../data/types.js';
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { AnchorTable } from './anchors.js';
import { Backbone } from './backbones.js';
import { parseModelConfig, sharedAnchorCount, userAnchorCount, type ModelConfig, type ModelConfigInput } from './config.js';
import type { ItemInputSource } from './inputs.js';
import { heUniform, normalInit, onesInit, ParamStore, zerosInit, type NamedVariable, type ParamGroup } from './params.js';
import { keyBiasFromSlots, SetTransformer } from './set-transformer.js';

export type ParamCounts = Record<ParamGroup | 'total', number>;

/** Distinct items of a batch of outfits and, per slot, the row of its item among them (−1 = padding). */
export interface PackedOutfits {
  /** Distinct global item ids, first-seen order. */
  readonly itemIds: Int32Array;
  /** n·slots entries indexing `itemIds`, −1 where the slot is padding. */
  readonly slotIndex: Int32Array;
  /** Slots per packed outfit: the most items any outfit of the batch has (≤ the input's slots). */
  readonly slots: number;
}

/**
 * Dedupes the items of `items` (n·slots global ids, −1 = absent slot) for one batch, with
 * data/batches.ts `packOutfits` (present items first, padded to the batch's longest outfit).
 */
export function packOutfitItems(items: Int32Array, slots: number): PackedOutfits {
  if (items.length % slots !== 0) throw new Error(`packOutfitItems: ${items.length} slot entries do not split into rows of ${slots}`);
  const packed = packOutfits({ slots, users: new Int32Array(items.length / slots), items });
  return { itemIds: packed.uniqueItems, slotIndex: packed.slotIndex, slots: packed.slots };
}

export class OutfitModel {
  private readonly store: ParamStore;
  private readonly baseConfig: ModelConfig;
  readonly backbone: Backbone;
  // item embedding e = Dropout(ReLU(LN(W f + b))) (method.md §2.2)
  private readonly embedWeight: Variable<Rank.R2>;
  private readonly embedBias: Variable<Rank.R1>;
  private readonly embedGamma: Variable<Rank.R1>;
  private readonly embedBeta: Variable<Rank.R1>;
  readonly encoder: SetTransformer;
  // outfit projection h = W_t z + b_t (method.md §3)
  private readonly projectionWeight: Variable<Rank.R2>;
  private readonly projectionBias: Variable<Rank.R1>;
  readonly anchors: AnchorTable;
  /** Draws the item-embedding dropout masks, so a seeded run is reproducible (tf.dropout is not). */
  private readonly dropoutRng: Rng;

  private constructor(cfg: ModelConfig, rng: Rng) {
    this.baseConfig = cfg;
    this.store = new ParamStore();
    const d = cfg.dim;
    this.backbone = new Backbone(cfg.backbone, this.store, rng.fork('backbone'));
    const F = this.backbone.outDim;
    const embedRng = rng.fork('itemEmbedding');
    this.embedWeight = this.store.create('embed.linear.weight', [F, d], 'itemEmbedding', heUniform(embedRng, F));
    this.embedBias = this.store.create('embed.linear.bias', [d], 'itemEmbedding', zerosInit);
    this.embedGamma = this.store.create('embed.norm.weight', [d], 'itemEmbedding', onesInit);
    this.embedBeta = this.store.create('embed.norm.bias', [d], 'itemEmbedding', zerosInit);
    this.encoder = new SetTransformer(d, cfg.heads, this.store, rng.fork('setTransformer'));
    // W_t ~ N(0, 2/d) as in LPAE's code (method.md §3)
    this.projectionWeight = this.store.create('projection.weight', [d, d], 'projection', normalInit(rng.fork('projection'), Math.sqrt(2 / d)));
    this.projectionBias = this.store.create('projection.bias', [d], 'projection', zerosInit);
    this.anchors = new AnchorTable(cfg.numUsers, userAnchorCount(cfg), sharedAnchorCount(cfg), d, this.store, rng.fork('anchors'));
    this.dropoutRng = rng.fork('dropout');
  }

  /** A freshly initialised model; the same config and seed give the same weights. */
  static create(cfg: ModelConfigInput, rng: Rng): OutfitModel {
    return new OutfitModel(parseModelConfig(cfg), rng);
  }

  /** The model's configuration; numUsers follows `addUsers`. */
  get config(): ModelConfig {
    return { ...this.baseConfig, numUsers: this.anchors.numUsers };
  }

  /** Every trainable weight under its safetensors key. */
  namedVariables(): NamedVariable[] {
    return this.store.list();
  }

  /** Variables of some groups only (e.g. `['anchors']` for cold-start fitting, method.md §5). */
  variablesOf(groups: readonly ParamGroup[]): Variable[] {
    return this.store
      .list()
      .filter((v) => groups.includes(v.group))
      .map((v) => v.variable);
  }

  paramCounts(): ParamCounts {
    const counts: ParamCounts = { backbone: 0, itemEmbedding: 0, setTransformer: 0, projection: 0, anchors: 0, total: 0 };
    for (const v of this.store.list()) {
      counts[v.group] += v.variable.size;
      counts.total += v.variable.size;
    }
    return counts;
  }

  // ---- items --------------------------------------------------------------------------------

  /**
   * Backbone features of distinct items: [u, inputDim] vectors or [u, H, W, 3] images → [u, F].
   * No backbone has train-only layers (no dropout, no batch norm), so `_training` changes nothing;
   * it is in the signature so callers need not care.
   */
  itemFeatures(inputs: Tensor, _training: boolean): Tensor2D {
    return this.backbone.forward(inputs);
  }

  /** e = Dropout(ReLU(LN(W f + b))) per distinct item: [u, F] → [u, d] (method.md §2.2). */
  embedItems(features: Tensor2D, training: boolean): Tensor2D {
    return tf.tidy(() => {
      // an identity backbone hands over constant data: skip the input gradient (architecture.md §5)
      const linear = dense(features, this.embedWeight, this.embedBias, 'linear', { inputGrad: !this.backbone.isIdentity });
      const e = tf.relu(layerNorm(linear, this.embedGamma, this.embedBeta)) as Tensor2D;
      const rate = this.baseConfig.dropout;
      if (!training || rate === 0) return e;
      return tf.mul(e, tf.tensor2d(this.dropoutMask(e.size, rate), e.shape)) as Tensor2D;
    });
  }

  private dropoutMask(size: number, rate: number): Float32Array {
    const keep = 1 / (1 - rate);
    const mask = new Float32Array(size);
    for (let i = 0; i < size; i++) mask[i] = this.dropoutRng.next() < rate ? 0 : keep;
    return mask;
  }

  // ---- outfits ------------------------------------------------------------------------------

  /**
   * Outfit embeddings z [n, d] (method.md §2.3). `features` [u, F] are the batch's distinct items;
   * `slotIndex` (n·slots) says which row fills each slot, −1 = padding (masked in attention).
   */
  embedOutfits(features: Tensor2D, slotIndex: Int32Array, slots: number, training: boolean): Tensor2D {
    const u = features.shape[0];
    checkSlotIndex(slotIndex, slots, u);
    const n = slotIndex.length / slots;
    return tf.tidy(() => {
      const e = this.embedItems(features, training);
      // padded slots gather an all-zero row (index u); attention masks them as keys
      const withPad = tf.concat([e, tf.zeros([1, this.baseConfig.dim])], 0);
      const gatherIndex = Int32Array.from(slotIndex, (v) => (v < 0 ? u : v));
      const x = tf.reshape(tf.gather(withPad, tf.tensor1d(gatherIndex, 'int32')), [n, slots, this.baseConfig.dim]) as Tensor3D;
      return this.encoder.forward(x, keyBiasFromSlots(slotIndex, slots));
    });
  }

  /** Convenience: inputs of a batch of outfits (global item ids, −1 = absent) → z [n, d]. */
  encodeOutfits(inputs: ItemInputSource, items: Int32Array, slots: number, training: boolean): Tensor2D {
    const packed = packOutfitItems(items, slots);
    return tf.tidy(() => {
      const features = this.itemFeatures(inputs.gather(packed.itemIds), training);
      return this.embedOutfits(features, packed.slotIndex, packed.slots, training);
    });
  }

  // ---- scores (method.md §3) ---------------------------------------------------------------------

  /** ĥ_o = normalise(W_t z_o + b_t): [n, d] → [n, d]. */
  projectOutfits(z: Tensor2D): Tensor2D {
    return tf.tidy(() => {
      const h = dense(z, this.projectionWeight, this.projectionBias);
      return tf.mul(h, tf.rsqrt(tf.add(tf.sum(tf.square(h), 1, true), 1e-12))) as Tensor2D;
    });
  }

  /** Σ_k â_uk (own and shared anchors) per entry of `users`: [users.length, d]. */
  userVectors(users: Int32Array): Tensor2D {
    return this.anchors.userVectors(users);
  }

  /** s = reduce_k cos / τ: sum → divide by τ; mean → divide by K·τ (method.md §3). */
  private get scoreDivisor(): number {
    const k = this.baseConfig.scoreReduction === 'mean' ? this.anchors.totalK : 1;
    return k * this.baseConfig.scoreTemperature;
  }

  /** s(u_i, o_i) for row-aligned outfits and users: [n]. */
  scoreOutfits(z: Tensor2D, users: Int32Array): Tensor1D {
    if (users.length !== z.shape[0]) throw new Error(`scoreOutfits: ${users.length} users for ${z.shape[0]} outfits`);
    return tf.tidy(() => {
      const s = tf.sum(tf.mul(this.projectOutfits(z), this.userVectors(users)), 1);
      return tf.div(s, this.scoreDivisor) as Tensor1D;
    });
  }

  /** Every outfit against every listed user: [n, users.length] (serving: one outfit, many users). */
  scoreMatrix(z: Tensor2D, users: Int32Array): Tensor2D {
    return tf.tidy(() => {
      const vectorsT = tf.transpose(this.userVectors(users)); // explicit transpose keeps XNNPACK's rank-2 path
      return tf.div(tf.matMul(this.projectOutfits(z), vectorsT), this.scoreDivisor) as Tensor2D;
    });
  }

  /** LPAE anchor regulariser over the users of a batch (method.md §3; weight 0.01 in §4 is the trainer's). */
  anchorRegularizer(users: Int32Array): tf.Scalar {
    return this.anchors.regularizer(users);
  }

  // ---- users --------------------------------------------------------------------------------

  /** Adds `count` cold users with fresh anchors (method.md §5); returns the first new id. */
  addUsers(count: number, rng: Rng): number {
    return this.anchors.addUsers(count, rng);
  }

  getUserAnchors(u: number): Float32Array {
    return this.anchors.getUserAnchors(u);
  }

  setUserAnchors(u: number, values: Float32Array): void {
    this.anchors.setUserAnchors(u, values);
  }

  // ---- inference ----------------------------------------------------------------------------

  /**
   * s(users[r], outfit r) for every row of `table` (eval and serving). Batched, items deduped per
   * batch, no gradients kept.
   */
  async scoreTable(inputs: ItemInputSource, table: OutfitTable, opts: { batchSize?: number } = {}): Promise<Float32Array> {
    const batchSize = opts.batchSize ?? 1024;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`scoreTable: batchSize must be a positive integer, got ${batchSize}`);
    const slots = table.slots;
    const n = table.users.length;
    if (table.items.length !== n * slots) throw new Error(`scoreTable: ${table.items.length} items for ${n} rows of ${slots} slots`);
    for (let i = 0; i < table.items.length; i++) {
      if (table.items[i] >= inputs.count) {
        throw new UserError(`outfit row ${Math.floor(i / slots)}: item ${table.items[i]} is outside the ${inputs.count} items with inputs`);
      }
    }
    const out = new Float32Array(n);
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const scores = tf.tidy(() => {
        const z = this.encodeOutfits(inputs, table.items.subarray(start * slots, end * slots), slots, false);
        return this.scoreOutfits(z, table.users.subarray(start, end));
      });
      out.set((await scores.data()) as Float32Array, start);
      scores.dispose();
    }
    return out;
  }

  dispose(): void {
    this.store.dispose();
  }
}

function checkSlotIndex(slotIndex: Int32Array, slots: number, rows: number): void {
  if (!(Number.isInteger(slots) && slots > 0) || slotIndex.length % slots !== 0) {
    throw new Error(`embedOutfits: ${slotIndex.length} slot entries do not split into rows of ${slots}`);
  }
  for (let r = 0; r < slotIndex.length / slots; r++) {
    let real = 0;
    for (let j = 0; j < slots; j++) {
      const v = slotIndex[r * slots + j];
      if (v >= rows || v < -1) throw new Error(`embedOutfits: slot index ${v} outside -1..${rows - 1}`);
      if (v >= 0) real++;
    }
    if (real === 0) throw new Error(`embedOutfits: outfit ${r} has no items`);
  }
}
