/**
 * The rules every imported catalog obeys, whatever format it came from (method.md §6.4): item ids
 * unique, categories named `[A-Za-z0-9 _-]+` (and among `--categories` when given), every image a
 * decodable JPEG, PNG or WebP, every outfit non-empty, made of known items, no item twice, at least
 * two distinct categories and at most `--max-per-category` items of one category.
 *
 * Problems are collected (up to 20 per file) and thrown together, each at the file and line of the
 * record (ShopRecords keep their source), so one run lists what to fix.
 */
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { DataError } from '../../errors.js';
import { ProblemSink, throwIfProblems } from '../polyvore.js';
import type { ItemRecord, RecordSource, ShopRecords } from './records.js';

/** Items of one category an outfit may hold unless `--max-per-category` says otherwise. */
export const DEFAULT_MAX_PER_CATEGORY = 2;

/** What a category name may contain: it names a file (`image_list_<category>`) and a CSV column. */
export const CATEGORY_NAME = /^[A-Za-z0-9 _-]+$/;

export type ImageFormat = 'jpeg' | 'png' | 'webp';
const IMAGE_FORMATS: readonly string[] = ['jpeg', 'png', 'webp'];

/** Images checked at once (sharp decodes headers on its own thread pool). */
const IMAGE_CHECK_BATCH = 16;

export interface ImportRules {
  /** When given, the only categories allowed (in this order in the layout, method.md §6.4). */
  readonly categories?: readonly string[];
  /** Most items of one category in one outfit (default 2). */
  readonly maxPerCategory: number;
}

/**
 * Checks `records` against the rules; throws DataError(s) naming file and line. Returns the format
 * of every item's image (sharp metadata), keyed by image path, for the writer's file extensions.
 */
export async function validateRecords(records: ShopRecords, rules: ImportRules): Promise<Map<string, ImageFormat>> {
  const sink = new ProblemSink();
  const add = (source: RecordSource, detail: string): void => sink.add(source.file, source.line, detail);
  const allowed = rules.categories ? new Set(rules.categories) : undefined;

  const byId = new Map<string, ItemRecord>();
  /** Ids of items with a problem of their own: outfits naming them are not reported again. */
  const badIds = new Set<string>();
  for (const item of records.items) {
    const first = byId.get(item.id);
    if (first) {
      add(item.source, `duplicate item id "${item.id}" (also on ${where(first.source, item.source)})`);
      continue;
    }
    byId.set(item.id, item);
    if (!CATEGORY_NAME.test(item.category)) {
      add(item.source, `item "${item.id}": category "${item.category}" may only hold letters, digits, spaces, "_" and "-"`);
      badIds.add(item.id);
    } else if (allowed && !allowed.has(item.category)) {
      add(item.source, `item "${item.id}": unknown category "${item.category}" (--categories allows ${[...allowed].join(', ')})`);
      badIds.add(item.id);
    }
  }

  const formats = await checkImages([...byId.values()].filter((it) => !badIds.has(it.id)), (item, detail) => {
    add(item.source, `item "${item.id}": ${detail}`);
    badIds.add(item.id);
  });

  for (const outfit of records.outfits) {
    if (outfit.items.length === 0) {
      add(outfit.source, `empty outfit of user "${outfit.user}" (an outfit needs at least two items)`);
      continue;
    }
    const unknown = outfit.items.filter((id) => !byId.has(id));
    if (unknown.length > 0) {
      add(outfit.source, `unknown item${unknown.length === 1 ? '' : 's'} ${quoteList(unknown)}: no catalog item has ${unknown.length === 1 ? 'this id' : 'these ids'}`);
      continue;
    }
    if (outfit.items.some((id) => badIds.has(id))) continue;
    const problems: string[] = [];
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (const id of outfit.items) (seen.has(id) ? twice : seen).add(id);
    if (twice.size > 0) problems.push(`item${twice.size === 1 ? '' : 's'} ${quoteList([...twice])} twice in one outfit`);
    const perCategory = new Map<string, number>();
    for (const id of seen) {
      const c = (byId.get(id) as ItemRecord).category;
      perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
    }
    if (perCategory.size < 2) {
      problems.push(`outfit holds only category "${[...perCategory.keys()][0]}" (at least two distinct categories are required)`);
    }
    for (const [c, n] of perCategory) {
      if (n > rules.maxPerCategory) problems.push(`${n} items of category "${c}", more than --max-per-category ${rules.maxPerCategory}`);
    }
    if (problems.length > 0) add(outfit.source, problems.join('; '));
  }
  throwIfProblems(sink.finish());
  return formats;
}

/** Reads every image's header with sharp; reports missing, undecodable and unsupported files. */
async function checkImages(items: ItemRecord[], report: (item: ItemRecord, detail: string) => void): Promise<Map<string, ImageFormat>> {
  const { formats, problems } = await inspectImages([...new Set(items.map((it) => it.image))]);
  for (const item of items) {
    const problem = problems.get(item.image);
    if (problem !== undefined) report(item, problem);
  }
  return formats;
}

/**
 * The one image check of every importer: per path, its format when it is a non-empty file sharp
 * reads as JPEG, PNG or WebP, else the problem in words; `concurrency` headers are read at once.
 */
export async function inspectImages(paths: readonly string[], concurrency = IMAGE_CHECK_BATCH): Promise<{ formats: Map<string, ImageFormat>; problems: Map<string, string> }> {
  const formats = new Map<string, ImageFormat>();
  const problems = new Map<string, string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const path = paths[next++];
      const result = await inspectImage(path);
      if (typeof result === 'string') problems.set(path, result);
      else formats.set(path, result.format);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, paths.length)) }, worker));
  return { formats, problems };
}

async function inspectImage(path: string): Promise<{ format: ImageFormat } | string> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return `image ${path} is not a file`;
    if (st.size === 0) return `image ${path} is empty (0 bytes)`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `image ${path} not found` : `image ${path} cannot be read (${code ?? (err as Error).message})`;
  }
  try {
    const meta = await sharp(path).metadata();
    if (!meta.format || !IMAGE_FORMATS.includes(meta.format)) return `image ${path} is ${meta.format ?? 'of an unknown format'}, expected JPEG, PNG or WebP`;
    return { format: meta.format as ImageFormat };
  } catch (err) {
    return `image ${path} cannot be decoded (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`;
  }
}

/** "line 4" in the same file, else "file:4". */
function where(first: RecordSource, here: RecordSource): string {
  const line = first.line === undefined ? '' : `line ${first.line}`;
  return first.file === here.file ? line || first.file : new DataError(first.file, first.line, '').message.replace(/: $/, '');
}

function quoteList(ids: string[]): string {
  const shown = ids.slice(0, 5).map((id) => `"${id}"`);
  return ids.length > 5 ? `${shown.join(', ')}, … (${ids.length} in all)` : shown.join(', ');
}
