/**
 * Item pictures of the synthetic benchmark (method.md §6.3): a grey Fashion-MNIST picture (or a drawn
 * stand-in when the dataset is absent), optionally mirrored, tinted with a palette colour on a
 * white background, written as a 28×28 RGB PNG. An item's name is a hash of exactly what its
 * picture is made of, so the same name always means the same picture, in every set of a root.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../rng.js';
import { FASHION_MNIST_SIDE, type FashionMnist } from './fashion-mnist.js';
import { PALETTE } from './model.js';

export const IMAGE_SIDE = FASHION_MNIST_SIDE;
const PIXELS = IMAGE_SIDE * IMAGE_SIDE;

/** Where the grey pictures come from. */
export interface PictureSource {
  readonly kind: 'fashion-mnist' | 'procedural';
  /** Number of distinct pictures of a Fashion-MNIST class. */
  picturesOf(fashionClass: number): number;
  /** Grey levels of picture k of a class, 28×28 row-major, 0 = background. */
  grey(fashionClass: number, k: number): Uint8Array;
  /** Stable identity of picture k of a class (enters the item name). */
  pictureId(fashionClass: number, k: number): string;
}

export function fashionMnistSource(data: FashionMnist): PictureSource {
  return {
    kind: 'fashion-mnist',
    picturesOf: (c) => data.byLabel[c].length,
    grey: (c, k) => {
      const index = data.byLabel[c][k];
      return data.pixels.subarray(index * PIXELS, (index + 1) * PIXELS);
    },
    // Index into the joined 70k pool (train then t10k).
    pictureId: (c, k) => `fmnist:${data.byLabel[c][k]}`,
  };
}

/** Pictures per class of the procedural source (as many as Fashion-MNIST has). */
export const PROCEDURAL_PICTURES_PER_CLASS = 7000;

export function proceduralSource(): PictureSource {
  return {
    kind: 'procedural',
    picturesOf: () => PROCEDURAL_PICTURES_PER_CLASS,
    grey: (c, k) => drawProcedural(c, k),
    pictureId: (c, k) => `procedural:${c}:${k}`,
  };
}

/** What an item's picture is made of. */
export interface ItemPicture {
  readonly fashionClass: number;
  /** Picture index within its class. */
  readonly picture: number;
  readonly colour: number;
  readonly mirrored: boolean;
}

/** 40 hex characters, like the FHN image names (which are SHA-1 like hashes). */
export function itemName(source: PictureSource, item: ItemPicture): string {
  const id = `outfitrec-synth:${source.pictureId(item.fashionClass, item.picture)}:c${item.colour}:m${item.mirrored ? 1 : 0}`;
  return createHash('sha1').update(id).digest('hex');
}

/** RGB bytes of an item: the grey picture as ink of the item's colour on white, mirrored if asked. */
export function renderItem(source: PictureSource, item: ItemPicture): Uint8Array {
  return tintGrey(source.grey(item.fashionClass, item.picture), item.colour, item.mirrored);
}

/** RGB bytes of a grey picture as ink of palette colour `colour` on white, mirrored if asked. */
export function tintGrey(grey: Uint8Array, colour: number, mirrored: boolean): Uint8Array {
  const [r, g, b] = PALETTE[colour].rgb;
  const out = new Uint8Array(PIXELS * 3);
  for (let y = 0; y < IMAGE_SIDE; y++) {
    for (let x = 0; x < IMAGE_SIDE; x++) {
      const v = grey[y * IMAGE_SIDE + (mirrored ? IMAGE_SIDE - 1 - x : x)] / 255;
      const o = (y * IMAGE_SIDE + x) * 3;
      out[o] = Math.round(255 - v * (255 - r));
      out[o + 1] = Math.round(255 - v * (255 - g));
      out[o + 2] = Math.round(255 - v * (255 - b));
    }
  }
  return out;
}

/**
 * PNG bytes of an RGB picture. Fixed encoder options (no adaptive filtering, fixed zlib level, no
 * metadata) so the same pixels always give the same bytes.
 */
export function encodePng(rgb: Uint8Array): Promise<Buffer> {
  return sharp(rgb, { raw: { width: IMAGE_SIDE, height: IMAGE_SIDE, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
}

/** Encodes in flight at once: enough to keep libuv's pool busy, small enough to bound memory. */
const PNG_BATCH = 256;

/**
 * Writes `<dir>/<name>.png` for every item whose file does not exist yet (a name is a hash of the
 * picture, so an existing file already holds it). Each file goes through a temporary name and a
 * rename, so a killed run never leaves a truncated PNG under a real name. Returns the number written.
 */
export async function writeItemImages(
  dir: string,
  source: PictureSource,
  items: readonly { name: string; picture: ItemPicture }[],
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const present = new Set(readdirSync(dir));
  const todo = items.filter((it) => !present.has(`${it.name}.png`));
  const encodeBatch = (start: number): Promise<Buffer[]> =>
    Promise.all(todo.slice(start, start + PNG_BATCH).map((it) => encodePng(renderItem(source, it.picture))));
  // Pipelined: the next batch encodes on libuv's threads while this thread writes the current one.
  let pending = todo.length > 0 ? encodeBatch(0) : undefined;
  for (let i = 0; pending; i += PNG_BATCH) {
    const encoded = await pending;
    pending = i + PNG_BATCH < todo.length ? encodeBatch(i + PNG_BATCH) : undefined;
    for (let j = 0; j < encoded.length; j++) {
      const path = join(dir, `${todo[i + j].name}.png`);
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, encoded[j]);
      renameSync(tmp, path);
    }
    onProgress?.(i + encoded.length, todo.length);
  }
  return todo.length;
}

/** Whether `<dir>/<name>.png` exists (used by tests). */
export function itemImageExists(dir: string, name: string): boolean {
  return existsSync(join(dir, `${name}.png`));
}

// ---------------------------------------------------------------------------------------------
// Procedural stand-ins: one simple silhouette per class, varied per picture (proportions,
// brightness, shading, stripes), so that shape tells the class apart as in Fashion-MNIST.

export type Pt = readonly [number, number];

/** A grey drawing surface of IMAGE_SIDE² levels in [0, 1]; 0 = background (shop.ts draws on it too). */
export class Canvas {
  readonly px = new Float64Array(PIXELS);

  /** Fills the polygon (pixel centres inside by the even-odd rule) with level `v`. */
  polygon(points: readonly Pt[], v: number): void {
    let minY = Infinity;
    let maxY = -Infinity;
    for (const [, y] of points) {
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
    for (let y = Math.max(0, Math.floor(minY)); y <= Math.min(IMAGE_SIDE - 1, Math.ceil(maxY)); y++) {
      const cy = y + 0.5;
      for (let x = 0; x < IMAGE_SIDE; x++) {
        const cx = x + 0.5;
        let inside = false;
        for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
          const [xi, yi] = points[i];
          const [xj, yj] = points[j];
          if (yi > cy !== yj > cy && cx < ((xj - xi) * (cy - yi)) / (yj - yi) + xi) inside = !inside;
        }
        if (inside) this.px[y * IMAGE_SIDE + x] = v;
      }
    }
  }

  rect(x0: number, y0: number, x1: number, y1: number, v: number): void {
    this.polygon([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], v);
  }

  /** Multiplies the level of already drawn pixels in a rectangle (seams, soles, stripes). */
  shade(x0: number, y0: number, x1: number, y1: number, factor: number): void {
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(IMAGE_SIDE, Math.ceil(y1)); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(IMAGE_SIDE, Math.ceil(x1)); x++) this.px[y * IMAGE_SIDE + x] *= factor;
    }
  }

  /** Mirrors the left half onto the right half (garments are symmetric). */
  mirrorLeft(): void {
    for (let y = 0; y < IMAGE_SIDE; y++) {
      for (let x = 0; x < IMAGE_SIDE / 2; x++) this.px[y * IMAGE_SIDE + IMAGE_SIDE - 1 - x] = this.px[y * IMAGE_SIDE + x];
    }
  }
}

/** The generator of picture k of a drawing family `kind` (a class, or a shop shape): the same every time. */
export function pictureRng(kind: number, k: number): Rng {
  return new Rng((Math.imul(kind + 1, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0);
}

/** Grey picture k of a class, drawn from a generator seeded by (class, k): the same every time. */
export function drawProcedural(fashionClass: number, k: number): Uint8Array {
  const rng = pictureRng(fashionClass, k);
  const c = new Canvas();
  const level = rng.uniform(0.55, 1);
  drawSilhouette(c, rng, fashionClass, level);
  // optional stripes (a quarter of the pictures), then shading and grain
  const stripes = rng.next() < 0.25 ? 3 + rng.int(3) : 0;
  return finishPicture(c, rng, stripes > 0 ? (_x, y) => (y % stripes === 0 ? 0.75 : 1) : undefined);
}

/**
 * Draws the silhouette of a Fashion-MNIST class used by the benchmark (top, trouser, shoe classes)
 * at ink level `level`, with proportions jittered by `rng`.
 */
export function drawSilhouette(c: Canvas, rng: Rng, fashionClass: number, level: number): void {
  const j = (amount: number): number => rng.uniform(-amount, amount);
  const mid = IMAGE_SIDE / 2;
  switch (fashionClass) {
    case 0:
    case 2:
    case 4:
    case 6: {
      // tops: torso plus sleeves, drawn on the left half and mirrored
      const halfWidth = 6 + j(1.5);
      const top = 4 + j(1);
      const hem = (fashionClass === 4 ? 27 : 24) + j(1);
      const longSleeves = fashionClass !== 0;
      c.rect(mid - halfWidth, top, mid, hem, level);
      if (longSleeves) {
        const cuff = hem - 1 + j(1.5);
        c.polygon([[mid - halfWidth, top], [mid - halfWidth - 4, top + 1.5], [mid - halfWidth - 6.5 + j(1), cuff], [mid - halfWidth - 3, cuff], [mid - halfWidth, top + 7]], level * 0.92);
      } else {
        c.polygon([[mid - halfWidth, top], [mid - halfWidth - 5.5 + j(1), top + 5], [mid - halfWidth - 3, top + 8 + j(1)], [mid - halfWidth, top + 6]], level * 0.92);
      }
      c.mirrorLeft();
      c.rect(mid - 2.5, top - 0.5, mid + 2.5, top + 1.5 + (fashionClass === 0 ? 1 : 0), 0);
      if (fashionClass === 2) c.shade(mid - halfWidth, hem - 2, mid + halfWidth, hem, 0.7);
      if (fashionClass === 4) c.shade(mid - 0.5, top + 2, mid + 0.5, hem, 0.35);
      if (fashionClass === 6) {
        c.polygon([[mid - 3, top], [mid, top + 4], [mid + 3, top], [mid + 3, top + 1], [mid, top + 5], [mid - 3, top + 1]], level * 0.5);
        for (let y = top + 7; y < hem - 2; y += 4) c.shade(mid - 0.5, y, mid + 0.5, y + 1, 0.3);
      }
      break;
    }
    case 1: {
      // trousers: waistband and two legs with a gap
      const halfWidth = 6 + j(1.5);
      const flare = j(2);
      c.rect(mid - halfWidth, 2, mid + halfWidth, 5, level * 0.85);
      c.polygon([[mid - halfWidth, 5], [mid - 0.8, 5], [mid - 1.2 - Math.max(0, flare), 27], [mid - halfWidth - 1 - flare, 27]], level);
      c.mirrorLeft();
      break;
    }
    case 5: {
      // sandal: a thin sole and a few straps
      const sole = 21 + j(1.5);
      c.polygon([[3, sole], [25, sole - 2 + j(1)], [25, sole + 1], [3, sole + 2]], level * 0.8);
      const straps = 2 + rng.int(3);
      for (let s = 0; s < straps; s++) {
        const x = 6 + s * (16 / straps) + j(1);
        c.polygon([[x, sole], [x + 2, sole - 6 - j(2)], [x + 3.5, sole - 6], [x + 1.5, sole]], level);
      }
      break;
    }
    case 7: {
      // sneaker: low rounded upper on a thick sole, lace dots
      const height = 11 + j(2);
      c.polygon([[3, 23], [3, 23 - height * 0.55], [10, 23 - height * 0.85], [16, 23 - height], [22, 23 - height * 0.65], [26, 19], [26, 23]], level);
      c.shade(3, 21, 26, 23, 0.6);
      for (let x = 11; x < 19; x += 2.5) c.shade(x, 23 - height * 0.8, x + 1, 23 - height * 0.8 + 1, 0.3);
      break;
    }
    case 9: {
      // ankle boot: tall shaft, foot and heel
      const shaftTop = 4 + j(2);
      const toe = 24 + j(1.5);
      c.polygon([[6, shaftTop], [15, shaftTop], [15, 14], [toe, 18], [toe + 1, 24], [5, 24], [6, 16]], level);
      c.shade(5, 22, 10, 24, 0.55);
      break;
    }
    default:
      throw new RangeError(`drawProcedural: class ${fashionClass} is not used by the benchmark`);
  }
}

/**
 * Grey bytes of a drawn canvas: lighter towards the top, times `texture(x, y)` (stripes, dots; none
 * when absent), plus a little grain from `rng`.
 */
export function finishPicture(c: Canvas, rng: Rng, texture?: (x: number, y: number) => number): Uint8Array {
  const out = new Uint8Array(PIXELS);
  for (let y = 0; y < IMAGE_SIDE; y++) {
    for (let x = 0; x < IMAGE_SIDE; x++) {
      let v = c.px[y * IMAGE_SIDE + x];
      if (v === 0) continue;
      v *= 0.8 + 0.2 * (1 - y / IMAGE_SIDE);
      if (texture) v *= texture(x, y);
      v = v * 255 + rng.uniform(-8, 8);
      out[y * IMAGE_SIDE + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}
