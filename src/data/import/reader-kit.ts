/**
 * What the readers of the public datasets share (method.md §6.6): the registry entry each exports,
 * their options, the problem collector (every problem with file:line, reported together), the
 * image check, and the cleaning that turns a published outfit list into outfits the shop import
 * accepts.
 */
import { DataError, DataErrors, UserError } from '../../errors.js';
import type { ItemRecord, OutfitRecord, RecordSource, ShopRecords } from './records.js';
import { CATEGORY_NAME, inspectImages } from './validate.js';

export { CATEGORY_NAME };

/** Options a reader understands; each reader documents the ones it uses. */
export interface ReaderOptions {
  /** Folder of the item images, when the release ships URLs instead of files (POG: `<item id>.<jpg|jpeg|png|webp>`). */
  readonly images?: string;
  /** Most items of one category an outfit may hold (the import's `--max-per-category`, default 2); outfits with more are dropped. */
  readonly maxPerCategory?: number;
  /** An item whose image is missing or undecodable: `error` (default, exit 1) or `skip` (the item and its outfits are dropped, counted in a note). */
  readonly missingImages?: 'error' | 'skip';
  /** IQON3000 category names: `coarse` (default, 8 garment groups) or `fine` (one English name per IQON category). */
  readonly iqonCategories?: 'coarse' | 'fine';
  /** Receives one line per cleaning step that dropped something (what and how many). */
  readonly note?: (line: string) => void;
  /** Images checked at once (default 8). */
  readonly concurrency?: number;
}

/** One `outfitrec data import --format <name>` entry. */
export interface ImportFormat {
  readonly name: string;
  /** One line for `--help`. */
  readonly describe: string;
  read(path: string, opts?: ReaderOptions): Promise<ShopRecords>;
}

/** Problems kept before the rest are only counted. */
const MAX_LISTED = 50;

/** Collects problems from every file, so one run reports all of them (capped at {@link MAX_LISTED} listed). */
export class Problems {
  private readonly listed: DataError[] = [];
  private count = 0;

  add(file: string, line: number | undefined, detail: string): void {
    this.count++;
    if (this.listed.length < MAX_LISTED) this.listed.push(new DataError(file, line, detail));
  }

  at(source: RecordSource, detail: string): void {
    this.add(source.file, source.line, detail);
  }

  get size(): number {
    return this.count;
  }

  /** Throws what was collected: one DataError, or DataErrors with a last line counting the unlisted ones. */
  throwIfAny(origin: string): void {
    if (this.count === 0) return;
    if (this.count === 1) throw this.listed[0];
    const errors = [...this.listed];
    if (this.count > errors.length) errors.push(new DataError(origin, undefined, `${this.count - errors.length} more problems not listed`));
    throw new DataErrors(errors);
  }
}

/** The problem of each item whose image is missing, empty or undecodable, by item id (validate.ts's check). */
export async function checkImages(items: readonly { id: string; image: string }[], concurrency = 8): Promise<Map<string, string>> {
  const { problems } = await inspectImages([...new Set(items.map((it) => it.image))], concurrency);
  const bad = new Map<string, string>();
  for (const item of items) {
    const problem = problems.get(item.image);
    if (problem !== undefined) bad.set(item.id, problem);
  }
  return bad;
}

/**
 * The last steps every reader shares (method.md §6.6): structural problems are thrown first; the
 * outfits are cleaned ({@link cleanOutfits}); the images of the items left are checked — a bad one
 * is a problem at the item's source line, or with `missingImages: 'skip'` the item and its outfits
 * are dropped — and the records come back only when no problem was found.
 */
export async function finishRecords(
  origin: string,
  items: ReadonlyMap<string, ItemRecord>,
  outfits: readonly OutfitRecord[],
  opts: ReaderOptions,
  problems: Problems,
): Promise<ShopRecords> {
  problems.throwIfAny(origin);
  let records = cleanOutfits(origin, items, outfits, new Set(), opts);
  const bad = await checkImages(records.items, opts.concurrency);
  const skipped = new Set<string>();
  for (const item of records.items) {
    const problem = bad.get(item.id);
    if (problem === undefined) continue;
    if (opts.missingImages === 'skip') skipped.add(item.id);
    else problems.at(item.source, `item ${item.id}: ${problem}`);
  }
  problems.throwIfAny(origin);
  if (skipped.size > 0) records = cleanOutfits(origin, items, records.outfits, skipped, opts);
  if (records.outfits.length === 0) throw new DataError(origin, undefined, 'no outfit is left to import (see the notes above for what was dropped)');
  return records;
}

/**
 * Makes published outfits importable (method.md §6.6): an item listed twice in one outfit is kept
 * once; outfits holding a skipped item, fewer than two categories, or more than `maxPerCategory`
 * items of one category are dropped; the catalog keeps the items some remaining outfit uses, in
 * their first-seen order. Each step that dropped something sends one note.
 */
export function cleanOutfits(
  origin: string,
  items: ReadonlyMap<string, ItemRecord>,
  outfits: readonly OutfitRecord[],
  skipped: ReadonlySet<string>,
  opts: ReaderOptions,
): ShopRecords {
  const max = opts.maxPerCategory ?? 2;
  if (!Number.isInteger(max) || max < 1) throw new UserError(`maxPerCategory must be a positive integer, got ${max}`);
  let repeats = 0;
  let withSkipped = 0;
  let oneCategory = 0;
  let overfull = 0;
  const kept: OutfitRecord[] = [];
  const used = new Set<string>();
  for (const outfit of outfits) {
    const ids = [...new Set(outfit.items)];
    repeats += outfit.items.length - ids.length;
    if (ids.some((id) => skipped.has(id))) {
      withSkipped++;
      continue;
    }
    const perCategory = new Map<string, number>();
    for (const id of ids) {
      const category = items.get(id)?.category;
      if (category === undefined) throw new Error(`internal: outfit at ${outfit.source.file}:${outfit.source.line} names item ${id} the reader did not keep`);
      perCategory.set(category, (perCategory.get(category) ?? 0) + 1);
    }
    if (perCategory.size < 2) {
      oneCategory++;
      continue;
    }
    if (Math.max(...perCategory.values()) > max) {
      overfull++;
      continue;
    }
    for (const id of ids) used.add(id);
    kept.push(ids.length === outfit.items.length ? outfit : { ...outfit, items: ids });
  }
  const note = opts.note ?? (() => undefined);
  if (repeats > 0) note(`${repeats} repeated item${repeats === 1 ? '' : 's'} inside an outfit kept once`);
  if (withSkipped > 0) note(`${withSkipped} outfit${withSkipped === 1 ? '' : 's'} dropped: an item's image is missing or undecodable (${skipped.size} item${skipped.size === 1 ? '' : 's'} skipped)`);
  if (oneCategory > 0) note(`${oneCategory} outfit${oneCategory === 1 ? '' : 's'} dropped: fewer than two categories`);
  if (overfull > 0) note(`${overfull} outfit${overfull === 1 ? '' : 's'} dropped: more than ${max} items of one category`);
  const catalog = [...items.values()].filter((item) => used.has(item.id));
  return { origin, items: catalog, outfits: kept };
}
