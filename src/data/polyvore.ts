/**
 * Reader and validator of the Polyvore-U on-disk layout of the FHN release (method.md §6.1).
 * The same reader serves the real data and the synthetic benchmark, which
 * writes this layout exactly (method.md §6.3), and imported sets, whose `layout.json` names their
 * categories and slots (method.md §6.5).
 *
 * Tuple files are parsed by hand from the raw bytes into preallocated Int32Arrays (no per-line
 * strings on the happy path): a full-size set (127k positives, 1.27M negative rows, ~50 MB of
 * CSV) loads in about a second. A line is only turned into a string to explain what is wrong
 * with it.
 *
 * Every problem is reported as a `DataError(file, line, detail)` with the 1-based line of the
 * file (the header is line 1, so data row r is line r + 2). Loading collects all problems before
 * giving up, so one run of `data check` lists them all.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, DataErrors } from '../errors.js';
import { hasOptionalSlots, readItemRecords, readLayout, readUserIds } from './layout.js';
import {
  NEGATIVES_PER_POSITIVE,
  SPLITS,
  type Catalog,
  type OutfitTable,
  type PolyvoreSet,
  type SetLayout,
  type SplitName,
  type SplitTuples,
} from './types.js';

/** Outfits per line of `fill_in_blank_test` (method.md §6.1); the first is the answer. */
export const FITB_CANDIDATES = 4;

/** Past this many problems in one file the rest are summarised in one line. */
const MAX_PROBLEMS_PER_FILE = 20;

/** Extensions tried, in order, when an image-list entry is looked up on disk. */
export const IMAGE_EXTENSIONS = ['', '.jpg', '.png', '.jpeg', '.webp'] as const;

/** The image size the FHN release ships (`images/291x291/`). */
export const PREFERRED_IMAGE_SIZE = '291x291';

export interface LoadOptions {
  /**
   * Splits whose tuples are read into the result (default: all three). The others come back as
   * empty tables. Every split's positives file is still read, because users are numbered over
   * the whole folder (numUsers = 1 + the largest user in any positives file).
   */
  splits?: SplitName[];
  /** Check that every image-list entry has an image file (default false: features-only runs need none). */
  requireImages?: boolean;
}

/** The image folder of a dataset root: `<root>/images/<W>x<H>/`, or `<root>/images/` (then no size is stated). */
export interface ImageDir {
  readonly path: string;
  /** The size every image must have (the folder's name), undefined for a flat `images/` folder. */
  readonly width?: number;
  readonly height?: number;
}

/** Collects problems, capping the number kept per file. */
export class ProblemSink {
  readonly errors: DataError[] = [];
  private readonly perFile = new Map<string, number>();

  add(file: string, line: number | undefined, detail: string): void {
    const n = (this.perFile.get(file) ?? 0) + 1;
    this.perFile.set(file, n);
    if (n <= MAX_PROBLEMS_PER_FILE) this.errors.push(new DataError(file, line, detail));
  }

  /** Appends one summary line per file whose problems were cut off. */
  finish(): DataError[] {
    for (const [file, n] of this.perFile) {
      if (n > MAX_PROBLEMS_PER_FILE) {
        this.errors.push(new DataError(file, undefined, `${n - MAX_PROBLEMS_PER_FILE} more problems in this file not listed`));
      }
    }
    return this.errors;
  }
}

/** Throws the collected problems: the single `DataError` itself, or all of them as `DataErrors`. */
export function throwIfProblems(errors: DataError[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new DataErrors(errors);
}

/**
 * Loads and validates `<root>/tuples_<set>/` (method.md §6.1). Throws a `DataError` (one problem) or
 * `DataErrors` (several) naming each file and line; returns only a fully valid set.
 */
export function loadPolyvoreSet(root: string, set: string, opts: LoadOptions = {}): PolyvoreSet {
  const sink = new ProblemSink();
  const result = readPolyvoreSet(root, set, opts, sink);
  throwIfProblems(sink.finish());
  if (!result) throw new Error(`internal: ${set} produced no data and no problems`);
  return result;
}

/** One set folder's outcome in `checkPolyvoreRoot`. */
export interface CheckedSet {
  readonly set: string;
  readonly dir: string;
  readonly errors: DataError[];
  /** The loaded set when it had no problems. */
  readonly data?: PolyvoreSet;
  /** Whether image files were checked for this set. */
  readonly imagesChecked: boolean;
}

export interface RootCheck {
  readonly root: string;
  readonly sets: CheckedSet[];
  /** Every problem of every set, plus problems of the root itself. */
  readonly errors: DataError[];
}

/**
 * Validates every `tuples_*` folder under `root` and returns ALL problems found (not only the
 * first). Images are checked when `images` is true, skipped when false, and by default checked
 * when `<root>/images/` exists.
 */
export function checkPolyvoreRoot(root: string, opts: { images?: boolean } = {}): RootCheck {
  const rootErrors: DataError[] = [];
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    rootErrors.push(new DataError(root, undefined, 'dataset root not found (expected a folder holding tuples_<set>/ folders)'));
    return { root, sets: [], errors: rootErrors };
  }
  const sets = findSetNames(root);
  if (sets.length === 0) {
    // a shop folder (method.md §6.4) is checked by the import that turns it into a dataset root
    const shop = existsSync(join(root, 'items.csv'));
    const hint = shop ? `; it holds items.csv, a shop folder: \`outfitrec data import ${root} --out DIR\` checks it and writes a dataset root` : '';
    rootErrors.push(new DataError(root, undefined, `no tuples_<set>/ folder found (docs/method.md §6.1 layout: <root>/tuples_630/ …)${hint}`));
  }
  const checkImages = opts.images ?? existsSync(join(root, 'images'));
  const checked: CheckedSet[] = [];
  for (const set of sets) {
    const sink = new ProblemSink();
    const data = readPolyvoreSet(root, set, { requireImages: checkImages }, sink);
    const errors = sink.finish();
    checked.push({ set, dir: join(root, `tuples_${set}`), errors, data: errors.length === 0 ? data : undefined, imagesChecked: checkImages });
  }
  // method.md §6.5: a layout's newUsers must name a set folder beside it with the same category names
  checked.forEach((c, i) => {
    const problem = pairingProblem(root, c, checked);
    // a set with a problem is not summarised as loaded
    if (problem) checked[i] = { ...c, errors: [...c.errors, problem], data: undefined };
  });
  return { root, sets: checked, errors: [...rootErrors, ...checked.flatMap((s) => s.errors)] };
}

/** What is wrong with the `newUsers` of a checked set's layout.json (method.md §6.5), if anything. */
function pairingProblem(root: string, c: CheckedSet, checked: readonly CheckedSet[]): DataError | undefined {
  const layout = c.data?.layout;
  if (!layout?.newUsers || layout.source !== 'layout.json') return undefined;
  const file = join(c.dir, 'layout.json');
  const cold = checked.find((s) => s.set === layout.newUsers);
  if (!cold) return new DataError(file, undefined, `field 'newUsers': no folder tuples_${layout.newUsers}/ in ${root}`);
  // items cross the two sets by image name, so only the category names have to agree, not their order
  const names = (l: readonly string[]): string => [...l].sort().join('\n');
  if (cold.data && names(cold.data.layout.categories) !== names(layout.categories)) {
    return new DataError(
      file,
      undefined,
      `field 'newUsers': tuples_${layout.newUsers}/ has the categories ${cold.data.layout.categories.join(', ')}, not this set's ${layout.categories.join(', ')}`,
    );
  }
  return undefined;
}

/** Set names of the `tuples_<set>` folders under `root`, sorted by name. */
export function findSetNames(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith('tuples_') && e.name.length > 'tuples_'.length)
    .map((e) => e.name.slice('tuples_'.length))
    .sort();
}

/**
 * The image folder of a dataset root: `images/291x291` when present (the FHN release), else the
 * only `<W>x<H>` folder (the synthetic generator writes e.g. `images/28x28`), else `images/`
 * itself when it holds files (an imported shop, method.md §6.4: images of any size, each fitted to
 * the model's size). Returns undefined when there is none; a DataError when several size folders
 * exist and none is 291x291, since picking one silently could train on the wrong images.
 */
export function findImageDir(root: string): ImageDir | undefined {
  const base = join(root, 'images');
  if (!existsSync(base)) return undefined;
  const sizes = readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d+x\d+$/.test(e.name))
    .map((e) => e.name)
    .sort();
  if (sizes.length === 0) {
    const flat = readdirSync(base, { withFileTypes: true }).some((e) => e.isFile());
    return flat ? { path: base } : undefined;
  }
  let chosen: string;
  if (sizes.includes(PREFERRED_IMAGE_SIZE)) chosen = PREFERRED_IMAGE_SIZE;
  else if (sizes.length === 1) chosen = sizes[0];
  else {
    throw new DataError(base, undefined, `several image size folders (${sizes.join(', ')}) and no ${PREFERRED_IMAGE_SIZE}: keep only one`);
  }
  const [w, h] = chosen.split('x').map(Number);
  return { path: join(base, chosen), width: w, height: h };
}

/**
 * Image file per global item id. An image-list entry may or may not carry its extension: the
 * entry itself, then `<name>.jpg`, then `<name>.png` are tried (method.md §6.1 real data is
 * `<name>.jpg`; the synthetic generator writes PNGs). One directory listing, no per-file stat.
 */
export function resolveImagePaths(catalog: Catalog, imageDir: ImageDir): { paths: (string | undefined)[]; missing: number[] } {
  const present = new Set(readdirSync(imageDir.path));
  const paths: (string | undefined)[] = new Array(catalog.names.length);
  const missing: number[] = [];
  for (let id = 0; id < catalog.names.length; id++) {
    const name = catalog.names[id];
    let found: string | undefined;
    for (const ext of IMAGE_EXTENSIONS) {
      if (present.has(name + ext)) {
        found = join(imageDir.path, name + ext);
        break;
      }
    }
    paths[id] = found;
    if (found === undefined) missing.push(id);
  }
  return { paths, missing };
}

/** `image_list_<category>` path of a set folder (category by name, as in `layout.categories`). */
export function imageListPath(dir: string, category: string): string {
  return join(dir, `image_list_${category}`);
}

/** Column names of a tuple row (the header), e.g. user,top,bottom,shoe or user,top,top,bottom,shoe. */
export function columnNames(layout: Pick<SetLayout, 'categories' | 'slotCategories'>): string[] {
  return ['user', ...layout.slotCategories.map((c) => layout.categories[c])];
}

function emptyTable(slots: number): OutfitTable {
  return { slots, users: new Int32Array(0), items: new Int32Array(0) };
}

/** Reads one set folder, reporting problems to `sink`; returns undefined when the folder cannot be read at all. */
function readPolyvoreSet(root: string, set: string, opts: LoadOptions, sink: ProblemSink): PolyvoreSet | undefined {
  const dir = join(root, `tuples_${set}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    const here = existsSync(root) && statSync(root).isDirectory() ? findSetNames(root) : [];
    const sets = here.length > 0 ? `; sets in ${root}: ${here.join(', ')}` : '';
    sink.add(dir, undefined, `set folder not found (expected ${dir} holding image_list_* and tuples_* files${sets})`);
    return undefined;
  }
  let setLayout: SetLayout;
  try {
    setLayout = readLayout(dir, set);
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    sink.add(err.file, err.line, err.detail);
    return undefined;
  }
  const variableLength = hasOptionalSlots(setLayout);
  const slotCategories = [...setLayout.slotCategories];
  const catalog = readCatalog(dir, setLayout.categories, sink);
  const wanted = new Set<SplitName>(opts.splits ?? SPLITS);
  const layout: RowLayout = {
    set: setLayout,
    slotCategories,
    columns: columnNames(setLayout),
    counts: catalog?.counts,
    offsets: catalog?.offsets,
  };

  // Positives of every split first: they fix numUsers, which the other files are checked against.
  const posi = {} as Record<SplitName, ParsedTable | undefined>;
  let maxUser = -1;
  let maxUserAt: { file: string; line: number } | undefined;
  let positiveRows = 0;
  for (const split of SPLITS) {
    const parsed = readTupleFile(join(dir, `tuples_${split}_posi`), layout, 1, true, sink);
    posi[split] = parsed;
    if (!parsed) continue;
    positiveRows += parsed.table.users.length;
    if (parsed.maxUser > maxUser) {
      maxUser = parsed.maxUser;
      maxUserAt = { file: parsed.file, line: parsed.maxUserLine };
    }
  }
  const numUsers = checkUserIds(dir, posi, maxUser, maxUserAt, positiveRows, sink);

  const splits = {} as Record<SplitName, SplitTuples>;
  for (const split of SPLITS) {
    const p = posi[split];
    if (!wanted.has(split) || !p) {
      splits[split] = { posi: emptyTable(slotCategories.length), nega: emptyTable(slotCategories.length) };
      continue;
    }
    const nega = readNegatives(join(dir, `tuples_${split}_nega`), p, layout, numUsers, true, sink);
    const negaHard = readNegatives(join(dir, `tuples_${split}_nega_hard`), p, layout, numUsers, false, sink);
    splits[split] = {
      posi: p.table,
      nega: nega?.table ?? emptyTable(slotCategories.length),
      ...(negaHard ? { negaHard: negaHard.table } : {}),
    };
  }

  let fitb: OutfitTable | undefined;
  const fitbFile = join(dir, 'fill_in_blank_test');
  if (existsSync(fitbFile)) {
    const parsed = readTupleFile(fitbFile, layout, FITB_CANDIDATES, false, sink);
    if (parsed) {
      checkUsersInRange(parsed, numUsers, fitbFile, sink);
      fitb = parsed.table;
    }
  }

  const items = readSideFile(() => readItemRecords(dir), sink);
  const userIds = readSideFile(() => readUserIds(dir), sink);
  if (userIds && userIds.length !== numUsers && positiveRows > 0) {
    sink.add(join(dir, 'users.json'), undefined, `${userIds.length} user ids for the ${numUsers} users of the tuples_*_posi files (one per user index)`);
  }

  if (!catalog) return undefined;
  if (opts.requireImages) for (const e of locateImages(root, dir, catalog, setLayout.categories).errors) sink.add(e.file, e.line, e.detail);
  return {
    root,
    set,
    dir,
    variableLength,
    layout: setLayout,
    slotCategories,
    numUsers,
    catalog,
    splits,
    ...(fitb ? { fitb } : {}),
    ...(items ? { items } : {}),
    ...(userIds ? { userIds } : {}),
  };
}

/** Runs a reader of an optional side file (items.json, users.json); its DataError becomes a problem. */
function readSideFile<T>(read: () => T | undefined, sink: ProblemSink): T | undefined {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    sink.add(err.file, err.line, err.detail);
    return undefined;
  }
}

/**
 * User ids follow from the data: they are dense (0..U-1, every user with at least one positive),
 * so U is at most the number of positive rows. An id past that is reported where it occurs
 * instead of sizing per-user arrays by it (one id of 2,000,000,000 would need gigabytes).
 * Returns U for the checks that follow (capped when the ids were out of bounds).
 */
function checkUserIds(
  dir: string,
  posi: Record<SplitName, ParsedTable | undefined>,
  maxUser: number,
  maxUserAt: { file: string; line: number } | undefined,
  positiveRows: number,
  sink: ProblemSink,
): number {
  if (maxUser >= positiveRows && maxUserAt) {
    sink.add(
      maxUserAt.file,
      maxUserAt.line,
      `user ${maxUser} out of bounds: users are numbered 0..U-1 without gaps and each has a positive, so ${positiveRows} positive rows ` +
        `(tuples_{train,val,test}_posi) allow ids up to ${positiveRows - 1}`,
    );
    return positiveRows;
  }
  const numUsers = maxUser + 1;
  const seen = new Uint8Array(numUsers);
  for (const split of SPLITS) {
    const p = posi[split];
    if (!p) continue;
    const users = p.table.users;
    for (let r = 0; r < users.length; r++) if (!p.badLines[r] && users[r] >= 0) seen[users[r]] = 1;
  }
  const missing: number[] = [];
  for (let u = 0; u < numUsers; u++) if (!seen[u]) missing.push(u);
  if (missing.length > 0 && SPLITS.every((split) => posi[split] && !posi[split].badLines.some((b) => b === 1))) {
    const shown = missing.length <= 10 ? missing.join(', ') : `${missing.slice(0, 10).join(', ')}, … (${missing.length} in all)`;
    sink.add(
      join(dir, 'tuples_*_posi'),
      undefined,
      `user ids are not dense: user${missing.length === 1 ? '' : 's'} ${shown} of 0..${numUsers - 1} ha${missing.length === 1 ? 's' : 've'} no positive in any tuples_{train,val,test}_posi file`,
    );
  }
  return numUsers;
}

/** Reads a file for the loader; a read error (a directory, unreadable, …) becomes a problem of that file. */
function readDataFile(file: string, sink: ProblemSink): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EISDIR' ? 'is a directory, expected a file' : e.code === 'EACCES' ? 'permission denied (EACCES)' : `cannot read: ${e.code ?? e.message}`;
    sink.add(file, undefined, why);
    return undefined;
  }
}

/** Reads the image lists, one per category of the layout, into a Catalog (global id = offsets[category] + line index). */
function readCatalog(dir: string, categories: readonly string[], sink: ProblemSink): Catalog | undefined {
  const names: string[] = [];
  const offsets: number[] = [];
  const counts: number[] = [];
  const byName = new Map<string, number>();
  let complete = true;
  for (let c = 0; c < categories.length; c++) {
    const file = imageListPath(dir, categories[c]);
    offsets.push(names.length);
    if (!existsSync(file)) {
      sink.add(file, undefined, 'missing (required: one image name per line)');
      complete = false;
      counts.push(0);
      continue;
    }
    const bytes = readDataFile(file, sink);
    if (!bytes) {
      complete = false;
      counts.push(0);
      continue;
    }
    const lines = bytes.toString('utf8').split('\n');
    // A trailing newline (or trailing blank lines) is not an entry.
    while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const name = lines[i].trim();
      if (name === '') {
        sink.add(file, i + 1, 'empty image name');
        complete = false;
        continue;
      }
      const previous = byName.get(name);
      if (previous !== undefined) {
        const pc = categoryOf(offsets, previous);
        const where = `${pc === c ? '' : `image_list_${categories[pc]} `}line ${previous - offsets[pc] + 1}`;
        sink.add(file, i + 1, `duplicate image name "${name}" (also on ${where})`);
        complete = false;
      }
      byName.set(name, names.length);
      names.push(name);
    }
    counts.push(names.length - offsets[c]);
  }
  if (!complete) return undefined;
  const category = new Uint8Array(names.length);
  for (let c = 0; c < counts.length; c++) category.fill(c, offsets[c], offsets[c] + counts[c]);
  return { names, category, offsets, counts, byName };
}

function categoryOf(offsets: number[], id: number): number {
  let c = 0;
  while (c + 1 < offsets.length && id >= offsets[c + 1]) c++;
  return c;
}

/**
 * Finds the image folder of `root` and the image file of every catalog item. Problems (no image
 * folder, an ambiguous one, missing files) come back as DataErrors naming the image list and line.
 */
export function locateImages(root: string, dir: string, catalog: Catalog, categories: readonly string[]): { imageDir?: ImageDir; paths: (string | undefined)[]; errors: DataError[] } {
  let imageDir: ImageDir | undefined;
  try {
    imageDir = findImageDir(root);
  } catch (err) {
    if (err instanceof DataError) return { paths: [], errors: [err] };
    throw err;
  }
  if (!imageDir) {
    return { paths: [], errors: [new DataError(join(root, 'images'), undefined, 'no image folder found (expected images/<W>x<H>/, e.g. images/291x291/, or image files in images/)')] };
  }
  const { paths, missing } = resolveImagePaths(catalog, imageDir);
  const errors = missing.map((id) => {
    const c = catalog.category[id];
    const name = catalog.names[id];
    const tried = IMAGE_EXTENSIONS.map((e) => name + e).join(', ');
    return new DataError(imageListPath(dir, categories[c]), id - catalog.offsets[c] + 1, `image "${name}" not found in ${imageDir.path} (tried ${tried})`);
  });
  return { imageDir, paths, errors };
}

interface RowLayout {
  readonly set: SetLayout;
  readonly slotCategories: number[];
  readonly columns: string[];
  /** Items per category; undefined when an image list could not be read (ranges are then not checked). */
  readonly counts?: number[];
  readonly offsets?: number[];
}

interface ParsedTable {
  readonly file: string;
  readonly table: OutfitTable;
  /** Outfits per line (1, or FITB_CANDIDATES). */
  readonly perLine: number;
  /** Per line: 1 when the line was malformed (its row holds no data and is not checked further). */
  readonly badLines: Uint8Array;
  readonly maxUser: number;
  /** 1-based line of the (first) largest user. */
  readonly maxUserLine: number;
}

/**
 * Reads a tuple CSV (one header line) into an OutfitTable with global item ids. `perLine` outfits
 * per line (FITB lines hold 4). Returns undefined when the file is missing (a problem only when
 * `required`).
 */
function readTupleFile(file: string, layout: RowLayout, perLine: number, required: boolean, sink: ProblemSink): ParsedTable | undefined {
  if (!existsSync(file)) {
    if (required) sink.add(file, undefined, 'missing (required)');
    return undefined;
  }
  const bytes = readDataFile(file, sink);
  if (!bytes) return undefined;
  const slots = layout.slotCategories.length;
  const cols = perLine * (slots + 1);
  const csv = parseIntCsv(bytes, file, cols, perLine === 1 ? layout.columns : repeatColumns(layout.columns, perLine), sink);
  const lines = csv.rows;
  const users = new Int32Array(lines * perLine);
  const items = new Int32Array(lines * perLine * slots);
  const { counts, offsets, slotCategories } = layout;
  const { required: requiredSlots, minItems, categories } = layout.set;
  const v = csv.values;
  let maxUser = -1;
  let maxUserLine = 0;
  for (let r = 0; r < lines; r++) {
    if (csv.badLines[r]) continue;
    for (let k = 0; k < perLine; k++) {
      const base = r * cols + k * (slots + 1);
      const o = r * perLine + k;
      const user = v[base];
      if (user < 0) sink.add(file, r + 2, `${describeColumn(layout, perLine, k, 0)}: user ${user} is negative (users are 0..U-1)`);
      else if (user > maxUser) {
        maxUser = user;
        maxUserLine = r + 2;
      }
      users[o] = user;
      let present = 0;
      let rowOk = true;
      for (let j = 0; j < slots; j++) {
        const idx = v[base + 1 + j];
        const cat = slotCategories[j];
        if (idx === -1) {
          // method.md §6.1: -1 only marks a missing second top of a variable-length row; §6.5: an optional slot of layout.json
          if (requiredSlots[j]) {
            rowOk = false;
            sink.add(
              file,
              r + 2,
              layout.set.source === 'fhn'
                ? `${describeColumn(layout, perLine, k, j + 1)}: -1 (absent item) is only allowed for the second top of a variable-length set (519/32)`
                : `${describeColumn(layout, perLine, k, j + 1)}: -1 (absent item) in a required slot (layout.json required[${j}] is true)`,
            );
          }
          items[o * slots + j] = -1;
          continue;
        }
        if (idx < 0 || (counts !== undefined && idx >= counts[cat])) {
          rowOk = false;
          const range = counts === undefined ? '' : ` (image_list_${categories[cat]} has ${counts[cat]} items: 0..${counts[cat] - 1})`;
          sink.add(file, r + 2, `${describeColumn(layout, perLine, k, j + 1)}: ${categories[cat]} index ${idx} out of range${range}`);
          continue;
        }
        present++;
        items[o * slots + j] = offsets === undefined ? idx : offsets[cat] + idx;
      }
      if (rowOk && present < minItems) {
        const where = perLine === 1 ? '' : `outfit ${k + 1}: `;
        sink.add(file, r + 2, `${where}${present} item${present === 1 ? '' : 's'}, fewer than the ${minItems} an outfit holds at least (layout.json minItems)`);
      }
    }
  }
  return { file, table: { slots, users, items }, perLine, badLines: csv.badLines, maxUser, maxUserLine };
}

function repeatColumns(columns: string[], times: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < times; k++) out.push(...columns);
  return out;
}

/** "column 3 (bottom)", or for FITB lines "outfit 2, column 3 (bottom)". */
function describeColumn(layout: RowLayout, perLine: number, outfit: number, col: number): string {
  const name = `column ${col + 1} (${layout.columns[col]})`;
  return perLine === 1 ? name : `outfit ${outfit + 1}, ${name}`;
}

function checkUsersInRange(parsed: ParsedTable, numUsers: number, file: string, sink: ProblemSink): void {
  const { users } = parsed.table;
  for (let o = 0; o < users.length; o++) {
    const line = Math.floor(o / parsed.perLine);
    if (parsed.badLines[line]) continue;
    const u = users[o];
    // Negative users were already reported while parsing.
    if (u >= numUsers) {
      const where = parsed.perLine === 1 ? '' : `outfit ${(o % parsed.perLine) + 1}: `;
      sink.add(file, line + 2, `${where}user ${u} out of range: the positives files have users 0..${numUsers - 1}`);
    }
  }
}

/**
 * A negatives file: 10 rows per positive, row r belongs to positive floor(r/10) and carries its
 * user (method.md §6.1).
 */
function readNegatives(file: string, posi: ParsedTable, layout: RowLayout, numUsers: number, required: boolean, sink: ProblemSink): ParsedTable | undefined {
  const parsed = readTupleFile(file, layout, 1, required, sink);
  if (!parsed) return undefined;
  checkUsersInRange(parsed, numUsers, file, sink);
  const nega = parsed.table.users;
  const pos = posi.table.users;
  const expected = pos.length * NEGATIVES_PER_POSITIVE;
  if (nega.length !== expected) {
    sink.add(file, undefined, `${nega.length} rows, expected ${NEGATIVES_PER_POSITIVE} per positive: ${NEGATIVES_PER_POSITIVE} × ${pos.length} = ${expected} (${posi.file})`);
  }
  const n = Math.min(nega.length, expected);
  for (let r = 0; r < n; r++) {
    if (parsed.badLines[r]) continue;
    const p = Math.floor(r / NEGATIVES_PER_POSITIVE);
    if (posi.badLines[p]) continue;
    if (nega[r] !== pos[p] && nega[r] >= 0 && nega[r] < numUsers && pos[p] >= 0) {
      sink.add(file, r + 2, `user ${nega[r]} differs from user ${pos[p]} of its positive (line ${p + 2} of ${posi.file}; row r belongs to positive floor(r/${NEGATIVES_PER_POSITIVE}))`);
    }
  }
  return parsed;
}

interface ParsedCsv {
  /** Data lines (the header excluded). */
  readonly rows: number;
  /** rows × cols, row-major; zero on malformed lines. */
  readonly values: Int32Array;
  readonly badLines: Uint8Array;
}

const NL = 10;
const CR = 13;
const COMMA = 44;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const INT32_MAX = 2147483647;

/**
 * Parses a CSV of integers with exactly one header line, by hand from the bytes. Valid lines
 * cost no allocation; a malformed line is diagnosed by `explainBadLine` and marked in badLines.
 * Trailing blank lines are ignored; a blank line in the middle is an error.
 */
export function parseIntCsv(buf: Buffer, file: string, cols: number, columnNames: string[], sink: { add(file: string, line: number | undefined, detail: string): void }): ParsedCsv {
  let end = buf.length;
  while (end > 0 && (buf[end - 1] === NL || buf[end - 1] === CR || buf[end - 1] === 32 || buf[end - 1] === 9)) end--;
  if (end === 0) {
    sink.add(file, undefined, `empty file (expected a header line "${columnNames.join(',')}" and data rows)`);
    return { rows: 0, values: new Int32Array(0), badLines: new Uint8Array(0) };
  }
  let pos = buf.indexOf(NL);
  pos = pos < 0 || pos >= end ? end : pos + 1;
  checkHeader(buf.toString('utf8', 0, Math.min(pos, end)), file, cols, columnNames, sink);
  let rows = 0;
  if (pos < end) {
    rows = 1;
    for (let i = buf.indexOf(NL, pos); i >= 0 && i < end; i = buf.indexOf(NL, i + 1)) rows++;
  }
  const values = new Int32Array(rows * cols);
  const badLines = new Uint8Array(rows);
  let i = pos;
  for (let r = 0; r < rows; r++) {
    const lineStart = i;
    const base = r * cols;
    let col = 0;
    let ok = false;
    for (;;) {
      let c = i < end ? buf[i] : NL;
      let negative = false;
      if (c === MINUS) {
        negative = true;
        i++;
        c = i < end ? buf[i] : NL;
      }
      let value = 0;
      let digits = 0;
      while (c >= ZERO && c <= NINE) {
        value = value * 10 + (c - ZERO);
        digits++;
        i++;
        c = i < end ? buf[i] : NL;
      }
      if (digits === 0 || digits > 10 || value > INT32_MAX) break;
      values[base + col] = negative ? -value : value;
      col++;
      if (c === COMMA) {
        if (col === cols) break;
        i++;
        continue;
      }
      if (c === CR && (i + 1 >= end || buf[i + 1] === NL)) {
        i++;
        c = i < end ? buf[i] : NL;
      }
      if (c === NL) {
        ok = col === cols;
        i++;
      }
      break;
    }
    if (!ok) {
      const nl = buf.indexOf(NL, lineStart);
      const lineEnd = nl < 0 || nl > end ? end : nl;
      badLines[r] = 1;
      values.fill(0, base, base + cols);
      sink.add(file, r + 2, explainBadLine(buf.toString('utf8', lineStart, lineEnd), cols, columnNames));
      i = lineEnd + 1;
    }
  }
  return { rows, values, badLines };
}

/**
 * Line 1 must be the header naming the columns (case and spaces around names aside). A file
 * whose first line is data has no header: an error, not a silently lost first row.
 */
function checkHeader(line: string, file: string, cols: number, columnNames: string[], sink: { add(file: string, line: number | undefined, detail: string): void }): void {
  const text = line.replace(/^\uFEFF/, '').replace(/\r?\n?$/, '');
  const fields = text.split(',').map((f) => f.trim().toLowerCase());
  const expected = columnNames.join(',');
  if (fields.length === cols && fields.every((f, k) => f === columnNames[k].toLowerCase())) return;
  if (fields.every((f) => /^-?\d+$/.test(f))) {
    sink.add(file, 1, `no header line: line 1 is data ("${clip(text)}"); the file must start with the header "${expected}"`);
  } else {
    sink.add(file, 1, `header "${clip(text)}" is not the expected "${expected}"`);
  }
}

/** The slow path: says what is wrong with a line the fast parser rejected. */
function explainBadLine(line: string, cols: number, columnNames: string[]): string {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return `empty line (expected ${cols} columns: ${columnNames.join(',')})`;
  const fields = text.split(',');
  if (fields.length !== cols) return `expected ${cols} columns (${columnNames.join(',')}), found ${fields.length}: "${clip(text)}"`;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k];
    if (!/^-?\d+$/.test(f)) return `column ${k + 1} (${columnNames[k]}): "${clip(f)}" is not an integer`;
    if (Math.abs(Number(f)) > INT32_MAX) return `column ${k + 1} (${columnNames[k]}): ${clip(f)} is too large`;
  }
  return `malformed line: "${clip(text)}"`;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
