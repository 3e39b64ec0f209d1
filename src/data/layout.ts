/**
 * Categories and slots from the data (method.md §6.5): `tuples_<set>/layout.json` says which
 * categories a set has, the category of each tuple column, which columns are required and the least
 * number of items of an outfit. Without the file a folder keeps the FHN layout of its name
 * (630/53: top, bottom, shoe; 519/32: top, top-or-empty, bottom, shoe), so Polyvore-U and the
 * synthetic sets read exactly as before.
 *
 * Also reads the two optional side files of an imported set: `items.json` (source id, title and
 * attributes per item name) and `users.json` (source user id per internal user index).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DataError } from '../errors.js';
import { CATEGORY_NAMES, SET_NAMES, isVariableLength, slotCategoriesFor, type SetLayout } from './types.js';

export const LAYOUT_FILE = 'layout.json';
export const ITEMS_FILE = 'items.json';
export const USERS_FILE = 'users.json';

/** A set folder name: `tuples_<name>` with `<name>` made of these characters (method.md §6.5). */
export const SET_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/** Category names as the shop format allows them (letters, digits, space, `_`, `-`). */
const CATEGORY_NAME = /^[A-Za-z0-9 _-]+$/;

/** Categories are stored per item in a Uint8Array. */
export const MAX_CATEGORIES = 255;

/** New-user set of each FHN training set (method.md §5). */
const FHN_NEW_USERS: Record<string, string> = { '630': '53', '519': '32' };

/** Whether `set` names one of the four Polyvore-U folders (which have a layout without layout.json). */
export function isFhnSetName(set: string): boolean {
  return (SET_NAMES as readonly string[]).includes(set);
}

/**
 * The layout a folder without layout.json has, by its name (method.md §6.5): 630/53 = top, bottom,
 * shoe, all required; 519/32 = top, top, bottom, shoe with the second top optional; minItems 3.
 * Any other name has the fixed-length FHN layout (as before this file existed).
 */
export function fhnLayout(set: string): SetLayout {
  const variable = isVariableLength(set);
  const slotCategories = slotCategoriesFor(set);
  const newUsers = FHN_NEW_USERS[set];
  return {
    categories: [...CATEGORY_NAMES],
    slotCategories,
    required: slotCategories.map((_, j) => !(variable && j === 1)),
    minItems: 3,
    ...(newUsers ? { newUsers } : {}),
    source: 'fhn',
  };
}

const LayoutSchema = z.strictObject({
  format: z.literal('outfitrec-set'),
  version: z.literal(1),
  categories: z
    .array(z.string().regex(CATEGORY_NAME, 'a category name is letters, digits, spaces, "_" or "-"'))
    .min(1)
    .max(MAX_CATEGORIES),
  slots: z.array(z.string()).min(1).max(64),
  required: z.array(z.boolean()),
  minItems: z.number().int().min(1),
  newUsers: z.string().regex(SET_NAME_PATTERN, 'a set name is letters, digits, "_" or "-"').optional(),
});

/** `path.to.field` of a zod issue, e.g. `slots[3]`. */
function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

/**
 * Parses the text of a layout.json (method.md §6.5). Every problem is a DataError naming the file
 * and the field: unknown keys, a slot whose category is not in `categories`, `required` of another
 * length than `slots`, `minItems` past the number of slots, a category that no slot uses.
 */
export function parseLayout(text: string, file: string, set: string): SetLayout {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError(file, undefined, `not valid JSON: ${(err as Error).message}`);
  }
  const parsed = LayoutSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(file, undefined, `field '${fieldOf(issue.path)}': ${issue.message}`);
  }
  const l = parsed.data;
  const seen = new Map<string, number>();
  l.categories.forEach((c, i) => {
    if (seen.has(c)) throw new DataError(file, undefined, `field 'categories[${i}]': "${c}" is listed twice (also categories[${seen.get(c)}])`);
    seen.set(c, i);
  });
  const slotCategories = l.slots.map((name, j) => {
    const c = seen.get(name);
    if (c === undefined) throw new DataError(file, undefined, `field 'slots[${j}]': "${name}" is not one of the categories (${l.categories.join(', ')})`);
    return c;
  });
  if (l.required.length !== l.slots.length) {
    throw new DataError(file, undefined, `field 'required': ${l.required.length} entries for ${l.slots.length} slots (one per slot)`);
  }
  const unused = l.categories.findIndex((_, c) => !slotCategories.includes(c));
  if (unused >= 0) throw new DataError(file, undefined, `field 'categories[${unused}]': "${l.categories[unused]}" has no slot (every category needs one in 'slots')`);
  if (l.minItems > l.slots.length) {
    throw new DataError(file, undefined, `field 'minItems': ${l.minItems} is more than the ${l.slots.length} slots`);
  }
  if (l.newUsers === set) throw new DataError(file, undefined, `field 'newUsers': "${set}" is this set itself`);
  return {
    categories: l.categories,
    slotCategories,
    required: l.required,
    minItems: l.minItems,
    ...(l.newUsers !== undefined ? { newUsers: l.newUsers } : {}),
    source: 'layout.json',
  };
}

/** The layout of `<dir>` (a `tuples_<set>` folder): its layout.json, or the FHN layout of `set`. */
export function readLayout(dir: string, set: string): SetLayout {
  const file = join(dir, LAYOUT_FILE);
  if (!existsSync(file)) return fhnLayout(set);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError(file, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseLayout(text, file, set);
}

/** The layout of set `set` under `root` (layout.json or FHN by name). */
export function layoutOfSet(root: string, set: string): SetLayout {
  return readLayout(join(root, `tuples_${set}`), set);
}

/** Slots that may be empty (-1). */
export function optionalSlotsOf(layout: SetLayout): boolean[] {
  return layout.required.map((r) => !r);
}

/** Whether some slot may be empty (the FHN "variable-length" sets 519/32). */
export function hasOptionalSlots(layout: SetLayout): boolean {
  return layout.required.some((r) => !r);
}

/** "top, top-or-null, bottom, shoe": the slots of a request, for messages. */
export function describeSlots(layout: SetLayout): string {
  return layout.slotCategories.map((c, j) => layout.categories[c] + (layout.required[j] ? '' : '-or-null')).join(', ');
}

/** Name of category `c`, or its number when the layout has no such category. */
export function categoryName(layout: Pick<SetLayout, 'categories'>, c: number): string {
  return layout.categories[c] ?? String(c);
}

/** One entry of items.json (method.md §6.5). */
export interface ItemRecord {
  readonly id: string;
  readonly title?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

const ItemsSchema = z.record(
  z.string(),
  z.strictObject({
    id: z.union([z.string(), z.number()]).transform(String),
    title: z.string().optional(),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
  }),
);

const UsersSchema = z.array(z.union([z.string(), z.number()]).transform(String));

function readJsonFile<T>(file: string, schema: z.ZodType<T, unknown>, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataError(file, undefined, `not valid JSON (${what}): ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(file, undefined, `field '${fieldOf(issue.path)}': ${issue.message} (${what})`);
  }
  return parsed.data;
}

/** items.json of a set folder, keyed by item name; undefined when the file does not exist. */
export function readItemRecords(dir: string): Map<string, ItemRecord> | undefined {
  const file = join(dir, ITEMS_FILE);
  if (!existsSync(file)) return undefined;
  const records = readJsonFile(file, ItemsSchema, 'expected {"<item name>": {"id": …, "title"?: …, "attributes"?: {…}}}');
  return new Map(Object.entries(records));
}

/** users.json of a set folder: source user id per internal user index; undefined when absent. */
export function readUserIds(dir: string): string[] | undefined {
  const file = join(dir, USERS_FILE);
  if (!existsSync(file)) return undefined;
  return readJsonFile(file, UsersSchema, 'expected an array of user ids, one per internal user index');
}

/** `tuples_<name>` folders under `root` (names only, sorted); none when root is not a folder. */
function setFolders(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name.startsWith('tuples_') && SET_NAME_PATTERN.test(e.name.slice('tuples_'.length)))
      .map((e) => e.name.slice('tuples_'.length))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The new-user (cold-start) set of `set` under `root` (method.md §5, §6.5): its layout's `newUsers`,
 * i.e. 53 for 630 and 32 for 519 on the FHN layout. Undefined when the set names none.
 */
export function newUsersSetOf(root: string, set: string): string | undefined {
  return layoutOfSet(root, set).newUsers;
}

/**
 * The training set whose new users live in `coldSet`: the set under `root` whose layout names it
 * as `newUsers` (630 for 53, 519 for 32). Folders whose layout.json cannot be read are skipped
 * here (loading them reports why).
 */
export function warmSetOf(root: string, coldSet: string): string | undefined {
  const fhn = Object.entries(FHN_NEW_USERS).find(([, cold]) => cold === coldSet)?.[0];
  for (const set of setFolders(root)) {
    if (set === coldSet) continue;
    try {
      if (layoutOfSet(root, set).newUsers === coldSet) return set;
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
    }
  }
  // a dataset root without the warm folder (the FHN pairing is known by name)
  return fhn;
}

/**
 * The (warm, newUsers) set pairs of a dataset root (method.md §5, §6.5): every folder whose layout
 * names a `newUsers` set that exists beside it, e.g. 630 → 53 and 519 → 32, or shop → shop-new.
 */
export function coldPairsOf(root: string): Array<{ warm: string; cold: string }> {
  const sets = setFolders(root);
  const pairs: Array<{ warm: string; cold: string }> = [];
  for (const warm of sets) {
    let cold: string | undefined;
    try {
      cold = layoutOfSet(root, warm).newUsers;
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
    }
    if (cold !== undefined && sets.includes(cold)) pairs.push({ warm, cold });
  }
  return pairs;
}
