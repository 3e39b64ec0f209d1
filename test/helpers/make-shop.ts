/**
 * A small shop folder in the shop format (docs/method.md §6.4) for the import tests: six
 * categories, 12 users with 3..8 outfits of 2..6 items, one tiny PNG per item (made with sharp).
 * Outfits follow a formula, not a random draw, so a test can reason about them; users with an even
 * index carry timestamps, newest outfit first in the file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export interface ShopItem {
  id: string;
  category: string;
  /** Path relative to the shop folder. */
  image: string;
  title: string;
  colour: string;
}

export interface ShopOutfit {
  user: string;
  items: string[];
  timestamp?: number;
}

export interface ShopFixture {
  dir: string;
  items: ShopItem[];
  outfits: ShopOutfit[];
}

export const SHOP_CATEGORIES: Record<string, number> = { top: 8, bottom: 6, shoe: 6, bag: 5, outerwear: 4, accessory: 6 };

/** Category lists of the outfit patterns (sizes 2, 3, 4, 5, 6). */
const PATTERNS: string[][] = [
  ['top', 'bottom'],
  ['top', 'bottom', 'shoe'],
  ['top', 'bottom', 'shoe', 'bag'],
  ['top', 'bottom', 'shoe', 'outerwear', 'accessory'],
  ['top', 'shoe', 'bag', 'outerwear', 'accessory', 'accessory'],
];

const DAY = 86_400_000;

export async function makeShop(dir: string, users = 12): Promise<ShopFixture> {
  mkdirSync(join(dir, 'img'), { recursive: true });
  const items: ShopItem[] = [];
  let k = 0;
  for (const [category, count] of Object.entries(SHOP_CATEGORIES)) {
    for (let i = 0; i < count; i++, k++) {
      const id = `${category}-${i}`;
      const image = `img/${id}.png`;
      const pixel = { r: (k * 37) % 256, g: (k * 91) % 256, b: (k * 53) % 256 };
      await sharp({ create: { width: 2, height: 2, channels: 3, background: pixel } })
        .png()
        .toFile(join(dir, image));
      items.push({ id, category, image, title: `${category} number ${i}`, colour: `#${[pixel.r, pixel.g, pixel.b].map((v) => v.toString(16).padStart(2, '0')).join('')}` });
    }
  }
  const outfits: ShopOutfit[] = [];
  for (let u = 0; u < users; u++) {
    const n = 3 + (u % 6);
    for (let o = 0; o < n; o++) {
      const pattern = PATTERNS[(u * 7 + o) % PATTERNS.length];
      const ids = pattern.map((c, j) => `${c}-${(u * 3 + o * 5 + j) % SHOP_CATEGORIES[c]}`);
      outfits.push({ user: `user${u}`, items: ids, ...(u % 2 === 0 ? { timestamp: 1_700_000_000_000 - o * DAY } : {}) });
    }
  }
  const shop = { dir, items, outfits };
  writeShop(shop);
  return shop;
}

/** (Re)writes items.csv and outfits.csv from the fixture's records. */
export function writeShop(shop: ShopFixture): void {
  writeFileSync(join(shop.dir, 'items.csv'), itemsCsv(shop.items));
  writeFileSync(join(shop.dir, 'outfits.csv'), outfitsCsv(shop.outfits));
}

export function itemsCsv(items: ShopItem[]): string {
  const quote = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return ['id,category,image,title,colour', ...items.map((it) => [it.id, it.category, it.image, it.title, it.colour].map(quote).join(','))].join('\n') + '\n';
}

export function outfitsCsv(outfits: ShopOutfit[]): string {
  return ['user,items,timestamp', ...outfits.map((o) => `${o.user},${o.items.join(';')},${o.timestamp ?? ''}`)].join('\n') + '\n';
}
