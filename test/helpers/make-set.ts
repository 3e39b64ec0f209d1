/**
 * Tiny in-memory PolyvoreSet objects for unit tests (no files). Items are global ids as in
 * src/data/types.ts: category 0 first, then 1, then 2.
 */
import { fhnLayout } from '../../src/data/layout.js';
import { Rng } from '../../src/rng.js';
import {
  NEGATIVES_PER_POSITIVE,
  SPLITS,
  type Catalog,
  type OutfitTable,
  type PolyvoreSet,
  type SetLayout,
  type SplitName,
  type SplitTuples,
} from '../../src/data/types.js';

/** A row as `[user, item, item, ...]` with global item ids, -1 for an absent slot. */
export type Row = number[];

export function makeCatalog(counts: number[]): Catalog {
  const names: string[] = [];
  const category: number[] = [];
  const offsets: number[] = [];
  for (let c = 0; c < counts.length; c++) {
    offsets.push(names.length);
    for (let i = 0; i < counts[c]; i++) {
      names.push(`c${c}_${i}.jpg`);
      category.push(c);
    }
  }
  return {
    names,
    category: Uint8Array.from(category),
    offsets,
    counts: [...counts],
    byName: new Map(names.map((n, i) => [n, i])),
  };
}

export function tableOf(slots: number, rows: Row[]): OutfitTable {
  const users = new Int32Array(rows.length);
  const items = new Int32Array(rows.length * slots);
  rows.forEach((row, r) => {
    if (row.length !== slots + 1) throw new Error(`row ${r} has ${row.length - 1} items, want ${slots}`);
    users[r] = row[0];
    for (let j = 0; j < slots; j++) items[r * slots + j] = row[j + 1];
  });
  return { slots, users, items };
}

export function rowsOf(t: OutfitTable): Row[] {
  const out: Row[] = [];
  for (let r = 0; r < t.users.length; r++) out.push([t.users[r], ...t.items.subarray(r * t.slots, (r + 1) * t.slots)]);
  return out;
}

export interface SplitRows {
  posi: Row[];
  /** Defaults to 10 copies of a fixed non-positive outfit per positive (only the shape matters then). */
  nega?: Row[];
  negaHard?: Row[];
}

export interface MakeSetOptions {
  set?: string;
  numUsers: number;
  /** Items per category (top, bottom, shoe). */
  counts: number[];
  splits: Partial<Record<SplitName, SplitRows>>;
  fitb?: Row[];
  /** The set's layout (default: the FHN layout of `set`, method.md §6.5). */
  layout?: SetLayout;
}

export function makeSet(opts: MakeSetOptions): PolyvoreSet {
  const set = opts.set ?? '630';
  const layout = opts.layout ?? fhnLayout(set);
  const slotCategories = [...layout.slotCategories];
  const slots = slotCategories.length;
  const catalog = makeCatalog(opts.counts);
  const splits = {} as Record<SplitName, SplitTuples>;
  for (const name of SPLITS) {
    const rows = opts.splits[name] ?? { posi: [] };
    const nega =
      rows.nega ??
      rows.posi.flatMap((p) =>
        Array.from({ length: NEGATIVES_PER_POSITIVE }, () => [p[0], ...slotCategories.map((c) => catalog.offsets[c])]),
      );
    splits[name] = {
      posi: tableOf(slots, rows.posi),
      nega: tableOf(slots, nega),
      ...(rows.negaHard ? { negaHard: tableOf(slots, rows.negaHard) } : {}),
    };
  }
  return {
    root: '/nonexistent',
    set,
    dir: `/nonexistent/tuples_${set}`,
    variableLength: layout.required.some((r) => !r),
    layout,
    slotCategories,
    numUsers: opts.numUsers,
    catalog,
    splits,
    ...(opts.fitb ? { fitb: tableOf(slots, opts.fitb) } : {}),
  };
}

export interface RandomSetOptions {
  set?: string;
  numUsers: number;
  counts: number[];
  /** Positives per user in each split. */
  perUser: Partial<Record<SplitName, number>>;
  seed: number;
  /** Draw `tuples_*_nega` as uniform random outfits, none a copy of a positive of the split (10 per positive). */
  withNegatives?: boolean;
  /** For variable-length sets: probability that an outfit has a second top. */
  secondTopRate?: number;
}

/** Order-independent key of a row's outfit (an outfit is a set). */
function outfitKey(row: Row): string {
  return row
    .slice(1)
    .filter((x) => x >= 0)
    .sort((a, b) => a - b)
    .join();
}

/** A random set: every user gets `perUser[split]` distinct uniform outfits per split. */
export function makeRandomSet(opts: RandomSetOptions): PolyvoreSet {
  const rng = new Rng(opts.seed);
  const set = opts.set ?? '630';
  const cats = fhnLayout(set).slotCategories;
  const catalog = makeCatalog(opts.counts);
  const randomOutfit = (user: number): Row => {
    const row: Row = [user];
    for (let j = 0; j < cats.length; j++) {
      const c = cats[j];
      if (j === 1 && cats.length === 4 && rng.next() >= (opts.secondTopRate ?? 0.5)) {
        row.push(-1);
        continue;
      }
      let item = catalog.offsets[c] + rng.int(opts.counts[c]);
      // two tops of one outfit are different items
      while (j === 1 && cats.length === 4 && item === row[1]) item = catalog.offsets[c] + rng.int(opts.counts[c]);
      row.push(item);
    }
    return row;
  };
  const splits: Partial<Record<SplitName, SplitRows>> = {};
  for (const name of SPLITS) {
    const k = opts.perUser[name] ?? 0;
    const posi: Row[] = [];
    const seen = new Set<string>();
    for (let u = 0; u < opts.numUsers; u++) {
      for (let i = 0; i < k; i++) {
        let row = randomOutfit(u);
        while (seen.has(outfitKey(row))) row = randomOutfit(u);
        seen.add(outfitKey(row));
        posi.push(row);
      }
    }
    // like the FHN generator: random outfits that copy no positive of the split
    const randomNegative = (user: number): Row => {
      let row = randomOutfit(user);
      while (seen.has(outfitKey(row))) row = randomOutfit(user);
      return row;
    };
    const nega = opts.withNegatives
      ? posi.flatMap((p) => Array.from({ length: NEGATIVES_PER_POSITIVE }, () => randomNegative(p[0])))
      : undefined;
    splits[name] = { posi, ...(nega ? { nega } : {}) };
  }
  return makeSet({ set, numUsers: opts.numUsers, counts: opts.counts, splits });
}
