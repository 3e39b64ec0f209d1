/**
 * The personalised outfit model (method.md §2–§3), read top to bottom:
 *
 *   item inputs ─backbone→ f [u,F] ─item embedding→ e [u,d] ─gather into slots→ [n,S,d]
 *     ─Set Transformer→ z [n,d] ─projection W_t, normalise→ ĥ [n,d] ─· Σ_k â_uk / τ→ s [n]
 *
 * The pieces are graph builders (`itemEmbedding`, `outfitEmbedding`, `projectOutfits`): the
 * training step (src/train/step-graph.ts) and the inference graphs below are built from the same
 * functions, so the model exists once. Items are processed once per DISTINCT item (method.md §2.1) and
 * only then gathered into outfit slots. Weights are typed arrays in a ParamTable, fed to ONNX
 * Runtime at every call without copies.
 */
import { Graph, type Value } from '../engine/graph.js';
import { CompiledGraph, type Feed } from '../engine/runtime.js';
import { packOutfits } from '../data/batches.js';
import type { OutfitTable } from '../data/types.js';
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { AnchorTable } from './anchors.js';
import { Backbone, type WeightOf } from './backbones.js';
import { parseModelConfig, sharedAnchorCount, userAnchorCount, type ModelConfig, type ModelConfigInput } from './config.js';
import type { ItemInputSource } from './inputs.js';
import { heUniform, normalInit, onesInit, ParamTable, zerosInit, type Param, type ParamGroup } from './params.js';
import { createSetTransformerParams, keyBiasFromSlots, sab1Projections, setTransformer, setTransformerFromProjections } from './set-transformer.js';
import { scoreDivisorOf, scoreRowAligned } from './scoring.js';

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

/** Graph inputs for the weights a graph reads, created on first use (one input per weight). */
export function weightInputs(g: Graph, params: ParamTable): WeightOf {
  return weightsOnce((name) => g.param(name, params.get(name).shape));
}

/**
 * The weights a graph reads as constants (ONNX initializers) holding a copy of their values now:
 * nothing to feed per run, and ONNX Runtime folds what depends on weights alone (method.md §3.1).
 */
export function weightConstants(g: Graph, params: ParamTable): WeightOf {
  return weightsOnce((name) => g.constant(Float32Array.from(params.get(name).data), params.get(name).shape));
}

/** A `WeightOf` that makes each weight's value once. */
function weightsOnce(make: (name: string) => Value): WeightOf {
  const made = new Map<string, Value>();
  return (name) => {
    let v = made.get(name);
    if (!v) {
      v = make(name);
      made.set(name, v);
    }
    return v;
  };
}

/** Feeds for every weight input of `compiled` from `params`. */
export function weightFeeds(compiled: CompiledGraph, paramInputs: ReadonlySet<string>, params: ParamTable): Record<string, Feed> {
  const feeds: Record<string, Feed> = {};
  for (const { name } of compiled.inputs) if (paramInputs.has(name)) feeds[name] = { data: params.get(name).data, dims: params.get(name).shape };
  return feeds;
}

/** Row indices into an item table for each slot: padding (−1) reads row 0, masked by the key bias. */
export function gatherIndexFromSlots(slotIndex: Int32Array): BigInt64Array {
  if (!LITTLE_ENDIAN) return BigInt64Array.from(slotIndex, (v) => BigInt(v < 0 ? 0 : v));
  // written as the low halves of the int64s (the high halves stay 0): no BigInt per entry, which
  // cost a serving request more than the graph's Gather
  const words = new Int32Array(slotIndex.length * 2);
  for (let i = 0; i < slotIndex.length; i++) words[2 * i] = slotIndex[i] < 0 ? 0 : slotIndex[i];
  return new BigInt64Array(words.buffer);
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

const ITEM_BATCH = 512;
const OUTFIT_BATCH = 2048;

interface InferenceGraph {
  compiled: CompiledGraph;
  params: Set<string>;
}

export class OutfitModel {
  readonly params: ParamTable;
  private readonly baseConfig: ModelConfig;
  readonly backbone: Backbone;
  readonly anchors: AnchorTable;
  private readonly inference = new Map<string, Promise<InferenceGraph>>();

  private constructor(cfg: ModelConfig, rng: Rng) {
    this.baseConfig = cfg;
    this.params = new ParamTable();
    const d = cfg.dim;
    this.backbone = new Backbone(cfg.backbone, this.params, rng.fork('backbone'));
    const F = this.backbone.outDim;
    // item embedding e = Dropout(ReLU(LN(W f + b))) (method.md §2.2)
    this.params.create('embed.linear.weight', [F, d], 'itemEmbedding', heUniform(rng.fork('itemEmbedding'), F));
    this.params.create('embed.linear.bias', [d], 'itemEmbedding', zerosInit);
    this.params.create('embed.norm.weight', [d], 'itemEmbedding', onesInit);
    this.params.create('embed.norm.bias', [d], 'itemEmbedding', zerosInit);
    createSetTransformerParams(d, cfg.heads, this.params, rng.fork('setTransformer'));
    // outfit projection h = W_t z + b_t (method.md §3); W_t ~ N(0, 2/d) as in LPAE's code
    this.params.create('projection.weight', [d, d], 'projection', normalInit(rng.fork('projection'), Math.sqrt(2 / d)));
    this.params.create('projection.bias', [d], 'projection', zerosInit);
    this.anchors = new AnchorTable(cfg.numUsers, userAnchorCount(cfg), sharedAnchorCount(cfg), d, this.params, rng.fork('anchors'));
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
  namedParams(): Param[] {
    return this.params.list();
  }

  paramCounts(): ParamCounts {
    const counts: ParamCounts = { backbone: 0, itemEmbedding: 0, setTransformer: 0, projection: 0, anchors: 0, total: 0 };
    for (const p of this.params.list()) {
      counts[p.group] += p.data.length;
      counts.total += p.data.length;
    }
    return counts;
  }

  // ---- the model as graph pieces (method.md §2–§3) ------------------------------------------------

  /** e = Dropout(ReLU(LN(W f + b))) of distinct items: inputs [u, …] → [u, d]; `dropMask` [u, d] or null. */
  itemEmbedding(g: Graph, w: WeightOf, inputs: Value, dropMask: Value | null): Value {
    const f = this.backbone.forward(g, w, inputs);
    const e = g.relu(g.layerNorm(g.linear(f, w('embed.linear.weight'), w('embed.linear.bias')), w('embed.norm.weight'), w('embed.norm.bias')));
    return dropMask ? g.mul(e, dropMask) : e;
  }

  /**
   * z [n, d]: the rows `gatherIndex` [n·S] of the item table `e` [u, d] placed in S slots, through the
   * Set Transformer; `keyBias` [n, 1, 1, S] masks padded slots (method.md §2.3).
   */
  outfitEmbedding(g: Graph, w: WeightOf, e: Value, gatherIndex: Value, keyBias: Value, n: number | string, slots: number): Value {
    const x = g.reshape(g.gather(e, gatherIndex), [n, slots, this.baseConfig.dim]);
    return setTransformer(g, w, this.baseConfig.heads, x, keyBias);
  }

  /** ĥ_o = normalise(W_t z_o + b_t): [n, d] → [n, d] (method.md §3). */
  projectOutfits(g: Graph, w: WeightOf, z: Value): Value {
    return g.l2Normalize(g.linear(z, w('projection.weight'), w('projection.bias')));
  }

  /** s = reduce_k cos / τ: sum → divide by τ; mean → divide by K·τ (method.md §3). */
  get scoreDivisor(): number {
    return scoreDivisorOf(this.baseConfig.scoreReduction, this.baseConfig.scoreTemperature, this.anchors.totalK);
  }

  // ---- inference ------------------------------------------------------------------------------

  /**
   * The compiled graph of `key`, built on first use. Its weights are inputs fed at every run, or,
   * `frozen`, constants copied from the weights when it is built: a frozen graph does not follow
   * later changes of the weights, so only serving, whose model is never trained, asks for one.
   */
  private inferenceGraph(key: string, build: (g: Graph, w: WeightOf) => void, frozen = false): Promise<InferenceGraph> {
    let p = this.inference.get(key);
    if (!p) {
      const g = new Graph('float32');
      build(g, frozen ? weightConstants(g, this.params) : weightInputs(g, this.params));
      const paramNames = new Set(g.inputs.filter((i) => i.param).map((i) => i.value.name));
      p = CompiledGraph.create(g, { name: `outfitrec-${key}` }).then((compiled) => ({ compiled, params: paramNames }));
      this.inference.set(key, p);
    }
    return p;
  }

  /** Item embeddings e (inference: no dropout) of `ids`: [ids.length · d] row-major. */
  async embedItems(inputs: ItemInputSource, ids: Int32Array): Promise<Float32Array> {
    const { compiled, params } = await this.inferenceGraph('items', (g, w) => {
      const x = g.input('items', ['items', ...inputs.itemShape]);
      g.output(this.itemEmbedding(g, w, x, null));
    });
    const d = this.baseConfig.dim;
    const out = new Float32Array(ids.length * d);
    const weights = weightFeeds(compiled, params, this.params);
    for (let start = 0; start < ids.length; start += ITEM_BATCH) {
      const chunk = ids.subarray(start, Math.min(ids.length, start + ITEM_BATCH));
      const [e] = await compiled.run({ ...weights, items: inputs.gather(chunk) });
      out.set(e as Float32Array, start * d);
    }
    return out;
  }

  /**
   * ĥ [n · d] for n outfits of `slots` slots whose items are rows of `table` (an item-embedding
   * table, [rows · d]); `slotIndex` [n·slots] names the row per slot, −1 = padding.
   */
  projectEmbedded(table: Float32Array, slotIndex: Int32Array, slots: number): Promise<Float32Array> {
    return this.projectThroughTable('outfits', 1, table, slotIndex, slots, (g, w, rows, n) => {
      const x = g.reshape(rows, [n, slots, this.baseConfig.dim]);
      return setTransformer(g, w, this.baseConfig.heads, x, g.input('keyBias', [n, 1, 1, slots]));
    });
  }

  /**
   * Serving's item table (method.md §3.1): per row of an item-embedding table [rows · d], SAB1's
   * query, key and value projections, [rows · 3d] (`sab1Projections`).
   */
  async servingTable(embeddings: Float32Array): Promise<Float32Array> {
    const d = this.baseConfig.dim;
    const { compiled, params } = await this.inferenceGraph('serving-table', (g, w) => {
      g.output(sab1Projections(g, w, g.input('rows', ['rows', d])));
    });
    const weights = weightFeeds(compiled, params, this.params);
    const rows = embeddings.length / d;
    const out = new Float32Array(rows * 3 * d);
    for (let start = 0; start < rows; start += OUTFIT_BATCH) {
      const end = Math.min(rows, start + OUTFIT_BATCH);
      const [qkv] = await compiled.run({ ...weights, rows: { data: embeddings.subarray(start * d, end * d), dims: [end - start, d] } });
      out.set(qkv as Float32Array, start * 3 * d);
    }
    return out;
  }

  /**
   * `projectEmbedded` from a `servingTable` [rows · 3d] instead of the item embeddings: the same ĥ
   * up to float rounding, with about 40 % fewer multiply-adds per 3-item outfit
   * (`setTransformerFromProjections`). For serving only: its graph holds the weights as they are at
   * the first call (frozen, `inferenceGraph`), which saves about 0.2 ms per call.
   */
  projectServing(table: Float32Array, slotIndex: Int32Array, slots: number): Promise<Float32Array> {
    return this.projectThroughTable(
      'serving-outfits',
      3,
      table,
      slotIndex,
      slots,
      (g, w, rows, n) => {
        const qkv = g.reshape(rows, [n, slots, 3 * this.baseConfig.dim]);
        return setTransformerFromProjections(g, w, this.baseConfig.heads, qkv, g.input('keyBias', [n, 1, 1, slots]));
      },
      true,
    );
  }

  /**
   * Runs an outfit graph over rows of a per-item table of `width`·d columns: `encode` maps the
   * gathered rows [n·slots, width·d] (and n, the outfit count) to z [n, d]; ĥ = projectOutfits(z).
   * `frozen`: the graph's weights are constants (`inferenceGraph`).
   */
  private async projectThroughTable(
    name: string,
    width: number,
    table: Float32Array,
    slotIndex: Int32Array,
    slots: number,
    encode: (g: Graph, w: WeightOf, rows: Value, n: string) => Value,
    frozen = false,
  ): Promise<Float32Array> {
    const d = this.baseConfig.dim;
    const cols = width * d;
    checkSlotIndex(slotIndex, slots, table.length / cols);
    const { compiled, params } = await this.inferenceGraph(`${name}:${slots}`, (g, w) => {
      const e = g.input('table', ['rows', cols]);
      const idx = g.input('gatherIndex', ['slotEntries'], 'int64');
      g.output(this.projectOutfits(g, w, encode(g, w, g.gather(e, idx), 'outfits')));
    }, frozen);
    const weights = weightFeeds(compiled, params, this.params);
    const n = slotIndex.length / slots;
    const out = new Float32Array(n * d);
    for (let start = 0; start < n; start += OUTFIT_BATCH) {
      const end = Math.min(n, start + OUTFIT_BATCH);
      const part = slotIndex.subarray(start * slots, end * slots);
      const [h] = await compiled.run({
        ...weights,
        table: { data: table, dims: [table.length / cols, cols] },
        gatherIndex: { data: gatherIndexFromSlots(part), dims: [part.length] },
        keyBias: { data: keyBiasFromSlots(part), dims: [end - start, 1, 1, slots] },
      });
      out.set(h as Float32Array, start * d);
    }
    return out;
  }

  /** Σ_k â_uk (own and shared anchors) per entry of `users`: [users.length · d]. */
  userVectors(users: Int32Array): Float32Array {
    return this.anchors.userVectors(users);
  }

  /** s(users[r], o_r) = ĥ_r · v_{users[r]} / divisor for row-aligned ĥ [n·d]. */
  scoreProjected(hats: Float32Array, users: Int32Array): Float32Array {
    return scoreRowAligned(hats, this.userVectors(users), this.baseConfig.dim, this.scoreDivisor);
  }

  /**
   * s(users[r], outfit r) for every row of `table` (eval and serving): each distinct item of the
   * table embedded once, then the outfits in batches.
   */
  async scoreTable(inputs: ItemInputSource, table: OutfitTable): Promise<Float32Array> {
    const slots = table.slots;
    const n = table.users.length;
    if (table.items.length !== n * slots) throw new Error(`scoreTable: ${table.items.length} items for ${n} rows of ${slots} slots`);
    for (let r = 0; r < n; r++) {
      let present = 0;
      for (let j = 0; j < slots; j++) {
        const item = table.items[r * slots + j];
        if (item === -1) continue;
        if (!(Number.isInteger(item) && item >= 0 && item < inputs.count)) {
          throw new UserError(`outfit row ${r}: item ${item} is outside the ${inputs.count} items with inputs (-1 marks an absent slot)`);
        }
        present++;
      }
      if (present === 0) throw new UserError(`outfit row ${r} has no items`);
    }
    this.anchors.checkUsers(table.users);
    if (n === 0) return new Float32Array(0);
    const packed = packOutfits(table);
    const embedded = await this.embedItems(inputs, packed.uniqueItems);
    const hats = await this.projectEmbedded(embedded, packed.slotIndex, packed.slots);
    return this.scoreProjected(hats, table.users);
  }

  // ---- users ----------------------------------------------------------------------------------

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

  /** Releases the inference sessions. */
  async dispose(): Promise<void> {
    const graphs = [...this.inference.values()];
    this.inference.clear();
    for (const p of graphs) await (await p).compiled.release();
  }
}

function checkSlotIndex(slotIndex: Int32Array, slots: number, rows: number): void {
  if (!(Number.isInteger(slots) && slots > 0) || slotIndex.length % slots !== 0) {
    throw new Error(`projectEmbedded: ${slotIndex.length} slot entries do not split into rows of ${slots}`);
  }
  for (let r = 0; r < slotIndex.length / slots; r++) {
    let real = 0;
    for (let j = 0; j < slots; j++) {
      const v = slotIndex[r * slots + j];
      if (v >= rows || v < -1) throw new Error(`projectEmbedded: slot index ${v} outside -1..${rows - 1}`);
      if (v >= 0) real++;
    }
    if (real === 0) throw new Error(`projectEmbedded: outfit ${r} has no items`);
  }
}
