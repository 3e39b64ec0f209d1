/**
 * The data model shared by every layer (method.md §1, §6.1). Outfits are stored column-wise in typed
 * arrays so that a full-size set (127k positives, 1.27M negative rows) loads in seconds and
 * costs a few MB.
 *
 * Items are addressed inside one dataset folder by a *global item id*: the items of category 0
 * first (in image-list order), then category 1, and so on. `Catalog` maps between global ids,
 * (category, per-category index) pairs and image names.
 */

/** FHN category order (method.md §1). Index = category id. */
export const CATEGORY_NAMES = ['top', 'bottom', 'shoe'] as const;
export type CategoryName = (typeof CATEGORY_NAMES)[number];

export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** The four Polyvore-U folders (method.md §6.1). */
export const SET_NAMES = ['630', '53', '519', '32'] as const;
export type SetName = (typeof SET_NAMES)[number];

/** Variable-length sets have rows `user,top,top,bottom,shoe` with -1 for a missing second top. */
export function isVariableLength(set: string): boolean {
  return set === '519' || set === '32';
}

/** Category of each slot of a row: [0,1,2] for 630/53, [0,0,1,2] for 519/32. */
export function slotCategoriesFor(set: string): number[] {
  return isVariableLength(set) ? [0, 0, 1, 2] : [0, 1, 2];
}

/**
 * Outfits, row-major: row r belongs to `users[r]` and holds the global item ids
 * `items[r*slots .. r*slots+slots-1]`; -1 marks an absent slot (only ever the second top of a
 * variable-length row). Slot j always holds an item of category `slotCategories[j]` of its set.
 */
export interface OutfitTable {
  readonly slots: number;
  readonly users: Int32Array;
  readonly items: Int32Array;
}

export function tableLength(t: OutfitTable): number {
  return t.users.length;
}

/** Items of one dataset folder. */
export interface Catalog {
  /** Image name per global id, as written in the image list (extension included if the list has one). */
  readonly names: string[];
  /** Category id per global id. */
  readonly category: Uint8Array;
  /** First global id of each category; `offsets[c] + index` is the global id of image_list_c[index]. */
  readonly offsets: number[];
  /** Number of items per category. */
  readonly counts: number[];
  /** Image name -> global id. */
  readonly byName: Map<string, number>;
}

export interface SplitTuples {
  /** `tuples_<split>_posi`. */
  readonly posi: OutfitTable;
  /** `tuples_<split>_nega`: 10 per positive, row r belongs to positive floor(r/10). */
  readonly nega: OutfitTable;
  /** `tuples_<split>_nega_hard`, when the file exists. */
  readonly negaHard?: OutfitTable;
}

/** One `tuples_<set>/` folder, validated (method.md §6.1). */
export interface PolyvoreSet {
  /** Dataset root (holds `images/` and the `tuples_*` folders). */
  readonly root: string;
  /** '630' | '53' | '519' | '32'. */
  readonly set: string;
  /** `<root>/tuples_<set>`. */
  readonly dir: string;
  readonly variableLength: boolean;
  /** Category per slot, see `slotCategoriesFor`. */
  readonly slotCategories: number[];
  /** Users are 0..numUsers-1, local to this folder. */
  readonly numUsers: number;
  readonly catalog: Catalog;
  readonly splits: Record<SplitName, SplitTuples>;
  /** `fill_in_blank_test`: 4 consecutive rows per question, the first is the answer. */
  readonly fitb?: OutfitTable;
}

/** Negatives per positive in the FHN files (method.md §6.1). */
export const NEGATIVES_PER_POSITIVE = 10;
