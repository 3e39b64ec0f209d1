/**
 * ShopRecords → a dataset folder in the FHN layout, generalised by `layout.json` (method.md §6.4):
 *
 *   <out>/images/<item-name>.<ext>
 *   <out>/tuples_<set>/{layout.json, image_list_<category>, tuples_{train,val,test}_{posi,nega,nega_hard},
 *                       fill_in_blank_test, items.json, users.json}
 *   <out>/tuples_<set>-new/…   the new (cold-start) users, when there are any
 *
 * The layout (categories, slots, required slots, minItems) is derived from the outfits; users are
 * split into warm and new users, each user's outfits into train/val/test; negatives come from the
 * project's NegativeSampler (method.md §6.2). Everything is written into a temp folder next to
 * `out` and renamed into place at the end, so `out` is either absent or complete; the same records
 * and seed give a byte-identical folder.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/fs.js';
import { concatTables } from '../batches.js';
import { NegativeSampler } from '../negatives.js';
import { FITB_CANDIDATES } from '../polyvore.js';
import { NEGATIVES_PER_POSITIVE, SPLITS, type Catalog, type OutfitTable, type PolyvoreSet, type SetLayout, type SplitName } from '../types.js';
import type { ItemRecord, OutfitRecord, ShopRecords } from './records.js';
import type { ImageFormat } from './validate.js';

/** `layout.json` of a set folder (method.md §6.4). */
export interface DatasetLayout {
  readonly format: 'outfitrec-set';
  readonly version: 1;
  readonly categories: string[];
  readonly slots: string[];
  readonly required: boolean[];
  readonly minItems: number;
  readonly newUsers?: string;
}

/** Default share of the users with ≥ MIN_OUTFITS_NEW_USER outfits that become new (cold-start) users. */
export const DEFAULT_NEW_USERS = 0.1;
/** Only users with this many outfits can be new users: a few-shot profile plus a test split. */
export const MIN_OUTFITS_NEW_USER = 3;
/** Train / val / test shares of a warm user's outfits. */
export const SPLIT_SHARES = { val: 0.1, test: 0.1 } as const;
/** Set names: they name a folder `tuples_<name>`. */
export const SET_NAME = /^[A-Za-z0-9_-]+$/;

export interface WriteOptions {
  /** Dataset root to create (absent or an empty folder). */
  readonly out: string;
  /** Set name of the warm users (default `shop`); new users go to `<set>-new`. */
  readonly set: string;
  readonly seed: number;
  /** Share of the users with ≥ 3 outfits that become new users (0..1). */
  readonly newUsers: number;
  /** When given, the layout's categories in this order (validate.ts has checked every item against them). */
  readonly categories?: readonly string[];
  /** Image format per image path (from validateRecords), for the file extensions. */
  readonly imageFormats: ReadonlyMap<string, ImageFormat>;
}

export interface SetSummary {
  readonly set: string;
  readonly dir: string;
  readonly users: number;
  readonly positives: Record<SplitName, number>;
  /** Splits whose random-mix negatives (or hard negatives) had to draw from the whole set (tiny splits). */
  readonly wholeSetNegatives: SplitName[];
  /** Whether tuples_*_nega_hard were written (not when the set has a single user). */
  readonly hardNegatives: boolean;
  readonly fitbQuestions: number;
  /** Test positives without a FITB question (no slot had 3 other items of its category). */
  readonly fitbSkipped: number;
}

export interface ImportSummary {
  readonly out: string;
  readonly layout: DatasetLayout;
  /** Items per layout category, in layout order. */
  readonly itemsPerCategory: Array<{ category: string; items: number }>;
  /** Categories with items but no outfit: their items are left out. */
  readonly unusedCategories: Array<{ category: string; items: number }>;
  readonly sets: SetSummary[];
  readonly images: { linked: number; copied: number };
}

/** Refuses an `out` that exists and is not an empty folder (before any work, and again before the rename). */
export function checkOutFree(out: string): void {
  const parent = dirname(resolve(out));
  if (existsSync(parent) && !statSync(parent).isDirectory()) throw new UserError(`--out ${out}: ${parent} is a file, not a folder`);
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`--out ${out}: is a file; import writes a new dataset folder`);
  if (readdirSync(out).length > 0) throw new UserError(`--out ${out}: folder exists and is not empty; import writes a new dataset folder (remove it or choose another --out)`);
}

/** Refuses a bad set name, new-user share or taken `out` (cheap checks, made before reading any source). */
export function checkWriteOptions(opts: Pick<WriteOptions, 'out' | 'set' | 'newUsers'>): void {
  if (!SET_NAME.test(opts.set)) throw new UserError(`--set '${opts.set}': a set name may only hold letters, digits, "_" and "-"`);
  if (!(opts.newUsers >= 0 && opts.newUsers <= 1)) throw new UserError(`--new-users: ${opts.newUsers} is not a fraction in 0..1`);
  checkOutFree(opts.out);
}

/** Writes the dataset folder; returns what was written. */
export function writeDataset(records: ShopRecords, opts: WriteOptions): ImportSummary {
  checkWriteOptions(opts);
  const out = resolve(opts.out);

  const layoutInfo = deriveLayout(records, opts.categories);
  const { catalog, items } = buildCatalog(layoutInfo.categories, layoutInfo.itemsByCategory);
  const users = assignUsers(records.outfits, opts.seed, opts.newUsers);
  const newSet = users.newUsers.length > 0 ? `${opts.set}-new` : undefined;
  const layout: DatasetLayout = { ...layoutInfo.layout, ...(newSet ? { newUsers: newSet } : {}) };
  const encoder = rowEncoder(layout, catalog, items);

  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.import-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    const images = writeImages(join(tmp, 'images'), items, opts.imageFormats);
    const sets: SetSummary[] = [];
    const warmSplits = splitWarmUsers(users.warmUsers, records.outfits, opts.seed);
    sets.push(writeSet(tmp, out, opts.set, layout, catalog, items, users.warmUsers, warmSplits, encoder, records.outfits, opts.seed));
    if (newSet) {
      const { newUsers: _, ...newLayout } = layout;
      const newSplits = splitNewUsers(users.newUsers, records.outfits, opts.seed);
      sets.push(writeSet(tmp, out, newSet, newLayout, catalog, items, users.newUsers, newSplits, encoder, records.outfits, opts.seed));
    }
    checkOutFree(out);
    renameSync(tmp, out);
    return {
      out,
      layout,
      itemsPerCategory: layout.categories.map((c, k) => ({ category: c, items: catalog.counts[k] })),
      unusedCategories: layoutInfo.unused,
      sets,
      images,
    };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Layout

interface DerivedLayout {
  readonly layout: DatasetLayout;
  readonly categories: string[];
  readonly itemsByCategory: ItemRecord[][];
  readonly unused: Array<{ category: string; items: number }>;
}

/**
 * The layout from the outfits (method.md §6.4): categories that occur in outfits, by descending
 * number of outfit items, ties by name (or in `--categories` order); per category as many slots as
 * the most items of it in one outfit; a slot is required when every outfit fills it; minItems is
 * the smallest outfit.
 */
export function deriveLayout(records: ShopRecords, order?: readonly string[]): DerivedLayout {
  const byId = new Map(records.items.map((it) => [it.id, it]));
  const frequency = new Map<string, number>();
  /** Per category, how many outfits hold at least k+1 items of it (index k). */
  const atLeast = new Map<string, number[]>();
  let minItems = Infinity;
  for (const outfit of records.outfits) {
    const counts = new Map<string, number>();
    for (const id of outfit.items) {
      const c = (byId.get(id) as ItemRecord).category;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    for (const [c, n] of counts) {
      frequency.set(c, (frequency.get(c) ?? 0) + n);
      const list = atLeast.get(c) ?? [];
      for (let k = 0; k < n; k++) list[k] = (list[k] ?? 0) + 1;
      atLeast.set(c, list);
    }
    minItems = Math.min(minItems, outfit.items.length);
  }
  if (records.outfits.length === 0) throw new UserError(`${records.origin}: no outfits to import`);
  const used = [...frequency.keys()];
  const categories = order
    ? order.filter((c) => frequency.has(c))
    : used.sort((a, b) => (frequency.get(b) as number) - (frequency.get(a) as number) || (a < b ? -1 : a > b ? 1 : 0));
  // Catalog.category is a Uint8Array (types.ts).
  if (categories.length > 255) throw new UserError(`${records.origin}: ${categories.length} categories, at most 255 are supported`);
  const slots: string[] = [];
  const required: boolean[] = [];
  for (const c of categories) {
    for (const n of atLeast.get(c) as number[]) {
      slots.push(c);
      required.push(n === records.outfits.length);
    }
  }
  const index = new Map(categories.map((c, k) => [c, k]));
  const itemsByCategory: ItemRecord[][] = categories.map(() => []);
  const unusedCounts = new Map<string, number>();
  for (const item of records.items) {
    const k = index.get(item.category);
    if (k === undefined) unusedCounts.set(item.category, (unusedCounts.get(item.category) ?? 0) + 1);
    else itemsByCategory[k].push(item);
  }
  return {
    layout: { format: 'outfitrec-set', version: 1, categories, slots, required, minItems },
    categories,
    itemsByCategory,
    unused: [...unusedCounts].map(([category, items]) => ({ category, items })),
  };
}

// ---------------------------------------------------------------------------------------------
// Catalog and item names

interface CatalogItem {
  readonly record: ItemRecord;
  readonly name: string;
}

function buildCatalog(categories: string[], itemsByCategory: ItemRecord[][]): { catalog: Catalog; items: CatalogItem[] } {
  const records = itemsByCategory.flat();
  const names = itemNames(records.map((r) => r.id));
  const offsets: number[] = [];
  const counts: number[] = [];
  let n = 0;
  for (const list of itemsByCategory) {
    offsets.push(n);
    counts.push(list.length);
    n += list.length;
  }
  const category = new Uint8Array(n);
  categories.forEach((_, k) => category.fill(k, offsets[k], offsets[k] + counts[k]));
  const catalog: Catalog = { names, category, offsets, counts, byName: new Map(names.map((name, id) => [name, id])) };
  return { catalog, items: records.map((record, id) => ({ record, name: names[id] })) };
}

/** Longest item name kept before a hash is appended. */
const MAX_NAME = 100;

/**
 * A filesystem-safe unique name per item id (method.md §6.4): the id itself when it only holds
 * `[A-Za-z0-9._-]`, does not start with "." and is unique ignoring case; otherwise the id with
 * other characters replaced by "_", cut to 80 characters, plus "-" and 8 hex digits of its SHA-1.
 */
export function itemNames(ids: readonly string[]): string[] {
  const taken = new Set<string>();
  return ids.map((id) => {
    const safe = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
    let name = safe;
    if (safe !== id || safe.length > MAX_NAME || taken.has(safe.toLowerCase())) {
      name = `${safe.slice(0, 80)}-${createHash('sha1').update(id).digest('hex').slice(0, 8)}`;
    }
    for (let k = 2; taken.has(name.toLowerCase()); k++) name = `${safe.slice(0, 80)}-${k}`;
    taken.add(name.toLowerCase());
    return name;
  });
}

const EXTENSION: Record<ImageFormat, string> = { jpeg: '.jpg', png: '.png', webp: '.webp' };

/** `images/<item-name>.<ext>`: a hard link to the source image when possible, else a copy. */
function writeImages(dir: string, items: CatalogItem[], formats: ReadonlyMap<string, ImageFormat>): { linked: number; copied: number } {
  mkdirSync(dir);
  let linked = 0;
  let copied = 0;
  for (const { record, name } of items) {
    const format = formats.get(record.image);
    if (!format) throw new Error(`internal: image ${record.image} of item ${record.id} was not checked`);
    const target = join(dir, name + EXTENSION[format]);
    try {
      linkSync(record.image, target);
      linked++;
    } catch {
      copyFileSync(record.image, target);
      copied++;
    }
  }
  return { linked, copied };
}

// ---------------------------------------------------------------------------------------------
// Users and splits

interface UserOutfits {
  /** Source user id. */
  readonly id: string;
  /** Indices into records.outfits, in source order. */
  readonly outfits: number[];
}

/**
 * Users in order of their first outfit; `newShare` of those with ≥ 3 outfits (rounded, seeded)
 * become new users. Both lists keep first-outfit order.
 */
function assignUsers(outfits: readonly OutfitRecord[], seed: number, newShare: number): { warmUsers: UserOutfits[]; newUsers: UserOutfits[] } {
  const byUser = new Map<string, number[]>();
  outfits.forEach((o, k) => {
    const list = byUser.get(o.user);
    if (list) list.push(k);
    else byUser.set(o.user, [k]);
  });
  const all = [...byUser].map(([id, list]) => ({ id, outfits: list }));
  const eligible = all.filter((u) => u.outfits.length >= MIN_OUTFITS_NEW_USER).map((u) => u.id);
  const count = Math.round(newShare * eligible.length);
  const chosen = new Set(new Rng(seed).fork('new-users').shuffle(eligible).slice(0, count));
  const warmUsers = all.filter((u) => !chosen.has(u.id));
  if (warmUsers.length === 0) throw new UserError(`--new-users ${newShare}: every user would be a new user; no warm user is left to train on`);
  return { warmUsers, newUsers: all.filter((u) => chosen.has(u.id)) };
}

/** A user's outfits by timestamp (oldest first) when every one has one, else shuffled with `rng`. */
function orderOutfits(user: UserOutfits, outfits: readonly OutfitRecord[], rng: Rng): number[] {
  const list = user.outfits.slice();
  if (list.every((k) => outfits[k].timestamp !== undefined)) {
    // Array.prototype.sort is stable: equal timestamps keep source order.
    return list.sort((a, b) => (outfits[a].timestamp as number) - (outfits[b].timestamp as number));
  }
  return rng.shuffle(list);
}

type Splits = Record<SplitName, Array<{ user: number; outfit: number }>>;

/**
 * Warm users: ordered outfits → train / val / test. A user with n ≥ 3 outfits gives
 * max(1, round(0.1 n)) to test and round(0.1 n) to val (the newest ones), the rest (≥ 1) to train;
 * one or two outfits stay in train.
 */
export function warmSplitSizes(n: number): Record<SplitName, number> {
  if (n < 3) return { train: n, val: 0, test: 0 };
  const test = Math.max(1, Math.round(SPLIT_SHARES.test * n));
  const val = Math.round(SPLIT_SHARES.val * n);
  return { train: n - val - test, val, test };
}

/** New users: the first half (rounded down, ≥ 1) of their ordered outfits → train, the rest → test. */
export function newSplitSizes(n: number): Record<SplitName, number> {
  const train = Math.max(1, Math.floor(n / 2));
  return { train, val: 0, test: n - train };
}

function splitUsers(users: UserOutfits[], outfits: readonly OutfitRecord[], rng: Rng, sizes: (n: number) => Record<SplitName, number>): Splits {
  const splits: Splits = { train: [], val: [], test: [] };
  users.forEach((user, u) => {
    const ordered = orderOutfits(user, outfits, rng);
    const size = sizes(ordered.length);
    let k = 0;
    for (const split of SPLITS) for (let i = 0; i < size[split]; i++) splits[split].push({ user: u, outfit: ordered[k++] });
  });
  return splits;
}

function splitWarmUsers(users: UserOutfits[], outfits: readonly OutfitRecord[], seed: number): Splits {
  return splitUsers(users, outfits, new Rng(seed).fork('split-warm'), warmSplitSizes);
}

function splitNewUsers(users: UserOutfits[], outfits: readonly OutfitRecord[], seed: number): Splits {
  return splitUsers(users, outfits, new Rng(seed).fork('split-new'), newSplitSizes);
}

// ---------------------------------------------------------------------------------------------
// Rows, negatives, FITB

/** Outfit → its row of global item ids: each category's items (source order) in its slots, -1 for the rest. */
function rowEncoder(layout: DatasetLayout, catalog: Catalog, items: CatalogItem[]): (outfit: OutfitRecord, into: Int32Array, at: number) => void {
  const globalId = new Map(items.map((it, id) => [it.record.id, id]));
  const firstSlot = new Map<string, number>();
  layout.slots.forEach((c, j) => {
    if (!firstSlot.has(c)) firstSlot.set(c, j);
  });
  return (outfit, into, at) => {
    into.fill(-1, at, at + layout.slots.length);
    const next = new Map<string, number>();
    for (const id of outfit.items) {
      const g = globalId.get(id) as number;
      const c = layout.categories[catalog.category[g]];
      const j = next.get(c) ?? (firstSlot.get(c) as number);
      into[at + j] = g;
      next.set(c, j + 1);
    }
  };
}

function tableOf(rows: Array<{ user: number; outfit: number }>, outfits: readonly OutfitRecord[], slots: number, encode: ReturnType<typeof rowEncoder>): OutfitTable {
  const users = new Int32Array(rows.length);
  const items = new Int32Array(rows.length * slots);
  rows.forEach((r, i) => {
    users[i] = r.user;
    encode(outfits[r.outfit], items, i * slots);
  });
  return { slots, users, items };
}

/**
 * The in-memory PolyvoreSet the negative sampler reads. The one place such a set is built here:
 * when PolyvoreSet gains fields (the layout), only this function changes.
 */
function inMemorySet(root: string, set: string, layout: DatasetLayout, catalog: Catalog, positives: Record<SplitName, OutfitTable>, numUsers: number): PolyvoreSet {
  const slotCategories = layout.slots.map((c) => layout.categories.indexOf(c));
  const empty: OutfitTable = { slots: layout.slots.length, users: new Int32Array(0), items: new Int32Array(0) };
  const splits = {} as PolyvoreSet['splits'];
  for (const split of SPLITS) splits[split] = { posi: positives[split], nega: empty };
  const setLayout: SetLayout = { categories: layout.categories, slotCategories, required: layout.required, minItems: layout.minItems, newUsers: layout.newUsers, source: 'layout.json' };
  return { root, set, dir: join(root, `tuples_${set}`), variableLength: layout.required.some((r) => !r), slotCategories, numUsers, catalog, splits, layout: setLayout };
}

interface SetNegatives {
  nega: Record<SplitName, OutfitTable>;
  negaHard?: Record<SplitName, OutfitTable>;
  wholeSet: SplitName[];
  fitb: OutfitTable;
  fitbSkipped: number;
}

/**
 * Random-mix and hard negatives per split (method.md §6.2, NegativeSampler), 10 per positive. A
 * split too small to give a random mix that is not a positive (or a hard negative from another
 * user) draws from the whole set instead: pools and positives of all three splits. A set with one
 * user gets no hard negatives.
 */
function makeNegatives(set: PolyvoreSet, layout: DatasetLayout, seed: number): SetNegatives {
  const positives = SPLITS.map((s) => set.splits[s].posi);
  const all = concatTables(positives);
  const wholeSampler = new NegativeSampler(inMemorySet(set.root, set.set, layout, set.catalog, { train: all, val: all, test: all }, set.numUsers), 'train');
  const hardPossible = set.numUsers > 1;
  const nega = {} as Record<SplitName, OutfitTable>;
  const negaHard = {} as Record<SplitName, OutfitTable>;
  const wholeSet = new Set<SplitName>();
  let offset = 0;
  for (const split of SPLITS) {
    const sampler = new NegativeSampler(set, split);
    const n = set.splits[split].posi.users.length;
    const rows = Int32Array.from({ length: n }, (_, i) => i);
    const wholeRows = rows.map((r) => r + offset);
    offset += n;
    // the split's own pools first; a UserError from the sampler means they are too small
    const draw = (own: () => OutfitTable, fromWhole: () => OutfitTable): OutfitTable => {
      try {
        return own();
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        wholeSet.add(split);
        return fromWhole();
      }
    };
    nega[split] = draw(
      () => sampler.randomMix(rows, NEGATIVES_PER_POSITIVE, new Rng(seed).fork(`nega-${set.set}-${split}`)),
      () => {
        try {
          return wholeSampler.randomMix(wholeRows, NEGATIVES_PER_POSITIVE, new Rng(seed).fork(`nega-whole-${set.set}-${split}`));
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          throw new UserError(
            `set ${set.set}: too few distinct items to draw random-mix negatives that are not positives, even from the whole set (split ${split}); the catalog needs more outfits`,
          );
        }
      },
    );
    if (hardPossible) {
      negaHard[split] = draw(
        () => sampler.hard(rows, NEGATIVES_PER_POSITIVE, new Rng(seed).fork(`nega_hard-${set.set}-${split}`)),
        () => wholeSampler.hard(wholeRows, NEGATIVES_PER_POSITIVE, new Rng(seed).fork(`nega_hard-whole-${set.set}-${split}`)),
      );
    }
  }
  const { fitb, skipped } = fillInBlank(set.splits.test.posi, new NegativeSampler(set, 'test'), wholeSampler, set.slotCategories, new Rng(seed).fork(`fitb-${set.set}`));
  return { nega, ...(hardPossible ? { negaHard } : {}), wholeSet: SPLITS.filter((s) => wholeSet.has(s)), fitb, fitbSkipped: skipped };
}

/**
 * One fill-in-the-blank question per test positive (method.md §6.1 format): the positive, then
 * FITB_CANDIDATES - 1 copies with one present slot (uniform among the usable ones) replaced by
 * distinct other items of its category from the test split's pool, or the whole set's pool when
 * the test pool has too few. A positive with no usable slot gets no question.
 */
function fillInBlank(test: OutfitTable, testSampler: NegativeSampler, wholeSampler: NegativeSampler, slotCategories: number[], rng: Rng): { fitb: OutfitTable; skipped: number } {
  const { slots } = test;
  const wrong = FITB_CANDIDATES - 1;
  const users: number[] = [];
  const items: number[] = [];
  let skipped = 0;
  for (let r = 0; r < test.users.length; r++) {
    const answer = Array.from(test.items.subarray(r * slots, (r + 1) * slots));
    const choices: Array<{ slot: number; pool: Int32Array }> = [];
    for (let j = 0; j < slots; j++) {
      if (answer[j] < 0) continue;
      const c = slotCategories[j];
      // the answer's items of category c are in both pools (they come from the positives)
      const own = answer.filter((item, k) => item >= 0 && slotCategories[k] === c).length;
      const pool = [testSampler.pools.byCategory[c], wholeSampler.pools.byCategory[c]].find((p) => p.length - own >= wrong);
      if (pool) choices.push({ slot: j, pool });
    }
    if (choices.length === 0) {
      skipped++;
      continue;
    }
    const { slot, pool } = rng.pick(choices);
    const chosen: number[] = [];
    while (chosen.length < wrong) {
      const item = rng.pick(pool);
      if (!answer.includes(item) && !chosen.includes(item)) chosen.push(item);
    }
    for (let k = 0; k < FITB_CANDIDATES; k++) {
      users.push(test.users[r]);
      const row = answer.slice();
      if (k > 0) row[slot] = chosen[k - 1];
      items.push(...row);
    }
  }
  return { fitb: { slots, users: Int32Array.from(users), items: Int32Array.from(items) }, skipped };
}

// ---------------------------------------------------------------------------------------------
// Files

/** Tuple CSV: header, then per line `perLine` outfits of `user,<per-category index per slot>` (-1 = empty). */
function tupleCsv(t: OutfitTable, layout: DatasetLayout, catalog: Catalog, perLine: number): string {
  const header = Array<string>(perLine).fill(['user', ...layout.slots].join(',')).join(',');
  const lines = [header];
  const { slots } = t;
  for (let o = 0; o < t.users.length; o += perLine) {
    const fields: number[] = [];
    for (let k = o; k < o + perLine; k++) {
      fields.push(t.users[k]);
      for (let j = 0; j < slots; j++) {
        const g = t.items[k * slots + j];
        fields.push(g < 0 ? -1 : g - catalog.offsets[catalog.category[g]]);
      }
    }
    lines.push(fields.join(','));
  }
  return lines.join('\n') + '\n';
}

function writeSet(
  tmpRoot: string,
  finalRoot: string,
  name: string,
  layout: DatasetLayout,
  catalog: Catalog,
  items: CatalogItem[],
  users: UserOutfits[],
  splits: Splits,
  encode: ReturnType<typeof rowEncoder>,
  outfits: readonly OutfitRecord[],
  seed: number,
): SetSummary {
  const slots = layout.slots.length;
  const positives = {} as Record<SplitName, OutfitTable>;
  for (const split of SPLITS) positives[split] = tableOf(splits[split], outfits, slots, encode);
  const set = inMemorySet(finalRoot, name, layout, catalog, positives, users.length);
  const negatives = makeNegatives(set, layout, seed);

  const dir = join(tmpRoot, `tuples_${name}`);
  mkdirSync(dir);
  writeJsonAtomic(join(dir, 'layout.json'), layout);
  layout.categories.forEach((c, k) => {
    const names = catalog.names.slice(catalog.offsets[k], catalog.offsets[k] + catalog.counts[k]);
    writeFileAtomic(join(dir, `image_list_${c}`), names.map((n) => `${n}\n`).join(''));
  });
  for (const split of SPLITS) {
    writeFileAtomic(join(dir, `tuples_${split}_posi`), tupleCsv(positives[split], layout, catalog, 1));
    writeFileAtomic(join(dir, `tuples_${split}_nega`), tupleCsv(negatives.nega[split], layout, catalog, 1));
    if (negatives.negaHard) writeFileAtomic(join(dir, `tuples_${split}_nega_hard`), tupleCsv(negatives.negaHard[split], layout, catalog, 1));
  }
  if (negatives.fitb.users.length > 0) writeFileAtomic(join(dir, 'fill_in_blank_test'), tupleCsv(negatives.fitb, layout, catalog, FITB_CANDIDATES));
  const itemsJson: Record<string, { id: string; title?: string; attributes?: Record<string, string> }> = {};
  for (const { record, name: itemName } of items) {
    itemsJson[itemName] = { id: record.id, ...(record.title !== undefined ? { title: record.title } : {}), ...(record.attributes ? { attributes: { ...record.attributes } } : {}) };
  }
  writeJsonAtomic(join(dir, 'items.json'), itemsJson);
  writeJsonAtomic(join(dir, 'users.json'), users.map((u) => u.id));
  return {
    set: name,
    dir: join(finalRoot, `tuples_${name}`),
    users: users.length,
    positives: { train: positives.train.users.length, val: positives.val.users.length, test: positives.test.users.length },
    wholeSetNegatives: negatives.wholeSet,
    hardNegatives: negatives.negaHard !== undefined,
    fitbQuestions: negatives.fitb.users.length / FITB_CANDIDATES,
    fitbSkipped: negatives.fitbSkipped,
  };
}
