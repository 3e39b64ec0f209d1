/**
 * Reader of POG / iFashion (method.md §6.6): Chen, Huang, Xu, Guo, Guo, Sun, Li, Pfadler, Zhao and
 * Zhao, "POG: Personalized Outfit Generation for Fashion Recommendation at Alibaba iFashion",
 * KDD 2019 (<https://arxiv.org/abs/1905.01866>); the data is published from
 * <https://github.com/wenyuer/POG> (three comma-separated text files, no header):
 *
 * - `item_data.txt`: `item_id,cate_id,pic_url,title` — id, category (the numeric `cate_id` is kept
 *   as the category name: the release names no categories), title; `pic_url` is not used.
 * - `outfit_data.txt`: `outfit_id,item_id;item_id;...` — the outfit's items.
 * - `user_data.txt`: `user_id,item_id;item_id;...,outfit_id` — one of the user's outfits per line
 *   (several `;`-separated outfit ids are accepted too); the item history (clicks) is not used.
 *
 * The release ships image URLs only: `opts.images` is a folder of images the user downloaded,
 * named `<item_id>.<jpg|jpeg|png|webp>`; nothing is ever downloaded. Only the outfits some user
 * made are imported, and only their items need an image. No file has a date, so outfits carry
 * no timestamp. The files are read line by line (user_data.txt of the release is several GB).
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../../errors.js';
import type { ItemRecord, OutfitRecord, ShopRecords } from './records.js';
import { CATEGORY_NAME, finishRecords, Problems, type ImportFormat, type ReaderOptions } from './reader-kit.js';

export const POG_FILES = { items: 'item_data.txt', outfits: 'outfit_data.txt', users: 'user_data.txt' } as const;

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

/** Calls `fn` with each non-blank line and its 1-based number. */
async function eachLine(file: string, fn: (line: string, n: number) => void): Promise<void> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (line.trim() !== '') fn(line, n);
  }
}

/** The first `k - 1` comma-separated fields and the rest of the line as the last one. */
function splitFields(line: string, k: number): string[] | undefined {
  const fields: string[] = [];
  let start = 0;
  for (let f = 0; f < k - 1; f++) {
    const comma = line.indexOf(',', start);
    if (comma < 0) return undefined;
    fields.push(line.slice(start, comma).trim());
    start = comma + 1;
  }
  fields.push(line.slice(start).trim());
  return fields;
}

const ids = (field: string): string[] => field.split(';').map((s) => s.trim()).filter((s) => s !== '');

/** Reads the POG triple in folder `path` into ShopRecords (layout and fields: the module comment; method.md §6.6). */
export async function readPog(path: string, opts: ReaderOptions = {}): Promise<ShopRecords> {
  const root = resolve(path);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UserError(`POG folder not found: ${root}`);
  for (const name of Object.values(POG_FILES)) {
    if (!existsSync(join(root, name))) throw new UserError(`${join(root, name)}: missing (a POG folder holds ${Object.values(POG_FILES).join(', ')})`);
  }
  if (opts.images === undefined) throw new UserError('POG ships image URLs only: give --images DIR, a folder of the downloaded images named <item_id>.jpg (or .jpeg, .png, .webp)');
  const imageDir = resolve(opts.images);
  if (!existsSync(imageDir) || !statSync(imageDir).isDirectory()) throw new UserError(`image folder not found: ${imageDir}`);
  const images = new Map<string, string>();
  for (const name of readdirSync(imageDir)) {
    const ext = extname(name).toLowerCase();
    const stem = name.slice(0, name.length - ext.length);
    if (IMAGE_EXTENSIONS.includes(ext) && !images.has(stem)) images.set(stem, name);
  }

  const problems = new Problems();
  const usersFile = join(root, POG_FILES.users);
  const outfitsFile = join(root, POG_FILES.outfits);
  const itemsFile = join(root, POG_FILES.items);

  // 1. users: which outfits are imported, and whose they are
  const made: { user: string; outfit: string; line: number }[] = [];
  await eachLine(usersFile, (line, n) => {
    const f = splitFields(line, 3);
    if (!f || f[2].includes(',')) return problems.add(usersFile, n, 'expected 3 fields: user_id,item_id;item_id;...,outfit_id');
    if (f[0] === '') return problems.add(usersFile, n, 'empty user_id');
    const outfitIds = ids(f[2]);
    if (outfitIds.length === 0) return problems.add(usersFile, n, 'empty outfit_id');
    for (const outfit of outfitIds) made.push({ user: f[0], outfit, line: n });
  });
  const wanted = new Set(made.map((m) => m.outfit));

  // 2. outfits: the items of each wanted outfit
  const outfitItems = new Map<string, { items: string[]; line: number }>();
  const seenOutfits = new Set<string>();
  await eachLine(outfitsFile, (line, n) => {
    const f = splitFields(line, 2);
    if (!f || f[1].includes(',')) return problems.add(outfitsFile, n, 'expected 2 fields: outfit_id,item_id;item_id;...');
    if (f[0] === '') return problems.add(outfitsFile, n, 'empty outfit_id');
    if (seenOutfits.has(f[0])) return problems.add(outfitsFile, n, `duplicate outfit_id ${f[0]}`);
    seenOutfits.add(f[0]);
    if (!wanted.has(f[0])) return;
    const items = ids(f[1]);
    if (items.length === 0) return problems.add(outfitsFile, n, `outfit ${f[0]} has no items`);
    outfitItems.set(f[0], { items, line: n });
  });
  const neededItems = new Set<string>();
  for (const { items } of outfitItems.values()) for (const id of items) neededItems.add(id);

  // 3. items: the catalog of the wanted outfits
  const items = new Map<string, ItemRecord>();
  const seenItems = new Set<string>();
  await eachLine(itemsFile, (line, n) => {
    const f = splitFields(line, 4);
    if (!f) return problems.add(itemsFile, n, 'expected 4 fields: item_id,cate_id,pic_url,title');
    const [id, category, , title] = f;
    if (id === '') return problems.add(itemsFile, n, 'empty item_id');
    if (seenItems.has(id)) return problems.add(itemsFile, n, `duplicate item_id ${id}`);
    seenItems.add(id);
    if (!neededItems.has(id)) return;
    if (!CATEGORY_NAME.test(category)) return problems.add(itemsFile, n, `item ${id}: cate_id '${category}' is empty or not [A-Za-z0-9 _-]`);
    const image = images.get(id);
    items.set(id, {
      id,
      category,
      // a missing image keeps the name it should have had, so the image check reports it
      image: join(imageDir, image ?? `${id}.jpg`),
      ...(title === '' ? {} : { title }),
      source: { file: itemsFile, line: n },
    });
  });

  // 4. the users' outfits, checked against the two other files
  const outfits: OutfitRecord[] = [];
  for (const { user, outfit, line } of made) {
    const entry = outfitItems.get(outfit);
    if (!entry) {
      if (!seenOutfits.has(outfit)) problems.add(usersFile, line, `unknown outfit ${outfit} (not in ${POG_FILES.outfits})`);
      continue;
    }
    outfits.push({ user, items: entry.items, source: { file: outfitsFile, line: entry.line } });
  }
  for (const [outfit, entry] of outfitItems) {
    for (const id of entry.items) if (!seenItems.has(id)) problems.add(outfitsFile, entry.line, `outfit ${outfit}: unknown item ${id} (not in ${POG_FILES.items})`);
  }
  return finishRecords(root, items, outfits, opts, problems);
}

export const POG_FORMAT: ImportFormat = {
  name: 'pog',
  describe: 'POG / iFashion (KDD 2019): item_data.txt, outfit_data.txt, user_data.txt; images from --images DIR named by item id',
  read: readPog,
};
