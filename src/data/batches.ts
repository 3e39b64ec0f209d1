/**
 * Batching: table helpers, packing outfits so the backbone runs once per distinct item (method.md §2.1), and the
 * training epoch iterator with negatives redrawn every epoch (method.md §4, §6.2).
 */
import type { Rng } from '../rng.js';
import { NegativeSampler } from './negatives.js';
import type { OutfitTable, PolyvoreSet } from './types.js';

/**
 * Outfits of one batch as indices into the batch's distinct items. Present items of each outfit are moved to
 * the front (an outfit is a set, method.md §1; erased slots of augmented outfits can sit anywhere) and rows are
 * padded with -1 up to `slots`, the largest item count in the batch (method.md §2.3: pad to the longest outfit and
 * mask the padding).
 */
export interface PackedOutfits {
  /** Number of outfits. */
  n: number;
  /** Slots per packed outfit: the most items any outfit of the batch has. */
  slots: number;
  /** Distinct global item ids, in order of first appearance. */
  uniqueItems: Int32Array;
  /** n*slots indices into `uniqueItems`; -1 = padded slot. */
  slotIndex: Int32Array;
}

/** Packs all rows of `table` (or the given rows, in that order). */
export function packOutfits(table: OutfitTable, rows?: ArrayLike<number>): PackedOutfits {
  const n = rows ? rows.length : table.users.length;
  const src = table.items;
  let slots = 0;
  for (let i = 0; i < n; i++) {
    const base = (rows ? rows[i] : i) * table.slots;
    let present = 0;
    for (let j = 0; j < table.slots; j++) if (src[base + j] >= 0) present++;
    if (present > slots) slots = present;
  }
  const slotIndex = new Int32Array(n * slots).fill(-1);
  const indexOf = new Map<number, number>();
  const unique: number[] = [];
  for (let i = 0; i < n; i++) {
    const base = (rows ? rows[i] : i) * table.slots;
    let out = i * slots;
    for (let j = 0; j < table.slots; j++) {
      const item = src[base + j];
      if (item < 0) continue;
      let idx = indexOf.get(item);
      if (idx === undefined) {
        idx = unique.length;
        unique.push(item);
        indexOf.set(item, idx);
      }
      slotIndex[out++] = idx;
    }
  }
  return { n, slots, uniqueItems: Int32Array.from(unique), slotIndex };
}

/** Rows of several tables with the same slot count, one after the other. */
export function concatTables(tables: OutfitTable[]): OutfitTable {
  if (tables.length === 0) throw new RangeError('concatTables: no tables');
  const slots = tables[0].slots;
  let rows = 0;
  for (const t of tables) {
    if (t.slots !== slots) throw new RangeError(`concatTables: slot counts differ (${slots} vs ${t.slots})`);
    rows += t.users.length;
  }
  const users = new Int32Array(rows);
  const items = new Int32Array(rows * slots);
  let at = 0;
  for (const t of tables) {
    users.set(t.users, at);
    items.set(t.items, at * slots);
    at += t.users.length;
  }
  return { slots, users, items };
}

/** The given rows of `table`, in that order (repeats allowed). */
export function selectRows(table: OutfitTable, rows: ArrayLike<number>): OutfitTable {
  const { slots } = table;
  const n = table.users.length;
  const users = new Int32Array(rows.length);
  const items = new Int32Array(rows.length * slots);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r >= 0 && r < n && Number.isInteger(r))) throw new RangeError(`selectRows: row ${r} out of range 0..${n - 1}`);
    users[i] = table.users[r];
    items.set(table.items.subarray(r * slots, r * slots + slots), i * slots);
  }
  return { slots, users, items };
}

export interface TrainingBatch {
  /** Row indices of the positives in `splits.train.posi`. */
  rows: Int32Array;
  /** User of each positive (B). */
  users: Int32Array;
  /** The B positives. */
  positives: OutfitTable;
  /** B*M negatives, grouped per positive: rows i*M .. i*M+M-1 belong to positive i. */
  negatives: OutfitTable;
}

export interface TrainingBatchOptions {
  batchSize: number;
  /** 'random': M random mixes; 'mixed': the hard-negative setting, M - floor(M/2) random + floor(M/2) hard (5 + 5 for M = 10). */
  negatives: 'random' | 'mixed';
  /** M, negatives per positive (method.md §4: 10). */
  perPositive: number;
  rng: Rng;
  /** A sampler over the training split, reused across epochs (built when absent). */
  sampler?: NegativeSampler;
  /** Training positive rows to use (e.g. a cold-user subset, src/data/coldstart.ts); all rows when absent. */
  rows?: Int32Array;
}

/**
 * One epoch over the training positives: shuffled, fresh negatives per batch (so every epoch redraws them,
 * method.md §6.2), the last partial batch kept.
 */
export function* trainingBatches(set: PolyvoreSet, opts: TrainingBatchOptions): Generator<TrainingBatch> {
  const { batchSize, perPositive, rng } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`trainingBatches: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(perPositive) || perPositive < 0) throw new RangeError(`trainingBatches: perPositive must be a non-negative integer, got ${perPositive}`);
  const sampler = opts.sampler ?? new NegativeSampler(set, 'train');
  if (sampler.split !== 'train' || sampler.set !== set) throw new RangeError('trainingBatches: the sampler must be built on this set\'s train split');
  const positives = set.splits.train.posi;
  const order = opts.rows ? Int32Array.from(opts.rows) : Int32Array.from({ length: positives.users.length }, (_, i) => i);
  rng.shuffle(order);
  const nHard = opts.negatives === 'mixed' ? Math.floor(perPositive / 2) : 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const batchPositives = selectRows(positives, rows);
    const negatives =
      opts.negatives === 'mixed'
        ? sampler.mixed(rows, perPositive - nHard, nHard, rng)
        : sampler.randomMix(rows, perPositive, rng);
    yield { rows, users: batchPositives.users, positives: batchPositives, negatives };
  }
}
