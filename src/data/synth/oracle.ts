/**
 * The oracle of a synthetic root (method.md §6.3): the true utility of any outfit for any user of any
 * set the generator wrote into that root, read back from `<root>/oracle/`, so evaluation can report
 * how close a model gets to the ground truth on the very same candidates.
 *
 * Files (all written by generate.ts):
 *   oracle/oracle.json                     seed, knobs, palette, harmony, the shared styles
 *   oracle/tuples_<set>/users.json         per user: style weights, P(two tops)
 *   oracle/tuples_<set>/items.tsv          per item (by image name): category, class, colour, ε
 *   oracle/tuples_<set>/<split>_nega_fn    per negative row: 1 when the oracle scores it above the
 *   oracle/tuples_<set>/<split>_nega_hard_fn   user's median positive of that split, else 0
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DataError } from '../../errors.js';
import { CATEGORY_NAMES, type Catalog, type OutfitTable, type PolyvoreSet, type SplitName } from '../types.js';
import { CATEGORY_CLASSES, HARMONY, NUM_COLOURS, PALETTE, UtilityModel, classIndexOf, type SynthUser } from './model.js';

export const ORACLE_DIR = 'oracle';
export const ORACLE_FORMAT = 'outfitrec-synth-oracle';
/**
 * Version of the benchmark a root holds. 2: no candidate (random, hard or fill-in-the-blank) holds
 * one of its user's items of another split (method.md §6.3 "No item reuse"). 1: the earlier
 * generator, whose candidates could (7.8 % of syn-630's test random mixes did, no positive can): a
 * leak. Version-1 roots stay readable, so old results can be re-checked; `eval` says what they are.
 */
export const ORACLE_VERSION = 2;
/** Oldest version still read. */
export const ORACLE_LEAKY_VERSION = 1;

export function oracleJsonPath(root: string): string {
  return join(root, ORACLE_DIR, 'oracle.json');
}
export function oracleSetDir(root: string, set: string): string {
  return join(root, ORACLE_DIR, `tuples_${set}`);
}
export function falseNegativeFlagsPath(root: string, set: string, split: SplitName, kind: 'nega' | 'nega_hard'): string {
  return join(oracleSetDir(root, set), `${split}_${kind}_fn`);
}

const knobsSchema = z.strictObject({
  styles: z.number().int().positive(),
  temperature: z.number().positive(),
  harmonyWeight: z.number(),
  itemNoise: z.number().nonnegative(),
  classScale: z.number().nonnegative(),
  colourScale: z.number().nonnegative(),
  styleConcentration: z.number().positive(),
  twoTopShare: z.number().min(0).max(1),
});

export const oracleFileSchema = z.strictObject({
  format: z.literal(ORACLE_FORMAT),
  version: z.union([z.literal(ORACLE_LEAKY_VERSION), z.literal(ORACLE_VERSION)]),
  description: z.string(),
  seed: z.number().int().nonnegative(),
  imageSource: z.enum(['fashion-mnist', 'procedural']),
  knobs: knobsSchema,
  palette: z.array(z.strictObject({ name: z.string(), rgb: z.tuple([z.number(), z.number(), z.number()]), neutral: z.boolean() })),
  categoryClasses: z.array(z.array(z.number().int())),
  harmony: z.array(z.array(z.number())),
  /** styles[s][category][classIndex][colour] = affinity A_s. */
  styles: z.array(z.array(z.array(z.array(z.number())))),
});
export type OracleFile = z.infer<typeof oracleFileSchema>;

export const usersFileSchema = z.strictObject({
  set: z.string(),
  variableLength: z.boolean(),
  users: z.array(z.strictObject({ styleWeights: z.array(z.number().nonnegative()), twoTopProbability: z.number().min(0).max(1) })),
});
export type UsersFile = z.infer<typeof usersFileSchema>;

/** Header of items.tsv. */
export const ITEMS_TSV_HEADER = 'name\tcategory\tclass\tcolour\tnoise\tpicture\tmirrored';

export interface Oracle {
  readonly root: string;
  readonly seed: number;
  readonly imageSource: 'fashion-mnist' | 'procedural';
  /** The benchmark version of the root (ORACLE_VERSION; 1 = candidates with the item-reuse leak). */
  readonly version: number;
  /**
   * True utility (nats: the user's log-probability of making the outfit, see model.ts) of each row
   * of `table` for that row's user in `set`. Items are global ids of `set.catalog`, matched to the
   * oracle by image name; -1 slots are absent. DataError when the set or an item is not the
   * oracle's. `noise: false` drops the invisible item term ε: the noise-free oracle, which scores
   * only what the pictures show (a reference row, method.md §6.3).
   */
  utility(set: PolyvoreSet, table: OutfitTable, opts?: { noise?: boolean }): Float32Array;
  /**
   * What a person sees of each item of `set.catalog` (by global id): its (category, class, colour)
   * group, numbered 0..ITEM_GROUPS−1 over all categories. The count reference scorer's input.
   */
  itemGroups(set: PolyvoreSet): Int32Array;
}

/** Number of (category, class, colour) groups: what an item's picture shows. */
export const ITEM_GROUPS = CATEGORY_CLASSES.reduce((n, classes) => n + classes.length * NUM_COLOURS, 0);
/** First group of each category. */
export const ITEM_GROUP_OFFSETS = CATEGORY_CLASSES.map((_, c) => CATEGORY_CLASSES.slice(0, c).reduce((n, classes) => n + classes.length * NUM_COLOURS, 0));

/** Parses a JSON file against a schema; DataError naming the file otherwise. */
function readJson<T>(path: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DataError(path, undefined, `not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(path, undefined, `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Reads and validates oracle.json (DataError when malformed); undefined when absent. */
export function readOracleFile(root: string): OracleFile | undefined {
  const path = oracleJsonPath(root);
  if (!existsSync(path)) return undefined;
  const file = readJson(path, oracleFileSchema);
  // The utility uses this generator's palette and harmony; a file made with others cannot be scored.
  const sameTables =
    JSON.stringify(file.palette) === JSON.stringify(PALETTE) &&
    JSON.stringify(file.harmony) === JSON.stringify(HARMONY) &&
    JSON.stringify(file.categoryClasses) === JSON.stringify(CATEGORY_CLASSES);
  if (!sameTables) throw new DataError(path, undefined, 'palette, harmony or category classes differ from this version of the generator');
  if (file.styles.length !== file.knobs.styles) throw new DataError(path, undefined, `${file.styles.length} styles, knobs say ${file.knobs.styles}`);
  for (const [s, style] of file.styles.entries()) {
    const ok = style.length === CATEGORY_CLASSES.length && style.every((byClass, c) => byClass.length === CATEGORY_CLASSES[c].length && byClass.every((row) => row.length === NUM_COLOURS));
    if (!ok) throw new DataError(path, undefined, `styles[${s}] is not shaped [category][class][colour]`);
  }
  return file;
}

export interface ItemAttributes {
  category: number;
  classIndex: number;
  colour: number;
  noise: number;
}

/** Reads items.tsv into name → attributes (also used by the server for readable item names). */
export function readOracleItems(path: string): Map<string, ItemAttributes> {
  if (!existsSync(path)) throw new DataError(path, undefined, 'missing (the oracle cannot score this set)');
  const lines = readFileSync(path, 'utf8').split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== ITEMS_TSV_HEADER) throw new DataError(path, 1, `header must be "${ITEMS_TSV_HEADER.replace(/\t/g, '\\t')}"`);
  const out = new Map<string, ItemAttributes>();
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].split('\t');
    const category = CATEGORY_NAMES.indexOf(f[1] as (typeof CATEGORY_NAMES)[number]);
    const fashionClass = Number(f[2]);
    const colour = Number(f[3]);
    const noise = Number(f[4]);
    const classIndex = category >= 0 ? classIndexOf(category, fashionClass) : -1;
    if (f.length !== 7 || category < 0 || classIndex < 0 || !(Number.isInteger(colour) && colour >= 0 && colour < NUM_COLOURS) || !Number.isFinite(noise)) {
      throw new DataError(path, i + 1, `malformed item line "${lines[i]}"`);
    }
    out.set(f[0], { category, classIndex, colour, noise });
  }
  return out;
}

interface SetOracle {
  users: SynthUser[];
  variableLength: boolean;
  items: Map<string, ItemAttributes>;
  itemsPath: string;
  usersPath: string;
  /** Attributes by global id, per catalog object seen. */
  byCatalog: WeakMap<Catalog, { category: Uint8Array; classIndex: Uint8Array; colour: Uint8Array; noise: Float64Array }>;
}

/** The oracle of `root`, or null when the root has no `oracle/oracle.json` (not a synthetic root). */
export function loadOracle(root: string): Oracle | null {
  const file = readOracleFile(root);
  if (!file) return null;
  const model = new UtilityModel(
    file.styles.map((affinity) => ({ affinity })),
    file.knobs,
  );
  const sets = new Map<string, SetOracle>();

  const setOracle = (set: string): SetOracle => {
    let so = sets.get(set);
    if (!so) {
      const dir = oracleSetDir(root, set);
      const usersPath = join(dir, 'users.json');
      if (!existsSync(usersPath)) throw new DataError(usersPath, undefined, `missing: the oracle of ${root} has no set ${set}`);
      const users = readJson(usersPath, usersFileSchema);
      for (const [u, user] of users.users.entries()) {
        if (user.styleWeights.length !== file.knobs.styles) throw new DataError(usersPath, undefined, `users[${u}] has ${user.styleWeights.length} style weights, expected ${file.knobs.styles}`);
      }
      const itemsPath = join(dir, 'items.tsv');
      so = { users: users.users, variableLength: users.variableLength, items: readOracleItems(itemsPath), itemsPath, usersPath, byCatalog: new WeakMap() };
      sets.set(set, so);
    }
    return so;
  };

  const attributesOf = (so: SetOracle, catalog: Catalog) => {
    let attrs = so.byCatalog.get(catalog);
    if (!attrs) {
      const n = catalog.names.length;
      attrs = { category: new Uint8Array(n), classIndex: new Uint8Array(n), colour: new Uint8Array(n), noise: new Float64Array(n) };
      for (let id = 0; id < n; id++) {
        // the image list may carry the file extension (the generator writes bare names)
        const name = catalog.names[id].replace(/\.(png|jpg)$/, '');
        const a = so.items.get(name);
        if (!a) throw new DataError(so.itemsPath, undefined, `image "${catalog.names[id]}" (global item ${id}) is not an item of this oracle`);
        if (a.category !== catalog.category[id]) {
          throw new DataError(so.itemsPath, undefined, `image "${name}" is a ${CATEGORY_NAMES[a.category]} here but a ${CATEGORY_NAMES[catalog.category[id]]} in the catalog`);
        }
        attrs.category[id] = a.category;
        attrs.classIndex[id] = a.classIndex;
        attrs.colour[id] = a.colour;
        attrs.noise[id] = a.noise;
      }
      so.byCatalog.set(catalog, attrs);
    }
    return attrs;
  };

  return {
    root,
    seed: file.seed,
    imageSource: file.imageSource,
    version: file.version,
    itemGroups(set: PolyvoreSet): Int32Array {
      const attrs = attributesOf(setOracle(set.set), set.catalog);
      return Int32Array.from(attrs.category, (c, id) => ITEM_GROUP_OFFSETS[c] + attrs.classIndex[id] * NUM_COLOURS + attrs.colour[id]);
    },
    utility(set: PolyvoreSet, table: OutfitTable, opts: { noise?: boolean } = {}): Float32Array {
      const withNoise = opts.noise ?? true;
      const so = setOracle(set.set);
      const attrs = attributesOf(so, set.catalog);
      const rows = table.users.length;
      const out = new Float32Array(rows);
      const slots = table.slots;
      const categories = new Int32Array(slots);
      const classIndices = new Int32Array(slots);
      const colours = new Int32Array(slots);
      const noise = new Float64Array(slots);
      const scratch = new Float64Array(model.styles.length);
      const outfit = { categories, classIndices, colours, noise, count: 0 };
      for (let r = 0; r < rows; r++) {
        const u = table.users[r];
        if (!(u >= 0 && u < so.users.length)) throw new DataError(so.usersPath, undefined, `user ${u} of set ${set.set} is not one of its ${so.users.length} users`);
        let count = 0;
        for (let j = 0; j < slots; j++) {
          const id = table.items[r * slots + j];
          if (id < 0) continue;
          categories[count] = attrs.category[id];
          classIndices[count] = attrs.classIndex[id];
          colours[count] = attrs.colour[id];
          noise[count] = withNoise ? attrs.noise[id] : 0;
          count++;
        }
        outfit.count = count;
        out[r] = model.utility(so.users[u], outfit, so.variableLength, scratch);
      }
      return out;
    },
  };
}

/**
 * The oracle's false-negative flags of a negatives file (one per row, aligned with
 * `tuples_<split>_<kind>`): 1 when the oracle scores the negative above the median utility of the
 * user's positives in that split. Null when the root has no such file.
 */
export function loadFalseNegativeFlags(root: string, set: string, split: SplitName, kind: 'nega' | 'nega_hard'): Uint8Array | null {
  const path = falseNegativeFlagsPath(root, set, split, kind);
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  // "0\n1\n..." : every even byte is the flag, every odd byte a newline
  let n = buf.length;
  if (n > 0 && buf[n - 1] === 10) n--;
  const flags = new Uint8Array((n + 1) >> 1);
  for (let i = 0; i < flags.length; i++) {
    const v = buf[2 * i];
    const sep = 2 * i + 1 < n ? buf[2 * i + 1] : 10;
    if ((v !== 48 && v !== 49) || sep !== 10) {
      throw new DataError(path, i + 1, 'expected one 0 or 1 per line');
    }
    flags[i] = v - 48;
  }
  return flags;
}
