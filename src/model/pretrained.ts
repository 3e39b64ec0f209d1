/**
 * Pretrained image features (method.md §2.4): a user-supplied ONNX image encoder run over every
 * catalog item's image on the engine's ONNX Runtime session set-up, batched, writing the `.npy` +
 * names pair that the frozen-feature mode reads (method.md §2.1 `features`; src/data/features.ts).
 *
 * Before any image is decoded, the encoder's declared input and output are checked against the
 * preprocessing JSON; a mismatch is one UserError naming both files.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { UserError, withPath, type DataError } from '../errors.js';
import { LoadedModel, type ModelValueInfo } from '../engine/runtime.js';
import { writeFeatureMatrix } from '../data/features.js';
import { findImageDir, findSetNames, loadPolyvoreSet, resolveImagePaths, throwIfProblems } from '../data/polyvore.js';
import { describedShape, inputSize, preprocessImage, readPreprocessFile, type Preprocess } from '../data/preprocess.js';
import { Progress } from '../util/progress.js';

export const DEFAULT_FEATURE_BATCH = 32;
/** After this many undecodable images, stop and report them. */
const MAX_IMAGE_PROBLEMS = 20;

export interface ExtractOptions {
  /** Dataset root (method.md §6.1 layout). */
  root: string;
  /** Sets whose catalogs are covered (default: every tuples_<set>/ of the root); one row per distinct image name. */
  sets?: readonly string[];
  /** The ONNX image encoder. */
  encoder: string;
  /** The preprocessing JSON (src/data/preprocess.ts). */
  preprocess: string;
  /** Writes `<out>.npy` and `<out>.names`. */
  out: string;
  /** Images per encoder run (default 32; an encoder with a fixed batch size uses that). */
  batch?: number;
  /** Progress display stream; null for none. */
  progressStream?: NodeJS.WritableStream | null;
}

export interface ExtractSummary {
  sets: string[];
  items: number;
  dim: number;
  batch: number;
  npy: string;
  names: string;
  seconds: number;
}

/** The catalog's distinct image names over `sets`, each with its image file (a missing image is a DataError naming its list and line). */
function catalogImages(root: string, sets: readonly string[]): { names: string[]; paths: string[] } {
  const byName = new Map<string, string>();
  for (const set of sets) {
    const data = loadPolyvoreSet(root, set, { splits: [], requireImages: true });
    const imageDir = findImageDir(root);
    if (!imageDir) throw new Error(`internal: ${root} passed the image check without an image folder`);
    const { paths } = resolveImagePaths(data.catalog, imageDir);
    data.catalog.names.forEach((name, id) => {
      if (!byName.has(name)) byName.set(name, paths[id] as string);
    });
  }
  return { names: [...byName.keys()], paths: [...byName.values()] };
}

const shapeText = (shape: ReadonlyArray<number | string>): string => `[${shape.join(', ')}]`;

/** The value named `wanted`, or the only one; a UserError naming both files otherwise. */
function pick(values: readonly ModelValueInfo[], wanted: string | undefined, what: 'input' | 'output', encoder: string, preprocess: string): ModelValueInfo {
  const names = values.map((v) => `'${v.name}'`).join(', ');
  if (wanted !== undefined) {
    const found = values.find((v) => v.name === wanted);
    if (!found) throw new UserError(`${preprocess}: field '${what}': the encoder ${encoder} has no ${what} '${wanted}' (its ${what}s: ${names})`);
    return found;
  }
  if (values.length !== 1) throw new UserError(`${encoder} has ${values.length} ${what}s (${names}): name the one to use with "${what}" in ${preprocess}`);
  return values[0];
}

export interface EncoderPlan {
  input: string;
  output: string;
  /** The encoder's fixed batch size, when its input declares one. */
  fixedBatch?: number;
}

/**
 * Checks the encoder's declared input and output against the preprocessing: one float32 image
 * input of the described shape (symbolic sizes match anything), one float32 output of rank ≥ 2
 * whose rows are the items. Throws one UserError naming the encoder and the JSON.
 */
export function planEncoder(model: Pick<LoadedModel, 'inputs' | 'outputs'>, p: Preprocess, encoder: string, preprocess: string): EncoderPlan {
  const input = pick(model.inputs, p.input, 'input', encoder, preprocess);
  const others = model.inputs.filter((v) => v !== input);
  if (others.length > 0) {
    throw new UserError(`${encoder}: inputs besides '${input.name}' (${others.map((v) => `'${v.name}'`).join(', ')}) cannot be fed: features runs encoders with one image input`);
  }
  if (input.type !== 'float32') throw new UserError(`${encoder}: input '${input.name}' is ${input.type ?? 'not a tensor'}; features feeds float32 images`);
  let fixedBatch: number | undefined;
  if (input.shape !== undefined) {
    const described = describedShape(p, 'N');
    const fits = (layoutShape: Array<number | string>): boolean =>
      input.shape?.length === 4 && input.shape.every((d, i) => i === 0 || typeof d !== 'number' || d === layoutShape[i]);
    if (!fits(described)) {
      const other = describedShape({ ...p, layout: p.layout === 'NCHW' ? 'NHWC' : 'NCHW' }, 'N');
      const hint = fits(other) ? ` (layout ${p.layout === 'NCHW' ? 'NHWC' : 'NCHW'} would match)` : '';
      throw new UserError(
        `${encoder}: input '${input.name}' has shape ${shapeText(input.shape)}, but ${preprocess} describes ${shapeText(described)} (size [${p.height}, ${p.width}], layout ${p.layout})${hint}`,
      );
    }
    if (typeof input.shape[0] === 'number' && input.shape[0] > 0) fixedBatch = input.shape[0];
  }
  const output = pick(model.outputs, p.output, 'output', encoder, preprocess);
  if (output.type !== 'float32') throw new UserError(`${encoder}: output '${output.name}' is ${output.type ?? 'not a tensor'}; features reads float32 features`);
  if (output.shape !== undefined && output.shape.length < 2) {
    throw new UserError(`${encoder}: output '${output.name}' has shape ${shapeText(output.shape)}; expected [N, F] (or [N, F, 1, 1]): one feature row per image`);
  }
  return { input: input.name, output: output.name, ...(fixedBatch !== undefined ? { fixedBatch } : {}) };
}

/** Loads an ONNX file; a file ONNX Runtime refuses is a UserError naming it. */
export async function loadEncoder(path: string): Promise<LoadedModel> {
  // fs errors (missing, a folder, unreadable) name the path here; ONNX Runtime's would not
  const fd = openSync(path, 'r');
  try {
    readSync(fd, Buffer.alloc(1), 0, 1, 0);
  } catch (err) {
    throw withPath(err, path); // a read on a descriptor carries no path
  } finally {
    closeSync(fd);
  }
  try {
    return await LoadedModel.load(path);
  } catch (err) {
    throw new UserError(`${path}: not a model ONNX Runtime can load: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
}

/** Runs the encoder over the catalog and writes `<out>.npy` + `<out>.names` (atomically, at the end). */
export async function extractFeatures(opts: ExtractOptions): Promise<ExtractSummary> {
  const start = performance.now();
  const sets = opts.sets ? [...opts.sets] : findSetNames(opts.root);
  if (sets.length === 0) throw new UserError(`${opts.root}: no tuples_<set>/ folder found (docs/method.md §6.1 layout)`);
  const { names, paths } = catalogImages(opts.root, sets);
  const p = readPreprocessFile(opts.preprocess);
  const model = await loadEncoder(opts.encoder);
  try {
    const plan = planEncoder(model, p, opts.encoder, opts.preprocess);
    const batch = plan.fixedBatch ?? opts.batch ?? DEFAULT_FEATURE_BATCH;
    const per = inputSize(p);
    const progress = new Progress({ label: 'features', total: names.length, unit: 'images', stream: opts.progressStream ?? undefined, silent: opts.progressStream === null });

    /** Decodes images [from, from + batch) into one input tensor (a short last batch is zero-padded to a fixed batch size). */
    const decode = async (from: number): Promise<Float32Array> => {
      const count = Math.min(batch, names.length - from);
      const data = new Float32Array((plan.fixedBatch ?? count) * per);
      const problems = await Promise.all(Array.from({ length: count }, (_, i) => preprocessImage(paths[from + i], p, data.subarray(i * per, (i + 1) * per))));
      throwIfProblems(problems.filter((e): e is DataError => e !== undefined).slice(0, MAX_IMAGE_PROBLEMS));
      return data;
    };

    let values: Float32Array | undefined;
    let dim = 0;
    const prefetch = (from: number): Promise<Float32Array> | undefined => {
      if (from >= names.length) return undefined;
      const promise = decode(from);
      promise.catch(() => undefined); // rejected while a run is awaited: reported when awaited below
      return promise;
    };
    let next = prefetch(0);
    for (let from = 0; from < names.length; from += batch) {
      const data = await (next as Promise<Float32Array>);
      // the next batch decodes (libuv threads) while ONNX Runtime runs this one
      next = prefetch(from + batch);
      const fed = data.length / per;
      const result = await model.run(plan.input, { data, dims: describedShape(p, fed) as number[] }, plan.output);
      const rowLength = result.dims.slice(1).reduce((a, b) => a * b, 1);
      if (result.dims[0] !== fed || result.dims.length < 2) {
        throw new UserError(`${opts.encoder}: output '${plan.output}' came back with shape ${shapeText(result.dims)} for ${fed} images; expected [${fed}, F]`);
      }
      if (values === undefined) {
        dim = rowLength;
        values = new Float32Array(names.length * dim);
      } else if (rowLength !== dim) {
        throw new UserError(`${opts.encoder}: output '${plan.output}' gave ${rowLength} features per image after ${dim} in an earlier batch`);
      }
      const count = Math.min(batch, names.length - from);
      const rows = result.data.subarray(0, count * dim);
      const bad = rows.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new UserError(`${opts.encoder}: a non-finite feature (${rows[bad]}) for image ${paths[from + Math.floor(bad / dim)]}`);
      values.set(rows, from * dim);
      progress.tick(count);
    }
    progress.finish();
    const npy = `${opts.out}.npy`;
    const namesFile = `${opts.out}.names`;
    writeFeatureMatrix(npy, namesFile, { dim, names, values: values ?? new Float32Array(0) });
    return { sets, items: names.length, dim, batch, npy, names: namesFile, seconds: (performance.now() - start) / 1000 };
  } finally {
    await model.release();
  }
}
