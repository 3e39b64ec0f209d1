/**
 * The library API of the serving layer: a trained run plus a dataset folder (its catalog of items)
 * answer "score these outfits for this user", "rank them", "compose this user's best outfits" and
 * "make a user from these outfits" (method.md §3, §5).
 *
 * User ids are non-negative integers: 0..runUsers-1 are the run's own users (the user index of the
 * set it was trained on); onboarded users get runUsers, runUsers+1, ... in creation order and are
 * kept in a database (store.ts: a SQLite file, or PostgreSQL shared by replicas), so a restart
 * serves them again with identical scores; users.ts caches them and reads through on a miss.
 * Onboarding's fit runs in a pool of worker threads (onboard-pool.ts) when the run folder is known.
 *
 * Items are global item ids of the set's catalog (src/data/types.ts); anywhere an item is accepted
 * its image name (as written in the image list, with or without extension) works too.
 *
 * Model methods are async: ONNX Runtime runs each session call on this thread, and composition
 * yields one event-loop turn per beam stage (compose.ts), so concurrent requests interleave between
 * stages and other I/O is not starved. Onboarded users are read from the store on a cache miss.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../config.js';
import { itemPoolsFromTable, type ItemPools } from '../data/augment.js';
import { findImageDir, resolveImagePaths } from '../data/polyvore.js';
import { categoryName, describeSlots } from '../data/layout.js';
import type { Catalog, OutfitTable, PolyvoreSet } from '../data/types.js';
import { UserError } from '../errors.js';
import type { ItemInputSource } from '../model/inputs.js';
import { userVectorFromAnchors } from '../model/scoring.js';
import type { OutfitModel } from '../model/outfit-model.js';
import { Rng } from '../rng.js';
import {
  COLD_START_STRATEGIES,
  fitAnchorsForNewUser,
  type ColdStartOptions,
  type ColdStartStrategy,
} from '../train/cold-start.js';
import { ItemEmbeddingCache } from '../train/item-cache.js';
import { loadRun } from '../runs/load.js';
import { RUN_FILES } from '../runs/folder.js';
import { OutfitComposer, PROBE_OUTFITS, REFERENCE_OUTFITS, type CalibratedScore, type ComposedOutfit, type ComposeOptions, type ComposeResult, type OutfitExplanation } from './compose.js';
import { readableItemNames } from './item-names.js';
import { defaultOnboardWorkers, OnboardPool } from './onboard-pool.js';
import { openUserStore, type StoredUser, type UserStore, type UserSummary } from './store.js';
import { UserDirectory } from './users.js';
import { Turns } from '../util/turns.js';
import type { StageOrderCalibration } from './compose.js';
import type { RetrievalKind } from './retrieval.js';

/** A user as one request read it: Σ_k â_uk and, for onboarded users, their stored own anchors. */
interface ResolvedUser {
  readonly id: number;
  readonly vector: Float32Array;
  readonly ownAnchors?: Float32Array;
}

/** A user id that is neither a run user nor an onboarded one. */
export class UnknownUserError extends UserError {
  override name = 'UnknownUserError';
}

/** An item id or name that is not in the catalog, when it is the addressed resource. */
export class UnknownItemError extends UserError {
  override name = 'UnknownItemError';
}

/** An item given by global id or by image name. */
export type ItemRef = number | string;

/** One outfit as given by a caller: one entry per slot of the set (method.md §6.1 order), null = empty optional slot. */
export type OutfitRefs = ReadonlyArray<ItemRef | null>;

export interface ItemInfo {
  id: number;
  name: string;
  /** What a person reads: "red shirt" (synthetic sets), "top 3f2a1c" (sets without attributes). */
  title: string;
  category: string;
  categoryId: number;
}

/** A ranked outfit with its calibrated score (`percentile`, `oneIn`: method.md §3.1). */
export interface RankedOutfit extends CalibratedScore {
  /** Position of the outfit in the request. */
  index: number;
  /** Global item ids in slot order, -1 = empty slot. */
  items: number[];
  score: number;
  /** With `explain`: item contributions and the best-matching anchor (method.md §3.1). */
  explanation?: OutfitExplanation;
}

/** A composed outfit as served: with its calibrated score and, on request, its explanation. */
export interface ServedOutfit extends ComposedOutfit, CalibratedScore {
  explanation?: OutfitExplanation;
}

export interface ServedComposition extends Omit<ComposeResult, 'outfits'> {
  outfits: ServedOutfit[];
}

/** Per-request composition settings (server query options). */
export interface ComposeRequest {
  k: number;
  fixed?: readonly ItemRef[];
  exclude?: readonly ItemRef[];
  catalog?: readonly Int32Array[];
  /** Exact retrieval (every item scanned) instead of the recommender's default. */
  exact?: boolean;
  /** Diversity: at most this many items shared by any two outfits (default `RecommenderOptions.maxShared`). */
  maxShared?: number;
  /** Item contributions and matched anchor per outfit. */
  explain?: boolean;
}

export interface OnboardOptions {
  /** method.md §5 strategy, default 'so'. */
  strategy?: ColdStartStrategy;
  label?: string | null;
}

export interface RecommenderOptions {
  /**
   * Users database: a SQLite file (default `<run>/users.sqlite`; ':memory:' keeps users in memory
   * only) or a `postgres://` address shared by replicas.
   */
  db?: string;
  /** Worker threads that fit new users (default: cores − 1, at least 1); 0 = fit on the event loop. Needs a run folder. */
  onboardWorkers?: number;
  /** Cold-start settings (SO steps, lr, negatives …) used by `onboard`. */
  coldStart?: Partial<Omit<ColdStartOptions, 'rng' | 'strategy' | 'pools'>>;
  /** Seed of the onboarding randomness (each new user draws from seed + its id). */
  seed?: number;
  /** Beam-search settings used by `compose` unless a call overrides them. */
  compose?: Pick<ComposeOptions, 'retrieve' | 'beam' | 'passes' | 'expand' | 'probes'>;
  /** Composed results remembered per (user, options); user vectors never change, so entries never go stale. 0 disables. */
  composeCacheSize?: number;
  /** Retrieval of composition (retrieval.ts): 'exact' (default) or 'ann' (usearch index built at start). */
  retrieval?: RetrievalKind;
  /** Merge the model calls of concurrent compositions (compose.ts ScoreBatcher); default off. */
  microBatch?: boolean;
  /**
   * Compositions run at once; the others wait their turn, first come first served (default 1, or
   * unbounded with `microBatch`, which needs compositions in flight together to merge).
   */
  composeConcurrency?: number;
  /**
   * The beam's stage order: 'calibrate' (default) measures every candidate order's recall against
   * exhaustive scoring on a small sample at start (compose.ts `calibrateStageOrder`, with up to 12
   * run users) and keeps the best; 'layout' keeps the layout's slot order.
   */
  stageOrder?: 'calibrate' | 'layout';
  /** Default diversity of `compose`: no two outfits share more than this many items (default 1). */
  maxShared?: number;
}

/** What a Recommender is built from: `open` reads it from a run folder, tests build it directly. */
export interface RecommenderParts {
  model: OutfitModel;
  inputs: ItemInputSource;
  set: PolyvoreSet;
  /** Stable identity of the run (checked against the user database). */
  runFingerprint: string;
  /** Folder for the default database path and `describe()`; optional when `db` is given. */
  runDir?: string;
  /** The run's configuration, when built from a run folder. */
  runConfig?: RunConfig;
}

/** Run users whose calibrated-score references a server computes at start (8 KB each). */
export const REFERENCE_WARM_USERS = 4096;

export const LIMITS = {
  /** Outfits per compose request. */
  maxK: 50,
  /** Outfits per rank request. */
  maxRankOutfits: 1000,
  /** Outfits per onboarding. */
  maxOnboardOutfits: 50,
};

export class Recommender {
  readonly model: OutfitModel;
  readonly inputs: ItemInputSource;
  readonly set: PolyvoreSet;
  readonly store: UserStore;
  /** Onboarded users: the database with a read-through cache (users.ts). */
  readonly users: UserDirectory;
  readonly composer: OutfitComposer;
  readonly runDir: string | undefined;
  /** The run's configuration (data root, backbone inputs …), when opened from a run folder. */
  readonly runConfig: RunConfig | undefined;
  /** The run's own users: ids 0..runUsers-1. */
  readonly runUsers: number;
  private readonly cache: ItemEmbeddingCache;
  private readonly pools: ItemPools;
  private readonly userVectorOf = new Map<number, Float32Array>();
  private onboardPool: OnboardPool | null = null;
  private itemTitles: string[] | null = null;
  private readonly sharedSum: Float32Array;
  private readonly opts: RecommenderOptions;
  private readonly composeCache = new Map<string, ComposeResult>();
  /** Compositions run in turns, first come first served (util/turns.ts); `composeConcurrency` at a time. */
  private readonly composeTurns: Turns;
  /** Time spent building the ANN index at start, ms (0 for exact retrieval). */
  readonly retrievalBuildMs: number;
  /** What choosing the beam's stage order measured at start; null when the layout's order is kept. */
  stageOrderCalibration: StageOrderCalibration | null = null;
  private imagePaths: (string | undefined)[] | null = null;

  private constructor(parts: RecommenderParts, opts: RecommenderOptions, cache: ItemEmbeddingCache, composer: OutfitComposer, store: UserStore) {
    const { model, inputs, set } = parts;
    this.model = model;
    this.inputs = inputs;
    this.set = set;
    this.runDir = parts.runDir;
    this.runConfig = parts.runConfig;
    this.opts = opts;
    this.runUsers = model.config.numUsers;
    this.store = store;
    this.sharedSum = model.anchors.sharedSum();
    this.users = new UserDirectory(store, this.runUsers, (anchors) => userVectorFromAnchors(anchors, model.config.dim, this.sharedSum));
    this.cache = cache;
    this.composer = composer;
    this.retrievalBuildMs = composer.setRetrieval(opts.retrieval ?? 'exact');
    composer.setMicroBatching(opts.microBatch ?? false);
    this.composeTurns = new Turns(opts.composeConcurrency ?? (opts.microBatch ? Number.MAX_SAFE_INTEGER : 1));
    const byCategory = composer.catalog;
    // SO negatives: random mixes from the training pool (method.md §6.2), or the whole catalog when no training split was read
    const train = set.splits.train.posi;
    this.pools = train.users.length > 0 ? itemPoolsFromTable(set, train) : { byCategory, categoryOf: set.catalog.category };
  }

  /** A recommender over already-built parts (tests, or callers that loaded the model themselves). */
  static async fromParts(parts: RecommenderParts, opts: RecommenderOptions = {}): Promise<Recommender> {
    const { model, inputs, set } = parts;
    if (inputs.count !== set.catalog.names.length) {
      throw new Error(`Recommender: ${inputs.count} item inputs for ${set.catalog.names.length} catalog items`);
    }
    // every catalog item embedded once (method.md §2.1); composing and ranking run only the Set Transformer
    const cache = await ItemEmbeddingCache.build(model, inputs);
    const composer = await OutfitComposer.create(model, cache, set.layout, set.catalog.category, catalogByCategory(set));
    const db = opts.db ?? (parts.runDir ? join(parts.runDir, 'users.sqlite') : undefined);
    if (db === undefined) throw new Error('Recommender: give a database path or a run folder');
    const store = await openUserStore(db, { runUsers: model.config.numUsers, anchorsPerUser: model.anchors.userK, dim: model.config.dim, runFingerprint: parts.runFingerprint });
    let rec: Recommender | undefined;
    try {
      rec = new Recommender(parts, opts, cache, composer, store);
      if ((opts.stageOrder ?? 'calibrate') === 'calibrate' && rec.runUsers > 0) {
        // the last run users: bench/serve.ts measures recall with the first ones
        const count = Math.min(12, rec.runUsers);
        const users = Array.from({ length: count }, (_, i) => rec!.userVector(rec!.runUsers - count + i));
        rec.stageOrderCalibration = await composer.calibrateStageOrder(users);
      }
      // the probe and reference outfits' ĥ now, not in the first request
      const probes = opts.compose?.probes ?? PROBE_OUTFITS;
      if (probes > 0) await composer.prepareProbes(probes);
      await composer.prepareReference();
      // the run users' reference scores in a few products, not one per user in their first request
      await composer.prepareReferenceScores(Array.from({ length: Math.min(rec.runUsers, REFERENCE_WARM_USERS) }, (_, u) => rec!.userVector(u)));
      // one composition builds the search's remaining ONNX Runtime sessions (retrieval's product,
      // the serving graph of partial outfits): about 0.1 s that the first request would wait
      try {
        await composer.compose(new Float32Array(model.config.dim), { k: 1, probes });
      } catch (err) {
        // a catalog that cannot compose (say, an empty category) still serves ranking; its requests say why
        if (!(err instanceof UserError)) throw err;
      }
      await rec.users.warm();
      await rec.startOnboardPool(parts);
      return rec;
    } catch (err) {
      await (rec ? rec.close() : store.close());
      throw err;
    }
  }

  /** Workers need a run folder to load the model from; without one (or with 0 workers) fits run in-process. */
  private async startOnboardPool(parts: RecommenderParts): Promise<void> {
    const size = this.opts.onboardWorkers ?? defaultOnboardWorkers();
    if (size === 0 || parts.runDir === undefined || parts.runConfig === undefined) return;
    if (this.cache.embeddings.length !== this.catalog.names.length * this.model.config.dim) return; // not one row per item in id order
    this.onboardPool = new OnboardPool(
      {
        runDir: parts.runDir,
        root: parts.runConfig.data.root,
        set: this.set.set,
        servingTable: this.composer.servingTable,
        pools: { byCategory: [...this.pools.byCategory], categoryOf: this.pools.categoryOf },
        coldStart: this.opts.coldStart ?? {},
      },
      size,
    );
    await this.onboardPool.ready();
  }

  /** Worker threads fitting new users (0 = fits run on the event loop). */
  get onboardWorkers(): number {
    return this.onboardPool?.size ?? 0;
  }

  /**
   * Loads a run folder with its best weights and the catalog of `set` (default: the run's data
   * root and set). The set's users must be the run's users.
   */
  static async open(runDir: string, opts: RecommenderOptions & { data?: string; set?: string } = {}): Promise<Recommender> {
    const run = await loadRun(runDir, { root: opts.data, set: opts.set });
    if (!run.inputs) throw new Error('Recommender.open: the run was loaded without item inputs');
    const fingerprint = createHash('sha256').update(readFileSync(join(run.dir, RUN_FILES.config))).digest('hex').slice(0, 16);
    return Recommender.fromParts({ model: run.model, inputs: run.inputs, set: run.set, runFingerprint: fingerprint, runDir: run.dir, runConfig: run.config }, opts);
  }

  // ---- users ------------------------------------------------------------------------------------

  /** A run user, or an onboarded user this process has cached (findUser also asks the database). */
  hasUser(id: number): boolean {
    if (!Number.isInteger(id) || id < 0) return false;
    return id < this.runUsers || this.users.cached(id) !== undefined;
  }

  /** The onboarded user `id` (from the cache or the database), undefined for run users and unknown ids. */
  async findUser(id: number): Promise<StoredUser | undefined> {
    return (await this.users.find(id))?.user;
  }

  /** Up to `limit` onboarded users, newest first, with ids below `before`; read from the database. */
  onboardedUsers(limit = 100, before?: number): Promise<UserSummary[]> {
    return this.users.page(limit, before);
  }

  /**
   * Σ_k â_uk (own + shared anchors) of a user: score = ĥ·v / divisor (method.md §3). Synchronous:
   * an onboarded user must be cached (loadUserVector, or any request through the server, reads it in).
   */
  userVector(id: number): Float32Array {
    const known = this.userVectorOf.get(id) ?? this.users.cached(id)?.vector;
    if (known) return known;
    if (!(Number.isInteger(id) && id >= 0 && id < this.runUsers)) {
      throw new UnknownUserError(`unknown user ${id}: users are 0..${this.runUsers - 1} (the run's) and onboarded ids ${this.describeOnboardedIds()}`);
    }
    const v = this.model.userVectors(Int32Array.of(id));
    this.userVectorOf.set(id, v);
    return v;
  }

  /** Like userVector, reading an onboarded user from the database when this process has not cached it. */
  async loadUserVector(id: number): Promise<Float32Array> {
    return (await this.resolveUser(id)).vector;
  }

  /**
   * What one request needs of its user, read once: the vector and (for onboarded users) the stored
   * anchors. A request keeps what it read, so a cache reset or eviction while it runs (a NOTIFY, the
   * listener reconnecting) cannot make its later steps miss the user it has already found.
   */
  private async resolveUser(id: number): Promise<ResolvedUser> {
    if (Number.isInteger(id) && id >= this.runUsers) {
      const entry = this.users.cached(id) ?? (await this.users.find(id));
      if (entry) return { id, vector: entry.vector, ownAnchors: entry.user.anchors };
    }
    return { id, vector: this.userVector(id) };
  }

  /** Deletes an onboarded user (from the database: every replica stops serving it). */
  async deleteUser(id: number): Promise<void> {
    if (Number.isInteger(id) && id >= 0 && id < this.runUsers) {
      throw new UserError(`user ${id} is one of the run's training users (0..${this.runUsers - 1}) and cannot be deleted; only onboarded users can`);
    }
    if (!(await this.users.delete(id))) throw new UnknownUserError(`unknown user ${id}: no onboarded user has this id`);
  }

  private describeOnboardedIds(): string {
    const { count, min, max } = this.users.cachedRange();
    if (count === 0) return '(none known here)';
    return count <= 5 ? this.users.cachedIds().join(', ') : `${min}..${max}`;
  }

  /**
   * Creates a user from a few outfits (method.md §5, SO by default), stores it and returns it with its id.
   * The fit is seeded by the recommender seed and the outfits themselves: the same outfits give the
   * same anchors on every replica and at any database size (no count of the users is needed).
   */
  async onboard(outfits: ReadonlyArray<OutfitRefs>, opts: OnboardOptions = {}): Promise<StoredUser & { ms: number }> {
    const started = performance.now();
    const strategy = opts.strategy ?? 'so';
    if (!COLD_START_STRATEGIES.includes(strategy)) throw new UserError(`strategy must be one of ${COLD_START_STRATEGIES.join(', ')}, got '${strategy}'`);
    if (outfits.length === 0) throw new UserError('a new user needs at least one outfit');
    if (outfits.length > LIMITS.maxOnboardOutfits) throw new UserError(`at most ${LIMITS.maxOnboardOutfits} outfits per new user, got ${outfits.length}`);
    const table = this.outfitTable(outfits);
    const seed = this.opts.seed ?? 0;
    const fork = `onboard-${strategy}:${table.items.join(',')}`;
    const anchors = this.onboardPool
      ? await this.onboardPool.fit({ items: table.items, slots: table.slots, strategy, seed, fork })
      : await fitAnchorsForNewUser(this.model, this.inputs, table, {
          ...this.opts.coldStart,
          strategy,
          rng: new Rng(seed).fork(fork),
          pools: this.pools,
          candidateUsers: Int32Array.from({ length: this.runUsers }, (_, i) => i),
          // item embeddings are cached: only the Set Transformer runs on the outfits and negatives
          projectOutfits: (items, slots) => this.composer.projectOutfits(items, slots),
        });
    const rows: number[][] = [];
    for (let r = 0; r < table.users.length; r++) rows.push(Array.from(table.items.subarray(r * table.slots, (r + 1) * table.slots)));
    const stored = await this.users.add({ anchors, outfits: rows, strategy, label: opts.label ?? null });
    return { ...stored, ms: performance.now() - started };
  }

  // ---- items ----------------------------------------------------------------------------------

  get catalog(): Catalog {
    return this.set.catalog;
  }

  itemInfo(id: number): ItemInfo {
    const c = this.catalog.category[id];
    this.itemTitles ??= readableItemNames(this.set);
    return { id, name: this.catalog.names[id], title: this.itemTitles[id], category: categoryName(this.set.layout, c), categoryId: c };
  }

  /** Global id of an item given by id or image name (with or without its extension); undefined if unknown. */
  findItem(ref: ItemRef): number | undefined {
    if (typeof ref === 'number') return Number.isInteger(ref) && ref >= 0 && ref < this.catalog.names.length ? ref : undefined;
    const direct = this.catalog.byName.get(ref);
    if (direct !== undefined) return direct;
    for (const ext of ['.jpg', '.png']) {
      if (ref.endsWith(ext)) {
        const bare = this.catalog.byName.get(ref.slice(0, -ext.length));
        if (bare !== undefined) return bare;
      } else {
        const withExt = this.catalog.byName.get(ref + ext);
        if (withExt !== undefined) return withExt;
      }
    }
    if (/^\d+$/.test(ref)) return this.findItem(Number(ref));
    return undefined;
  }

  /** Like findItem, but unknown items are an UnknownItemError. */
  requireItem(ref: ItemRef): number {
    const id = this.findItem(ref);
    if (id === undefined) throw new UnknownItemError(`unknown item ${JSON.stringify(ref)}: items are 0..${this.catalog.names.length - 1} or image names`);
    return id;
  }

  /** Items of one category, paged (for the web page). */
  listItems(category: number, offset: number, limit: number): { items: ItemInfo[]; total: number } {
    const total = this.catalog.counts[category];
    const first = this.catalog.offsets[category];
    const items: ItemInfo[] = [];
    for (let i = offset; i < Math.min(total, offset + limit); i++) items.push(this.itemInfo(first + i));
    return { items, total };
  }

  /** Image file of an item, or undefined when the dataset has no image for it. */
  imagePath(id: number): string | undefined {
    if (this.imagePaths === null) {
      const dir = findImageDir(this.set.root);
      this.imagePaths = dir ? resolveImagePaths(this.catalog, dir).paths : [];
    }
    return this.imagePaths[id];
  }

  // ---- outfits ----------------------------------------------------------------------------------

  /** Slot layout of outfits in requests: category per slot and which slots may be empty. */
  get slotCategories(): readonly number[] {
    return this.set.slotCategories;
  }

  get optionalSlots(): readonly boolean[] {
    return this.composer.optionalSlots;
  }

  /**
   * Validates outfits given per slot (method.md §6.1 order: top, bottom, shoe; or top, top-or-null,
   * bottom, shoe; in general the slots of the set's layout, method.md §6.5) and returns them as a
   * table. Errors name the outfit, the slot (by the set's category names) and the problem.
   */
  outfitTable(outfits: ReadonlyArray<OutfitRefs>): OutfitTable {
    const slotCats = this.slotCategories;
    const slots = slotCats.length;
    const names = this.set.layout;
    const layout = describeSlots(this.set.layout);
    const { minItems } = this.set.layout;
    const items = new Int32Array(outfits.length * slots);
    outfits.forEach((outfit, r) => {
      if (!Array.isArray(outfit) || outfit.length !== slots) {
        throw new UserError(`outfit ${r}: expected ${slots} slots (${layout}), got ${Array.isArray(outfit) ? outfit.length : typeof outfit}`);
      }
      outfit.forEach((ref, j) => {
        const slotName = `outfit ${r} slot ${j} (${categoryName(names, slotCats[j])})`;
        if (ref === null || ref === -1) {
          if (!this.optionalSlots[j]) throw new UserError(`${slotName}: this slot is required`);
          items[r * slots + j] = -1;
          return;
        }
        const id = this.findItem(ref);
        if (id === undefined) throw new UserError(`${slotName}: unknown item ${JSON.stringify(ref)}`);
        const c = this.catalog.category[id];
        if (c !== slotCats[j]) throw new UserError(`${slotName}: item ${id} is a ${categoryName(names, c)}, not a ${categoryName(names, slotCats[j])}`);
        for (let p = 0; p < j; p++) if (items[r * slots + p] === id) throw new UserError(`${slotName}: item ${id} appears twice`);
        items[r * slots + j] = id;
      });
      let present = 0;
      for (let j = 0; j < slots; j++) if (items[r * slots + j] >= 0) present++;
      if (present < minItems) throw new UserError(`outfit ${r}: ${present} item${present === 1 ? '' : 's'}, an outfit holds at least ${minItems} (${layout})`);
    });
    return { slots, users: new Int32Array(outfits.length), items };
  }

  /** s(user, o) for each outfit (method.md §3). */
  async scoreOutfits(user: number, outfits: ReadonlyArray<OutfitRefs> | OutfitTable): Promise<Float32Array> {
    return this.scoreFor(await this.resolveUser(user), outfits);
  }

  private async scoreFor(user: ResolvedUser, outfits: ReadonlyArray<OutfitRefs> | OutfitTable): Promise<Float32Array> {
    const table = isTable(outfits) ? outfits : this.outfitTable(outfits);
    if (table.users.length === 0) return new Float32Array(0);
    return this.composer.scoreItems(user.vector, table.items, table.slots);
  }

  /** The outfits sorted by score, best first; the first `k` (default all). */
  async rankCandidates(user: number, outfits: ReadonlyArray<OutfitRefs> | OutfitTable, k?: number, opts: { explain?: boolean } = {}): Promise<RankedOutfit[]> {
    const table = isTable(outfits) ? outfits : this.outfitTable(outfits);
    if (table.users.length > LIMITS.maxRankOutfits) throw new UserError(`at most ${LIMITS.maxRankOutfits} outfits per ranking, got ${table.users.length}`);
    const resolved = await this.resolveUser(user);
    const scores = await this.scoreFor(resolved, table);
    const ranked = Array.from(scores, (score, index) => ({
      index,
      items: Array.from(table.items.subarray(index * table.slots, (index + 1) * table.slots)),
      score,
    }));
    ranked.sort((a, b) => b.score - a.score || a.index - b.index);
    const top = k === undefined ? ranked : ranked.slice(0, k);
    const served = await this.readable(resolved, top, opts.explain ?? false);
    return top.map((r, i) => ({ ...r, ...served[i] }));
  }

  /**
   * The user's top-k outfits from the catalog (compose.ts), with `fixed` items in every outfit and
   * no `exclude` item; `catalog` restricts the candidate items per category.
   */
  async compose(user: number, opts: ComposeRequest): Promise<ServedComposition> {
    if (!(Number.isInteger(opts.k) && opts.k >= 1 && opts.k <= LIMITS.maxK)) throw new UserError(`k must be an integer in 1..${LIMITS.maxK}, got ${opts.k}`);
    const resolved = await this.resolveUser(user);
    const v = resolved.vector;
    const fixed = (opts.fixed ?? []).map((ref) => this.requireBodyItem(ref, 'fixed'));
    const exclude = (opts.exclude ?? []).map((ref) => this.requireBodyItem(ref, 'exclude'));
    const maxShared = opts.maxShared ?? this.opts.maxShared ?? 1;
    const retrieval: RetrievalKind | undefined = opts.exact ? 'exact' : undefined;
    const cacheSize = this.opts.composeCacheSize ?? 1024;
    const key =
      opts.catalog === undefined && cacheSize > 0
        ? `${user}|${opts.k}|${fixed.join(',')}|${[...exclude].sort((a, b) => a - b).join(',')}|${maxShared}|${retrieval ?? ''}`
        : undefined;
    let result = key !== undefined ? this.composeCache.get(key) : undefined;
    if (result && key !== undefined) {
      // refresh its place in the insertion order (least recently used is evicted first)
      this.composeCache.delete(key);
      this.composeCache.set(key, result);
      result = { ...result, ms: 0 };
    } else {
      const release = await this.composeTurns.acquire();
      try {
        result = await this.composer.compose(v, { k: opts.k, fixed, exclude, catalog: opts.catalog, maxShared, retrieval, ...this.opts.compose });
      } finally {
        release();
      }
      if (key !== undefined) {
        this.composeCache.set(key, result);
        if (this.composeCache.size > cacheSize) this.composeCache.delete(this.composeCache.keys().next().value!);
      }
    }
    const served = await this.readable(resolved, result.outfits, opts.explain ?? false);
    return { ...result, outfits: result.outfits.map((o, i) => ({ ...o, ...served[i] })) };
  }

  // ---- readable scores and explanations (method.md §3.1) --------------------------------------------

  /** A user's anchors [K·d]: own, then shared (LPAE-g); the order `OutfitExplanation.anchor` indexes. */
  userAnchors(id: number): Float32Array {
    const cached = id < this.runUsers ? undefined : this.users.cached(id);
    return this.anchorsOf({ id, vector: this.userVector(id), ownAnchors: cached?.user.anchors });
  }

  private anchorsOf(user: ResolvedUser): Float32Array {
    const own = user.ownAnchors ?? this.model.anchors.getUserAnchors(user.id);
    const shared = this.model.anchors.getSharedAnchors();
    if (!shared) return own;
    const out = new Float32Array(own.length + shared.length);
    out.set(own);
    out.set(shared, own.length);
    return out;
  }

  /** Calibrated score per outfit and, with `explain`, its explanation. */
  private async readable(user: ResolvedUser, outfits: ReadonlyArray<{ items: readonly number[]; score: number }>, explain: boolean): Promise<Array<CalibratedScore & { explanation?: OutfitExplanation }>> {
    const calibrated = await this.composer.calibrate(user.vector, outfits.map((o) => o.score));
    const explanations = explain ? await this.composer.explain(user.vector, this.anchorsOf(user), outfits.map((o) => o.items)) : undefined;
    return calibrated.map((c, i) => (explanations ? { ...c, explanation: explanations[i] } : c));
  }

  private requireBodyItem(ref: ItemRef, field: string): number {
    const id = this.findItem(ref);
    if (id === undefined) throw new UserError(`${field}: unknown item ${JSON.stringify(ref)}`);
    return id;
  }

  /** Summary for /health and logs. */
  describe(): {
    set: string;
    runDir: string | null;
    runUsers: number;
    onboardedUsers: number;
    items: number;
    categories: string[];
    slotCategories: number[];
    optionalSlots: number[];
    minItems: number;
    anchorsPerUser: number;
    dim: number;
    referenceOutfits: number;
  } {
    return {
      set: this.set.set,
      runDir: this.runDir ?? null,
      runUsers: this.runUsers,
      onboardedUsers: this.users.cachedCount,
      items: this.catalog.names.length,
      // the set's own categories and slots (method.md §6.5): the web page builds its picker from them
      categories: [...this.set.layout.categories],
      slotCategories: [...this.slotCategories],
      minItems: this.set.layout.minItems,
      optionalSlots: this.optionalSlots.flatMap((o, j) => (o ? [j] : [])),
      anchorsPerUser: this.model.anchors.userK,
      dim: this.model.config.dim,
      // what `percentile` and `oneIn` are measured against (method.md §3.1)
      referenceOutfits: REFERENCE_OUTFITS,
    };
  }

  /** Stops the onboarding workers and closes the database (the model belongs to the caller of fromParts, or to open). */
  async close(): Promise<void> {
    const pool = this.onboardPool;
    this.onboardPool = null;
    await pool?.close();
    await this.store.close();
  }
}

/** Every catalog item's global id, per category. */
function catalogByCategory(set: PolyvoreSet): Int32Array[] {
  const { catalog } = set;
  return catalog.counts.map((n, c) => Int32Array.from({ length: n }, (_, i) => catalog.offsets[c] + i));
}

function isTable(o: ReadonlyArray<OutfitRefs> | OutfitTable): o is OutfitTable {
  return (o as OutfitTable).items instanceof Int32Array;
}
