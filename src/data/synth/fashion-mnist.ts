/**
 * Fashion-MNIST reader (method.md §6.3): the gzipped IDX files of the Debian package
 * `dataset-fashion-mnist`, parsed by hand (IDX = big-endian magic, dimension sizes, raw bytes).
 * The 60k training and 10k test images are joined into one pool of 70k: the benchmark uses them
 * only as item pictures, never as a classification split.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../../errors.js';

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_SIDE = 28;
const PIXELS = FASHION_MNIST_SIDE * FASHION_MNIST_SIDE;

const FILES = [
  { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
] as const;

export interface FashionMnist {
  /** count × 28 × 28 grey levels, row-major; 0 = background. */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  /** Image indices of each label, increasing. */
  readonly byLabel: Int32Array[];
}

/** The file path to read for `name` in `dir`: the gzipped file, else an already unpacked one. */
function idxPath(dir: string, name: string): string | undefined {
  for (const candidate of [join(dir, `${name}.gz`), join(dir, name)]) if (existsSync(candidate)) return candidate;
  return undefined;
}

/** Whether `dir` holds all four Fashion-MNIST IDX files (gzipped or not). */
export function hasFashionMnist(dir: string): boolean {
  return FILES.every((f) => idxPath(dir, f.images) !== undefined && idxPath(dir, f.labels) !== undefined);
}

function readIdx(path: string, expectedMagic: number, expectedDims: number): { dims: number[]; data: Uint8Array } {
  let buf = readFileSync(path);
  if (path.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new DataError(path, undefined, `not a valid gzip file (${(err as Error).message})`);
    }
  }
  if (buf.length < 4 + 4 * expectedDims) throw new DataError(path, undefined, `too short for an IDX header (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  if (magic !== expectedMagic) {
    throw new DataError(path, undefined, `IDX magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic.toString(16).padStart(8, '0')} (unsigned bytes, ${expectedDims} dimensions)`);
  }
  const dims: number[] = [];
  for (let d = 0; d < expectedDims; d++) dims.push(buf.readUInt32BE(4 + 4 * d));
  const start = 4 + 4 * expectedDims;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== start + size) throw new DataError(path, undefined, `${buf.length - start} data bytes, the header promises ${dims.join('×')} = ${size}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, size) };
}

/** Reads the four IDX files of `dir` (DataError naming the file when one is missing or malformed). */
export function loadFashionMnist(dir: string): FashionMnist {
  const parts: { pixels: Uint8Array; labels: Uint8Array }[] = [];
  for (const f of FILES) {
    const imagesPath = idxPath(dir, f.images);
    const labelsPath = idxPath(dir, f.labels);
    if (!imagesPath) throw new DataError(join(dir, `${f.images}.gz`), undefined, 'missing Fashion-MNIST image file');
    if (!labelsPath) throw new DataError(join(dir, `${f.labels}.gz`), undefined, 'missing Fashion-MNIST label file');
    const images = readIdx(imagesPath, 0x00000803, 3);
    const labels = readIdx(labelsPath, 0x00000801, 1);
    if (images.dims[1] !== FASHION_MNIST_SIDE || images.dims[2] !== FASHION_MNIST_SIDE) {
      throw new DataError(imagesPath, undefined, `images are ${images.dims[1]}×${images.dims[2]}, expected 28×28`);
    }
    if (images.dims[0] !== labels.dims[0]) {
      throw new DataError(labelsPath, undefined, `${labels.dims[0]} labels for ${images.dims[0]} images in ${imagesPath}`);
    }
    for (let i = 0; i < labels.data.length; i++) {
      if (labels.data[i] > 9) throw new DataError(labelsPath, undefined, `label ${labels.data[i]} at index ${i} is not 0..9`);
    }
    parts.push({ pixels: images.data, labels: labels.data });
  }
  const count = parts.reduce((n, p) => n + p.labels.length, 0);
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  const counts = new Int32Array(10);
  for (let i = 0; i < count; i++) counts[labels[i]]++;
  const byLabel = Array.from(counts, (n) => new Int32Array(n));
  counts.fill(0);
  for (let i = 0; i < count; i++) byLabel[labels[i]][counts[labels[i]]++] = i;
  return { pixels, labels, count, byLabel };
}
