/**
 * The item pool of one synthetic set: distinct pictures (class, picture, colour, mirror), their
 * names and their invisible item-level noise ε (method.md §6.3). Columns in typed arrays, pool ids
 * 0..size-1 with the categories one after another.
 */
import { UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { CATEGORY_NAMES } from '../types.js';
import { itemName, type ItemPicture, type PictureSource } from './images.js';
import { CATEGORY_CLASSES, NUM_COLOURS } from './model.js';

/** (class, colour) groups per category, and the first group id of each category. */
export const GROUPS_PER_CATEGORY = CATEGORY_CLASSES.map((classes) => classes.length * NUM_COLOURS);
export const GROUP_OFFSETS = GROUPS_PER_CATEGORY.map((_, c) => GROUPS_PER_CATEGORY.slice(0, c).reduce((a, b) => a + b, 0));
export const NUM_GROUPS = GROUPS_PER_CATEGORY.reduce((a, b) => a + b, 0);

export function groupOf(category: number, classIndex: number, colour: number): number {
  return GROUP_OFFSETS[category] + classIndex * NUM_COLOURS + colour;
}

export interface ItemPool {
  readonly size: number;
  readonly category: Uint8Array;
  /** Index into CATEGORY_CLASSES[category]. */
  readonly classIndex: Uint8Array;
  readonly colour: Uint8Array;
  /** (category, class, colour) group, see groupOf. */
  readonly group: Uint8Array;
  /** ε, the item-level term of the utility no picture shows. */
  readonly noise: Float64Array;
  readonly names: string[];
  readonly pictures: ItemPicture[];
  /** First pool id of each category. */
  readonly offsets: number[];
  readonly counts: number[];
}

/** 32-bit FNV-1a of a string, mixed with a seed. */
export function hashString(s: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * ε of an item, a function of the run's seed and the item's name only, so the same picture gets the
 * same ε in every set of a root.
 */
export function itemNoiseOf(name: string, seed: number, itemNoise: number): number {
  return itemNoise * new Rng(hashString(name, seed)).normal();
}

/**
 * Draws `counts[c]` distinct items of each category: class uniform among the category's classes,
 * picture uniform within the class, colour uniform, mirrored with probability ½.
 */
export function drawItemPool(rng: Rng, source: PictureSource, counts: number[], seed: number, itemNoise: number): ItemPool {
  const size = counts.reduce((a, b) => a + b, 0);
  const category = new Uint8Array(size);
  const classIndex = new Uint8Array(size);
  const colour = new Uint8Array(size);
  const group = new Uint8Array(size);
  const noise = new Float64Array(size);
  const names: string[] = new Array(size);
  const pictures: ItemPicture[] = new Array(size);
  const offsets: number[] = [];
  let id = 0;
  for (let c = 0; c < counts.length; c++) {
    offsets.push(id);
    const classes = CATEGORY_CLASSES[c];
    const universe = classes.reduce((n, k) => n + source.picturesOf(k), 0) * NUM_COLOURS * 2;
    // Rejection sampling of distinct pictures slows down as the universe fills up.
    if (counts[c] > 0.8 * universe) {
      throw new UserError(
        `too many ${CATEGORY_NAMES[c]} items for the picture source: ${counts[c]} wanted, ${universe} distinct pictures (class × picture × colour × mirror); use fewer users or a smaller --scale`,
      );
    }
    const seen = new Set<number>();
    for (let n = 0; n < counts[c]; n++) {
      for (;;) {
        const k = rng.int(classes.length);
        const fashionClass = classes[k];
        const picture = rng.int(source.picturesOf(fashionClass));
        const col = rng.int(NUM_COLOURS);
        const mirrored = rng.next() < 0.5;
        const key = ((fashionClass * 70000 + picture) * NUM_COLOURS + col) * 2 + (mirrored ? 1 : 0);
        if (seen.has(key)) continue;
        seen.add(key);
        const pic: ItemPicture = { fashionClass, picture, colour: col, mirrored };
        const name = itemName(source, pic);
        category[id] = c;
        classIndex[id] = k;
        colour[id] = col;
        group[id] = groupOf(c, k, col);
        names[id] = name;
        pictures[id] = pic;
        noise[id] = itemNoiseOf(name, seed, itemNoise);
        id++;
        break;
      }
    }
  }
  return { size, category, classIndex, colour, group, noise, names, pictures, offsets, counts: [...counts] };
}
