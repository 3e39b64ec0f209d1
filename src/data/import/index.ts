/**
 * `outfitrec data import` as a library call (method.md §6.4): a format's parser turns its files
 * into ShopRecords, validate.ts checks them against the rules every format obeys, write.ts writes
 * the dataset folder. Formats register in IMPORT_FORMATS by name.
 */
import { UserError } from '../../errors.js';
import { IQON_FORMAT } from './iqon.js';
import { POG_FORMAT } from './pog.js';
import type { ReaderOptions } from './reader-kit.js';
import type { ShopRecords } from './records.js';
import { parseShopFolder } from './shop.js';
import { DEFAULT_MAX_PER_CATEGORY, validateRecords } from './validate.js';
import { checkWriteOptions, DEFAULT_NEW_USERS, writeDataset, type ImportSummary } from './write.js';

/** A source format: reads a folder (or file) into records, throwing DataError(s) naming file and line. */
export type ImportParser = (path: string, opts: ReaderOptions) => ShopRecords | Promise<ShopRecords>;

/** Format name → parser (`--format`): the shop format (§6.4) and the public datasets (method.md §6.6). */
export const IMPORT_FORMATS: Readonly<Record<string, ImportParser>> = {
  shop: (path) => parseShopFolder(path),
  [IQON_FORMAT.name]: (path, opts) => IQON_FORMAT.read(path, opts),
  [POG_FORMAT.name]: (path, opts) => POG_FORMAT.read(path, opts),
};

export interface ImportOptions {
  readonly out: string;
  /** A key of IMPORT_FORMATS (default `shop`). */
  readonly format?: string;
  /** Set name of the warm users (default `shop`; new users go to `<set>-new`). */
  readonly set?: string;
  readonly seed?: number;
  /** Share of the users with ≥ 3 outfits that become new users (default 0.1). */
  readonly newUsers?: number;
  /** Allowed categories, in layout order. */
  readonly categories?: readonly string[];
  /** Most items of one category in an outfit (default 2). */
  readonly maxPerCategory?: number;
  /** What the public datasets' readers take besides (method.md §6.6): POG's image folder, skipping missing images, IQON's category names, notes on what was dropped. */
  readonly reader?: Omit<ReaderOptions, 'maxPerCategory'>;
}

/** Reads `source` in `format`, checks it, writes the dataset folder `out`; nothing is written when a check fails. */
export async function importDataset(source: string, opts: ImportOptions): Promise<ImportSummary> {
  const format = opts.format ?? 'shop';
  const parser = Object.hasOwn(IMPORT_FORMATS, format) ? IMPORT_FORMATS[format] : undefined;
  if (!parser) throw new UserError(`--format '${format}': not one of ${Object.keys(IMPORT_FORMATS).join(', ')}`);
  const maxPerCategory = opts.maxPerCategory ?? DEFAULT_MAX_PER_CATEGORY;
  if (!(Number.isInteger(maxPerCategory) && maxPerCategory >= 1)) throw new UserError(`--max-per-category: ${maxPerCategory} is not a positive integer`);
  const target = { out: opts.out, set: opts.set ?? 'shop', newUsers: opts.newUsers ?? DEFAULT_NEW_USERS };
  // bad options and a taken --out are refused before the (possibly long) image checks
  checkWriteOptions(target);
  const records = await parser(source, { ...opts.reader, maxPerCategory });
  const imageFormats = await validateRecords(records, { categories: opts.categories, maxPerCategory });
  return writeDataset(records, { ...target, seed: opts.seed ?? 0, categories: opts.categories, imageFormats });
}

export type { ImportSummary, DatasetLayout, SetSummary } from './write.js';
export type { ShopRecords, ItemRecord, OutfitRecord, RecordSource } from './records.js';
export type { ReaderOptions } from './reader-kit.js';
