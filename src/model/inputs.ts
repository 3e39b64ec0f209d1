/**
 * What a backbone reads for a set of items (method.md §2.1): normalised NHWC images or precomputed
 * feature vectors, addressed by global item id. A gather makes one typed-array copy, fed to a graph
 * as it is.
 */
import type { ImageCache } from '../data/images.js';

export type { ImageCache };

/** Stacked item inputs, row-major. */
export interface ItemBatch {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface ItemInputSource {
  readonly kind: 'images' | 'features';
  /** Number of items; ids are 0..count-1. */
  readonly count: number;
  /** Shape of one item's input: [H, W, 3] or [dim]. */
  readonly itemShape: readonly number[];
  /** The inputs of `ids`, stacked along a new first axis: [ids.length, ...itemShape] float32. */
  gather(ids: Int32Array): ItemBatch;
}

/** Mean and standard deviation of (x/255 − mean)/std, the image backbones' input (same for r, g, b). */
export const PIXEL_MEAN = 0.5;
export const PIXEL_STD = 0.25;

/** (x/255 − 0.5)/0.25: roughly zero-mean, unit-scale inputs for a CNN trained from scratch. */
const PIXEL_TO_FLOAT = (() => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - PIXEL_MEAN) / PIXEL_STD;
  return lut;
})();

function checkIds(ids: Int32Array, count: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < count)) throw new RangeError(`${what}: item id ${id} is outside 0..${count - 1}`);
  }
}

export function imageInputSource(cache: ImageCache): ItemInputSource {
  const { n, height, width, channels, pixels } = cache;
  const itemSize = height * width * channels;
  if (channels !== 3) throw new Error(`imageInputSource: images must have 3 channels, got ${channels}`);
  if (pixels.length !== n * itemSize) {
    throw new Error(`imageInputSource: pixels hold ${pixels.length} bytes, expected ${n}×${height}×${width}×3 = ${n * itemSize}`);
  }
  return {
    kind: 'images',
    count: n,
    itemShape: [height, width, 3],
    gather(ids: Int32Array): ItemBatch {
      checkIds(ids, n, 'imageInputSource');
      const out = new Float32Array(ids.length * itemSize);
      for (let i = 0; i < ids.length; i++) {
        const src = ids[i] * itemSize;
        const dst = i * itemSize;
        for (let j = 0; j < itemSize; j++) out[dst + j] = PIXEL_TO_FLOAT[pixels[src + j]];
      }
      return { data: out, dims: [ids.length, height, width, 3] };
    },
  };
}

/** Precomputed feature vectors (LPAE mode): `values` is count×dim, row-major. */
export function featureInputSource(values: Float32Array, dim: number): ItemInputSource {
  if (!(Number.isInteger(dim) && dim > 0) || values.length % dim !== 0) {
    throw new Error(`featureInputSource: ${values.length} values do not split into rows of ${dim}`);
  }
  const count = values.length / dim;
  return {
    kind: 'features',
    count,
    itemShape: [dim],
    gather(ids: Int32Array): ItemBatch {
      checkIds(ids, count, 'featureInputSource');
      const out = new Float32Array(ids.length * dim);
      for (let i = 0; i < ids.length; i++) out.set(values.subarray(ids[i] * dim, ids[i] * dim + dim), i * dim);
      return { data: out, dims: [ids.length, dim] };
    },
  };
}
