/**
 * Pictures of the example shop (method.md §6.3 "Shop preset"): the procedural silhouettes of
 * images.ts for the Fashion-MNIST-like types (t-shirt, trousers, coat, shoes...), new drawings for
 * the shop's other types (skirt, dress, bags, hat, scarf, belt, sunglasses), the item's pattern as
 * a texture, tinted with its palette colour on white: 28×28 RGB PNGs, the same bytes every time.
 */
import type { Rng } from '../../rng.js';
import { Canvas, IMAGE_SIDE, drawSilhouette, finishPicture, pictureRng, type PictureSource } from './images.js';
import { PATTERNS, SHOP_CATEGORIES, type ShopItem, type ShopType } from './shop-model.js';

/** Drawing families: every shop type gets its own seeds (offset past the Fashion-MNIST classes). */
const SHOP_TYPES: readonly ShopType[] = SHOP_CATEGORIES.flatMap((c) => c.types);
const FAMILY_OFFSET = 100;

/** Texture of a pattern (a factor on the ink level), or none for plain. */
function textureOf(pattern: number): ((x: number, y: number) => number) | undefined {
  switch (PATTERNS[pattern]) {
    case 'striped':
      return (_x, y) => ((y >> 1) % 2 === 1 ? 0.45 : 1);
    case 'dotted':
      return (x, y) => (x % 5 < 2 && y % 5 < 2 ? 0.35 : 1);
    case 'checked':
      return (x, y) => (((x >> 2) + (y >> 2)) % 2 === 1 ? 0.55 : 1);
    default:
      return undefined;
  }
}

/** Draws one of the shop's own shapes (the types Fashion-MNIST has no class for). */
function drawShape(c: Canvas, rng: Rng, shape: string, level: number): void {
  const j = (amount: number): number => rng.uniform(-amount, amount);
  const mid = IMAGE_SIDE / 2;
  switch (shape) {
    case 'skirt': {
      const waist = 6 + j(1);
      const hem = 21 + j(2);
      const flare = 9 + j(1.5);
      c.rect(mid - 5, waist - 2, mid + 5, waist, level * 0.85);
      c.polygon([[mid - 5, waist], [mid + 5, waist], [mid + flare, hem], [mid - flare, hem]], level);
      break;
    }
    case 'shorts': {
      const halfWidth = 7 + j(1);
      const leg = 16 + j(2);
      c.rect(mid - halfWidth, 6, mid + halfWidth, 9, level * 0.85);
      c.polygon([[mid - halfWidth, 9], [mid - 0.8, 9], [mid - 1.5, leg], [mid - halfWidth - 1.5, leg]], level);
      c.mirrorLeft();
      break;
    }
    case 'mini dress':
    case 'maxi dress': {
      const bodice = 4 + j(1);
      const waist = 11 + j(1);
      const hem = (shape === 'maxi dress' ? 26 : 19) + j(1);
      const halfWidth = 4 + j(1);
      c.rect(mid - halfWidth, bodice, mid, waist, level);
      c.rect(mid - 3, 1.5, mid - 2, bodice, level * 0.8);
      c.polygon([[mid - halfWidth, waist], [mid, waist], [mid, hem], [mid - halfWidth - 5 - j(1.5), hem]], level);
      c.mirrorLeft();
      c.shade(0, waist - 0.5, IMAGE_SIDE, waist + 0.5, 0.6);
      break;
    }
    case 'jacket': {
      const halfWidth = 7 + j(1);
      const top = 4 + j(1);
      const hem = 20 + j(1);
      c.rect(mid - halfWidth, top, mid, hem, level);
      c.polygon([[mid - halfWidth, top], [mid - halfWidth - 4, top + 1.5], [mid - halfWidth - 6 + j(1), hem + 1], [mid - halfWidth - 3, hem + 1], [mid - halfWidth, top + 7]], level * 0.92);
      c.mirrorLeft();
      c.polygon([[mid - 3, top], [mid, top + 6], [mid + 3, top]], level * 0.5);
      c.shade(mid - 0.7, top, mid + 0.7, hem, 0.3);
      break;
    }
    case 'handbag': {
      const top = 11 + j(1.5);
      const halfWidth = 8 + j(1.5);
      const handle = top - 6 - j(1);
      c.polygon([[mid - halfWidth + 1.5, top], [mid + halfWidth - 1.5, top], [mid + halfWidth, 24], [mid - halfWidth, 24]], level);
      c.rect(mid - 5, handle, mid - 3.5, top, level * 0.8);
      c.rect(mid + 3.5, handle, mid + 5, top, level * 0.8);
      c.rect(mid - 5, handle, mid + 5, handle + 1.5, level * 0.8);
      c.shade(mid - 1, top + 2, mid + 1, top + 4, 0.4);
      break;
    }
    case 'backpack': {
      const halfWidth = 7 + j(1);
      const top = 5 + j(1);
      c.polygon([[mid - halfWidth + 2, top], [mid + halfWidth - 2, top], [mid + halfWidth, top + 3], [mid + halfWidth, 25], [mid - halfWidth, 25], [mid - halfWidth, top + 3]], level);
      c.shade(mid - halfWidth + 2, 15, mid + halfWidth - 2, 23, 0.7);
      c.rect(mid - 2, top - 2.5, mid + 2, top, level * 0.8);
      break;
    }
    case 'tote bag': {
      const halfWidth = 9 + j(1);
      const top = 11 + j(1.5);
      c.rect(mid - halfWidth, top, mid + halfWidth, 25, level);
      for (const x of [mid - 5, mid + 4]) c.polygon([[x, top], [x, top - 7], [x + 1.2, top - 7], [x + 1.2, top]], level * 0.8);
      c.rect(mid - 5, top - 7, mid + 5.2, top - 6, level * 0.8);
      break;
    }
    case 'hat': {
      const brim = 18 + j(1);
      const crown = 8 + j(1.5);
      const halfWidth = 6 + j(1);
      c.polygon([[mid - halfWidth, brim], [mid - halfWidth + 1.5, crown], [mid + halfWidth - 1.5, crown], [mid + halfWidth, brim]], level);
      c.polygon([[2, brim], [26, brim], [24, brim + 2.5], [4, brim + 2.5]], level * 0.9);
      c.shade(mid - halfWidth, brim - 2.5, mid + halfWidth, brim - 1, 0.5);
      break;
    }
    case 'scarf': {
      const w = 4 + j(0.8);
      c.rect(6, 3, 22, 3 + w, level);
      c.polygon([[8, 3 + w], [8 + w, 3 + w], [10 + w + j(1), 26], [10 + j(1), 26]], level * 0.95);
      c.polygon([[16, 3 + w], [16 + w, 3 + w], [15 + w, 22 + j(2)], [15, 22]], level * 0.9);
      c.shade(6, 24, 22, 26, 0.6);
      break;
    }
    case 'belt': {
      const y0 = 12 + j(1.5);
      const h = 3 + j(0.8);
      c.rect(1, y0, 27, y0 + h, level);
      c.rect(10, y0 - 1.5, 16, y0 + h + 1.5, level * 0.5);
      c.rect(11.5, y0, 14.5, y0 + h, 0);
      for (let x = 19; x < 26; x += 2.5) c.shade(x, y0 + h / 2 - 0.5, x + 1, y0 + h / 2 + 0.5, 0.3);
      break;
    }
    case 'sunglasses': {
      const r = 4.5 + j(0.8);
      const cy = 14 + j(1);
      for (const cx of [mid - 6, mid + 6]) {
        c.polygon([[cx - r, cy - r * 0.5], [cx - r * 0.5, cy - r * 0.8], [cx + r * 0.5, cy - r * 0.8], [cx + r, cy - r * 0.5], [cx + r * 0.8, cy + r * 0.5], [cx, cy + r * 0.9], [cx - r * 0.8, cy + r * 0.5]], level);
      }
      c.rect(mid - 1.5, cy - 2.5, mid + 1.5, cy - 1.5, level * 0.8);
      c.rect(0.5, cy - 2.5, mid - 6 - r + 0.5, cy - 1.5, level * 0.8);
      c.rect(mid + 6 + r - 0.5, cy - 2.5, IMAGE_SIDE - 0.5, cy - 1.5, level * 0.8);
      break;
    }
    default:
      throw new RangeError(`shop picture: no drawing for '${shape}'`);
  }
}

/** Grey picture of a shop type (global index into the flattened types), picture index k, pattern. */
export function drawShopGrey(typeIndex: number, k: number, pattern: number): Uint8Array {
  const type = SHOP_TYPES[typeIndex];
  const rng = pictureRng(FAMILY_OFFSET + typeIndex, k);
  const c = new Canvas();
  const level = rng.uniform(0.6, 1);
  if ('fashionClass' in type.draw) drawSilhouette(c, rng, type.draw.fashionClass, level);
  else drawShape(c, rng, type.draw.shape, level);
  return finishPicture(c, rng, textureOf(pattern));
}

/** Index of an item's type among all shop types (the drawing family). */
export function typeIndexOf(item: Pick<ShopItem, 'category' | 'type'>): number {
  let offset = 0;
  for (let c = 0; c < item.category; c++) offset += SHOP_CATEGORIES[c].types.length;
  return offset + item.type;
}

/**
 * The shop's pictures as a PictureSource, so images.ts writes them (batched, atomic): the "class" is
 * the type index and the "picture" packs the picture index with the pattern (k · patterns + pattern).
 */
export function shopPictureSource(): PictureSource {
  return {
    kind: 'procedural',
    picturesOf: () => Number.MAX_SAFE_INTEGER,
    grey: (typeIndex, packed) => drawShopGrey(typeIndex, Math.floor(packed / PATTERNS.length), packed % PATTERNS.length),
    pictureId: (typeIndex, packed) => `shop:${typeIndex}:${packed}`,
  };
}
