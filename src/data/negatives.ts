/**
 * Negative outfits (method.md §6.2): type-aware random mixes, hard negatives (another user's
 * positive) and the 5 + 5 mix of the hard-negative setting. Training negatives are redrawn every epoch, so
 * this must be fast: 10 negatives for each of 127k positives take a fraction of a second.
 *
 * Output layout everywhere: the k negatives of `rows[i]` are rows i*k .. i*k+k-1, and each negative
 * belongs to its positive's user.
 */
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { itemPoolsFromTable, type ItemPools } from './augment.js';
import { OutfitKeySet } from './outfit-keys.js';
import type { OutfitTable, PolyvoreSet, SplitName } from './types.js';

/** Redraws of one random mix before concluding the pools cannot produce a non-positive outfit. */
const MAX_RANDOM_MIX_ATTEMPTS = 1000;

export class NegativeSampler {
  /** The split's positives that negatives are drawn for (and, for hard negatives, from). */
  readonly positives: OutfitTable;
  /** Per category, the items appearing in the split's positives (method.md §6.2 "the split's pool"). */
  readonly pools: ItemPools;
  /** Every positive outfit of the split, for rejecting random mixes that copy one. */
  readonly positiveKeys: OutfitKeySet;
  private readonly slotCategories: number[];
  /** Positive rows grouped by user, and each user's range in it (for O(1) "another user" draws). */
  private readonly rowsByUser: Int32Array;
  private readonly userStart: Int32Array;
  private readonly userCount: Int32Array;

  constructor(
    readonly set: PolyvoreSet,
    readonly split: SplitName,
  ) {
    this.positives = set.splits[split].posi;
    this.slotCategories = set.slotCategories;
    this.pools = itemPoolsFromTable(set, this.positives);
    this.positiveKeys = OutfitKeySet.fromTable(this.positives);

    const users = this.positives.users;
    let maxUser = -1;
    for (let r = 0; r < users.length; r++) if (users[r] > maxUser) maxUser = users[r];
    this.userCount = new Int32Array(maxUser + 1);
    for (let r = 0; r < users.length; r++) this.userCount[users[r]]++;
    this.userStart = new Int32Array(maxUser + 1);
    for (let u = 1; u <= maxUser; u++) this.userStart[u] = this.userStart[u - 1] + this.userCount[u - 1];
    const fill = this.userStart.slice();
    this.rowsByUser = new Int32Array(users.length);
    for (let r = 0; r < users.length; r++) this.rowsByUser[fill[users[r]]++] = r;
  }

  /**
   * `perPositive` type-aware random mixes per positive row: same size and category pattern (a -1 second top
   * stays -1), each present slot a uniform item of its category from the split's pool, no item twice, never
   * an exact copy of any positive of the split (redrawn).
   */
  randomMix(rows: ArrayLike<number>, perPositive: number, rng: Rng): OutfitTable {
    const out = this.allocate(rows, perPositive);
    this.fillRandomMix(out, rows, perPositive, 0, perPositive, rng);
    return out;
  }

  /** `perPositive` hard negatives per positive row: uniformly drawn positives of other users of the split. */
  hard(rows: ArrayLike<number>, perPositive: number, rng: Rng): OutfitTable {
    const out = this.allocate(rows, perPositive);
    this.fillHard(out, rows, perPositive, 0, perPositive, rng);
    return out;
  }

  /** The hard-negative training setting (method.md §6.2: 5 + 5): per positive, `nRandom` random mixes then `nHard` hard. */
  mixed(rows: ArrayLike<number>, nRandom: number, nHard: number, rng: Rng): OutfitTable {
    const k = nRandom + nHard;
    const out = this.allocate(rows, k);
    this.fillRandomMix(out, rows, k, 0, nRandom, rng);
    this.fillHard(out, rows, k, nRandom, nHard, rng);
    return out;
  }

  private allocate(rows: ArrayLike<number>, k: number): OutfitTable {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`negatives per positive must be a non-negative integer, got ${k}`);
    const n = this.positives.users.length;
    const users = new Int32Array(rows.length * k);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!(r >= 0 && r < n && Number.isInteger(r))) {
        throw new RangeError(`positive row ${r} out of range 0..${n - 1} of split ${this.split}`);
      }
      users.fill(this.positives.users[r], i * k, i * k + k);
    }
    return { slots: this.positives.slots, users, items: new Int32Array(rows.length * k * this.positives.slots) };
  }

  /** Fills negatives `first .. first+count-1` of each positive's group of `k`. */
  private fillRandomMix(out: OutfitTable, rows: ArrayLike<number>, k: number, first: number, count: number, rng: Rng): void {
    const slots = this.positives.slots;
    const src = this.positives.items;
    const dst = out.items;
    const pools = this.slotCategories.map((c) => this.pools.byCategory[c]);
    for (let i = 0; i < rows.length; i++) {
      const srcBase = rows[i] * slots;
      for (let t = first; t < first + count; t++) {
        const base = (i * k + t) * slots;
        let attempts = 0;
        for (;;) {
          for (let j = 0; j < slots; j++) {
            const pool = pools[j];
            dst[base + j] = src[srcBase + j] < 0 ? -1 : pool[rng.int(pool.length)];
          }
          if (!hasRepeatedItem(dst, base, slots) && !this.positiveKeys.has(dst, base)) break;
          if (++attempts >= MAX_RANDOM_MIX_ATTEMPTS) {
            throw new UserError(
              `set ${this.set.set}, split ${this.split}: the item pools are too small to draw a random-mix negative ` +
                `that is not a positive (${MAX_RANDOM_MIX_ATTEMPTS} attempts for positive row ${rows[i]})`,
            );
          }
        }
      }
    }
  }

  private fillHard(out: OutfitTable, rows: ArrayLike<number>, k: number, first: number, count: number, rng: Rng): void {
    const slots = this.positives.slots;
    const src = this.positives.items;
    const dst = out.items;
    const total = this.rowsByUser.length;
    for (let i = 0; i < rows.length; i++) {
      const user = this.positives.users[rows[i]];
      const own = this.userCount[user];
      if (count > 0 && total - own === 0) {
        throw new UserError(`set ${this.set.set}, split ${this.split}: no other user's positive to use as a hard negative`);
      }
      for (let t = first; t < first + count; t++) {
        // uniform over the positives outside the user's contiguous range in rowsByUser
        let idx = rng.int(total - own);
        if (idx >= this.userStart[user]) idx += own;
        const r = this.rowsByUser[idx];
        dst.set(src.subarray(r * slots, r * slots + slots), (i * k + t) * slots);
      }
    }
  }
}

function hasRepeatedItem(items: Int32Array, base: number, slots: number): boolean {
  for (let a = 0; a < slots; a++) {
    const v = items[base + a];
    if (v < 0) continue;
    for (let b = a + 1; b < slots; b++) if (items[base + b] === v) return true;
  }
  return false;
}
