/**
 * Reader of the shop format (method.md §6.4): a folder with `items.csv` and either `outfits.csv` or
 * `outfits.jsonl`, parsed into ShopRecords. This file checks what only the files can get wrong
 * (header, columns, empty fields, JSON syntax, timestamps); what any format can get wrong (duplicate
 * ids, unknown items and categories, images, outfit composition) is checked for every importer in
 * validate.ts.
 *
 * CSV is RFC 4180 (quoted fields, quoted newlines) read with csv-parse; every record keeps the
 * 1-based line it starts on, so problems are reported as `file:line: message`, collected (up to 20
 * per file, like the Polyvore reader) before giving up.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../errors.js';
import { ProblemSink, throwIfProblems } from '../polyvore.js';
import type { ItemRecord, OutfitRecord, ShopRecords } from './records.js';

export const ITEMS_FILE = 'items.csv';
export const OUTFITS_CSV = 'outfits.csv';
export const OUTFITS_JSONL = 'outfits.jsonl';

/** Separator of item ids in the `items` column of outfits.csv. */
export const ITEM_SEPARATOR = ';';

const ITEM_COLUMNS = ['id', 'category', 'image'] as const;

/** A CSV record with the 1-based line it starts on. */
interface CsvRow {
  readonly line: number;
  readonly fields: string[];
}

/** Parses a shop folder into records; throws DataError(s) naming file and line, or a UserError for the folder itself. */
export function parseShopFolder(folder: string): ShopRecords {
  const root = resolve(folder);
  if (!existsSync(root)) throw new UserError(`${root}: shop folder not found (expected a folder holding ${ITEMS_FILE} and ${OUTFITS_CSV} or ${OUTFITS_JSONL})`);
  if (!statSync(root).isDirectory()) throw new UserError(`${root}: is a file, expected a shop folder holding ${ITEMS_FILE} and ${OUTFITS_CSV} or ${OUTFITS_JSONL}`);
  const sink = new ProblemSink();
  const items = readItems(join(root, ITEMS_FILE), root, sink);
  const csv = join(root, OUTFITS_CSV);
  const jsonl = join(root, OUTFITS_JSONL);
  let outfits: OutfitRecord[] = [];
  if (existsSync(csv) && existsSync(jsonl)) {
    sink.add(root, undefined, `both ${OUTFITS_CSV} and ${OUTFITS_JSONL} exist: keep exactly one`);
  } else if (existsSync(csv)) {
    outfits = readOutfitsCsv(csv, sink);
  } else if (existsSync(jsonl)) {
    outfits = readOutfitsJsonl(jsonl, sink);
  } else {
    sink.add(root, undefined, `no ${OUTFITS_CSV} or ${OUTFITS_JSONL} (one of them is required: the outfits, one per line)`);
  }
  throwIfProblems(sink.finish());
  return { origin: root, items, outfits };
}

/** A file's text; a read error (a directory, unreadable) is a problem of the file. */
function readText(file: string, sink: ProblemSink): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'missing (required)' : e.code === 'EISDIR' ? 'is a directory, expected a file' : e.code === 'EACCES' ? 'permission denied (EACCES)' : `cannot read: ${e.code ?? e.message}`;
    sink.add(file, undefined, why);
    return undefined;
  }
}

/** RFC 4180 records of a CSV file with their starting lines; blank lines are skipped. */
function readCsv(file: string, sink: ProblemSink): CsvRow[] | undefined {
  const text = readText(file, sink);
  if (text === undefined) return undefined;
  let records: Array<{ record: string[]; info: { lines: number; empty_lines: number } }>;
  try {
    records = parse(text, { info: true, bom: true, skip_empty_lines: true, relax_column_count: true }) as unknown as typeof records;
  } catch (err) {
    const e = err as Error & { lines?: number };
    sink.add(file, e.lines, `not valid CSV: ${e.message.replace(/ at line \d+| on line \d+/, '')}`);
    return undefined;
  }
  // info.lines is the line a record ends on; it starts after the previous record and any blank lines.
  const rows: CsvRow[] = [];
  let previousEnd = 0;
  let previousEmpty = 0;
  for (const { record, info } of records) {
    rows.push({ line: previousEnd + 1 + (info.empty_lines - previousEmpty), fields: record });
    previousEnd = info.lines;
    previousEmpty = info.empty_lines;
  }
  return rows;
}

/**
 * The header's column positions. Names are trimmed; `required` must all be present, no name twice.
 * Returns undefined (after reporting) when the header is missing or wrong.
 */
function readHeader(file: string, rows: CsvRow[], required: readonly string[], sink: ProblemSink): Map<string, number> | undefined {
  const expected = `header line with the columns ${required.join(', ')}`;
  if (rows.length === 0) {
    sink.add(file, undefined, `empty file (expected a ${expected})`);
    return undefined;
  }
  const header = rows[0];
  const names = header.fields.map((f) => f.trim());
  const columns = new Map<string, number>();
  let ok = true;
  names.forEach((name, k) => {
    if (columns.has(name)) {
      sink.add(file, header.line, `header: column "${name}" appears twice`);
      ok = false;
    }
    columns.set(name, k);
  });
  const missing = required.filter((c) => !columns.has(c));
  if (missing.length > 0) {
    const looksLikeData = !names.some((n) => (required as readonly string[]).includes(n.toLowerCase()));
    sink.add(
      file,
      header.line,
      looksLikeData
        ? `no header line: line ${header.line} is "${clip(header.fields.join(','))}"; the file must start with a ${expected}`
        : `header "${clip(header.fields.join(','))}" lacks the column${missing.length === 1 ? '' : 's'} ${missing.join(', ')} (required: ${required.join(', ')})`,
    );
    return undefined;
  }
  return ok ? columns : undefined;
}

/** Checks a data row's field count against the header; reports and returns false on a mismatch. */
function rowFits(file: string, row: CsvRow, width: number, sink: ProblemSink): boolean {
  if (row.fields.length === width) return true;
  sink.add(file, row.line, `${row.fields.length} fields, the header has ${width}: "${clip(row.fields.join(','))}"`);
  return false;
}

function readItems(file: string, root: string, sink: ProblemSink): ItemRecord[] {
  const rows = readCsv(file, sink);
  if (!rows) return [];
  const columns = readHeader(file, rows, ITEM_COLUMNS, sink);
  if (!columns) return [];
  const header = rows[0].fields.map((f) => f.trim());
  const width = header.length;
  const id = columns.get('id') as number;
  const category = columns.get('category') as number;
  const image = columns.get('image') as number;
  const title = columns.get('title');
  const attributeColumns = header.map((name, k) => ({ name, k })).filter(({ name }) => !['id', 'category', 'image', 'title'].includes(name));
  const items: ItemRecord[] = [];
  for (const row of rows.slice(1)) {
    if (!rowFits(file, row, width, sink)) continue;
    const f = row.fields.map((x) => x.trim());
    const empty = (['id', 'category', 'image'] as const).filter((c) => f[columns.get(c) as number] === '');
    if (empty.length > 0) {
      sink.add(file, row.line, `empty ${empty.join(', ')} (id, category and image are required)`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const { name, k } of attributeColumns) if (f[k] !== '') attributes[name] = f[k];
    const itemTitle = title === undefined ? '' : f[title];
    items.push({
      id: f[id],
      category: f[category],
      image: isAbsolute(f[image]) ? f[image] : resolve(root, f[image]),
      ...(itemTitle !== '' ? { title: itemTitle } : {}),
      ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
      source: { file, line: row.line },
    });
  }
  return items;
}

/**
 * A timestamp as milliseconds since the epoch: a finite number, or an ISO-8601 date string
 * (YYYY-MM-DD, optionally with a time). Undefined when it is neither.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

function readOutfitsCsv(file: string, sink: ProblemSink): OutfitRecord[] {
  const rows = readCsv(file, sink);
  if (!rows) return [];
  const columns = readHeader(file, rows, ['user', 'items'], sink);
  if (!columns) return [];
  const extra = [...columns.keys()].filter((c) => !['user', 'items', 'timestamp'].includes(c));
  if (extra.length > 0) {
    sink.add(file, rows[0].line, `header: unknown column${extra.length === 1 ? '' : 's'} ${extra.map((c) => `"${c}"`).join(', ')} (allowed: user, items, timestamp)`);
    return [];
  }
  const width = rows[0].fields.length;
  const user = columns.get('user') as number;
  const items = columns.get('items') as number;
  const time = columns.get('timestamp');
  const outfits: OutfitRecord[] = [];
  for (const row of rows.slice(1)) {
    if (!rowFits(file, row, width, sink)) continue;
    const u = row.fields[user].trim();
    if (u === '') {
      sink.add(file, row.line, 'empty user');
      continue;
    }
    const raw = time === undefined ? '' : row.fields[time].trim();
    const timestamp = raw === '' ? undefined : parseTimestamp(raw);
    if (raw !== '' && timestamp === undefined) {
      sink.add(file, row.line, `timestamp "${clip(raw)}" is neither milliseconds since the epoch nor an ISO-8601 date`);
      continue;
    }
    const ids = row.fields[items]
      .split(ITEM_SEPARATOR)
      .map((s) => s.trim())
      .filter((s) => s !== '');
    outfits.push({ user: u, items: ids, ...(timestamp !== undefined ? { timestamp } : {}), source: { file, line: row.line } });
  }
  return outfits;
}

function readOutfitsJsonl(file: string, sink: ProblemSink): OutfitRecord[] {
  const text = readText(file, sink);
  if (text === undefined) return [];
  const outfits: OutfitRecord[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const s = lines[i].trim();
    if (s === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(s);
    } catch (err) {
      sink.add(file, line, `not valid JSON: ${(err as Error).message}`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      sink.add(file, line, 'expected a JSON object {"user": …, "items": [...]}');
      continue;
    }
    const o = value as Record<string, unknown>;
    const problems: string[] = [];
    const unknownKeys = Object.keys(o).filter((k) => !['user', 'items', 'timestamp'].includes(k));
    if (unknownKeys.length > 0) problems.push(`unknown field${unknownKeys.length === 1 ? '' : 's'} ${unknownKeys.map((k) => `"${k}"`).join(', ')} (allowed: user, items, timestamp)`);
    if (!isId(o.user)) problems.push('"user" must be a non-empty string or a number');
    if (!Array.isArray(o.items) || !o.items.every(isId)) problems.push('"items" must be an array of item ids (non-empty strings or numbers)');
    const timestamp = o.timestamp === undefined ? undefined : parseTimestamp(o.timestamp);
    if (o.timestamp !== undefined && timestamp === undefined) problems.push('"timestamp" must be milliseconds since the epoch or an ISO-8601 date string');
    if (problems.length > 0) {
      sink.add(file, line, problems.join('; '));
      continue;
    }
    outfits.push({
      user: String(o.user).trim(),
      items: (o.items as Array<string | number>).map((x) => String(x).trim()),
      ...(timestamp !== undefined ? { timestamp } : {}),
      source: { file, line },
    });
  }
  return outfits;
}

function isId(x: unknown): x is string | number {
  return (typeof x === 'string' && x.trim() !== '') || (typeof x === 'number' && Number.isFinite(x));
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
