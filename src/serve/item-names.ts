/**
 * Names of catalog items that a person can read, for the web page and the API's `title` field.
 * Catalog names are image names (40-hex on Polyvore-U and on the synthetic sets), which say nothing.
 *
 * - Synthetic sets (`data synth`, method.md §6.3) keep each item's attributes in
 *   `<root>/oracle/tuples_<set>/items.tsv`: the title is its palette colour and garment class,
 *   e.g. "red shirt", "navy trousers", "black ankle boots".
 * - Imported sets with an `items.json` (method.md §6.5) use its `title` where an item has one.
 * - Other sets (Polyvore-U has no attributes beyond the category) get the category (the set's
 *   own name for it) and a short id from the image name, e.g. "top 3f2a1c".
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { categoryName } from '../data/layout.js';
import type { PolyvoreSet } from '../data/types.js';
import { CATEGORY_CLASSES, FASHION_MNIST_CLASS_NAMES, PALETTE } from '../data/synth/model.js';
import { oracleSetDir, readOracleItems } from '../data/synth/oracle.js';

/** Fashion-MNIST classes as garments (plural where English uses the plural). */
const GARMENT: Record<(typeof FASHION_MNIST_CLASS_NAMES)[number], string> = {
  'T-shirt/top': 't-shirt',
  Trouser: 'trousers',
  Pullover: 'pullover',
  Dress: 'dress',
  Coat: 'coat',
  Sandal: 'sandals',
  Shirt: 'shirt',
  Sneaker: 'sneakers',
  Bag: 'bag',
  'Ankle boot': 'ankle boots',
};

/** One title per global item id of `set`. */
export function readableItemNames(set: PolyvoreSet): string[] {
  const { catalog } = set;
  const fallback = (id: number): string => `${categoryName(set.layout, catalog.category[id])} ${shortId(catalog.names[id])}`;
  const records = set.items;
  if (records) return catalog.names.map((name, id) => records.get(name)?.title ?? fallback(id));
  const itemsPath = join(oracleSetDir(set.root, set.set), 'items.tsv');
  if (!existsSync(itemsPath)) return catalog.names.map((_, id) => fallback(id));
  const attributes = readOracleItems(itemsPath);
  return catalog.names.map((name, id) => {
    const a = attributes.get(name.replace(/\.(png|jpg)$/, ''));
    if (!a || a.category !== catalog.category[id]) return fallback(id);
    const fashionClass = FASHION_MNIST_CLASS_NAMES[CATEGORY_CLASSES[a.category][a.classIndex]];
    return `${PALETTE[a.colour].name} ${GARMENT[fashionClass]}`;
  });
}

/** The first 6 characters of an image name without its extension: enough to tell items apart by eye. */
function shortId(name: string): string {
  return name.replace(/\.(png|jpg|jpeg)$/i, '').slice(0, 6);
}
