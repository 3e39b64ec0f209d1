/**
 * Reader of IQON3000 (method.md §6.6): Song, Han, Li, Chen, Xu and Nie, "GP-BPR: Personalized
 * Compatibility Modeling for Clothing Matching", ACM Multimedia 2019
 * (<https://xuemengsong.github.io/fp506-songA.pdf>); the dataset (folders user/outfit/item) is
 * linked from the GP-BPR code's README
 * (<https://github.com/hanxjing/GP-BPR-Personalized-Compatibility-Modeling-for-Clothing-Matching>).
 *
 * Layout read: `<root>/<user>/<set>/<set>.json` plus the item images `<item id>_m.jpg` beside it
 * (`<root>/IQON3000/` is entered when `<root>` holds it). A user's outfits are their set folders.
 * Fields used, per entry of the JSON's `items`: `itemId` (the item id), `category x color` (the part
 * before `×` is the IQON category, mapped by {@link IQON_CATEGORIES}; the part after it is kept as
 * the `color` attribute), `itemName` (title), `price` (attribute), `imgUrl` (its file name is a
 * fallback image name). Not used: `setUrl`, `likeCount`, `itemUrl`, `breadcrumb`, `brands`,
 * `categorys`, `options`, `colors`, `expressions`. The JSON has no date, so outfits carry no
 * timestamp and the import shuffles them (seeded) before its per-user split.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import type { ItemRecord, OutfitRecord, ShopRecords } from './records.js';
import { finishRecords, Problems, type ImportFormat, type ReaderOptions } from './reader-kit.js';

/**
 * IQON's categories (the Japanese names of `category x color`) → [fine English name, coarse group].
 * Coarse groups: top, bottom, dress, outerwear, shoes, bag, hat, accessory. `null`: not worn
 * (cosmetics, interior, stationery, room wear, swimwear...), such items are left out of outfits.
 */
export const IQON_CATEGORIES: Readonly<Record<string, readonly [fine: string, coarse: string | null]>> = {
  'Tシャツ': ['t-shirt', 'top'],
  'カットソー': ['cut-and-sewn', 'top'],
  'シャツ': ['shirt', 'top'],
  'ブラウス': ['blouse', 'top'],
  'トップス': ['tops', 'top'],
  'タンクトップ': ['tank-top', 'top'],
  'チュニック': ['tunic', 'top'],
  'ニット': ['knit', 'top'],
  'パーカー': ['hoodie', 'top'],
  'カーディガン': ['cardigan', 'top'],
  'ベスト': ['vest', 'top'],
  'ジャケット': ['jacket', 'outerwear'],
  'コート': ['coat', 'outerwear'],
  'ダウンジャケット': ['down-jacket', 'outerwear'],
  'スカート': ['skirt', 'bottom'],
  'ロングスカート': ['long-skirt', 'bottom'],
  'ショートパンツ': ['shorts', 'bottom'],
  'ロングパンツ': ['long-pants', 'bottom'],
  'パンツ': ['pants', 'bottom'],
  'ワンピース': ['dress', 'dress'],
  'スニーカー': ['sneakers', 'shoes'],
  'パンプス': ['pumps', 'shoes'],
  'ブーツ': ['boots', 'shoes'],
  'サンダル': ['sandals', 'shoes'],
  '靴': ['shoes', 'shoes'],
  'バッグ': ['bag', 'bag'],
  'ハンドバッグ': ['handbag', 'bag'],
  'ショルダーバッグ': ['shoulder-bag', 'bag'],
  'トートバッグ': ['tote-bag', 'bag'],
  'クラッチバッグ': ['clutch-bag', 'bag'],
  'ボストンバッグ': ['boston-bag', 'bag'],
  'リュック': ['backpack', 'bag'],
  '帽子': ['hat', 'hat'],
  'ハット': ['brimmed-hat', 'hat'],
  'キャップ': ['cap', 'hat'],
  'ニット帽': ['knit-hat', 'hat'],
  'アクセサリー': ['accessory', 'accessory'],
  'ネックレス': ['necklace', 'accessory'],
  'ピアス': ['earrings', 'accessory'],
  'ブレスレット': ['bracelet', 'accessory'],
  'リング': ['ring', 'accessory'],
  'ブローチ': ['brooch', 'accessory'],
  'ヘアアクセサリー': ['hair-accessory', 'accessory'],
  'ベルト': ['belt', 'accessory'],
  'ストール': ['stole', 'accessory'],
  '手袋': ['gloves', 'accessory'],
  'サングラス': ['sunglasses', 'accessory'],
  'メガネ': ['glasses', 'accessory'],
  '腕時計': ['watch', 'accessory'],
  'ファッション小物': ['fashion-goods', 'accessory'],
  'レッグウェア': ['legwear', 'accessory'],
  '小物': ['small-goods', null],
  '財布': ['wallet', null],
  '傘': ['umbrella', null],
  'アンダーウェア': ['underwear', null],
  'ルームウェア': ['room-wear', null],
  'ルームシューズ': ['room-shoes', null],
  '水着': ['swimwear', null],
  '浴衣': ['yukata', null],
  'コスメ': ['cosmetics', null],
  'ネイル': ['nail', null],
  'フレグランス': ['fragrance', null],
  'ボディケア': ['body-care', null],
  'インテリア': ['interior', null],
  'ステーショナリー': ['stationery', null],
};

/** Image file names tried in an outfit folder, in order (then the file name of `imgUrl`). */
function imageCandidates(id: string): string[] {
  return [`${id}_m.jpg`, `${id}.jpg`, `${id}.jpeg`, `${id}.png`, `${id}.webp`];
}

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

function subfolders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byName);
}

/** UTF-8 text, or Shift_JIS when the bytes are not valid UTF-8 (some IQON tools wrote it). */
function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return new TextDecoder('shift_jis').decode(bytes);
  }
}

/** Reads an IQON3000 folder into ShopRecords (layout and fields: the module comment; method.md §6.6). */
export async function readIqon3000(path: string, opts: ReaderOptions = {}): Promise<ShopRecords> {
  let root = resolve(path);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UserError(`IQON3000 folder not found: ${root}`);
  if (existsSync(join(root, 'IQON3000')) && statSync(join(root, 'IQON3000')).isDirectory()) root = join(root, 'IQON3000');
  const level = opts.iqonCategories ?? 'coarse';
  if (level !== 'coarse' && level !== 'fine') throw new UserError(`iqonCategories must be 'coarse' or 'fine', got '${String(level)}'`);
  const problems = new Problems();
  const items = new Map<string, ItemRecord>();
  const outfits: OutfitRecord[] = [];
  const notWorn = new Map<string, number>();
  const unknown = new Map<string, number>();
  /** Items whose image file was seen in one of their outfit folders. */
  const found = new Set<string>();
  const users = subfolders(root);
  if (users.length === 0) throw new UserError(`${root}: no user folders (expected <user>/<set>/<set>.json)`);
  for (const user of users) {
    for (const set of subfolders(join(root, user))) {
      const dir = join(root, user, set);
      const file = join(dir, `${set}.json`);
      const files = new Set(readdirSync(dir));
      if (!files.has(`${set}.json`)) {
        problems.add(dir, undefined, `no ${set}.json in the outfit folder`);
        continue;
      }
      const outfit = readOutfitJson(file, problems);
      if (!outfit) continue;
      const ids: string[] = [];
      outfit.items.forEach((entry, k) => {
        const line = outfit.lines[k];
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
          problems.add(file, line, `items[${k}] is not an object`);
          return;
        }
        const item = entry as Record<string, unknown>;
        const rawId = item.itemId;
        if (!((typeof rawId === 'string' && rawId.trim() !== '') || (typeof rawId === 'number' && Number.isFinite(rawId)))) {
          problems.add(file, line, `items[${k}]: missing or empty itemId`);
          return;
        }
        const id = String(rawId).trim();
        const categoryColor = item['category x color'];
        const [category, color] = typeof categoryColor === 'string' ? categoryColor.split('×').map((s) => s.trim()) : [];
        if (!category) {
          problems.add(file, line, `item ${id}: missing or empty 'category x color'`);
          return;
        }
        const mapped = IQON_CATEGORIES[category];
        if (!mapped) {
          unknown.set(category, (unknown.get(category) ?? 0) + 1);
          return;
        }
        if (mapped[1] === null) {
          notWorn.set(category, (notWorn.get(category) ?? 0) + 1);
          return;
        }
        const name = level === 'fine' ? mapped[0] : mapped[1];
        ids.push(id);
        const known = items.get(id);
        const image = found.has(id) ? undefined : findImage(id, item.imgUrl, files);
        if (image) found.add(id);
        if (known) {
          // the same item in another outfit: the first image found on disk serves every outfit
          if (image) items.set(id, { ...known, image: join(dir, image) });
          return;
        }
        const attributes: Record<string, string> = { source_category: category };
        if (color) attributes.color = color;
        if ((typeof item.price === 'number' && Number.isFinite(item.price)) || (typeof item.price === 'string' && item.price.trim() !== '')) {
          attributes.price = String(item.price).trim();
        }
        const title = typeof item.itemName === 'string' && item.itemName.trim() !== '' ? item.itemName.trim() : undefined;
        items.set(id, {
          id,
          category: name,
          // when no candidate is on disk, the expected name: the image check reports it missing
          image: join(dir, image ?? imageCandidates(id)[0]),
          ...(title === undefined ? {} : { title }),
          attributes,
          source: { file, line },
        });
      });
      outfits.push({ user, items: ids, source: { file, line: 1 } });
    }
  }
  const note = opts.note ?? (() => undefined);
  const list = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} (${n})`).join(', ');
  if (notWorn.size > 0) note(`${sum(notWorn)} items of categories not worn left out of their outfits: ${list(notWorn)}`);
  if (unknown.size > 0) note(`${sum(unknown)} items of categories not in the IQON3000 table left out of their outfits: ${list(unknown)}`);
  return finishRecords(root, items, outfits, opts, problems);
}

function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

function findImage(id: string, imgUrl: unknown, files: ReadonlySet<string>): string | undefined {
  const fromUrl = typeof imgUrl === 'string' && imgUrl !== '' ? basename(imgUrl.split(/[?#]/)[0]) : undefined;
  return [...imageCandidates(id), ...(fromUrl ? [fromUrl] : [])].find((name) => files.has(name));
}

/** An outfit JSON's `items` and the 1-based line where each entry starts; problems go to `problems`. */
function readOutfitJson(file: string, problems: Problems): { items: unknown[]; lines: number[] } | undefined {
  let text: string;
  try {
    text = decodeText(readFileSync(file));
  } catch (err) {
    problems.add(file, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
  const scan = scanJson(text);
  if (scan.error) {
    problems.add(file, scan.error.line, `malformed JSON: ${scan.error.message}`);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // what the line scan lets through and JSON.parse does not (a bad escape): no line known
    problems.add(file, undefined, `malformed JSON: ${(err as Error).message}`);
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.add(file, 1, 'expected a JSON object with an "items" array');
    return undefined;
  }
  const items = (value as Record<string, unknown>).items;
  if (!Array.isArray(items)) {
    problems.add(file, scan.itemsLine ?? 1, items === undefined ? 'missing "items"' : '"items" is not an array');
    return undefined;
  }
  return { items, lines: scan.itemLines };
}

interface JsonScan {
  error?: { line: number; message: string };
  /** Line of the root object's "items" key. */
  itemsLine?: number;
  /** Line where each element of the root object's "items" array starts. */
  itemLines: number[];
}

/**
 * A JSON syntax check that knows lines (JSON.parse gives at most a character offset): finds the
 * line of the first error, and the line of each entry of the root's "items" array for messages.
 */
export function scanJson(text: string): JsonScan {
  let i = 0;
  let line = 1;
  const itemLines: number[] = [];
  let itemsLine: number | undefined;
  class Stop extends Error {}
  const fail = (message: string): never => {
    throw new Stop(message);
  };
  const ws = (): void => {
    while (i < text.length) {
      const c = text[i];
      if (c === '\n') line++;
      else if (c !== ' ' && c !== '\t' && c !== '\r') return;
      i++;
    }
  };
  const str = (): string => {
    const start = ++i;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') return text.slice(start, i++);
      if (c === '\\') i++;
      else if (c === '\n' || c < ' ') fail('control character inside a string');
      i++;
    }
    return fail('unterminated string');
  };
  const value = (depth: number, items: boolean): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name, found ${shown(text[i])}`);
        const keyLine = line;
        const key = str();
        ws();
        if (text[i] !== ':') fail(`expected ':' after "${key}", found ${shown(text[i])}`);
        i++;
        const isItems = depth === 0 && key === 'items';
        if (isItems) itemsLine = keyLine;
        value(depth + 1, isItems);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail(`expected ',' or '}', found ${shown(text[i])}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        ws();
        if (items) itemLines.push(line);
        value(depth + 1, false);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail(`expected ',' or ']', found ${shown(text[i])}`);
      }
    }
    if (c === '"') return void str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) fail(`unexpected ${shown(c)}`);
    else i += m[0].length;
  };
  try {
    value(0, false);
    ws();
    if (i < text.length) fail(`unexpected ${shown(text[i])} after the JSON value`);
  } catch (err) {
    if (err instanceof Stop) return { error: { line, message: err.message }, itemLines };
    throw err;
  }
  return { itemLines, ...(itemsLine === undefined ? {} : { itemsLine }) };
}

function shown(c: string | undefined): string {
  return c === undefined ? 'the end of the file' : JSON.stringify(c);
}

export const IQON_FORMAT: ImportFormat = {
  name: 'iqon3000',
  describe: 'IQON3000 (GP-BPR, ACM MM 2019): <root>/<user>/<set>/<set>.json with the item images beside it',
  read: readIqon3000,
};
