/**
 * Outfit augmentations for contrastive learning (method.md §4 "Contrastive"):
 * `erase` drops one uniformly chosen present item (never below 2 items) and `replace` swaps one uniformly
 * chosen present item for a different item of the same category from the training pool.
 *
 * On a set whose layout.json names required slots (method.md §6.5), `erase` keeps them and never
 * goes below the layout's minItems (nor 2); the FHN layout keeps the rule above, any slot and never
 * below 2, so the published results stay as they are (`eraseRuleOf`).
 *
 * Augmented tables may have -1 in any slot (not only the second top): consumers pack outfits with
 * `packOutfits` (src/data/batches.ts), which compacts present items and masks the rest.
 */
import type { Rng } from '../rng.js';
import type { OutfitTable, PolyvoreSet, SetLayout } from './types.js';

/** Which slots `erase` may empty and the fewest items it leaves (method.md §4, §6.5). */
export interface EraseRule {
  /** `erasable[j]`: slot j may be erased (default: every slot). */
  readonly erasable?: readonly boolean[];
  /** An outfit with this many items or fewer is left as it is (default 2). */
  readonly floor: number;
}

/** method.md §4: any present item, never below 2 items. */
export const DEFAULT_ERASE_RULE: EraseRule = { floor: 2 };

/**
 * The erase rule of a set (method.md §6.5): a layout.json set erases only optional slots and never
 * below max(2, minItems); the FHN layout (Polyvore-U, synthetic) keeps method.md §4's rule.
 */
export function eraseRuleOf(layout: SetLayout): EraseRule {
  if (layout.source === 'fhn') return DEFAULT_ERASE_RULE;
  return { erasable: layout.required.map((r) => !r), floor: Math.max(2, layout.minItems) };
}

/** Items available per category, e.g. the items of a split's positives (method.md §6.2, §4). */
export interface ItemPools {
  /** `byCategory[c]`: distinct global ids of category c, ascending. */
  readonly byCategory: readonly Int32Array[];
  /** Category per global item id (the set's `catalog.category`). */
  readonly categoryOf: Uint8Array;
}

/** Pools of the items that appear in `table` (all rows, or the given rows). */
export function itemPoolsFromTable(set: PolyvoreSet, table: OutfitTable, rows?: ArrayLike<number>): ItemPools {
  const categoryOf = set.catalog.category;
  const seen = new Uint8Array(categoryOf.length);
  const n = rows ? rows.length : table.users.length;
  for (let i = 0; i < n; i++) {
    const base = (rows ? rows[i] : i) * table.slots;
    for (let j = 0; j < table.slots; j++) {
      const item = table.items[base + j];
      if (item >= 0) seen[item] = 1;
    }
  }
  const lists: number[][] = set.catalog.counts.map(() => []);
  for (let item = 0; item < seen.length; item++) if (seen[item]) lists[categoryOf[item]].push(item);
  return { byCategory: lists.map((l) => Int32Array.from(l)), categoryOf };
}

/** Pools of the training positives: the replacement pool of method.md §4. */
export function trainingItemPools(set: PolyvoreSet): ItemPools {
  return itemPoolsFromTable(set, set.splits.train.posi);
}

/**
 * Items of row `rowIndex` with one uniformly chosen present (erasable) item set to -1; unchanged if it
 * has ≤ `rule.floor` items (2 by default) or no erasable item.
 */
export function erase(table: OutfitTable, rowIndex: number, rng: Rng, rule: EraseRule = DEFAULT_ERASE_RULE): Int32Array {
  const row = table.items.slice(rowIndex * table.slots, (rowIndex + 1) * table.slots);
  eraseInPlace(row, 0, table.slots, rng, rule);
  return row;
}

/** `erase` applied to every row (a new table; users kept). */
export function eraseTable(table: OutfitTable, rng: Rng, rule: EraseRule = DEFAULT_ERASE_RULE): OutfitTable {
  const items = table.items.slice();
  for (let r = 0; r < table.users.length; r++) eraseInPlace(items, r * table.slots, table.slots, rng, rule);
  return { slots: table.slots, users: table.users.slice(), items };
}

/**
 * Items of row `rowIndex` with one uniformly chosen present item replaced by a uniformly drawn item of the
 * same category from `pools` that is not already in the outfit. When the pool offers no such item the row
 * is returned unchanged.
 */
export function replace(table: OutfitTable, rowIndex: number, pools: ItemPools, rng: Rng): Int32Array {
  const row = table.items.slice(rowIndex * table.slots, (rowIndex + 1) * table.slots);
  replaceInPlace(row, 0, table.slots, pools, rng);
  return row;
}

/** `replace` applied to every row (a new table; users kept). */
export function replaceTable(table: OutfitTable, pools: ItemPools, rng: Rng): OutfitTable {
  const items = table.items.slice();
  for (let r = 0; r < table.users.length; r++) replaceInPlace(items, r * table.slots, table.slots, pools, rng);
  return { slots: table.slots, users: table.users.slice(), items };
}

/** Index of the k-th present slot (0-based) of the row at `base`. */
function presentSlot(items: Int32Array, base: number, slots: number, k: number): number {
  for (let j = 0; j < slots; j++) if (items[base + j] >= 0 && k-- === 0) return j;
  throw new Error('presentSlot: k out of range');
}

function presentCount(items: Int32Array, base: number, slots: number): number {
  let n = 0;
  for (let j = 0; j < slots; j++) if (items[base + j] >= 0) n++;
  return n;
}

function eraseInPlace(items: Int32Array, base: number, slots: number, rng: Rng, rule: EraseRule): void {
  const present = presentCount(items, base, slots);
  // method.md §4: never below 2 items, so a 2-item outfit is left as it is (§6.5: never below minItems)
  if (present <= rule.floor) return;
  const { erasable } = rule;
  if (!erasable) {
    items[base + presentSlot(items, base, slots, rng.int(present))] = -1;
    return;
  }
  // §6.5: only optional slots may be emptied
  const candidates: number[] = [];
  for (let j = 0; j < slots; j++) if (items[base + j] >= 0 && erasable[j]) candidates.push(j);
  if (candidates.length === 0) return;
  items[base + candidates[rng.int(candidates.length)]] = -1;
}

/** Rejection draws before falling back to listing the admissible items (only tiny pools get there). */
const REPLACE_ATTEMPTS = 32;

function replaceInPlace(items: Int32Array, base: number, slots: number, pools: ItemPools, rng: Rng): void {
  const present = presentCount(items, base, slots);
  if (present === 0) return;
  const slot = presentSlot(items, base, slots, rng.int(present));
  const pool = pools.byCategory[pools.categoryOf[items[base + slot]]];
  if (!pool || pool.length === 0) return;
  const inOutfit = (item: number): boolean => {
    for (let j = 0; j < slots; j++) if (items[base + j] === item) return true;
    return false;
  };
  for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt++) {
    const candidate = pool[rng.int(pool.length)];
    if (!inOutfit(candidate)) {
      items[base + slot] = candidate;
      return;
    }
  }
  const admissible: number[] = [];
  for (let i = 0; i < pool.length; i++) if (!inOutfit(pool[i])) admissible.push(pool[i]);
  if (admissible.length > 0) items[base + slot] = admissible[rng.int(admissible.length)];
}
