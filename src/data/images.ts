/**
 * Item images as one packed pixel array per dataset and size. The first call decodes every image
 * of the catalog with sharp (a bounded number in flight), resizes it to size×size and writes
 * `<root>/.cache/images_<set>_<size>.bin` (raw RGB, global item id order) plus a JSON header;
 * later calls read that file only and never decode an image again. The header carries a
 * fingerprint of the image list, the image folder and the resize recipe, so a changed list (or
 * recipe) rebuilds the cache instead of serving stale pixels.
 *
 * Resize: fit 'contain' with a white background, i.e. the image keeps its aspect ratio and is
 * padded with white to a square, which is what FHN's ResizeToSquare does (method.md §2.1).
 * Transparent pixels are flattened onto white too; grey images are expanded to RGB.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { DataError, UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { locateImages, throwIfProblems } from './polyvore.js';
import type { PolyvoreSet } from './types.js';

export interface ImageCache {
  /** Number of items (= catalog size). */
  n: number;
  height: number;
  width: number;
  channels: 3;
  /** n × height × width × 3 bytes, HWC per item, items in global id order. */
  pixels: Uint8Array;
}

export interface ImageCacheOptions {
  /** Images decoded at once (default 2 × cores). sharp decodes on libuv's thread pool. */
  concurrency?: number;
  /** Folder of the packed files (default `<root>/.cache`). */
  cacheDir?: string;
  /** Called after each decoded image on a cache miss. */
  onProgress?: (done: number, total: number) => void;
}

/** How images are fitted to the square; part of the cache fingerprint. */
export const IMAGE_FIT = 'contain' as const;
const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };
/** Bump when the decode/resize recipe or the file layout changes, so old caches are rebuilt. */
const CACHE_FORMAT = 1;
/** After this many bad images, stop decoding and report what was found. */
const MAX_IMAGE_PROBLEMS = 20;
/** readSync/writeSync move at most 2 GiB per call. */
const IO_CHUNK = 1 << 30;

interface CacheHeader {
  format: number;
  set: string;
  count: number;
  size: number;
  channels: 3;
  bytes: number;
  fit: string;
  imageDir: string;
  fingerprint: string;
}

/** Paths of the packed pixel file and its JSON header for one dataset and size. */
export function imageCachePaths(set: PolyvoreSet, size: number, cacheDir = join(set.root, '.cache')): { bin: string; header: string } {
  const stem = join(cacheDir, `images_${set.set}_${size}`);
  return { bin: `${stem}.bin`, header: `${stem}.json` };
}

/** Pixels of every catalog item at size×size, from the packed cache when it is current. */
export async function loadImageCache(set: PolyvoreSet, size: number, opts: ImageCacheOptions = {}): Promise<ImageCache> {
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new UserError(`image size must be an integer in 1..4096, got ${size}`);
  const n = set.catalog.names.length;
  const bytes = n * size * size * 3;
  // V8 typed arrays stop at 2^32 - 1 elements on 64-bit; a full-size set at 291 px would not fit.
  if (bytes > 2 ** 32 - 1) {
    throw new UserError(`image cache for ${n} items at ${size}x${size} needs ${(bytes / 2 ** 30).toFixed(1)} GiB (limit 4 GiB): use a smaller image size or precomputed features`);
  }
  const located = locateImages(set.root, set.dir, set.catalog, set.layout.categories);
  const imageDirName = located.imageDir ? basename(located.imageDir.path) : undefined;
  const files = imageCachePaths(set, size, opts.cacheDir);
  const expected: Omit<CacheHeader, 'imageDir'> = {
    format: CACHE_FORMAT,
    set: set.set,
    count: n,
    size,
    channels: 3,
    bytes,
    fit: IMAGE_FIT,
    fingerprint: fingerprint(set.catalog.names),
  };
  // A cache made from another image folder is stale; with the images gone it is all there is.
  const cached = readCache(files, expected, imageDirName);
  if (cached) return { n, height: size, width: size, channels: 3, pixels: cached };

  throwIfProblems(located.errors);
  const imageDir = located.imageDir;
  if (!imageDir) throw new Error('internal: locateImages gave no image folder and no problem');
  const pixels = new Uint8Array(bytes);
  const errors = await decodeAll(located.paths as string[], imageDir.width, imageDir.height, size, pixels, opts);
  // Nothing is cached from a set with a bad image.
  throwIfProblems(errors);
  writeFileAtomic(files.bin, pixels);
  const header: CacheHeader = { ...expected, imageDir: basename(imageDir.path) };
  writeJsonAtomic(files.header, header);
  return { n, height: size, width: size, channels: 3, pixels };
}

function fingerprint(names: string[]): string {
  const h = createHash('sha256');
  for (const name of names) h.update(name + '\n');
  return h.digest('hex');
}

/**
 * The packed pixels when the header matches what is expected (and names the same image folder,
 * when one exists) and the file has the right length; undefined is a miss.
 */
function readCache(files: { bin: string; header: string }, expected: Omit<CacheHeader, 'imageDir'>, imageDir: string | undefined): Uint8Array | undefined {
  if (!existsSync(files.header) || !existsSync(files.bin)) return undefined;
  let header: CacheHeader;
  try {
    header = JSON.parse(readFileSync(files.header, 'utf8')) as CacheHeader;
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null) return undefined;
  for (const key of Object.keys(expected) as (keyof typeof expected)[]) if (header[key] !== expected[key]) return undefined;
  if (imageDir !== undefined && header.imageDir !== imageDir) return undefined;
  if (statSync(files.bin).size !== expected.bytes) return undefined;
  const pixels = new Uint8Array(expected.bytes);
  const fd = openSync(files.bin, 'r');
  try {
    let off = 0;
    while (off < pixels.length) {
      const got = readSync(fd, pixels, off, Math.min(IO_CHUNK, pixels.length - off), off);
      if (got === 0) return undefined;
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return pixels;
}

/**
 * Decodes every image into its slot of `pixels`, at most `concurrency` at a time. Returns the
 * problems found (wrong size, undecodable); stops starting new work after MAX_IMAGE_PROBLEMS.
 */
async function decodeAll(paths: string[], width: number | undefined, height: number | undefined, size: number, pixels: Uint8Array, opts: ImageCacheOptions): Promise<DataError[]> {
  const errors: DataError[] = [];
  const itemBytes = size * size * 3;
  const concurrency = Math.max(1, opts.concurrency ?? 2 * availableParallelism());
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length && errors.length < MAX_IMAGE_PROBLEMS) {
      const id = next++;
      const problem = await decodeInto(paths[id], width, height, size, pixels.subarray(id * itemBytes, (id + 1) * itemBytes));
      if (problem) errors.push(problem);
      done++;
      opts.onProgress?.(done, paths.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
  if (errors.length >= MAX_IMAGE_PROBLEMS && next < paths.length) {
    errors.push(new DataError(join(paths[0], '..'), undefined, `stopped after ${errors.length} bad images; ${paths.length - next} not checked`));
  }
  return errors;
}

/**
 * Decodes every image file (the whole pixel data, not only the header) and returns one DataError
 * per file that cannot be used: undecodable, truncated, empty, a directory, or not the size its
 * folder states. `data check` runs it, so a set it passes can be trained on.
 */
export async function verifyImages(
  paths: readonly string[],
  width: number | undefined,
  height: number | undefined,
  opts: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<DataError[]> {
  const size = 4;
  const scratch = new Uint8Array(paths.length * size * size * 3);
  return decodeAll([...paths], width, height, size, scratch, opts);
}

/**
 * RGB bytes (HWC) of an image fitted to width×height: transparency flattened onto white, grey
 * expanded to RGB, then resized with `fit` ('contain' pads with white, 'cover' crops the centre,
 * 'fill' stretches). The item-image cache and `outfitrec features` (method.md §2.4) share it, so
 * an exported run encoder sees the pixels its run was trained on.
 */
export function fitImage(image: Sharp, width: number, height: number, fit: 'contain' | 'cover' | 'fill'): Promise<{ data: Buffer; info: OutputInfo }> {
  return image
    .flatten({ background: WHITE })
    .toColourspace('srgb')
    .resize(width, height, { fit, background: WHITE, position: 'centre' })
    .raw()
    .toBuffer({ resolveWithObject: true });
}

async function decodeInto(path: string, width: number | undefined, height: number | undefined, size: number, out: Uint8Array): Promise<DataError | undefined> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) return new DataError(path, undefined, 'is a directory, not an image file');
    if (st.size === 0) return new DataError(path, undefined, 'empty file (0 bytes), not an image');
  } catch (err) {
    return new DataError(path, undefined, `cannot read image: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const image = sharp(path, { failOn: 'error' });
    const meta = await image.metadata();
    if (width !== undefined && (meta.width !== width || meta.height !== height)) {
      return new DataError(path, undefined, `image is ${meta.width}x${meta.height}, expected ${width}x${height} (the size its folder name states)`);
    }
    const { data, info } = await fitImage(image, size, size, IMAGE_FIT);
    if (info.channels !== 3 || info.width !== size || info.height !== size || data.length !== out.length) {
      return new DataError(path, undefined, `decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    out.set(data);
    return undefined;
  } catch (err) {
    // libvips piles up one line per warning: the first says what is wrong
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return new DataError(path, undefined, `cannot decode image: ${message}`);
  }
}
