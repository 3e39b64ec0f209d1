/**
 * The preprocessing JSON of `outfitrec features` (method.md §2.4): how an item image becomes the
 * float input of a pretrained ONNX image encoder. Validated with zod; every error names the file
 * and the field.
 *
 *   x[c, y, x] = (pixel[c, y, x] · scale − mean[c]) / std[c]
 *
 * after the image is fitted to size (H × W) with `resize` (src/data/images.ts `fitImage`).
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { z } from 'zod';
import { DataError } from '../errors.js';
import { fitImage } from './images.js';

const side = z.number().int().min(1).max(4096);
const rgb = (what: string, positive: boolean) =>
  z.tuple([z.number(), z.number(), z.number()], { error: `expected [r, g, b]: three numbers, the ${what} per channel` }).refine((v) => !positive || v.every((x) => x > 0), `every ${what} must be > 0`);

export const PreprocessSchema = z.strictObject({
  /** Input height and width, or one number for a square. */
  size: z.union([side, z.tuple([side, side])], { error: 'expected N or [H, W]: the input height and width in pixels (1..4096)' }),
  /** cover: scale to cover and crop the centre; contain: scale to fit and pad with white; fill: stretch. */
  resize: z.enum(['cover', 'contain', 'fill']).default('cover'),
  mean: rgb('mean', false),
  std: rgb('standard deviation', true),
  /** Multiplies the 0..255 pixel before mean and std (1/255 maps it to 0..1). */
  scale: z.number().positive().default(1 / 255),
  layout: z.enum(['NCHW', 'NHWC']),
  /** The encoder's image input (default: its only input). */
  input: z.string().min(1).optional(),
  /** The encoder's feature output (default: its only output). */
  output: z.string().min(1).optional(),
});

/** The JSON as written (sizes as given, defaults omitted). */
export type PreprocessJson = z.input<typeof PreprocessSchema>;

export interface Preprocess {
  readonly height: number;
  readonly width: number;
  readonly resize: 'cover' | 'contain' | 'fill';
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly scale: number;
  readonly layout: 'NCHW' | 'NHWC';
  readonly input?: string;
  readonly output?: string;
}

/** Validates a parsed preprocessing JSON; `file` names it in the DataError. */
export function parsePreprocess(raw: unknown, file: string): Preprocess {
  const result = PreprocessSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue.path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
    if (issue.code === 'unrecognized_keys') throw new DataError(file, undefined, `unknown field '${issue.keys.join("', '")}' (fields: ${Object.keys(PreprocessSchema.shape).join(', ')})`);
    const missing = issue.path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), raw) === undefined;
    throw new DataError(file, undefined, field ? `field '${field}': ${missing ? 'required' : issue.message}` : issue.message);
  }
  const p = result.data;
  const [height, width] = typeof p.size === 'number' ? [p.size, p.size] : p.size;
  return { ...p, height, width };
}

/** Reads and validates a preprocessing JSON file. */
export function readPreprocessFile(path: string): Preprocess {
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DataError(path, undefined, `not valid JSON: ${(err as Error).message}`);
  }
  return parsePreprocess(raw, path);
}

/** Floats per preprocessed image. */
export function inputSize(p: Preprocess): number {
  return 3 * p.height * p.width;
}

/** The encoder input shape the JSON describes, batch first: [n, 3, H, W] or [n, H, W, 3]. */
export function describedShape(p: Preprocess, batch: number | string): Array<number | string> {
  return p.layout === 'NCHW' ? [batch, 3, p.height, p.width] : [batch, p.height, p.width, 3];
}

/**
 * Decodes the image at `path` into `out` (inputSize(p) floats, in p.layout without the batch
 * axis). Returns a DataError naming the file when it cannot be decoded.
 */
export async function preprocessImage(path: string, p: Preprocess, out: Float32Array): Promise<DataError | undefined> {
  let data: Buffer;
  try {
    const fitted = await fitImage(sharp(path, { failOn: 'error' }), p.width, p.height, p.resize);
    data = fitted.data;
    if (fitted.info.channels !== 3 || data.length !== out.length) {
      return new DataError(path, undefined, `decoded to ${fitted.info.width}x${fitted.info.height}x${fitted.info.channels}, expected ${p.width}x${p.height}x3`);
    }
  } catch (err) {
    // libvips piles up one line per warning: the first says what is wrong
    return new DataError(path, undefined, `cannot decode image: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  const pixels = p.height * p.width;
  const lut = channelTables(p);
  for (let c = 0; c < 3; c++) {
    const table = lut[c];
    if (p.layout === 'NCHW') for (let i = 0; i < pixels; i++) out[c * pixels + i] = table[data[i * 3 + c]];
    else for (let i = 0; i < pixels; i++) out[i * 3 + c] = table[data[i * 3 + c]];
  }
  return undefined;
}

/** Per channel, the input value of each pixel byte: (v · scale − mean[c]) / std[c]. */
function channelTables(p: Preprocess): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v * p.scale - p.mean[c]) / p.std[c];
    return table;
  });
}
