/**
 * Outfit composition: a user's top-k outfits built from a catalog, one item per slot (method.md §1:
 * top, bottom, shoe; two tops where the set allows, method.md §6.1 519/32).
 *
 * Every combination is a candidate — |tops|·|bottoms|·|shoes| of them, 10^12 at Polyvore scale —
 * so the search is:
 *   1. item embeddings of the whole catalog computed once (ItemEmbeddingCache), and each item's
 *      first-order score: the model score of the single-item outfit {x} (the Set Transformer takes
 *      any set size, method.md §2.3), ĥ_{x}·v_u / divisor, precomputed as ĥ_{x} for every item;
 *   2. per category, the `retrieve` items with the best first-order score for the user;
 *   3. a beam search over the slots (required slots first, the optional second top last) where
 *      each partial or complete outfit is scored by the FULL model (Set Transformer over the items
 *      chosen so far, method.md §2–§3), keeping the best `beam` per stage.
 * `fixed` pins items into their category's slots ("complete my outfit"); `exclude` removes items.
 * `exhaustive` scores every combination, to measure the search's recall on small catalogs.
 */
import { CATEGORY_NAMES } from '../data/types.js';
import { UserError } from '../errors.js';
import type { OutfitModel } from '../model/outfit-model.js';
import { scoreAgainstVector } from '../model/scoring.js';
import type { ItemEmbeddingCache } from '../train/item-cache.js';

export interface ComposeOptions {
  /** Outfits to return (1..). */
  k: number;
  /** Items that every returned outfit contains, each in a slot of its category. */
  fixed?: readonly number[];
  /** Items no returned outfit contains. */
  exclude?: readonly number[];
  /** Restricts the candidates to these items per category (default: the composer's whole catalog). */
  catalog?: readonly Int32Array[];
  /** Items retrieved per category by first-order score (default 16). */
  retrieve?: number;
  /** Partial outfits kept per beam stage (default max(k, 16)). */
  beam?: number;
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
}

/** Chosen with bench/compose.ts (recall of the exhaustive top-k against time per request). */
export const COMPOSE_DEFAULTS = { retrieve: 16, minBeam: 16, beamPerResult: 1 };

/** Complete outfits scored per model pass. */
const SCORE_BATCH = 4096;

export class OutfitComposer {
  /** ĥ of the single-item outfit {x} per catalog item, row `rowOf[x]`: [n, d] row-major. */
  private readonly singleHats: Float32Array;
  private readonly rowOf: Int32Array;
  private readonly divisor: number;
  readonly dim: number;
  /** Slots filled in search order: required slots first, then optional ones. */
  private readonly stageOrder: number[];
  /** `optional[j]`: slot j may stay empty (a second slot of a category, e.g. the second top). */
  readonly optionalSlots: boolean[];

  private constructor(
    model: OutfitModel,
    private readonly cache: ItemEmbeddingCache,
    /** Category of each slot (`slotCategoriesFor(set)`). */
    readonly slotCategories: readonly number[],
    /** Category per global item id. */
    private readonly categoryOf: Uint8Array,
    /** Candidate items per category (global ids); every one must be in `cache`. */
    readonly catalog: readonly Int32Array[],
    singleHats: Float32Array,
  ) {
    this.dim = model.config.dim;
    this.divisor = model.scoreDivisor;
    this.optionalSlots = slotCategories.map((c, j) => slotCategories.indexOf(c) < j);
    this.stageOrder = [
      ...slotCategories.map((_, j) => j).filter((j) => !this.optionalSlots[j]),
      ...slotCategories.map((_, j) => j).filter((j) => this.optionalSlots[j]),
    ];
    this.rowOf = new Int32Array(categoryOf.length).fill(-1);
    catalogItems(catalog).forEach((id, row) => (this.rowOf[id] = row));
    this.singleHats = singleHats;
  }

  /** A composer over `catalog`; computes ĥ of every catalog item's single-item outfit once. */
  static async create(
    model: OutfitModel,
    cache: ItemEmbeddingCache,
    slotCategories: readonly number[],
    categoryOf: Uint8Array,
    catalog: readonly Int32Array[],
  ): Promise<OutfitComposer> {
    const items = catalogItems(catalog);
    const singleHats = await cache.projectRows({ slots: 1, users: new Int32Array(items.length), items });
    return new OutfitComposer(model, cache, slotCategories, categoryOf, catalog, singleHats);
  }

  /** Number of complete outfits in the (restricted) catalog: the exhaustive search's size. */
  combinations(catalog: readonly Int32Array[] = this.catalog): number {
    const used = new Map<number, number>();
    let total = 1;
    for (const c of this.slotCategories) {
      const before = used.get(c) ?? 0;
      used.set(c, before + 1);
      const n = catalog[c].length;
      // a second slot of a category: any other item of it, or empty; unordered pairs
      total *= before === 0 ? n : (n - 1) / 2 + 1;
    }
    return Math.round(total);
  }

  /** ĥ rows [n·d] of outfits (n·slots global ids, -1 = absent), from the cached item embeddings. */
  projectOutfits(items: Int32Array, slots: number): Promise<Float32Array> {
    return this.cache.projectRows({ slots, users: new Int32Array(items.length / slots), items });
  }

  /** First-order scores (single-item outfits) of `items` for a user vector. */
  firstOrderScores(userVector: Float32Array, items: Int32Array): Float32Array {
    const d = this.dim;
    const hats = new Float32Array(items.length * d);
    for (let i = 0; i < items.length; i++) {
      const row = this.rowOf[items[i]];
      if (row < 0) throw new UserError(`item ${items[i]} is not in the catalog`);
      hats.set(this.singleHats.subarray(row * d, (row + 1) * d), i * d);
    }
    return scoreAgainstVector(hats, userVector, d, this.divisor);
  }

  /**
   * Full-model scores of outfits (n·slots global ids, -1 = absent) for a user vector Σ_k â_uk:
   * s = ĥ_o·v / divisor (method.md §3), the same value OutfitModel.scoreProjected gives.
   */
  async scoreItems(userVector: Float32Array, items: Int32Array, slots: number): Promise<Float32Array> {
    return scoreAgainstVector(await this.projectOutfits(items, slots), userVector, this.dim, this.divisor);
  }

  /** The user's top-k outfits by beam search (see the file comment). */
  async compose(userVector: Float32Array, opts: ComposeOptions): Promise<ComposeResult> {
    const started = performance.now();
    const plan = this.plan(opts);
    const retrieve = opts.retrieve ?? COMPOSE_DEFAULTS.retrieve;
    const beamWidth = opts.beam ?? Math.max(COMPOSE_DEFAULTS.beamPerResult * opts.k, COMPOSE_DEFAULTS.minBeam);
    if (!(Number.isInteger(retrieve) && retrieve >= 1)) throw new UserError(`retrieve must be a positive integer, got ${retrieve}`);
    if (!(Number.isInteger(beamWidth) && beamWidth >= opts.k)) throw new UserError(`beam must be an integer >= k (${opts.k}), got ${beamWidth}`);

    // 2. per-category retrieval by first-order score
    const retrieved = plan.pools.map((pool) => {
      if (pool.length <= retrieve) return pool;
      const scores = this.firstOrderScores(userVector, pool);
      const order = Int32Array.from({ length: pool.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
      return Int32Array.from(order.subarray(0, retrieve), (i) => pool[i]);
    });

    // 3. beam over the slots; each beam entry is a full slot vector with -1 where not yet chosen
    const slots = this.slotCategories.length;
    let beam: Int32Array[] = [Int32Array.from(plan.pinned)];
    let scores: Float32Array | null = null;
    let scored = 0;
    const stages = this.stageOrder.filter((j) => plan.pinned[j] < 0);
    for (const [stageIndex, slot] of stages.entries()) {
      const category = this.slotCategories[slot];
      const next: Int32Array[] = [];
      const seen = new Set<string>();
      for (const partial of beam) {
        const options: number[] = Array.from(retrieved[category]);
        if (this.optionalSlots[slot]) options.push(-1);
        for (const item of options) {
          if (item >= 0 && partial.includes(item)) continue;
          const candidate = partial.slice();
          candidate[slot] = item;
          const key = outfitKey(candidate);
          if (seen.has(key)) continue;
          seen.add(key);
          next.push(candidate);
        }
      }
      if (next.length === 0) break;
      const isFirstAlone = stageIndex === 0 && plan.pinned.every((v) => v < 0);
      // a lone first item's full-model score IS its first-order score: no model pass needed
      const nextScores = isFirstAlone
        ? this.firstOrderScores(userVector, Int32Array.from(next, (c) => c[slot]))
        : await this.scoreItems(userVector, flatten(next, slots), slots);
      if (!isFirstAlone) scored += next.length;
      const keep = topIndices(nextScores, stageIndex === stages.length - 1 ? Math.max(beamWidth, opts.k) : beamWidth);
      beam = keep.map((i) => next[i]);
      scores = Float32Array.from(keep, (i) => nextScores[i]);
    }
    if (scores === null) {
      // every slot pinned: the one outfit they make
      scores = await this.scoreItems(userVector, flatten(beam, slots), slots);
      scored += beam.length;
    }
    const order = topIndices(scores, opts.k);
    return {
      outfits: order.map((i) => ({ items: Array.from(beam[i]), score: scores![i] })),
      outfitsScored: scored,
      ms: performance.now() - started,
    };
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
        yield current.slice();
        return;
      }
      if (plan.pinned[at] >= 0) {
        yield* fill.call(this, at + 1);
        return;
      }
      const category = this.slotCategories[at];
      const options: number[] = Array.from(plan.pools[category]);
      if (this.optionalSlots[at]) options.push(-1);
      // unordered slots of one category: take each pair once (item ids increasing)
      const previousSame = this.slotCategories.slice(0, at).lastIndexOf(category);
      for (const item of options) {
        if (item >= 0) {
          if (current.includes(item)) continue;
          if (previousSame >= 0 && plan.pinned[previousSame] < 0 && item < current[previousSame]) continue;
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
  private plan(opts: ComposeOptions): { pinned: number[]; pools: Int32Array[] } {
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
        throw new UserError(`too many fixed ${CATEGORY_NAMES[category] ?? category} items: an outfit holds ${count}`);
      }
      pinned[slot] = item;
    }
    const pools = catalog.map((ids, c) => {
      const kept = ids.filter((id) => !exclude.has(id) && !pinned.includes(id));
      for (const id of kept) {
        if (this.rowOf[id] < 0) throw new UserError(`item ${id} is not in the composer's catalog`);
        if (this.categoryOf[id] !== c) throw new UserError(`item ${id} is a ${CATEGORY_NAMES[this.categoryOf[id]]}, listed under ${CATEGORY_NAMES[c]}`);
      }
      return kept;
    });
    this.slotCategories.forEach((c, j) => {
      if (pinned[j] < 0 && !this.optionalSlots[j] && pools[c].length === 0) {
        throw new UserError(`no ${CATEGORY_NAMES[c]} left to compose with (all excluded)`);
      }
    });
    return { pinned, pools };
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

/** Every item of a per-category catalog, in category order. */
function catalogItems(catalog: readonly Int32Array[]): Int32Array {
  return Int32Array.from(catalog.flatMap((c) => Array.from(c)));
}

function flatten(rows: Int32Array[], slots: number): Int32Array {
  const out = new Int32Array(rows.length * slots);
  rows.forEach((r, i) => out.set(r, i * slots));
  return out;
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
