/**
 * Rebuilding a trained model from its run folder alone (architecture.md §4.1: `eval` and `serve` need nothing
 * else): config.json says how to load the data inputs and build the model; best.safetensors (or
 * weights.safetensors) holds the weights.
 */
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { backboneKindOf, parseResolvedRunConfig, type RunConfig, type UnresolvedRunConfig } from '../config.js';
import { featuresForCatalog, loadFeatureMatrix } from '../data/features.js';
import { loadImageCache } from '../data/images.js';
import { loadPolyvoreSet } from '../data/polyvore.js';
import type { OutfitTable, PolyvoreSet, SplitName } from '../data/types.js';
import { UserError } from '../errors.js';
import { loadWeights } from '../model/checkpoint.js';
import { featureInputSource, imageInputSource, type ItemInputSource } from '../model/inputs.js';
import { OutfitModel } from '../model/outfit-model.js';
import { Rng } from '../rng.js';
import { readJson, readState, resolveWeightsFile, RUN_FILES, type BestPointer, type TrainState } from './folder.js';

/** What the backbone reads for every item of `set` (method.md §2.1): images from the cache, or precomputed features. */
export async function buildItemInputs(
  cfg: UnresolvedRunConfig | RunConfig,
  set: PolyvoreSet,
  opts: { onImageProgress?: (done: number, total: number) => void } = {},
): Promise<ItemInputSource> {
  if (backboneKindOf(cfg) === 'features') {
    const files = cfg.data.features;
    if (!files) throw new UserError("the 'features' backbone needs precomputed features: give --features NPY (and --feature-names FILE unless it is NPY's .names)");
    for (const f of [files.npy, files.names]) if (!existsSync(f)) throw new UserError(`feature file ${f} does not exist`);
    const matrix = loadFeatureMatrix(files.npy, files.names);
    return featureInputSource(featuresForCatalog(matrix, set.catalog, set.layout.categories), matrix.dim);
  }
  const cache = await loadImageCache(set, cfg.data.imageSize, { onProgress: opts.onImageProgress });
  return imageInputSource(cache);
}

export interface LoadRunOptions {
  /** 'best' (default) = best.safetensors; 'latest' = weights.safetensors. */
  weights?: 'best' | 'latest';
  /** Dataset root to read instead of the one in config.json (the run folder moved machines). */
  root?: string;
  /** Set folder to load (default: the run's). Its users must be the model's users. */
  set?: string;
  /** Splits to read (default all). */
  splits?: SplitName[];
  /** An already loaded set to use instead of reading one (e.g. the student's, for its teacher). */
  loadedSet?: PolyvoreSet;
  /** Also build the item inputs (default true). */
  inputs?: boolean;
}

export interface LoadedRun {
  dir: string;
  config: RunConfig;
  model: OutfitModel;
  set: PolyvoreSet;
  /** Item inputs of `set` (absent when `inputs: false`). */
  inputs?: ItemInputSource;
  state: TrainState | null;
  best: BestPointer | null;
  /** The weights file that was loaded and its epoch. */
  weightsFile: string;
  weightsEpoch: number | null;
}

/** Reads and validates a run folder's config.json. */
export function readRunConfig(dir: string): RunConfig {
  const path = join(dir, RUN_FILES.config);
  if (!existsSync(path)) throw new UserError(`${dir}: not a run folder (no ${RUN_FILES.config})`);
  return parseResolvedRunConfig(readJson(path), path);
}

/**
 * A run's user rows belong to the users of the set it was trained on: scoring another set (same
 * user count or not) would score other people. The set name must match, and its users (ids
 * 0..U-1, dense: the loader checks) must be as many as the model's.
 */
export function requireTrainingSet(dir: string, config: RunConfig, set: PolyvoreSet): void {
  const trained = `set ${config.data.set} (${config.model.numUsers} users)`;
  if (set.set !== config.data.set || set.numUsers !== config.model.numUsers) {
    throw new UserError(
      `${dir}: trained on ${trained}, but ${set.dir} is set ${set.set} with ${set.numUsers} users; ` +
        `a run scores only the users of the set it was trained on (new users: see docs/method.md §5 / coldstart)`,
    );
  }
}

/** Rebuilds the model of a run folder with its best (or latest) weights, plus the data it reads. */
export async function loadRun(dir: string, opts: LoadRunOptions = {}): Promise<LoadedRun> {
  const config = readRunConfig(dir);
  const root = opts.root ?? config.data.root;
  const setName = opts.set ?? config.data.set;
  const set = opts.loadedSet ?? loadPolyvoreSet(root, setName, opts.splits ? { splits: opts.splits } : {});
  requireTrainingSet(dir, config, set);
  const { path, epoch } = resolveWeightsFile(dir, opts.weights ?? 'best');
  const model = OutfitModel.create(config.model, new Rng(config.seed).fork('model'));
  try {
    loadWeights(path, model);
  } catch (err) {
    await model.dispose();
    throw err;
  }
  const state = readState(dir);
  const runCfg = { ...config, data: { ...config.data, root } };
  const inputs = opts.inputs === false ? undefined : await buildItemInputs(runCfg, set);
  if (inputs && inputs.count !== set.catalog.names.length) {
    throw new Error(`loadRun: ${inputs.count} item inputs for ${set.catalog.names.length} catalog items`);
  }
  return { dir: resolve(dir), config: runCfg, model, set, inputs, state, best: state?.best ?? null, weightsFile: path, weightsEpoch: epoch };
}

/**
 * A loaded run as an `OutfitScorer` (eval/evaluate.ts): s(user, outfit) for every row of a table
 * of `run.set`'s items and users (method.md §3). The run must have been loaded with its inputs.
 */
export function runScorer(run: LoadedRun): (table: OutfitTable) => Promise<Float32Array> {
  const inputs = run.inputs;
  if (!inputs) throw new Error('runScorer: the run was loaded without its item inputs (inputs: false)');
  return (table) => run.model.scoreTable(inputs, table);
}
