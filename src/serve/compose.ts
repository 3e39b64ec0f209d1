/**
 * Outfit composition: a user's top-k outfits built from a catalog, one item per slot (method.md §1:
 * top, bottom, shoe; two tops where the set allows, method.md §6.1 519/32; in general the slots,
 * required slots and minItems of the set's layout, method.md §6.5).
 *
 * Every combination is a candidate — |tops|·|bottoms|·|shoes| of them, 10^12 at Polyvore scale —
 * so the search is:
 *   1. item embeddings of the whole catalog computed once (ItemEmbeddingCache), and each item's
 *      first-order score: the model score of the single-item outfit {x} (the Set Transformer takes
 *      any set size, method.md §2.3), ĥ_{x}·v_u / divisor, precomputed as ĥ_{x} for every item;
 *   2. per category, the `retrieve` items with the best first-order score for the user: a
 *      nearest-neighbour (maximum inner product) search, exact or approximate (retrieval.ts);
 *   3. a beam search over the slots (required slots first, the optional second top last) where
 *      each partial or complete outfit is scored by the FULL model (Set Transformer over the items
 *      chosen so far, method.md §2–§3), keeping the best `beam` per stage. A partial outfit is
 *      scored as the set it is (its chosen items only, a graph of that many slots), and every
 *      stage's outfits go through the model in one batched call; with micro-batching
 *      (`ScoreBatcher`) the calls of concurrent compositions are merged into one;
 *   4. probe outfits (method.md §3.1): random complete outfits of the catalog, their ĥ computed
 *      once, scored by one matrix-vector product per composition; the best are merged into the
 *      beam's before any later pass; with fixed items or a restricted catalog, random
 *      completions of the request scored by the model instead;
 *   5. diversity (method.md §3.1): with `maxShared` m, the top-k are chosen greedily from the
 *      final stage's outfits, best first, skipping any that shares more than m items with one
 *      already chosen.
 * `fixed` pins items into their category's slots ("complete my outfit"); `exclude` removes items.
 * `exhaustive` scores every combination, to measure the search's recall on small catalogs.
 * `explain` and `percentiles` serve the readable scores and explanations of method.md §3.1.
 */
import { categoryName } from '../data/layout.js';
import type { SetLayout } from '../data/types.js';
import { UserError } from '../errors.js';
import type { OutfitModel } from '../model/outfit-model.js';
import { scoreAgainstVector } from '../model/scoring.js';
import type { ItemEmbeddingCache } from '../train/item-cache.js';
import { ANN_DEFAULTS, bestPositions, makeRetriever, MatVec, topByScore, type AnnSettings, type RetrievalKind, type RetrievalVectors, type Retriever } from './retrieval.js';

/**
 * How the beam scores a partial outfit (method.md §3.1): `none` (the default) as the smaller set
 * it is; `mean` with each required slot that a later stage will fill holding its category's
 * average item, so the model judges a complete outfit. `mean` was measured and not made the
 * default: against exhaustive scoring it recalled more on one model and less on two others
 * (docs/results.md §3).
 */
export type Completion = 'mean' | 'none';

/** The item rows composition feeds the model: the cached items, then one average item per category. */
export interface ServingRows {
  /** [rows · d]: the item cache's embeddings, then per category c the mean embedding of its catalog items (row meanRow0 + c). */
  readonly embeddings: Float32Array;
  /** SAB1's projections of every row of `embeddings` (model.servingTable), [rows · 3d]. */
  readonly table: Float32Array;
  /** Row of category 0's average item. */
  readonly meanRow0: number;
}

/** `ServingRows` of a composer over `catalog`: the averages are over its items per category. */
async function servingRows(model: OutfitModel, cache: ItemEmbeddingCache, layout: SetLayout, catalog: readonly Int32Array[]): Promise<ServingRows> {
  const d = model.config.dim;
  const emb = cache.embeddings;
  const meanRow0 = emb.length / d;
  const embeddings = new Float32Array(emb.length + layout.categories.length * d);
  embeddings.set(emb);
  layout.categories.forEach((_, c) => {
    const ids = catalog[c] ?? new Int32Array(0);
    const out = embeddings.subarray((meanRow0 + c) * d, (meanRow0 + c + 1) * d);
    for (const id of ids) {
      const row = cache.rowOfItem(id);
      for (let t = 0; t < d; t++) out[t] += emb[row * d + t] / ids.length;
    }
  });
  return { embeddings, table: await model.servingTable(embeddings), meanRow0 };
}

/** What `calibrateStageOrder` measured and chose. */
export interface StageOrderCalibration {
  /** The chosen order of all slots (required, then optional). */
  order: number[];
  /** Every candidate order with its recall@k on the sample (the layout's own order first). */
  tried: Array<{ order: number[]; recall: number }>;
  itemsPerCategory: number;
  users: number;
  k: number;
}

/**
 * The orders of `slots` that can search differently: every permutation, without those that only
 * swap the first two (the beam scores those two together, as pairs). `slots`' own order first.
 */
export function distinctStageOrders(slots: readonly number[]): number[][] {
  const out: number[][] = [];
  const seen = new Set<string>();
  const permute = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) {
      const key = prefix.length >= 2 ? [[...prefix.slice(0, 2)].sort((a, b) => a - b).join('+'), ...prefix.slice(2)].join(',') : prefix.join(',');
      if (!seen.has(key)) {
        seen.add(key);
        out.push(prefix);
      }
      return;
    }
    rest.forEach((x, i) => permute([...prefix, x], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  permute([], [...slots]);
  return out;
}

export interface ComposeOptions {
  /** Outfits to return (1..). */
  k: number;
  /** Items that every returned outfit contains, each in a slot of its category. */
  fixed?: readonly number[];
  /** Items no returned outfit contains. */
  exclude?: readonly number[];
  /** Restricts the candidates to these items per category (default: the composer's whole catalog). */
  catalog?: readonly Int32Array[];
  /** Items retrieved per category by first-order score (default 2; 8 with fixed items or a restricted catalog; 16 with `probes` 0: COMPOSE_DEFAULTS*). */
  retrieve?: number;
  /** Partial outfits kept per beam stage (default max(k, 10), or max(k, 16) with `probes` 0). */
  beam?: number;
  /** Retrieval of stage 2: 'exact' scans every item, 'ann' asks the HNSW index (default: the composer's). */
  retrieval?: RetrievalKind;
  /**
   * Diversity: no two returned outfits share more than this many items (default: no constraint).
   * When the search's outfits cannot satisfy it for all k, the rest are filled with the least
   * overlapping ones and counted in `ComposeResult.relaxed`.
   */
  maxShared?: number;
  /**
   * 1 (default): retrieval by first-order score, then the beam. 2: a second retrieval and beam, each
   * category's candidates (its first-order top SECOND_PASS_POOL × retrieve) judged in the context
   * of the first pass's best outfit; the two passes' outfits are merged (method.md §3.1). 3: a third
   * such pass in the best outfit of the first two, run only when that outfit is new (otherwise it
   * would repeat the second). At most MAX_PASSES.
   */
  passes?: number;
  /**
   * Neighbourhood rounds after the passes (default 0, at most MAX_EXPAND_ROUNDS): each round scores
   * every outfit one item away from the EXPAND_WIDTH best outfits not yet expanded (the items of
   * each category's first-order top SECOND_PASS_POOL × retrieve), the first round from the best
   * outfit so far and the outfit of each slot's best first-order item (method.md §3.1).
   */
  expand?: number;
  /**
   * Probe outfits (default PROBE_OUTFITS, 0 = none): random complete outfits of the catalog whose
   * ĥ the composer computed once; each composition scores them all (dot products, no model call)
   * and merges the best `beam` into the first pass's outfits, so that a later pass's context and
   * the returned list are never worse than the best of them (method.md §3.1). With `fixed` items
   * or a restricted `catalog`, which they cannot serve, up to COMPLETION_PROBES random completions
   * (no more than `probes`) are scored by the model instead.
   */
  probes?: number;
}

export interface ComposedOutfit {
  /** Global item ids in slot order; -1 for an absent optional slot. */
  readonly items: number[];
  /** s(u, o) (method.md §3). */
  readonly score: number;
}

export interface ComposeResult {
  readonly outfits: ComposedOutfit[];
  /** Outfits (partial or complete) scored by the full model. */
  readonly outfitsScored: number;
  readonly ms: number;
  /** Returned outfits that break the `maxShared` constraint because too few outfits kept it (0 when it held). */
  readonly relaxed?: number;
}

/** Why an outfit scores what it does (method.md §3.1). */
export interface OutfitExplanation {
  /** s(u, o). */
  score: number;
  /** Per slot: s(o) − s(o with this item swapped for its category's average item); null for an empty slot. */
  contributions: Array<number | null>;
  /** Index of the user's anchor (own anchors first, then shared) closest in direction to ĥ_o. */
  anchor: number;
  /** cos(ĥ_o, a_anchor). */
  anchorCosine: number;
}

/**
 * Random outfits the calibrated percentile is measured against (method.md §3.1). Served outfits
 * sit in the top 0.2 % of random outfits, so the sample must be large for the figure to tell them
 * apart: with 1,000, 655 of 1,000 served outfits beat every one (docs/results.md §3).
 */
export const REFERENCE_OUTFITS = 65536;

/** Per user, the highest reference scores kept: above the least of them the calibrated score is exact. */
export const REFERENCE_TAIL = 1024;

/** Per user, reference scores kept as an evenly spaced sample (by draw) for scores below the tail. */
export const REFERENCE_SAMPLE = 1024;

/** One user's reference scores as the calibrated scores read them (method.md §3.1), both ascending. */
interface ReferenceScores {
  /** The REFERENCE_TAIL highest. */
  tail: Float32Array;
  /** Every (R / REFERENCE_SAMPLE)-th reference outfit's: a random sample of them all. */
  sample: Float32Array;
}

/** An outfit's score read against the user's scores of the reference outfits (method.md §3.1). */
export interface CalibratedScore {
  /** 100 · share of reference outfits scoring below (ties count half). */
  percentile: number;
  /** R / #{reference outfits scoring at least as high}: about one random outfit in this many does as well; null when none does. */
  oneIn: number | null;
}

/** The second pass's candidates per category, as a multiple of `retrieve`. */
export const SECOND_PASS_POOL = 4;

/** Most passes a composition may ask for (each later pass runs only while the best outfit changes). */
export const MAX_PASSES = 3;

/** Outfits whose neighbourhoods one `expand` round scores. */
export const EXPAND_WIDTH = 2;

/** Most neighbourhood rounds a composition may ask for. */
export const MAX_EXPAND_ROUNDS = 6;

/**
 * The beam's width when a call does not choose: `retrieve` items per category and max(k ·
 * beamPerResult, minBeam) outfits per stage. With `probes` 0, the width chosen with
 * bench/compose.ts. With random completions (fixed items, a restricted catalog), a narrower beam:
 * they find the better outfits for less CPU. With probe outfits, two items per category: on the
 * whole syn-630 catalog the probes find nearly all of the served list's quality, and a wider beam
 * of first-order items added nothing the oracle could see (8 items: −3.19 nats, 2 items and twice
 * the probes: −2.96, for about a fifth less CPU; docs/results.md §3).
 */
export const COMPOSE_DEFAULTS = { retrieve: 16, minBeam: 16, beamPerResult: 1 };
export const COMPOSE_DEFAULTS_WITH_COMPLETIONS = { retrieve: 8, minBeam: 10, beamPerResult: 1 };
export const COMPOSE_DEFAULTS_WITH_PROBES = { retrieve: 2, minBeam: 10, beamPerResult: 1 };

/** Probe outfits a composition scores by default (`ComposeOptions.probes`). */
export const PROBE_OUTFITS = 32768;
/**
 * Random completions scored by the model when a call has fixed items or a restricted catalog
 * (probe outfits cannot serve it): at most this many, and no more than `probes`.
 */
export const COMPLETION_PROBES = 256;
/** The most probe outfits a composer holds (16 MB of ĥ at d 64). */
export const MAX_PROBE_OUTFITS = 65536;

/** Complete outfits scored per model pass. */
const SCORE_BATCH = 4096;

/** The probe outfits a composer holds (`OutfitComposer.prepareProbes`). */
interface ProbeSet {
  /** [n·slots] global ids, each outfit once. */
  outfits: Int32Array;
  /** ĥ of every outfit as a matrix, times a user vector. */
  scorer: MatVec;
  /** How many were drawn (n ≤ count after duplicates). */
  count: number;
  /** 0..n−1, the outfits' indices (what a selection ranks). */
  rows: Int32Array;
}

export class OutfitComposer {
  /**
   * ĥ of each catalog item's first-order outfit, row `rowOf[x]`: [n, d] row-major: the
   * single-item outfit {x}, or with mean completion x with every other required slot holding its
   * category's average item.
   */
  private readonly firstOrderHats: Float32Array;
  private readonly rowOf: Int32Array;
  private readonly divisor: number;
  readonly dim: number;
  /** Slots filled in search order: required slots first (the layout's order, or `calibrateStageOrder`'s), then optional ones. */
  private stageOrder: number[];
  /** `optional[j]`: slot j may stay empty (not required by the layout, e.g. the second top of 519). */
  readonly optionalSlots: boolean[];
  /** Category of each slot (the layout's slotCategories). */
  readonly slotCategories: readonly number[];
  /** Least number of items of a composed outfit (the layout's minItems). */
  readonly minItems: number;
  /** Some category has more than one slot (the two tops of 519): the beam must drop repeated item sets. */
  private readonly sharedCategories: boolean;
  /** Retrieval used when a call does not choose (`setRetrieval`). */
  private retrieval: RetrievalKind = 'exact';
  private readonly retrievers = new Map<RetrievalKind, Retriever>();
  /** Outfits go through model.projectServing (true) or model.projectEmbedded. */
  private servingGraph = true;
  /** Merges the model calls of concurrent compositions (null: each call runs alone). */
  private batcher: ScoreBatcher | null = null;
  /** ĥ of the reference outfits of the calibrated scores (method.md §3.1), behind one mat-vec. */
  private reference: Promise<MatVec> | null = null;
  /** The reference scores the calibrated scores read, per user vector. */
  private readonly referenceScores = new WeakMap<Float32Array, ReferenceScores>();
  /** The probe outfits (`ComposeOptions.probes`) and their ĥ, made on first use for the largest count asked. */
  private probeSet: Promise<ProbeSet> | null = null;
  /** `probeSet` once it has resolved. */
  private probesReady: ProbeSet | null = null;

  private constructor(
    model: OutfitModel,
    private readonly cache: ItemEmbeddingCache,
    /** The set's categories, slots, required slots and minItems (method.md §6.5). */
    readonly layout: SetLayout,
    /** Category per global item id. */
    private readonly categoryOf: Uint8Array,
    /** Candidate items per category (global ids); every one must be in `cache`. */
    readonly catalog: readonly Int32Array[],
    firstOrderHats: Float32Array,
    /** The item rows the model reads: every cached item, then one average item per category. */
    private readonly serving: ServingRows,
    /** How a partial outfit is scored (see `Completion`). */
    readonly completion: Completion,
  ) {
    this.dim = model.config.dim;
    this.divisor = model.scoreDivisor;
    const slotCategories = layout.slotCategories;
    this.slotCategories = slotCategories;
    this.optionalSlots = layout.required.map((r) => !r);
    this.minItems = layout.minItems;
    this.sharedCategories = new Set(slotCategories).size < slotCategories.length;
    this.stageOrder = [...this.slotsWhere(false), ...this.slotsWhere(true)];
    this.rowOf = new Int32Array(categoryOf.length).fill(-1);
    catalogItems(catalog).forEach((id, row) => (this.rowOf[id] = row));
    this.firstOrderHats = firstOrderHats;
  }

  /**
   * A composer over `catalog`. Computes once the rows the model reads (`ServingRows`: the cached
   * items' embeddings, one average item per category of `catalog`, and SAB1's projections of both,
   * unless `serving` passes those of another composer) and every catalog item's first-order ĥ.
   */
  static async create(
    model: OutfitModel,
    cache: ItemEmbeddingCache,
    layout: SetLayout,
    categoryOf: Uint8Array,
    catalog: readonly Int32Array[],
    opts: { serving?: ServingRows; completion?: Completion } = {},
  ): Promise<OutfitComposer> {
    const serving = opts.serving ?? (await servingRows(model, cache, layout, catalog));
    const completion = opts.completion ?? 'none';
    const items = catalogItems(catalog);
    // each item in the first slot of its category; the other required slots average items, or empty
    const slots = layout.slotCategories.length;
    const rows = new Int32Array(items.length * slots).fill(-1);
    items.forEach((id, r) => {
      const own = layout.slotCategories.indexOf(categoryOf[id]);
      layout.slotCategories.forEach((c, j) => {
        if (j === own) rows[r * slots + j] = cache.rowOfItem(id);
        else if (completion === 'mean' && layout.required[j]) rows[r * slots + j] = serving.meanRow0 + c;
      });
    });
    const packed = packRows(rows, slots);
    const firstOrderHats = await model.projectServing(serving.table, packed.items, packed.slots);
    return new OutfitComposer(model, cache, layout, categoryOf, catalog, firstOrderHats, serving, completion);
  }

  /**
   * A composer over another catalog (e.g. a sub-catalog small enough to enumerate), same model,
   * item rows, average items and stage order; `completion` defaults to this composer's.
   */
  async withCatalog(catalog: readonly Int32Array[], completion: Completion = this.completion): Promise<OutfitComposer> {
    const composer = await OutfitComposer.create(this.cache.model, this.cache, this.layout, this.categoryOf, catalog, { serving: this.serving, completion });
    composer.stageOrder = [...this.stageOrder];
    return composer;
  }

  /** The slots in the order the beam fills them. */
  get stages(): readonly number[] {
    return this.stageOrder;
  }

  /** Sets the beam's order of the required slots (any order of all of them); optional slots stay last. */
  setStageOrder(required: readonly number[]): void {
    const want = this.slotsWhere(false);
    if (required.length !== want.length || [...required].sort((a, b) => a - b).some((j, i) => j !== want[i])) {
      throw new UserError(`a stage order must list the required slots ${want.join(', ')} once each, got ${required.join(', ')}`);
    }
    this.stageOrder = [...required, ...this.slotsWhere(true)];
  }

  /** The slots that are optional (`true`) or required (`false`), in layout order. */
  private slotsWhere(optional: boolean): number[] {
    return this.slotCategories.map((_, j) => j).filter((j) => this.optionalSlots[j] === optional);
  }

  /**
   * Chooses the order in which the beam fills the required slots by measurement on the model
   * served (method.md §3.1): on a sample catalog of the last n items of every category (n ≤
   * `itemsPerCategory`, lowered until the sample has at most `maxCombinations` outfits, so that it
   * can be scored exhaustively), each candidate order's recall@k of the exhaustive top-k over
   * `userVectors`; the best becomes this composer's order (ties: the earlier candidate, the
   * layout's own order first). The first two stages are scored only as pairs, so orders that
   * differ by swapping them are one candidate. Null, and nothing measured, when there is no
   * choice (fewer than 3 required slots), too much of one (more than 5), or no sample small
   * enough (many optional slots) or not empty.
   */
  async calibrateStageOrder(
    userVectors: readonly Float32Array[],
    opts: { itemsPerCategory?: number; maxCombinations?: number; k?: number } = {},
  ): Promise<StageOrderCalibration | null> {
    // candidates from the layout's order, whatever order this composer has now
    const required = this.slotsWhere(false);
    if (required.length < 3 || required.length > 5 || userVectors.length === 0) return null;
    const candidates = distinctStageOrders(required);
    const k = opts.k ?? 10;
    const maxCombinations = opts.maxCombinations ?? 10_000;
    // the LAST items of each category: bench/serve.ts measures recall on the first ones, so the two samples do not meet
    const lastN = (n: number): Int32Array[] => this.catalog.map((ids) => ids.slice(Math.max(0, ids.length - n)));
    let n = opts.itemsPerCategory ?? 20;
    while (n > 1 && this.combinations(lastN(n)) > maxCombinations) n--;
    // too many optional slots for any sample to be scored exhaustively, or nothing to compose from
    const size = this.combinations(lastN(n));
    if (size > maxCombinations || size === 0) return null;
    const sample = await this.withCatalog(lastN(n));
    const exact: Array<Set<string>> = [];
    for (const v of userVectors) exact.push(new Set((await sample.exhaustive(v, { k }, maxCombinations)).outfits.map((o) => outfitKey(o.items))));
    const tried: Array<{ order: number[]; recall: number }> = [];
    for (const order of candidates) {
      sample.setStageOrder(order);
      let hits = 0;
      for (const [u, v] of userVectors.entries()) {
        // the beam alone: probe outfits would cover much of a sample this small, for every order alike
        const found = (await sample.compose(v, { k, probes: 0 })).outfits;
        hits += found.filter((o) => exact[u].has(outfitKey(o.items))).length / Math.max(1, exact[u].size);
      }
      tried.push({ order: [...sample.stageOrder], recall: hits / userVectors.length });
    }
    const best = tried.reduce((a, b) => (b.recall > a.recall ? b : a), tried[0]);
    this.stageOrder = [...best.order];
    return { order: best.order, tried, itemsPerCategory: n, users: userVectors.length, k };
  }

  /**
   * Makes `kind` the retrieval of calls that do not choose; an 'ann' index is built here (once per
   * composer and kind). Returns the time spent building, ms.
   */
  setRetrieval(kind: RetrievalKind, ann: AnnSettings = ANN_DEFAULTS): number {
    const started = performance.now();
    this.retriever(kind, ann);
    this.retrieval = kind;
    return performance.now() - started;
  }

  /** What retrieval searches: every catalog item's first-order ĥ, per category (bench/ann.ts). */
  retrievalVectors(): RetrievalVectors {
    return { dim: this.dim, catalog: this.catalog, vectors: this.firstOrderHats, rowOf: this.rowOf };
  }

  get defaultRetrieval(): RetrievalKind {
    return this.retrieval;
  }

  private retriever(kind: RetrievalKind, ann: AnnSettings = ANN_DEFAULTS): Retriever {
    let r = this.retrievers.get(kind);
    if (!r) {
      r = makeRetriever(kind, this.retrievalVectors(), ann);
      this.retrievers.set(kind, r);
    }
    return r;
  }

  /** Micro-batching on or off: model calls issued while others wait are merged into one (ScoreBatcher). */
  setMicroBatching(on: boolean): void {
    this.batcher = on ? new ScoreBatcher((rows, slots) => this.projectAlone(rows, slots)) : null;
  }

  /**
   * Number of complete outfits in the (restricted) catalog: the exhaustive search's size. Per
   * category with s slots of which r required and n items, any r..s distinct items (unordered);
   * the categories' counts by size are convolved and the sizes below minItems dropped (method.md §6.5).
   */
  combinations(catalog: readonly Int32Array[] = this.catalog): number {
    // bySize[m]: outfits of m items over the categories seen so far
    let bySize = [1];
    const categories = [...new Set(this.slotCategories)];
    for (const c of categories) {
      const slots = this.slotCategories.filter((x) => x === c).length;
      const required = this.slotCategories.filter((x, j) => x === c && !this.optionalSlots[j]).length;
      const n = catalog[c].length;
      const next = new Array<number>(bySize.length + slots).fill(0);
      for (let k = required; k <= slots; k++) {
        const ways = choose(n, k);
        if (ways === 0) continue;
        bySize.forEach((m, size) => (next[size + k] += m * ways));
      }
      bySize = next;
    }
    return Math.round(bySize.reduce((acc, m, size) => (size >= this.minItems ? acc + m : acc), 0));
  }

  /** ĥ rows [n·d] of outfits (n·slots global ids, -1 = absent), from the cached item embeddings. */
  projectOutfits(items: Int32Array, slots: number): Promise<Float32Array> {
    return this.projectRows(this.cache.rowsOfItems(items), slots);
  }

  /** ĥ rows [n·d] of outfits given as rows of `ServingRows` per slot (-1 = absent). */
  private projectRows(rows: Int32Array, slots: number): Promise<Float32Array> {
    if (this.batcher) return this.batcher.project(rows, slots);
    return this.projectAlone(rows, slots);
  }

  /**
   * `projectRows` in one model call of its own: the serving graph over the serving table
   * (model.projectServing), or, with `setServingGraph(false)`, the graph training and eval use.
   */
  private projectAlone(rows: Int32Array, slots: number): Promise<Float32Array> {
    if (!this.servingGraph) return this.cache.model.projectEmbedded(this.serving.embeddings, rows, slots);
    return this.cache.model.projectServing(this.serving.table, rows, slots);
  }

  /**
   * SAB1's projections of the rows the model reads ([rows · 3d]: the cached items in cache order,
   * then one average item per category), the table `projectOutfits` runs the serving graph over.
   */
  get servingTable(): Float32Array {
    return this.serving.table;
  }

  /** The serving graph (default) or the training-time graph for every outfit scored: the same scores up to float rounding (bench/serving-graph.ts). */
  setServingGraph(on: boolean): void {
    this.servingGraph = on;
  }

  /** The `count` items of `ids` with the highest first-order scores, best first. */
  private topFirstOrder(userVector: Float32Array, ids: Int32Array, count: number): Int32Array {
    const scores = this.firstOrderScores(userVector, ids);
    const at = new Map(Array.from(ids, (id, i) => [id, i]));
    return topByScore(ids, count, undefined, (id) => scores[at.get(id)!]);
  }

  /** First-order scores of `items` for a user vector (their first-order outfits, `firstOrderHats`). */
  firstOrderScores(userVector: Float32Array, items: Int32Array): Float32Array {
    const d = this.dim;
    const hats = new Float32Array(items.length * d);
    for (let i = 0; i < items.length; i++) {
      const row = this.rowOf[items[i]];
      if (row < 0) throw new UserError(`item ${items[i]} is not in the catalog`);
      hats.set(this.firstOrderHats.subarray(row * d, (row + 1) * d), i * d);
    }
    return scoreAgainstVector(hats, userVector, d, this.divisor);
  }

  /**
   * Full-model scores of outfits (n·slots global ids, -1 = absent) for a user vector Σ_k â_uk:
   * s = ĥ_o·v / divisor (method.md §3), the same value OutfitModel.scoreProjected gives.
   */
  scoreItems(userVector: Float32Array, items: Int32Array, slots: number): Promise<Float32Array> {
    return this.scoreRows(userVector, this.cache.rowsOfItems(items), slots);
  }

  /** `scoreItems` for outfits given as rows of `ServingRows` (items or average items) per slot. */
  private async scoreRows(userVector: Float32Array, rows: Int32Array, slots: number): Promise<Float32Array> {
    // an outfit is a set (method.md §1): its items only, in a graph of as many slots as the fullest row
    const packed = packRows(rows, slots);
    return scoreAgainstVector(await this.projectRows(packed.items, packed.slots), userVector, this.dim, this.divisor);
  }

  /**
   * Model scores of the partial outfits of a beam stage. A slot still to be filled by a later
   * stage holds the `context` outfit's item when one is given (the second pass), else, with mean
   * completion, its category's average item when the layout requires it (so a pair is judged as
   * the outfit it will become, not as a pair); otherwise it stays empty.
   */
  private scoreStage(userVector: Float32Array, candidates: readonly Int32Array[], later: ReadonlySet<number>, context: Int32Array | null = null): Promise<Float32Array> {
    const slots = this.slotCategories.length;
    const rows = new Int32Array(candidates.length * slots);
    candidates.forEach((c, r) => {
      for (let j = 0; j < slots; j++) {
        const item = c[j];
        if (item >= 0) rows[r * slots + j] = this.cache.rowOfItem(item);
        else if (context && later.has(j) && context[j] >= 0 && !c.includes(context[j])) rows[r * slots + j] = this.cache.rowOfItem(context[j]);
        else if (this.completion === 'mean' && later.has(j) && !this.optionalSlots[j]) rows[r * slots + j] = this.serving.meanRow0 + this.slotCategories[j];
        else rows[r * slots + j] = -1;
      }
    });
    return this.scoreRows(userVector, rows, slots);
  }

  /**
   * The beam over the free slots (method.md §3.1) from the retrieved items per category: the kept
   * outfits and their scores (every outfit of the last stage when `keepAll`), or null when no outfit
   * of minItems items can be made. `context`: an outfit whose items complete the partial ones.
   */
  private async beamSearch(
    userVector: Float32Array,
    pinned: readonly number[],
    retrieved: readonly Int32Array[],
    beamWidth: number,
    k: number,
    keepAll: boolean,
    context: Int32Array | null = null,
    swapScores: ReadonlyMap<number, ReadonlyMap<number, number>> | null = null,
  ): Promise<{ beam: Int32Array[]; scores: Float32Array; scored: number } | null> {
    // 3. beam over the slots; each beam entry is a full slot vector with -1 where not yet chosen
    const slots = this.slotCategories.length;
    let beam: Int32Array[] = [Int32Array.from(pinned)];
    let scores: Float32Array | null = null;
    let scored = 0;
    const stages = this.stageOrder.filter((j) => pinned[j] < 0);
    // method.md §6.5: a partial outfit that can no longer reach minItems is dropped; one still empty
    // (every slot so far optional and left out) has no score and is carried along outside the beam
    let empty: Int32Array | null = null;
    for (const [stageIndex, slot] of stages.entries()) {
      const category = this.slotCategories[slot];
      const remaining = stages.length - stageIndex - 1;
      const next: Int32Array[] = [];
      // two (partial, item) pairs can make the same set only when a category has several slots
      const seen = this.sharedCategories ? new Set<string>() : null;
      empty = null;
      for (const partial of beam) {
        const options: number[] = Array.from(retrieved[category]);
        if (this.optionalSlots[slot]) options.push(-1);
        for (const item of options) {
          if (item >= 0 && partial.includes(item)) continue;
          const candidate = partial.slice();
          candidate[slot] = item;
          const present = presentItems(candidate);
          if (present + remaining < this.minItems) continue;
          if (seen) {
            const key = outfitKey(candidate);
            if (seen.has(key)) continue;
            seen.add(key);
          }
          if (present === 0) empty = candidate;
          else next.push(candidate);
        }
      }
      if (next.length === 0) {
        if (empty) {
          beam = [empty];
          scores = null;
          continue;
        }
        break;
      }
      // ONNX Runtime runs on this thread and its promises resolve as microtasks: without a turn of
      // the event loop per stage, concurrent compositions chain through microtasks and starve I/O
      // (/health waited for every queued composition, docs/results.md §3)
      await new Promise<void>((resolve) => setImmediate(resolve));
      // (with a context, a lone item is judged in it like any partial outfit)
      const isFirstAlone = context === null && presentItems(beam[0]) === 0 && beam.length === 1;
      // with a context, the first stage's outfits are the context with one item swapped in this
      // slot: `retrieveInContext` scored them already (`swapScores`, slot → item → score)
      const known = stageIndex === 0 && context !== null ? swapScores?.get(slot) : undefined;
      const reuse = known !== undefined && beam.length === 1 && next.every((c) => known.has(c[slot]));
      // a lone first item's full-model score IS its first-order score: no model pass needed
      const nextScores = isFirstAlone
        ? this.firstOrderScores(userVector, Int32Array.from(next, (c) => c[slot]))
        : reuse
          ? Float32Array.from(next, (c) => known.get(c[slot])!)
          : await this.scoreStage(userVector, next, new Set(stages.slice(stageIndex + 1)), context);
      if (!isFirstAlone && !reuse) scored += next.length;
      const last = stageIndex === stages.length - 1;
      // the last stage keeps every outfit when a diversity constraint will choose among them
      const keep = topIndices(nextScores, last ? (keepAll ? next.length : Math.max(beamWidth, k)) : beamWidth);
      beam = keep.map((i) => next[i]);
      scores = Float32Array.from(keep, (i) => nextScores[i]);
      if (empty && !last) {
        beam.push(empty);
        scores = Float32Array.from([...scores, -Infinity]);
      }
    }
    if ((scores === null && stages.length > 0) || beam.some((o) => presentItems(o) === 0)) {
      // no outfit of minItems items can be made from what is left
      return null;
    }
    if (scores === null) {
      // every slot pinned: the one outfit they make
      scores = await this.scoreItems(userVector, flatten(beam, slots), slots);
      scored += beam.length;
    }
    return { beam, scores, scored };
  }

  /**
   * Per free slot, the `count` items of `pool[category]` whose outfit scores highest when swapped
   * into `context` in that slot (the context's own item among them): an item judged with the items
   * it will be worn with, which a first-order score cannot do (docs/results.md §3).
   */
  private async retrieveInContext(
    userVector: Float32Array,
    context: Int32Array,
    pinned: readonly number[],
    pool: readonly Int32Array[],
    count: number,
  ): Promise<{ retrieved: Int32Array[]; scored: number; swapScores: Map<number, Map<number, number>> }> {
    const slots = this.slotCategories.length;
    const free = this.slotCategories.map((_, j) => j).filter((j) => pinned[j] < 0);
    const swapped: Int32Array[] = [];
    const owners: Array<{ slot: number; item: number }> = [];
    for (const j of free) {
      for (const item of pool[this.slotCategories[j]]) {
        // an item already worn in another slot of the context would make a set with a repeat
        if (context.some((x, i) => i !== j && x === item)) continue;
        const outfit = context.slice();
        outfit[j] = item;
        swapped.push(outfit);
        owners.push({ slot: j, item });
      }
    }
    const scores = swapped.length > 0 ? await this.scoreItems(userVector, flatten(swapped, slots), slots) : new Float32Array(0);
    const swapScores = new Map(free.map((j) => [j, new Map<number, number>()]));
    owners.forEach((o, i) => swapScores.get(o.slot)!.set(o.item, scores[i]));
    const retrieved = pool.slice();
    for (const c of new Set(free.map((j) => this.slotCategories[j]))) {
      // a category of several slots keeps, per item, its best slot's score
      const best = new Map<number, number>();
      owners.forEach((o, i) => {
        if (this.slotCategories[o.slot] === c) best.set(o.item, Math.max(best.get(o.item) ?? -Infinity, scores[i]));
      });
      retrieved[c] = topByScore(pool[c], count, (id) => !best.has(id), (id) => best.get(id)!);
    }
    return { retrieved, scored: swapped.length, swapScores };
  }

  /** The user's top-k outfits by beam search (see the file comment). */
  async compose(userVector: Float32Array, opts: ComposeOptions): Promise<ComposeResult> {
    const started = performance.now();
    const plan = this.plan(opts);
    const probes = opts.probes ?? PROBE_OUTFITS;
    if (!(Number.isInteger(probes) && probes >= 0 && probes <= MAX_PROBE_OUTFITS)) throw new UserError(`probes must be an integer in 0..${MAX_PROBE_OUTFITS}, got ${probes}`);
    // probe outfits hold no fixed item and may hold any catalog item: not used with either; then
    // random completions of the fixed items from the allowed items are scored by the model instead
    const probing = probes > 0 && !plan.restricted && plan.pinned.every((x) => x < 0);
    const completions = probing ? 0 : Math.min(probes, COMPLETION_PROBES);
    const widths = probing ? COMPOSE_DEFAULTS_WITH_PROBES : completions > 0 ? COMPOSE_DEFAULTS_WITH_COMPLETIONS : COMPOSE_DEFAULTS;
    const retrieve = opts.retrieve ?? widths.retrieve;
    const beamWidth = opts.beam ?? Math.max(widths.beamPerResult * opts.k, widths.minBeam);
    if (!(Number.isInteger(retrieve) && retrieve >= 1)) throw new UserError(`retrieve must be a positive integer, got ${retrieve}`);
    if (!(Number.isInteger(beamWidth) && beamWidth >= opts.k)) throw new UserError(`beam must be an integer >= k (${opts.k}), got ${beamWidth}`);

    const maxShared = opts.maxShared ?? this.slotCategories.length;
    if (!(Number.isInteger(maxShared) && maxShared >= 0)) throw new UserError(`maxShared must be a non-negative integer, got ${maxShared}`);

    // 2. per-category retrieval by first-order score: the index over the whole catalog, or a scan of a restricted one
    const retriever = this.retriever(opts.retrieval ?? this.retrieval);
    const passes = opts.passes ?? 1;
    if (!(Number.isInteger(passes) && passes >= 1 && passes <= MAX_PASSES)) throw new UserError(`passes must be an integer in 1..${MAX_PASSES}, got ${passes}`);
    const rounds = opts.expand ?? 0;
    if (!(Number.isInteger(rounds) && rounds >= 0 && rounds <= MAX_EXPAND_ROUNDS)) throw new UserError(`expand must be an integer in 0..${MAX_EXPAND_ROUNDS}, got ${rounds}`);
    // one query per category: the later passes' and rounds' wider pool holds the first pass's items
    const count = passes > 1 || rounds > 0 ? retrieve * SECOND_PASS_POOL : retrieve;
    // the index or the scan answers the categories of the whole catalog in one call
    const searched = plan.pools.map((ids) => (ids.length <= count || plan.restricted ? 0 : count));
    const found = searched.some((n) => n > 0) ? await retriever.topPerCategory(userVector, searched, plan.removed.size > 0 ? (id) => plan.removed.has(id) : undefined) : [];
    const pool = plan.pools.map((ids, c) => {
      if (ids.length <= count) return ids;
      if (plan.restricted) return this.topFirstOrder(userVector, ids, count);
      return found[c];
    });
    const retrieved = pool.map((ids) => (ids.length <= retrieve ? ids : this.topFirstOrder(userVector, ids, retrieve)));
    const keepAll = maxShared < this.slotCategories.length;
    const first = await this.beamSearch(userVector, plan.pinned, retrieved, beamWidth, opts.k, keepAll);
    if (first === null) return { outfits: [], outfitsScored: 0, ms: performance.now() - started, relaxed: 0 };
    let { beam, scores, scored } = first;
    // the best probes (precomputed ĥ, no model call) or random completions (scored by the model) join the beam's outfits
    let extra: { outfits: Int32Array[]; scores: Float32Array } | null = null;
    if (probing) extra = await this.bestProbes(userVector, probes, Math.max(beamWidth, opts.k), plan.removed);
    else if (completions > 0) {
      const drawn = this.randomCompletions(plan, completions);
      if (drawn.length > 0) {
        const drawnScores = await this.scoreItems(userVector, flatten(drawn, this.slotCategories.length), this.slotCategories.length);
        scored += drawn.length;
        const keep = topIndices(drawnScores, Math.max(beamWidth, opts.k));
        extra = { outfits: keep.map((i) => drawn[i]), scores: Float32Array.from(keep, (i) => drawnScores[i]) };
      }
    }
    if (extra !== null && extra.outfits.length > 0) ({ beam, scores } = mergeRanked(beam, scores, extra.outfits, extra.scores));
    let context: Int32Array | null = null;
    for (let pass = 2; pass <= passes && beam.length > 0; pass++) {
      // 4. later passes (method.md §3.1): retrieve again, each category's candidates judged in the
      // context of the best outfit found so far (the item swapped into it), then search again with
      // partial outfits completed by that outfit's items in the slots still to fill; a pass whose
      // context is the previous pass's would repeat it, so the passes stop there
      const best = beam[topIndices(scores, 1)[0]];
      if (context !== null && sameItems(context, best)) break;
      context = best;
      const contextual = await this.retrieveInContext(userVector, best, plan.pinned, pool, retrieve);
      scored += contextual.scored;
      const next = await this.beamSearch(userVector, plan.pinned, contextual.retrieved, beamWidth, opts.k, keepAll, best, contextual.swapScores);
      if (next !== null) {
        scored += next.scored;
        const merged = mergeRanked(beam, scores, next.beam, next.scores);
        beam = merged.beam;
        scores = merged.scores;
      }
    }
    if (rounds > 0 && beam.length > 0) {
      const expanded = await this.expandNeighbourhoods(userVector, plan.pinned, pool, retrieved, beam, scores, rounds);
      beam = expanded.beam;
      scores = expanded.scores;
      scored += expanded.scored;
    }
    const order = topIndices(scores, beam.length);
    const ranked = order.map((i) => ({ items: Array.from(beam[i]), score: scores![i] }));
    const { chosen, relaxed } = selectDiverse(ranked, opts.k, maxShared);
    return { outfits: chosen, outfitsScored: scored, ms: performance.now() - started, relaxed };
  }

  /**
   * Neighbourhood rounds (method.md §3.1, `expand`): a best-first local search over outfits one
   * item apart. Round r scores, in one model call, every outfit that differs from one of its seeds
   * in one free slot (an item of the slot's category in `pool`, or an optional slot emptied or
   * filled), skipping outfits already scored; the seeds of the first round are the best outfit so
   * far and the first-order outfit (each free slot's best item alone, `firstOrderOutfit`), those of
   * later rounds the EXPAND_WIDTH best outfits not yet expanded. The best outfits of a trained
   * model come in clusters that share two of three items, and a cluster can be built on an item
   * whose first-order rank is low: the beam never sees it, a neighbourhood of the cluster's other
   * items does (docs/results.md §3).
   */
  private async expandNeighbourhoods(
    userVector: Float32Array,
    pinned: readonly number[],
    pool: readonly Int32Array[],
    retrieved: readonly Int32Array[],
    beam: Int32Array[],
    scores: Float32Array,
    rounds: number,
  ): Promise<{ beam: Int32Array[]; scores: Float32Array; scored: number }> {
    const slots = this.slotCategories.length;
    const outfits = beam.slice();
    const values = Array.from(scores);
    const known = new Set(outfits.map((o) => outfitKey(o)));
    const expanded = new Set<string>();
    let scored = 0;
    const firstOrder = this.firstOrderOutfit(userVector, pinned, retrieved);
    for (let round = 0; round < rounds; round++) {
      const seeds = new Map<string, Int32Array>();
      const take = (o: Int32Array): void => {
        const key = outfitKey(o);
        if (!expanded.has(key) && !seeds.has(key)) seeds.set(key, o);
      };
      for (const i of topIndices(Float32Array.from(values), values.length)) {
        if (seeds.size >= (round === 0 ? 1 : EXPAND_WIDTH)) break;
        take(outfits[i]);
      }
      if (round === 0 && firstOrder !== null) take(firstOrder);
      if (seeds.size === 0) break;
      const batch: Int32Array[] = [];
      for (const [seedKey, seed] of seeds) {
        expanded.add(seedKey);
        // the first-order outfit is scored with its neighbours
        if (!known.has(seedKey)) {
          known.add(seedKey);
          batch.push(seed);
        }
        for (let j = 0; j < slots; j++) {
          if (pinned[j] >= 0) continue;
          const options: number[] = Array.from(pool[this.slotCategories[j]]);
          if (this.optionalSlots[j]) options.push(-1);
          for (const item of options) {
            if (item === seed[j] || (item >= 0 && seed.includes(item))) continue;
            const candidate = seed.slice();
            candidate[j] = item;
            if (presentItems(candidate) < this.minItems) continue;
            const key = outfitKey(candidate);
            if (known.has(key)) continue;
            known.add(key);
            batch.push(candidate);
          }
        }
      }
      if (batch.length === 0) continue;
      // a turn of the event loop per model call, as in the beam (beamSearch)
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batchScores = await this.scoreItems(userVector, flatten(batch, slots), slots);
      scored += batch.length;
      batch.forEach((o, i) => {
        outfits.push(o);
        values.push(batchScores[i]);
      });
    }
    return { beam: outfits, scores: Float32Array.from(values), scored };
  }

  /**
   * Each free slot's best item by first-order score (distinct items; optional slots left empty
   * unless the outfit needs them to reach minItems), or null when no such outfit can be made.
   * `retrieved` are the first pass's lists, each category's first-order best of its pool (best
   * first, or the whole pool in catalog order when it is no longer than the list), so ranking them
   * finds the pool's best items without scoring the pool again.
   */
  private firstOrderOutfit(userVector: Float32Array, pinned: readonly number[], retrieved: readonly Int32Array[]): Int32Array | null {
    const outfit = Int32Array.from(pinned);
    const ranked = new Map<number, Int32Array>();
    const rankedOf = (c: number): Int32Array => {
      let r = ranked.get(c);
      if (!r) {
        r = this.topFirstOrder(userVector, retrieved[c], retrieved[c].length);
        ranked.set(c, r);
      }
      return r;
    };
    const fill = (j: number): void => {
      const item = rankedOf(this.slotCategories[j]).find((id) => !outfit.includes(id));
      if (item !== undefined) outfit[j] = item;
    };
    for (let j = 0; j < outfit.length; j++) if (outfit[j] < 0 && !this.optionalSlots[j]) fill(j);
    for (let j = 0; j < outfit.length && presentItems(outfit) < this.minItems; j++) if (outfit[j] < 0) fill(j);
    const complete = this.slotCategories.every((_, j) => outfit[j] >= 0 || this.optionalSlots[j]);
    return complete && presentItems(outfit) >= this.minItems ? outfit : null;
  }

  // ---- readable scores and explanations (method.md §3.1) ------------------------------------------

  /**
   * Each score read against the user's scores of the reference outfits: `REFERENCE_OUTFITS` random
   * complete outfits of the catalog (seeded, the same for every user and replica). A percentile of
   * 90 means "better than 90 % of random outfits for this user"; `oneIn` 5000 means "about one
   * random outfit in 5,000 scores as high". Above the user's REFERENCE_TAIL-th best reference score
   * both are exact counts; below it they are read from an even sample of REFERENCE_SAMPLE, capped
   * at the tail's least figure so that the order of the scores is kept.
   */
  async calibrate(userVector: Float32Array, scores: ArrayLike<number>): Promise<CalibratedScore[]> {
    const { tail, sample } = await this.referenceScoresOf(userVector);
    const n = REFERENCE_OUTFITS;
    const belowTail = n - tail.length;
    return Array.from(scores, (s) => {
      if (s > tail[0]) {
        // every reference outside the tail is <= tail[0] < s
        const [below, ties] = placeIn(tail, s);
        const lo = belowTail + below;
        return { percentile: (100 * (lo + ties / 2)) / n, oneIn: lo < n ? n / (n - lo) : null };
      }
      const [below, ties] = placeIn(sample, s);
      const share = Math.min((below + ties / 2) / sample.length, belowTail / n);
      return { percentile: 100 * share, oneIn: 1 / (1 - share) };
    });
  }

  /** Draws the reference outfits and computes their ĥ, once (a server does it at start). */
  prepareReference(): Promise<MatVec> {
    this.reference ??= (async () => {
      const hats = await this.projectOutfits(this.referenceOutfits(REFERENCE_OUTFITS), this.slotCategories.length);
      const scorer = new MatVec(hats, this.dim, 'outfitrec-reference');
      await scorer.compile();
      return scorer;
    })();
    return this.reference;
  }

  /** One mat-vec and a selection, no sort of all R: 8 KB per user instead of R floats. */
  private async referenceScoresOf(userVector: Float32Array): Promise<ReferenceScores> {
    const known = this.referenceScores.get(userVector);
    if (known) return known;
    const made = this.summarizeReference(await (await this.prepareReference()).times(userVector), 0, 1);
    this.referenceScores.set(userVector, made);
    return made;
  }

  /**
   * The reference scores of these users, one product per 64 of them: a server does it at start
   * for the run's users, whose first request would otherwise wait about 2.5 ms for its own
   * mat-vec (docs/results.md §3). The same figures up to float rounding.
   */
  async prepareReferenceScores(userVectors: readonly Float32Array[]): Promise<void> {
    const scorer = await this.prepareReference();
    const todo = userVectors.filter((v) => !this.referenceScores.has(v));
    const d = this.dim;
    for (let start = 0; start < todo.length; start += 64) {
      const chunk = todo.slice(start, start + 64);
      const n = chunk.length;
      const queries = new Float32Array(d * n);
      chunk.forEach((v, j) => {
        for (let t = 0; t < d; t++) queries[t * n + j] = v[t];
      });
      const raw = await scorer.timesMany(queries, n);
      chunk.forEach((v, j) => this.referenceScores.set(v, this.summarizeReference(raw, j, n)));
    }
  }

  /** ReferenceScores from column `column` of `raw` [R, columns] (raw products, before the divisor). */
  private summarizeReference(raw: Float32Array, column: number, columns: number): ReferenceScores {
    // one user's product is its column already
    const scores = columns === 1 ? raw : new Float32Array(raw.length / columns);
    if (columns > 1) for (let r = 0; r < scores.length; r++) scores[r] = raw[r * columns + column];
    const tail = Float32Array.from(bestPositions(scores, 0, scores.length, REFERENCE_TAIL), (i) => scores[i] / this.divisor).sort();
    const step = scores.length / REFERENCE_SAMPLE;
    const sample = Float32Array.from({ length: REFERENCE_SAMPLE }, (_, i) => scores[i * step] / this.divisor).sort();
    return { tail, sample };
  }

  /**
   * The `keep` best of the first `count` probe outfits for a user vector, best first, none holding
   * a `removed` item (`ComposeOptions.probes`).
   */
  private async bestProbes(userVector: Float32Array, count: number, keep: number, removed: ReadonlySet<number>): Promise<{ outfits: Int32Array[]; scores: Float32Array }> {
    const { outfits, scorer, rows } = await this.prepareProbes(count);
    const slots = this.slotCategories.length;
    // ĥ·v in one native product (ranked as is, divided by the score divisor once kept)
    const all = await scorer.times(userVector);
    const skip = removed.size > 0 ? (i: number): boolean => outfits.subarray(i * slots, (i + 1) * slots).some((x) => removed.has(x)) : undefined;
    // best first, ties: the earlier probe first
    const best = topByScore(rows.subarray(0, Math.min(rows.length, count)), keep, skip, all);
    return { outfits: Array.from(best, (i) => outfits.slice(i * slots, (i + 1) * slots)), scores: Float32Array.from(best, (i) => all[i] / this.divisor) };
  }

  /**
   * Up to `count` distinct random outfits holding the plan's fixed items in their slots and, in
   * the other slots, items the plan allows (`plan.pools`): the probes of a call with fixed items
   * or a restricted catalog, scored by the model. The draw is seeded by the fixed items and the
   * pools' sizes, so the same request draws the same outfits (replicas and restarts agree).
   */
  private randomCompletions(plan: { pinned: number[]; pools: Int32Array[] }, count: number): Int32Array[] {
    let seed = 0x85ebca6b;
    for (const x of [...plan.pinned, ...plan.pools.map((p) => p.length)]) seed = Math.imul(seed ^ (x + 1), 0x27d4eb2d) >>> 0;
    return this.distinctOutfits(this.referenceOutfits(count, seed || 1, plan.pools, plan.pinned));
  }

  /** The rows of `drawn` ([n·slots]) that reach minItems, each set of items once, in order. */
  private distinctOutfits(drawn: Int32Array): Int32Array[] {
    const slots = this.slotCategories.length;
    const seen = new Set<string>();
    const out: Int32Array[] = [];
    for (let i = 0; i < drawn.length / slots; i++) {
      const outfit = drawn.slice(i * slots, (i + 1) * slots);
      if (presentItems(outfit) < this.minItems) continue;
      const key = outfitKey(outfit);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(outfit);
    }
    return out;
  }

  /**
   * Draws `count` probe outfits and computes their ĥ, unless this composer holds as many already
   * (a server does it at start). Each outfit is kept once, so a small catalog has fewer. They are a
   * sample apart from the reference outfits (another seed), so that a served probe is not among
   * the outfits its percentile is measured against.
   */
  prepareProbes(count: number): Promise<ProbeSet> {
    // every composition asks: no new promise once enough are held
    if (this.probesReady !== null && this.probesReady.count >= count) return Promise.resolve(this.probesReady);
    const held = this.probeSet;
    this.probeSet = (async () => {
      const known = held ? await held : null;
      if (known && known.count >= count) return known;
      const slots = this.slotCategories.length;
      const kept = this.distinctOutfits(this.referenceOutfits(count, 0x2545f491));
      const made = flatten(kept, slots);
      const hats = await this.projectOutfits(made, slots);
      const scorer = new MatVec(hats, this.dim, 'outfitrec-probes');
      await scorer.compile();
      this.probesReady = { outfits: made, scorer, count, rows: Int32Array.from(kept.keys()) };
      return this.probesReady;
    })();
    return this.probeSet;
  }

  /**
   * `count` random outfits of the layout, drawn by a fixed sequence from `seed`: each slot an item
   * of `pools` (the catalog by default), optional slots left empty half the time, `pinned` items
   * (−1 = free) kept in their slots.
   */
  private referenceOutfits(count: number, seed = 0x9e3779b9, pools: readonly Int32Array[] = this.catalog, pinned: readonly number[] | null = null): Int32Array {
    const slots = this.slotCategories.length;
    const items = new Int32Array(count * slots).fill(-1);
    let state = seed;
    const next = (n: number): number => {
      // xorshift32: a fixed sequence whatever the platform
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const fillSlot = (r: number, j: number): void => {
      const pool = pools[this.slotCategories[j]];
      for (let tries = 0; tries < 8; tries++) {
        const item = pool[next(pool.length)];
        if (!items.subarray(r * slots, r * slots + slots).includes(item)) {
          items[r * slots + j] = item;
          break;
        }
      }
    };
    for (let r = 0; r < count; r++) {
      if (pinned) items.set(pinned, r * slots);
      this.slotCategories.forEach((c, j) => {
        const pool = pools[c];
        if (items[r * slots + j] >= 0 || pool.length === 0 || (this.optionalSlots[j] && next(2) === 0)) return;
        fillSlot(r, j);
      });
      // method.md §6.5: optional slots filled in order until the outfit has minItems items (never on the FHN layout)
      for (let j = 0; j < slots && presentItems(items.subarray(r * slots, r * slots + slots)) < this.minItems; j++) {
        if (items[r * slots + j] < 0 && pools[this.slotCategories[j]].length > 0) fillSlot(r, j);
      }
    }
    return items;
  }

  /**
   * Per outfit (global ids per slot, -1 = absent): each item's contribution, s(o) minus the score
   * of o with that item swapped for its category's average item (the mean item embedding), and
   * the user's anchor whose direction the outfit matches best (largest cos(ĥ_o, a_k), method.md §3).
   * `anchors` [K·d] are the user's anchors (own, then shared), not necessarily normalised.
   */
  async explain(userVector: Float32Array, anchors: Float32Array, outfits: ReadonlyArray<readonly number[]>): Promise<OutfitExplanation[]> {
    const slots = this.slotCategories.length;
    const d = this.dim;
    const table = this.serving.embeddings;
    const meanRow = (c: number): number => this.serving.meanRow0 + c;
    // rows: each outfit, then each outfit with one item swapped for its category's mean
    const rows: number[][] = [];
    for (const outfit of outfits) {
      if (outfit.length !== slots) throw new Error(`explain: an outfit has ${outfit.length} slots, not ${slots}`);
      const base = outfit.map((item) => (item < 0 ? -1 : this.cache.rowOfItem(item)));
      rows.push(base);
      outfit.forEach((item, j) => {
        if (item < 0) return;
        const swapped = base.slice();
        swapped[j] = meanRow(this.categoryOf[item]);
        rows.push(swapped);
      });
    }
    const hats = rows.length === 0 ? new Float32Array(0) : await this.cache.model.projectEmbedded(table, Int32Array.from(rows.flat()), slots);
    const scores = scoreAgainstVector(hats, userVector, d, this.divisor);
    const scoreOf = (r: number): number => scores[r];
    const k = anchors.length / d;
    const norms = Array.from({ length: k }, (_, a) => Math.sqrt(anchors.subarray(a * d, (a + 1) * d).reduce((acc, x) => acc + x * x, 0) + 1e-12));
    let r = 0;
    return outfits.map((outfit) => {
      const at = r++;
      const score = scoreOf(at);
      const contributions = outfit.map((item) => (item < 0 ? null : score - scoreOf(r++)));
      let best = -1;
      let bestCos = -Infinity;
      for (let a = 0; a < k; a++) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += hats[at * d + t] * anchors[a * d + t];
        const cos = dot / norms[a];
        if (cos > bestCos) {
          bestCos = cos;
          best = a;
        }
      }
      return { score, contributions, anchor: best, anchorCosine: bestCos };
    });
  }

  /** Every combination scored by the full model; the exact top-k (small catalogs only). */
  async exhaustive(userVector: Float32Array, opts: ComposeOptions, limit = 2_000_000): Promise<ComposeResult> {
    const started = performance.now();
    const plan = this.plan(opts);
    const slots = this.slotCategories.length;
    const best = new TopK(opts.k);
    let scored = 0;
    let chunk: Int32Array[] = [];
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const s = await this.scoreItems(userVector, flatten(chunk, slots), slots);
      chunk.forEach((c, i) => best.offer(s[i], c));
      scored += chunk.length;
      chunk = [];
    };
    const current = Int32Array.from(plan.pinned);
    // every combination, depth first; scored in chunks as they fill
    const fill = function* (this: OutfitComposer, at: number): Generator<Int32Array> {
      if (at === slots) {
        if (presentItems(current) >= this.minItems) yield current.slice();
        return;
      }
      if (plan.pinned[at] >= 0) {
        yield* fill.call(this, at + 1);
        return;
      }
      const category = this.slotCategories[at];
      const options: number[] = Array.from(plan.pools[category]);
      if (this.optionalSlots[at]) options.push(-1);
      // unordered slots of one category: take each pair once (item ids increasing; an empty
      // optional slot of a category is only followed by empty ones)
      const previousSame = this.slotCategories.slice(0, at).lastIndexOf(category);
      for (const item of options) {
        if (item >= 0) {
          if (current.includes(item)) continue;
          if (previousSame >= 0 && plan.pinned[previousSame] < 0 && item < current[previousSame]) continue;
          if (previousSame >= 0 && plan.pinned[previousSame] < 0 && current[previousSame] < 0) continue;
        }
        current[at] = item;
        yield* fill.call(this, at + 1);
      }
      current[at] = plan.pinned[at];
    };
    for (const combination of fill.call(this, 0)) {
      chunk.push(combination);
      if (scored + chunk.length > limit) throw new UserError(`exhaustive search over more than ${limit} outfits refused`);
      if (chunk.length >= SCORE_BATCH) await flush();
    }
    await flush();
    const top = best.sorted();
    return { outfits: top.map(([score, items]) => ({ items: Array.from(items), score })), outfitsScored: scored, ms: performance.now() - started };
  }

  /** Validates options; pins fixed items to slots and builds the per-category pools. */
  private plan(opts: ComposeOptions): { pinned: number[]; pools: Int32Array[]; restricted: boolean; removed: Set<number> } {
    if (!(Number.isInteger(opts.k) && opts.k >= 1)) throw new UserError(`k must be a positive integer, got ${opts.k}`);
    const exclude = new Set(opts.exclude ?? []);
    const catalog = opts.catalog ?? this.catalog;
    if (catalog.length <= Math.max(...this.slotCategories)) throw new Error(`compose: catalog has only ${catalog.length} categories`);
    const pinned = this.slotCategories.map(() => -1);
    for (const item of opts.fixed ?? []) {
      if (!(Number.isInteger(item) && item >= 0 && item < this.categoryOf.length)) throw new UserError(`fixed item ${item} does not exist`);
      if (this.rowOf[item] < 0) throw new UserError(`fixed item ${item} is not in the catalog`);
      if (exclude.has(item)) throw new UserError(`item ${item} is both fixed and excluded`);
      if (pinned.includes(item)) throw new UserError(`item ${item} is fixed twice`);
      const category = this.categoryOf[item];
      const slot = this.slotCategories.findIndex((c, j) => c === category && pinned[j] < 0);
      if (slot < 0) {
        const count = this.slotCategories.filter((c) => c === category).length;
        throw new UserError(`too many fixed ${categoryName(this.layout, category)} items: an outfit holds ${count}`);
      }
      pinned[slot] = item;
    }
    const own = opts.catalog === undefined;
    const removedIn = new Set([...exclude, ...pinned.filter((id) => id >= 0)].map((id) => this.categoryOf[id]));
    const pools = catalog.map((ids, c) => {
      // the composer's own catalog is valid and, with nothing removed from it, used as it is (no scan per request)
      if (own && !removedIn.has(c)) return ids;
      const kept = ids.filter((id) => !exclude.has(id) && !pinned.includes(id));
      if (!own) {
        for (const id of kept) {
          if (this.rowOf[id] < 0) throw new UserError(`item ${id} is not in the composer's catalog`);
          if (this.categoryOf[id] !== c) throw new UserError(`item ${id} is a ${categoryName(this.layout, this.categoryOf[id])}, listed under ${categoryName(this.layout, c)}`);
        }
      }
      return kept;
    });
    this.slotCategories.forEach((c, j) => {
      if (pinned[j] < 0 && !this.optionalSlots[j] && pools[c].length === 0) {
        throw new UserError(`no ${categoryName(this.layout, c)} left to compose with (all excluded)`);
      }
    });
    const removed = new Set([...exclude, ...pinned.filter((id) => id >= 0)]);
    return { pinned, pools, restricted: opts.catalog !== undefined, removed };
  }
}

export interface ComposeRecall {
  /** Mean over users of |search top-k ∩ exhaustive top-k| / k. */
  recall: number;
  /** Mean over users of (exhaustive top-k score sum − search top-k score sum) / k; 0 when the search is exact. */
  scoreGap: number;
  searchMs: number;
  exhaustiveMs: number;
  /** exhaustiveMs / searchMs. */
  speedup: number;
  /** Outfits the full model scored: per user, mean. */
  searchScored: number;
  exhaustiveScored: number;
  combinations: number;
  users: number;
}

/**
 * Recall of the beam search against the exhaustive top-k, and its speed-up, over some user
 * vectors (bench/compose.ts and the tests). Use a catalog small enough to enumerate.
 */
export async function measureComposeRecall(composer: OutfitComposer, userVectors: readonly Float32Array[], opts: ComposeOptions): Promise<ComposeRecall> {
  let hits = 0;
  let gap = 0;
  let searchMs = 0;
  let exhaustiveMs = 0;
  let searchScored = 0;
  let exhaustiveScored = 0;
  for (const v of userVectors) {
    const search = await composer.compose(v, opts);
    const exact = await composer.exhaustive(v, opts);
    searchMs += search.ms;
    exhaustiveMs += exact.ms;
    searchScored += search.outfitsScored;
    exhaustiveScored += exact.outfitsScored;
    const exactKeys = new Set(exact.outfits.map((o) => outfitKey(o.items)));
    hits += search.outfits.filter((o) => exactKeys.has(outfitKey(o.items))).length / Math.max(1, exact.outfits.length);
    const sum = (os: ComposedOutfit[]): number => os.reduce((a, o) => a + o.score, 0);
    gap += (sum(exact.outfits) - sum(search.outfits)) / opts.k;
  }
  const n = userVectors.length;
  return {
    recall: hits / n,
    scoreGap: gap / n,
    searchMs: searchMs / n,
    exhaustiveMs: exhaustiveMs / n,
    speedup: exhaustiveMs / searchMs,
    searchScored: searchScored / n,
    exhaustiveScored: exhaustiveScored / n,
    combinations: composer.combinations(opts.catalog),
    users: n,
  };
}

/** Order-free key of an outfit (an outfit is a set, method.md §1). */
export function outfitKey(items: ArrayLike<number>): string {
  return Array.from(items)
    .filter((i) => i >= 0)
    .sort((a, b) => a - b)
    .join(',');
}

/** s = ĥ_r·v / divisor per row of `hats` [n·d] (method.md §3). */

/** Present items (>= 0) of a slot vector. */
function presentItems(items: ArrayLike<number>): number {
  let n = 0;
  for (let j = 0; j < items.length; j++) if (items[j] >= 0) n++;
  return n;
}

/** Binomial coefficient C(n, k) as a float (0 when k > n). */
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let out = 1;
  for (let i = 0; i < k; i++) out = (out * (n - i)) / (i + 1);
  return out;
}

/** Number of items two outfits share. */
function sharedItems(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  for (const x of a) if (x >= 0 && b.includes(x)) n++;
  return n;
}

/**
 * The first k of `ranked` (best first) such that no two share more than `maxShared` items
 * (method.md §3.1); when fewer than k qualify, the constraint is relaxed one item at a time for the
 * rest, and `relaxed` counts the outfits taken so.
 */
export function selectDiverse<T extends { items: number[] }>(ranked: readonly T[], k: number, maxShared: number): { chosen: T[]; relaxed: number } {
  const chosen: T[] = [];
  const taken = new Set<number>();
  let relaxed = 0;
  const slots = ranked.length > 0 ? ranked[0].items.length : 0;
  for (let limit = maxShared; limit <= Math.max(maxShared, slots) && chosen.length < k; limit++) {
    for (let i = 0; i < ranked.length && chosen.length < k; i++) {
      if (taken.has(i)) continue;
      if (chosen.every((c) => sharedItems(c.items, ranked[i].items) <= limit)) {
        chosen.push(ranked[i]);
        taken.add(i);
        if (limit > maxShared) relaxed++;
      }
    }
  }
  // keep the list best first
  chosen.sort((a, b) => ranked.indexOf(a) - ranked.indexOf(b));
  return { chosen, relaxed };
}

/**
 * Rows of `slots` ids (-1 = absent) with their items moved to the front and the columns no row
 * uses dropped: the same sets (method.md §1), a smaller Set Transformer input for partial outfits.
 */
function packRows(items: Int32Array, slots: number): { items: Int32Array; slots: number } {
  const n = items.length / slots;
  let width = 0;
  for (let r = 0; r < n; r++) {
    let count = 0;
    for (let j = 0; j < slots; j++) if (items[r * slots + j] >= 0) count++;
    width = Math.max(width, count);
  }
  if (width === slots || width === 0) return { items, slots };
  const out = new Int32Array(n * width).fill(-1);
  for (let r = 0; r < n; r++) {
    let at = 0;
    for (let j = 0; j < slots; j++) if (items[r * slots + j] >= 0) out[r * width + at++] = items[r * slots + j];
  }
  return { items: out, slots: width };
}

/**
 * Micro-batching: projections asked for while one is running are merged into a single model call
 * when it finishes (per slot count), so concurrent compositions share ONNX Runtime calls instead of
 * queueing one small call each. At most `maxInFlight` calls run at once.
 */
export class ScoreBatcher {
  private readonly waiting = new Map<number, Array<{ items: Int32Array; resolve: (h: Float32Array) => void; reject: (e: unknown) => void }>>();
  private inFlight = 0;
  private scheduled = false;
  /** Model calls made and outfits projected (bench/serve.ts reports the mean batch). */
  calls = 0;
  rows = 0;

  constructor(
    private readonly run: (items: Int32Array, slots: number) => Promise<Float32Array>,
    private readonly maxInFlight = 1,
  ) {}

  project(items: Int32Array, slots: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      let queue = this.waiting.get(slots);
      if (!queue) this.waiting.set(slots, (queue = []));
      queue.push({ items, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.waiting.size === 0) return;
    this.scheduled = true;
    // after the current turn of the event loop: requests arriving in it join the batch
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.inFlight >= this.maxInFlight) return;
    const [slots, parts] = this.waiting.entries().next().value as [number, Array<{ items: Int32Array; resolve: (h: Float32Array) => void; reject: (e: unknown) => void }>];
    this.waiting.delete(slots);
    const total = parts.reduce((n, p) => n + p.items.length, 0);
    const all = new Int32Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p.items, at);
      at += p.items.length;
    }
    this.inFlight++;
    this.calls++;
    this.rows += total / slots;
    this.run(all, slots)
      .then(
        (hats) => {
          const d = hats.length / (total / slots);
          let row = 0;
          for (const p of parts) {
            const n = p.items.length / slots;
            p.resolve(hats.slice(row * d, (row + n) * d));
            row += n;
          }
        },
        (err: unknown) => parts.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
    this.schedule();
  }
}

/** Every item of a per-category catalog, in category order. */
function catalogItems(catalog: readonly Int32Array[]): Int32Array {
  return Int32Array.from(catalog.flatMap((c) => Array.from(c)));
}

function flatten(rows: Int32Array[], slots: number): Int32Array {
  const out = new Int32Array(rows.length * slots);
  rows.forEach((r, i) => out.set(r, i * slots));
  return out;
}

function sameItems(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Two passes' outfits and scores as one list, each set once. */
function mergeRanked(a: Int32Array[], aScores: Float32Array, b: Int32Array[], bScores: Float32Array): { beam: Int32Array[]; scores: Float32Array } {
  const seen = new Set(a.map((o) => outfitKey(o)));
  const beam = a.slice();
  const scores = Array.from(aScores);
  b.forEach((o, i) => {
    const key = outfitKey(o);
    if (seen.has(key)) return;
    seen.add(key);
    beam.push(o);
    scores.push(bScores[i]);
  });
  return { beam, scores: Float32Array.from(scores) };
}

/** Indices of the `k` largest values, best first (ties: lower index first). */
function topIndices(values: Float32Array, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, k);
}

/** Keeps the k best (score, outfit) pairs seen; a min-heap would be asymptotically better, k is small. */
class TopK {
  private readonly items: Array<[number, Int32Array]> = [];
  private worst = -Infinity;
  constructor(private readonly k: number) {}

  offer(score: number, outfit: Int32Array): void {
    if (this.items.length >= this.k && score <= this.worst) return;
    this.items.push([score, outfit]);
    if (this.items.length > this.k) {
      this.items.sort((a, b) => b[0] - a[0]);
      this.items.length = this.k;
    }
    if (this.items.length === this.k) this.worst = Math.min(...this.items.map((x) => x[0]));
  }

  sorted(): Array<[number, Int32Array]> {
    return [...this.items].sort((a, b) => b[0] - a[0]);
  }
}

/** [#{v < s}, #{v = s}] in the ascending `sorted`. */
function placeIn(sorted: Float32Array, s: number): [number, number] {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < s) lo = mid + 1;
    else hi = mid;
  }
  let ties = lo;
  while (ties < sorted.length && sorted[ties] === s) ties++;
  return [lo, ties - lo];
}
