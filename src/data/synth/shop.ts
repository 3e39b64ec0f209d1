/**
 * `outfitrec data synth --preset shop`: an example shop in the shop format of method.md §6.4 (the
 * input of `outfitrec data import`), drawn from a known ground truth (shop-model.ts; method.md §6.3
 * "Shop preset"):
 *
 *   <out>/items.csv          id,category,image,title,type,colour,pattern (RFC 4180; titles may hold commas and quotes)
 *   <out>/outfits.jsonl      {"user":"cust-0042","items":["SKU-000123",...],"timestamp":<ms>} per line, oldest first
 *   <out>/images/<id>.png    28×28 RGB
 *   <out>/oracle/shop.json   the truth: knobs, styles, users (style weights, shape probabilities)
 *   <out>/oracle/items.tsv   the truth per item: category, type, colour, pattern, ε, picture
 *
 * Everything random flows from the seed through labelled forks, so the same seed and options give
 * byte-identical files. The folder is built next to `out` and renamed into place at the end: a
 * failed or killed run leaves nothing under `out`.
 */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { DataError, UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { csvLine } from '../../util/csv.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/fs.js';
import { checkOutAndSeed } from './generate.js';
import { writeItemImages } from './images.js';
import { PALETTE } from './model.js';
import { shopPictureSource, typeIndexOf } from './shop-images.js';
import {
  DEFAULT_SHOP_KNOBS,
  PATTERNS,
  PATTERN_SHARES,
  SHOP_CATEGORIES,
  ShopTruth,
  drawShopStyles,
  drawShopUser,
  type ShopItem,
  type ShopKnobs,
  type ShopStyle,
  type ShopUser,
} from './shop-model.js';

export const SHOP_DEFAULT_USERS = 200;
export const SHOP_MAX_USERS = 20000;
/** Mean outfits per user (log-normal activity around it, at least 2). */
export const SHOP_OUTFITS_PER_USER = 12;
export const SHOP_TRUTH_FORMAT = 'outfitrec-shop-truth';
export const SHOP_TRUTH_VERSION = 1;
export const ITEMS_CSV_HEADER = ['id', 'category', 'image', 'title', 'type', 'colour', 'pattern'] as const;

/** The first outfit day (2025-01-01 UTC); users start within 240 days of it. */
const EPOCH = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;
/** Title endings a few items get, so titles hold commas and quotes as real ones do. */
const TITLE_ENDINGS = [', new season', ', organic cotton', ' "weekend" edition', ', limited edition, numbered'];

export interface ShopOptions {
  out: string;
  /** Default 1. */
  seed?: number;
  /** Default SHOP_DEFAULT_USERS. */
  users?: number;
  /** Overrides of the truth's knobs. */
  knobs?: Partial<ShopKnobs>;
  log?: (line: string) => void;
}

export interface ShopReport {
  root: string;
  seed: number;
  users: number;
  items: number;
  /** Catalog items per category, SHOP_CATEGORIES order. */
  itemsPerCategory: Record<string, number>;
  outfits: number;
  /** Outfits per size: sizes[n] = outfits of n items. */
  sizes: Record<string, number>;
  /** Share of outfits the truth scores above a random mix of the same categories for the same user. */
  oracleAccuracy: number;
  seconds: number;
}

function validate(opts: ShopOptions): { seed: number; users: number; knobs: ShopKnobs } {
  const seed = checkOutAndSeed(opts);
  const users = opts.users ?? SHOP_DEFAULT_USERS;
  if (!(Number.isInteger(users) && users >= 2 && users <= SHOP_MAX_USERS)) throw new UserError(`--users must be an integer in 2..${SHOP_MAX_USERS}, got ${users}`);
  const knobs = { ...DEFAULT_SHOP_KNOBS, ...opts.knobs };
  if (!(knobs.temperature > 0)) throw new UserError(`--temperature must be > 0, got ${knobs.temperature}`);
  if (!(knobs.itemNoise >= 0)) throw new UserError(`--item-noise must be >= 0, got ${knobs.itemNoise}`);
  if (existsSync(opts.out)) {
    if (!statSync(opts.out).isDirectory()) throw new UserError(`--out ${opts.out} is a file, not a folder`);
    if (readdirSync(opts.out).length > 0) throw new UserError(`--out ${opts.out} is not empty: the shop preset writes a new folder`);
  }
  return { seed, users, knobs };
}

/** The catalog: per category, items with a uniform type and colour, a pattern by PATTERN_SHARES, distinct pictures. */
function drawCatalog(rng: Rng, users: number, knobs: ShopKnobs): ShopItem[] {
  const drafts: Omit<ShopItem, 'id'>[] = [];
  const seen = new Set<string>();
  SHOP_CATEGORIES.forEach((cat, c) => {
    const count = Math.max(10 * cat.types.length, Math.round(cat.itemsPerUser * users));
    for (let n = 0; n < count; ) {
      const type = rng.int(cat.types.length);
      const colour = rng.int(PALETTE.length);
      const pattern = rng.categorical(PATTERN_SHARES);
      const picture = rng.int(100_000);
      const noise = knobs.itemNoise * rng.normal();
      const key = `${c}:${type}:${colour}:${pattern}:${picture}`;
      if (seen.has(key)) continue;
      seen.add(key);
      drafts.push({ category: c, type, colour, pattern, noise, picture });
      n++;
    }
  });
  // SKU numbers in a shuffled order, so an id says nothing about the category
  rng.shuffle(drafts);
  const width = Math.max(6, String(drafts.length).length);
  return drafts.map((d, i) => ({ id: `SKU-${String(i + 1).padStart(width, '0')}`, ...d }));
}

export function shopTitle(item: ShopItem, rng: Rng): string {
  const pattern = PATTERNS[item.pattern] === 'plain' ? '' : `${PATTERNS[item.pattern]} `;
  const name = `${PALETTE[item.colour].name} ${pattern}${SHOP_CATEGORIES[item.category].types[item.type].name}`;
  const ending = rng.next() < 0.15 ? rng.pick(TITLE_ENDINGS) : '';
  return name[0].toUpperCase() + name.slice(1) + ending;
}

interface Outfit {
  user: number;
  items: number[];
  timestamp: number;
}

export async function generateShop(opts: ShopOptions): Promise<ShopReport> {
  const started = performance.now();
  const { seed, users: userCount, knobs } = validate(opts);
  const log = opts.log ?? (() => {});
  const styles = drawShopStyles(new Rng(seed).fork('shop-styles'), knobs);
  const items = drawCatalog(new Rng(seed).fork('shop-items'), userCount, knobs);
  const userRng = new Rng(seed).fork('shop-users');
  const idWidth = Math.max(4, String(userCount).length);
  const users = Array.from({ length: userCount }, (_, u) => drawShopUser(userRng, knobs, `cust-${String(u + 1).padStart(idWidth, '0')}`));
  const truth = new ShopTruth(knobs, styles, users, items);

  // Outfits: per user a log-normal count (mean SHOP_OUTFITS_PER_USER), a start day, exponential gaps.
  const rng = new Rng(seed).fork('shop-outfits');
  const outfits: Outfit[] = [];
  for (let u = 0; u < userCount; u++) {
    const count = Math.max(2, Math.round(SHOP_OUTFITS_PER_USER * Math.exp(0.5 * rng.normal() - 0.125)));
    let t = EPOCH + rng.uniform(0, 240) * DAY;
    for (let k = 0; k < count; k++) {
      t += -Math.log(1 - rng.next()) * 6 * DAY;
      outfits.push({ user: u, items: rng.shuffle(truth.sampleOutfit(rng, u)), timestamp: Math.round(t / 1000) * 1000 });
    }
  }
  outfits.sort((a, b) => a.timestamp - b.timestamp || a.user - b.user);
  const oracleAccuracy = accuracyAgainstRandomMixes(truth, outfits, new Rng(seed).fork('shop-check'));

  const tmp = join(dirname(opts.out), `.${basename(opts.out)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const titleRng = new Rng(seed).fork('shop-titles');
    const rows = [csvLine(ITEMS_CSV_HEADER)];
    for (const it of items) {
      const cat = SHOP_CATEGORIES[it.category];
      rows.push(csvLine([it.id, cat.name, `images/${it.id}.png`, shopTitle(it, titleRng), cat.types[it.type].name, PALETTE[it.colour].name, PATTERNS[it.pattern]]));
    }
    writeFileAtomic(join(tmp, 'items.csv'), rows.join('\n') + '\n');
    writeFileAtomic(
      join(tmp, 'outfits.jsonl'),
      outfits.map((o) => JSON.stringify({ user: users[o.user].id, items: o.items.map((i) => items[i].id), timestamp: o.timestamp }) + '\n').join(''),
    );
    let lastReport = 0;
    await writeItemImages(
      join(tmp, 'images'),
      shopPictureSource(),
      items.map((it) => ({ name: it.id, picture: { fashionClass: typeIndexOf(it), picture: it.picture * PATTERNS.length + it.pattern, colour: it.colour, mirrored: false } })),
      (done, total) => {
        const now = performance.now();
        if (now - lastReport > 2000 || done === total) {
          lastReport = now;
          log(`images: ${done}/${total} pictures written`);
        }
      },
    );
    writeTruth(tmp, seed, knobs, styles, users, items);
    if (existsSync(opts.out)) rmdirSync(opts.out);
    renameSync(tmp, opts.out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }

  const itemsPerCategory: Record<string, number> = {};
  SHOP_CATEGORIES.forEach((c, i) => (itemsPerCategory[c.name] = truth.itemsOf[i].length));
  const sizes: Record<string, number> = {};
  for (const o of outfits) sizes[o.items.length] = (sizes[o.items.length] ?? 0) + 1;
  return {
    root: opts.out,
    seed,
    users: userCount,
    items: items.length,
    itemsPerCategory,
    outfits: outfits.length,
    sizes,
    oracleAccuracy,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Per outfit, one random mix for the same user (each item replaced by a uniform, distinct item of
 * its category): the share of outfits the truth scores higher (ties ½). A sanity figure of how much
 * taste the data holds, reported by the generator.
 */
function accuracyAgainstRandomMixes(truth: ShopTruth, outfits: readonly Outfit[], rng: Rng): number {
  let wins = 0;
  for (const o of outfits) {
    const mix: number[] = [];
    for (const i of o.items) {
      let x: number;
      do x = rng.pick(truth.itemsOf[truth.items[i].category]);
      while (mix.includes(x));
      mix.push(x);
    }
    const pos = truth.utility(o.user, o.items);
    const neg = truth.utility(o.user, mix);
    wins += pos > neg ? 1 : pos === neg ? 0.5 : 0;
  }
  return outfits.length === 0 ? 0 : wins / outfits.length;
}

// ---------------------------------------------------------------------------------------------
// The truth files: oracle/shop.json and oracle/items.tsv.

const ITEMS_TSV_HEADER = 'id\tcategory\ttype\tcolour\tpattern\tnoise\tpicture';

function writeTruth(dir: string, seed: number, knobs: ShopKnobs, styles: ShopStyle[], users: ShopUser[], items: ShopItem[]): void {
  writeJsonAtomic(join(dir, 'oracle', 'shop.json'), {
    format: SHOP_TRUTH_FORMAT,
    version: SHOP_TRUTH_VERSION,
    description:
      'Ground truth of an outfitrec example shop (src/data/synth/shop-model.ts). a_s(x) = typePref[s][cat][type] + colourPref[s][cat][colour] + patternPref[s][pattern]; ' +
      'q_s(x) = softmax over the category of (a_s(x) + noise_x) / temperature; U(u, o) = log P_u(shape) + log sum_s styleWeights[u][s] prod_k q_s(x_k) ' +
      '(two accessories a, b: q_s(a) q_s(b) (1/(1-q_s(a)) + 1/(1-q_s(b)))). Indices: categories, types, palette and patterns as listed here.',
    seed,
    knobs,
    categories: SHOP_CATEGORIES.map((c) => ({ name: c.name, types: c.types.map((t) => t.name) })),
    palette: PALETTE.map((p) => p.name),
    patterns: [...PATTERNS],
    styles,
    users,
  });
  const lines = [ITEMS_TSV_HEADER, ...items.map((it) => [it.id, it.category, it.type, it.colour, it.pattern, it.noise, it.picture].join('\t'))];
  writeFileAtomic(join(dir, 'oracle', 'items.tsv'), lines.join('\n') + '\n');
}

const numbers = z.array(z.number());
const truthSchema = z.object({
  format: z.literal(SHOP_TRUTH_FORMAT),
  version: z.literal(SHOP_TRUTH_VERSION),
  seed: z.number(),
  knobs: z.object({
    styles: z.number().int().positive(),
    temperature: z.number().positive(),
    itemNoise: z.number(),
    typeScale: z.number(),
    colourScale: z.number(),
    patternScale: z.number(),
    styleConcentration: z.number(),
  }),
  styles: z.array(z.object({ typePref: z.array(numbers), colourPref: z.array(numbers), patternPref: numbers })),
  users: z.array(
    z.object({
      id: z.string(),
      styleWeights: numbers,
      dress: z.number(),
      bag: z.number(),
      outerwear: z.number(),
      accessories: z.tuple([z.number(), z.number(), z.number()]),
    }),
  ),
});

/** The truth of an example shop, addressed by the shop's own ids. */
export interface ShopOracle {
  readonly truth: ShopTruth;
  /** U(user, outfit) in nats (shop-model.ts); −∞ for an outfit the truth cannot make. */
  utility(user: string, items: readonly string[]): number;
}

/** Reads `<dir>/oracle/shop.json` and `<dir>/oracle/items.tsv` (DataError naming the file on a bad one). */
export function loadShopOracle(dir: string): ShopOracle {
  const jsonPath = join(dir, 'oracle', 'shop.json');
  const tsvPath = join(dir, 'oracle', 'items.tsv');
  for (const p of [jsonPath, tsvPath]) if (!existsSync(p)) throw new UserError(`${p}: missing (not a folder written by data synth --preset shop)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (err) {
    throw new DataError(jsonPath, undefined, `not JSON (${(err as Error).message})`);
  }
  const parsed = truthSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(jsonPath, undefined, `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const lines = readFileSync(tsvPath, 'utf8').split('\n');
  if (lines[0] !== ITEMS_TSV_HEADER) throw new DataError(tsvPath, 1, `header must be '${ITEMS_TSV_HEADER.replace(/\t/g, '<TAB>')}'`);
  const items: ShopItem[] = [];
  for (let l = 1; l < lines.length; l++) {
    if (lines[l] === '') continue;
    const f = lines[l].split('\t');
    const [category, type, colour, pattern, noise, picture] = f.slice(1).map(Number);
    if (f.length !== 7 || !SHOP_CATEGORIES[category]?.types[type] || !PALETTE[colour] || !PATTERNS[pattern] || !Number.isFinite(noise)) {
      throw new DataError(tsvPath, l + 1, 'not an item row of 7 fields with known category, type, colour and pattern');
    }
    items.push({ id: f[0], category, type, colour, pattern, noise, picture });
  }
  const t = parsed.data;
  const truth = new ShopTruth(t.knobs, t.styles, t.users, items);
  const userIndex = new Map(t.users.map((u, i) => [u.id, i]));
  const itemIndex = new Map(items.map((it, i) => [it.id, i]));
  return {
    truth,
    utility(user, ids) {
      const u = userIndex.get(user);
      if (u === undefined) throw new UserError(`unknown user '${user}' in ${jsonPath}`);
      return truth.utility(
        u,
        ids.map((id) => {
          const i = itemIndex.get(id);
          if (i === undefined) throw new UserError(`unknown item '${id}' in ${tsvPath}`);
          return i;
        }),
      );
    },
  };
}
