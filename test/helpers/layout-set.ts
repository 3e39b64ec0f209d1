/**
 * A small dataset root on disk whose sets carry a layout.json (docs/method.md §6.5): six categories
 * (top, bottom, shoe, bag, outerwear, accessory), seven slots (two accessories), every slot
 * optional, minItems 2, outfits of 2 to 7 items; a warm set `shop` whose `newUsers` is `shop-new`.
 * Images are 8x8 PNGs, one plain colour per category with a per-item shade, so a convnet has
 * something to see. Negatives are 10 random mixes per positive with the positive's slot pattern,
 * hard negatives 10 other users' positives per positive.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/rng.js';

export const SHOP_CATEGORIES = ['top', 'bottom', 'shoe', 'bag', 'outerwear', 'accessory'];
export const SHOP_SLOTS = ['top', 'bottom', 'shoe', 'bag', 'outerwear', 'accessory', 'accessory'];
const IMAGE_SIDE = 8;
const COLOURS: Array<[number, number, number]> = [
  [200, 40, 40],
  [40, 40, 200],
  [30, 30, 30],
  [160, 110, 40],
  [40, 150, 60],
  [220, 200, 40],
];

export interface LayoutRootOptions {
  /** Items per category (default 6). */
  itemsPerCategory?: number;
  /** Users of `shop` and of `shop-new` (default 10 and 4). */
  users?: number;
  newUsers?: number;
  /** Positives per user in train / val / test (default 6 / 1 / 2). */
  perUser?: { train: number; val: number; test: number };
  seed?: number;
}

export interface LayoutRoot {
  root: string;
  /** Item names per category, in image-list order. */
  names: string[][];
}

export function layoutJson(newUsers?: string): Record<string, unknown> {
  return {
    format: 'outfitrec-set',
    version: 1,
    categories: SHOP_CATEGORIES,
    slots: SHOP_SLOTS,
    required: SHOP_SLOTS.map(() => false),
    minItems: 2,
    ...(newUsers ? { newUsers } : {}),
  };
}

/** Writes `<root>/images/8x8/*.png`, `tuples_shop/` and `tuples_shop-new/`. */
export async function writeLayoutRoot(root: string, opts: LayoutRootOptions = {}): Promise<LayoutRoot> {
  const perCategory = opts.itemsPerCategory ?? 6;
  const rng = new Rng(opts.seed ?? 0);
  const names = SHOP_CATEGORIES.map((c) => Array.from({ length: perCategory }, (_, i) => `${c}-${i}.png`));
  const imageDir = join(root, 'images', `${IMAGE_SIDE}x${IMAGE_SIDE}`);
  mkdirSync(imageDir, { recursive: true });
  for (let c = 0; c < SHOP_CATEGORIES.length; c++) {
    for (let i = 0; i < perCategory; i++) {
      const rgb = Buffer.alloc(IMAGE_SIDE * IMAGE_SIDE * 3);
      const shade = 0.5 + (0.5 * i) / perCategory;
      for (let p = 0; p < IMAGE_SIDE * IMAGE_SIDE; p++) {
        for (let k = 0; k < 3; k++) rgb[p * 3 + k] = Math.round(COLOURS[c][k] * shade);
      }
      await sharp(rgb, { raw: { width: IMAGE_SIDE, height: IMAGE_SIDE, channels: 3 } })
        .png()
        .toFile(join(imageDir, names[c][i]));
    }
  }
  const perUser = opts.perUser ?? { train: 6, val: 1, test: 2 };
  writeSet(join(root, 'tuples_shop'), layoutJson('shop-new'), names, opts.users ?? 10, perUser, rng.fork('shop'));
  writeSet(join(root, 'tuples_shop-new'), layoutJson(), names, opts.newUsers ?? 4, { train: 3, val: 0, test: 3 }, rng.fork('shop-new'));
  return { root, names };
}

/** One outfit as per-slot per-category indices (-1 = empty): 2..7 items, each user favouring some items. */
function drawOutfit(rng: Rng, perCategory: number, favourite: number): number[] {
  const size = 2 + rng.int(SHOP_SLOTS.length - 1);
  const slots = SHOP_SLOTS.map((_, j) => j);
  for (let j = slots.length - 1; j > 0; j--) {
    const k = rng.int(j + 1);
    [slots[j], slots[k]] = [slots[k], slots[j]];
  }
  const chosen = new Set(slots.slice(0, size));
  // the second accessory only with the first (one canonical order of the pair)
  if (chosen.has(6) && !chosen.has(5)) {
    chosen.delete(6);
    chosen.add(5);
  }
  const row = SHOP_SLOTS.map((_, j) => (chosen.has(j) ? (rng.next() < 0.6 ? favourite % perCategory : rng.int(perCategory)) : -1));
  if (row[5] >= 0 && row[6] >= 0 && row[5] === row[6]) row[6] = (row[5] + 1) % perCategory;
  return row;
}

function writeSet(
  dir: string,
  layout: Record<string, unknown>,
  names: string[][],
  users: number,
  perUser: { train: number; val: number; test: number },
  rng: Rng,
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'layout.json'), JSON.stringify(layout, null, 2) + '\n');
  SHOP_CATEGORIES.forEach((c, i) => writeFileSync(join(dir, `image_list_${c}`), names[i].join('\n') + '\n'));
  const perCategory = names[0].length;
  const header = ['user', ...SHOP_SLOTS].join(',');
  const items: Record<string, { id: string; title: string; attributes: Record<string, string> }> = {};
  SHOP_CATEGORIES.forEach((c, ci) =>
    names[ci].forEach((name, i) => (items[name] = { id: `sku-${ci}-${i}`, title: `${['red', 'blue', 'black', 'tan', 'green', 'gold'][ci]} ${c} no. ${i}`, attributes: { shade: String(i) } })),
  );
  writeFileSync(join(dir, 'items.json'), JSON.stringify(items) + '\n');
  writeFileSync(join(dir, 'users.json'), JSON.stringify(Array.from({ length: users }, (_, u) => `customer-${u}`)) + '\n');
  for (const split of ['train', 'val', 'test'] as const) {
    const posi: number[][] = [];
    for (let u = 0; u < users; u++) for (let k = 0; k < perUser[split]; k++) posi.push([u, ...drawOutfit(rng, perCategory, u)]);
    const nega = posi.flatMap((p) =>
      Array.from({ length: 10 }, () => {
        const row = [p[0], ...p.slice(1).map((v) => (v < 0 ? -1 : rng.int(perCategory)))];
        if (row[6] >= 0 && row[6] === row[7]) row[7] = (row[6] + 1) % perCategory;
        return row;
      }),
    );
    // hard negatives: positives of other users of the split, carrying this positive's user
    const hard = users < 2 ? [] : posi.flatMap((p) =>
      Array.from({ length: 10 }, () => {
        let other = posi[rng.int(posi.length)];
        while (other[0] === p[0]) other = posi[rng.int(posi.length)];
        return [p[0], ...other.slice(1)];
      }),
    );
    const csv = (rows: number[][]): string => [header, ...rows.map((r) => r.join(','))].join('\n') + '\n';
    writeFileSync(join(dir, `tuples_${split}_posi`), csv(posi));
    writeFileSync(join(dir, `tuples_${split}_nega`), csv(nega));
    if (users >= 2) writeFileSync(join(dir, `tuples_${split}_nega_hard`), csv(hard));
  }
}
