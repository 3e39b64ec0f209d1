/**
 * A catalog and its outfits as every importer sees them, before ids are assigned (the shop
 * format's section of docs/method.md, and method.md §6.6 for the public datasets):
 * the shop format's files (shop.ts), IQON3000 and POG / iFashion all parse into these records, and
 * one writer (write.ts) turns them into a dataset folder that the rest of the project reads.
 *
 * Every record remembers where it came from (`source`: file and 1-based line), so a problem found
 * after parsing (an outfit naming an unknown item, an outfit with one category) is still reported
 * at the line a person can open.
 */

/** Where a record was read: a file and, when the format has lines, its 1-based line. */
export interface RecordSource {
  readonly file: string;
  readonly line?: number;
}

export interface ItemRecord {
  /** The item's id in the source data (any non-empty string, unique in the catalog). */
  readonly id: string;
  /** Category name as the source writes it ("top", "bag", "outerwear", ...). */
  readonly category: string;
  /** Absolute path of the item's image. */
  readonly image: string;
  /** What a person reads ("red cotton shirt"); optional. */
  readonly title?: string;
  /** Any further columns (colour, brand, price...), as strings. */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly source: RecordSource;
}

export interface OutfitRecord {
  /** The user's id in the source data. */
  readonly user: string;
  /** Item ids (ItemRecord.id), in the source's order. */
  readonly items: readonly string[];
  /** When the outfit was made: milliseconds since the epoch, when the source has it. */
  readonly timestamp?: number;
  readonly source: RecordSource;
}

export interface ShopRecords {
  /** What the records were read from (a folder or file), for messages. */
  readonly origin: string;
  readonly items: readonly ItemRecord[];
  readonly outfits: readonly OutfitRecord[];
}
