/**
 * The data model shared by every layer (method.md §1, §6.1). Outfits are stored column-wise in typed
 * arrays so that a full-size set (127k positives, 1.27M negative rows) loads in seconds and
 * costs a few MB.
 *
 * Items are addressed inside one dataset folder by a *global item id*: the items of category 0
 * first (in image-list order), then category 1, and so on. `Catalog` maps between global ids,
 * (category, per-category index) pairs and image names.
 */

/**
 * FHN category order (method.md §1). Index = category id. Only the FHN layout (Polyvore-U and the
 * synthetic sets) uses it; a set's own categories are `set.layout.categories` (method.md §6.5).
 */
export const CATEGORY_NAMES = ['top', 'bottom', 'shoe'] as const;
export type CategoryName = (typeof CATEGORY_NAMES)[number];

export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** The four Polyvore-U folders (method.md §6.1); other sets name their layout in layout.json (method.md §6.5). */
export const SET_NAMES = ['630', '53', '519', '32'] as const;
export type SetName = (typeof SET_NAMES)[number];

/** FHN names only: variable-length sets have rows `user,top,top,bottom,shoe` with -1 for a missing second top. */
export function isVariableLength(set: string): boolean {
  return set === '519' || set === '32';
}

/** FHN names only: category of each slot of a row, [0,1,2] for 630/53, [0,0,1,2] for 519/32 (a loaded set's is `set.slotCategories`). */
export function slotCategoriesFor(set: string): number[] {
  return isVariableLength(set) ? [0, 0, 1, 2] : [0, 1, 2];
}

/**
 * What a set's rows hold (method.md §6.5): from `tuples_<set>/layout.json`, or the FHN layout of the
 * folder's name when there is none (src/data/layout.ts).
 */
export interface SetLayout {
  /** Category names; index = category id (the order of the image lists and of global ids). */
  readonly categories: readonly string[];
  /** Category of each tuple column after `user`. */
  readonly slotCategories: readonly number[];
  /** `required[j]`: slot j is never -1. */
  readonly required: readonly boolean[];
  /** Least number of present items of an outfit. */
  readonly minItems: number;
  /** The set folder holding this set's new (cold-start) users, as 53 for 630. */
  readonly newUsers?: string;
  /** Where the layout came from: the set's layout.json, or the FHN layout of its name. */
  readonly source: 'layout.json' | 'fhn';
}

/**
 * Outfits, row-major: row r belongs to `users[r]` and holds the global item ids
 * `items[r*slots .. r*slots+slots-1]`; -1 marks an absent slot (only ever the second top of a
 * variable-length row; any optional slot of a layout.json set). Slot j always holds an item of category `slotCategories[j]` of its set.
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
  /** The folder name after `tuples_`: '630' | '53' | '519' | '32', or any `[A-Za-z0-9_-]+` (method.md §6.5). */
  readonly set: string;
  /** `<root>/tuples_<set>`. */
  readonly dir: string;
  /** Some slot may be empty (519/32, or a layout with optional slots). */
  readonly variableLength: boolean;
  /** Categories, slots, required slots, minItems and the new-user set (method.md §6.5). */
  readonly layout: SetLayout;
  /** Category per slot (= layout.slotCategories). */
  readonly slotCategories: number[];
  /** Users are 0..numUsers-1, local to this folder. */
  readonly numUsers: number;
  readonly catalog: Catalog;
  readonly splits: Record<SplitName, SplitTuples>;
  /** `fill_in_blank_test`: 4 consecutive rows per question, the first is the answer. */
  readonly fitb?: OutfitTable;
  /** `items.json` (optional): source id, title and attributes per image name. */
  readonly items?: ReadonlyMap<string, { readonly id: string; readonly title?: string; readonly attributes?: Readonly<Record<string, string>> }>;
  /** `users.json` (optional): source user id per user index. */
  readonly userIds?: readonly string[];
}

/** Negatives per positive in the FHN files (method.md §6.1). */
export const NEGATIVES_PER_POSITIVE = 10;
