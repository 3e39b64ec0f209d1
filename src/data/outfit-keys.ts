/**
 * An exact set of outfits keyed by their items regardless of slot order (an outfit is a set, method.md §1;
 * the two tops of a variable-length row may appear in either order). Used to reject negatives that copy
 * a positive (method.md §6.2). Open addressing over typed arrays with a numeric hash of the sorted items:
 * a million look-ups take tens of milliseconds, where string keys in a `Set` would take seconds.
 */
import type { OutfitTable } from './types.js';

export class OutfitKeySet {
  /** Sorted items of entry e at `keys[e*slots .. e*slots+slots-1]`. */
  private keys: Int32Array;
  /** Hash slot -> entry number, -1 = empty. Length is a power of two, load kept at most 1/2. */
  private table: Int32Array;
  private count = 0;
  private readonly scratch: Int32Array;

  constructor(
    readonly slots: number,
    expected = 16,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`OutfitKeySet: bad slot count ${slots}`);
    const cap = Math.max(16, expected);
    this.keys = new Int32Array(cap * slots);
    this.table = new Int32Array(tableSizeFor(cap)).fill(-1);
    this.scratch = new Int32Array(slots);
  }

  /** The set of all rows of `table` (or of the given rows). */
  static fromTable(table: OutfitTable, rows?: ArrayLike<number>): OutfitKeySet {
    const n = rows ? rows.length : table.users.length;
    const set = new OutfitKeySet(table.slots, n);
    for (let i = 0; i < n; i++) set.add(table.items, (rows ? rows[i] : i) * table.slots);
    return set;
  }

  get size(): number {
    return this.count;
  }

  /** Adds the outfit `items[offset .. offset+slots-1]`; returns false when it was already present. */
  add(items: ArrayLike<number>, offset = 0): boolean {
    const key = this.sortInto(items, offset);
    const mask = this.table.length - 1;
    let h = hashKey(key) & mask;
    for (;;) {
      const e = this.table[h];
      if (e === -1) break;
      if (this.equalsEntry(e, key)) return false;
      h = (h + 1) & mask;
    }
    if (this.count * this.slots === this.keys.length) {
      const grown = new Int32Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys.set(key, this.count * this.slots);
    this.table[h] = this.count++;
    if (this.count * 2 > this.table.length) this.rehash();
    return true;
  }

  /** Whether the outfit `items[offset .. offset+slots-1]` (in any slot order) is in the set. */
  has(items: ArrayLike<number>, offset = 0): boolean {
    const key = this.sortInto(items, offset);
    const mask = this.table.length - 1;
    let h = hashKey(key) & mask;
    for (;;) {
      const e = this.table[h];
      if (e === -1) return false;
      if (this.equalsEntry(e, key)) return true;
      h = (h + 1) & mask;
    }
  }

  private sortInto(items: ArrayLike<number>, offset: number): Int32Array {
    const key = this.scratch;
    // insertion sort: 3 or 4 items
    for (let j = 0; j < this.slots; j++) {
      const v = items[offset + j];
      let k = j;
      while (k > 0 && key[k - 1] > v) {
        key[k] = key[k - 1];
        k--;
      }
      key[k] = v;
    }
    return key;
  }

  private equalsEntry(e: number, key: Int32Array): boolean {
    const base = e * this.slots;
    for (let j = 0; j < this.slots; j++) if (this.keys[base + j] !== key[j]) return false;
    return true;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2).fill(-1);
    const mask = table.length - 1;
    for (let e = 0; e < this.count; e++) {
      let h = hashKey(this.keys.subarray(e * this.slots, (e + 1) * this.slots)) & mask;
      while (table[h] !== -1) h = (h + 1) & mask;
      table[h] = e;
    }
    this.table = table;
  }
}

function tableSizeFor(entries: number): number {
  let size = 32;
  while (size < entries * 2) size *= 2;
  return size;
}

/** murmur3-style mixing of the sorted item ids. */
function hashKey(key: Int32Array): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < key.length; j++) {
    let k = Math.imul(key[j], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
