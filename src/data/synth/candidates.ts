/**
 * The fixed candidate files of a split, made the way the FHN release made them (method.md §6.2,
 * §6.3): random-mix type-aware negatives, hard (other-user) negatives, and the
 * fill-in-the-blank questions of the test split. Tables hold global item ids; -1 = absent slot.
 */
import type { Rng } from '../../rng.js';
import { SPLITS, type OutfitTable, type SplitName } from '../types.js';

/** An outfit as a set: its item ids sorted (an absent slot, -1, sorts first and keeps the pattern apart). */
export function outfitKey(items: ArrayLike<number>, offset: number, slots: number): string {
  const key: number[] = [];
  for (let j = 0; j < slots; j++) key.push(items[offset + j]);
  return key.sort((a, b) => a - b).join(',');
}

/** The split's item pool per category: items appearing in its positives (method.md §6.2), ascending. */
export function splitPools(positives: OutfitTable, slotCategories: number[], categories: number): Int32Array[] {
  const sets = Array.from({ length: categories }, () => new Set<number>());
  const { items, slots } = positives;
  for (let p = 0; p < items.length; p++) if (items[p] >= 0) sets[slotCategories[p % slots]].add(items[p]);
  return sets.map((s) => Int32Array.from(s).sort());
}

/** Draws before giving up on one negative (only a degenerate pool gets there). */
const MAX_TRIES = 10000;

/**
 * Per user, the items of that user's positives in the OTHER splits (method.md §6.3 "No item reuse"):
 * a user's positives never hold one (every user splits the pool into train/val/test items), so a
 * candidate that held one would be a negative by a rule a person could read off the user's
 * history and a model could not learn from its training loss. Candidates exclude these items.
 */
export function otherSplitItems(split: SplitName, positives: Record<SplitName, OutfitTable>, numUsers: number): Array<Set<number>> {
  const out = Array.from({ length: numUsers }, () => new Set<number>());
  for (const other of SPLITS) {
    if (other === split) continue;
    const { users, items, slots } = positives[other];
    for (let r = 0; r < users.length; r++) {
      for (let j = 0; j < slots; j++) {
        const item = items[r * slots + j];
        if (item >= 0) out[users[r]].add(item);
      }
    }
  }
  return out;
}

/** Whether row `offset` of `items` holds an item of `own` (a user's other-split items). */
function reusesOwnItem(items: ArrayLike<number>, offset: number, slots: number, own: ReadonlySet<number> | undefined): boolean {
  if (!own || own.size === 0) return false;
  for (let j = 0; j < slots; j++) if (own.has(items[offset + j])) return true;
  return false;
}

/**
 * `perPositive` random-mix negatives per positive (row r ↔ positive floor(r / perPositive)): same
 * user, same slot pattern (a missing second top stays missing), each slot uniform over the split's
 * pool of its category; an outfit repeating an item, equal to any positive of the split, or holding
 * one of the user's items of another split (`own`, see otherSplitItems), is drawn again.
 */
export function randomNegatives(
  rng: Rng,
  positives: OutfitTable,
  pools: Int32Array[],
  slotCategories: number[],
  perPositive: number,
  own: ReadonlyArray<ReadonlySet<number>> = [],
): OutfitTable {
  const { slots } = positives;
  const rowsIn = positives.users.length;
  const positiveKeys = new Set<string>();
  for (let r = 0; r < rowsIn; r++) positiveKeys.add(outfitKey(positives.items, r * slots, slots));
  const users = new Int32Array(rowsIn * perPositive);
  const items = new Int32Array(rowsIn * perPositive * slots);
  const draft = new Int32Array(slots);
  for (let r = 0; r < rowsIn; r++) {
    for (let k = 0; k < perPositive; k++) {
      const row = r * perPositive + k;
      users[row] = positives.users[r];
      let tries = 0;
      for (;;) {
        if (++tries > MAX_TRIES) throw new Error(`internal: no random negative found for positive row ${r} (split pool too small)`);
        for (let j = 0; j < slots; j++) {
          draft[j] = positives.items[r * slots + j] === -1 ? -1 : rng.pick(pools[slotCategories[j]]);
        }
        if (hasRepeatedItem(draft)) continue;
        if (reusesOwnItem(draft, 0, slots, own[users[row]])) continue;
        if (positiveKeys.has(outfitKey(draft, 0, slots))) continue;
        break;
      }
      items.set(draft, row * slots);
    }
  }
  return { slots, users, items };
}

function hasRepeatedItem(items: Int32Array): boolean {
  for (let a = 0; a < items.length; a++) {
    if (items[a] < 0) continue;
    for (let b = a + 1; b < items.length; b++) if (items[a] === items[b]) return true;
  }
  return false;
}

/** Slot pattern of a row: which slots are present, as a bit mask. */
function patternOf(items: ArrayLike<number>, offset: number, slots: number): number {
  let mask = 0;
  for (let j = 0; j < slots; j++) if (items[offset + j] !== -1) mask |= 1 << j;
  return mask;
}

/**
 * `perPositive` hard negatives per positive: a uniformly drawn positive of another user of the same
 * split (method.md §6.2). Unlike FHN we also keep the slot pattern (one or two tops), so that
 * hard negatives differ from positives only in whose taste they follow, and skip outfits the user
 * also made in this split and outfits holding one of the user's items of another split (`own`, see
 * otherSplitItems). When no other user's outfit of that pattern qualifies, any qualifying other
 * user's outfit is used.
 */
export function hardNegatives(rng: Rng, positives: OutfitTable, perPositive: number, own: ReadonlyArray<ReadonlySet<number>> = []): OutfitTable {
  const { slots } = positives;
  const rowsIn = positives.users.length;
  const keys: string[] = [];
  const userOutfits = new Set<string>();
  for (let r = 0; r < rowsIn; r++) {
    const key = outfitKey(positives.items, r * slots, slots);
    keys.push(key);
    userOutfits.add(`${positives.users[r]}|${key}`);
  }
  // the outfits each (user, pattern) may draw, built on first use
  const eligible = new Map<string, number[]>();
  const eligibleFor = (u: number, pattern: number): number[] => {
    const id = `${u}|${pattern}`;
    let list = eligible.get(id);
    if (!list) {
      const ok = (q: number): boolean =>
        positives.users[q] !== u && !userOutfits.has(`${u}|${keys[q]}`) && !reusesOwnItem(positives.items, q * slots, slots, own[u]);
      const all: number[] = [];
      for (let q = 0; q < rowsIn; q++) if (ok(q)) all.push(q);
      const same = all.filter((q) => patternOf(positives.items, q * slots, slots) === pattern);
      list = same.length > 0 ? same : all;
      if (list.length === 0) throw new Error(`internal: no hard negative for user ${u}: every other user's outfit holds one of the user's items (the split is too small)`);
      eligible.set(id, list);
    }
    return list;
  };
  const users = new Int32Array(rowsIn * perPositive);
  const items = new Int32Array(rowsIn * perPositive * slots);
  for (let r = 0; r < rowsIn; r++) {
    const u = positives.users[r];
    const candidates = eligibleFor(u, patternOf(positives.items, r * slots, slots));
    for (let k = 0; k < perPositive; k++) {
      const row = r * perPositive + k;
      users[row] = u;
      const q = rng.pick(candidates);
      items.set(positives.items.subarray(q * slots, (q + 1) * slots), row * slots);
    }
  }
  return { slots, users, items };
}

/**
 * One fill-in-the-blank question per positive (method.md §6.1): `candidates` consecutive rows, the
 * positive first, then outfits that differ from it in one slot, chosen uniformly among the present
 * slots, whose item is replaced by distinct items of that category from the split's pool, never one
 * of the user's items of another split (`own`, see otherSplitItems).
 */
export function fillInTheBlank(
  rng: Rng,
  positives: OutfitTable,
  pools: Int32Array[],
  slotCategories: number[],
  candidates: number,
  own: ReadonlyArray<ReadonlySet<number>> = [],
): OutfitTable {
  const { slots } = positives;
  const rowsIn = positives.users.length;
  const users = new Int32Array(rowsIn * candidates);
  const items = new Int32Array(rowsIn * candidates * slots);
  for (let r = 0; r < rowsIn; r++) {
    const answer = positives.items.subarray(r * slots, (r + 1) * slots);
    const present: number[] = [];
    for (let j = 0; j < slots; j++) if (answer[j] !== -1) present.push(j);
    // Only a slot whose pool has enough other items can be blanked.
    const usable = present.filter((j) => pools[slotCategories[j]].length >= candidates + slots);
    if (usable.length === 0) throw new Error(`internal: split pools too small for fill-in-the-blank (row ${r})`);
    const j = rng.pick(usable);
    const pool = pools[slotCategories[j]];
    const chosen = new Set<number>();
    const ownItems = own[positives.users[r]];
    for (let k = 0; k < candidates; k++) {
      const row = r * candidates + k;
      users[row] = positives.users[r];
      items.set(answer, row * slots);
      if (k === 0) continue;
      let item: number;
      let tries = 0;
      do {
        if (++tries > MAX_TRIES) throw new Error(`internal: no fill-in-the-blank candidate found for row ${r} (split pool too small)`);
        item = rng.pick(pool);
      } while (chosen.has(item) || answer.includes(item) || (ownItems !== undefined && ownItems.has(item)));
      chosen.add(item);
      items[row * slots + j] = item;
    }
  }
  return { slots, users, items };
}
