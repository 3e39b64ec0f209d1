/**
 * outfitrec as a library: the one public entry (`import … from 'outfitrec'`). A small, deliberate
 * surface over the layers of architecture.md §1 — read datasets, train, load a run, evaluate, and
 * score / rank / compose / onboard through a `Recommender` — each part documented where it is
 * defined. Everything else under src/ is internal and may change between versions.
 *
 * Nothing needs setting up before use: the engine (ONNX Runtime through onnxruntime-node) is loaded
 * by these modules themselves and runs with one intra-op thread per session unless
 * `setEngineThreads` says otherwise (architecture.md §5).
 *
 * @example
 * ```js
 * import { Recommender } from 'outfitrec';
 * const rec = await Recommender.open('runs/student');          // a run folder written by `train`
 * const top = await rec.compose(0, { k: 3 });                   // user 0's best 3 outfits
 * const ranked = await rec.rankCandidates(0, [[0, 487, 795], [1, 488, 796]]);
 * rec.close();
 * ```
 *
 * @packageDocumentation
 */

// ---- datasets (method.md §6) -----------------------------------------------------------------

/** Reads one Polyvore-U set (`tuples_<set>/` of a dataset root) and checks it, naming file and line of any problem. */
export { loadPolyvoreSet, checkPolyvoreRoot, findSetNames, type LoadOptions, type RootCheck, type CheckedSet } from './data/polyvore.js';
/** Writes the example shop of `data synth --preset shop` in the shop format, with its ground truth (method.md §6.3). */
export { generateShop, loadShopOracle, type ShopOptions, type ShopOracle, type ShopReport } from './data/synth/index.js';
/** Writes a synthetic Polyvore-U root with its ground-truth oracle (method.md §6.3). */
export { generateSynthetic, loadOracle, PRESETS, type SynthOptions, type SynthReport, type Oracle } from './data/synth/index.js';
/** Imports a shop's catalog and outfits (or another registered format) as a dataset folder (method.md §6.4). */
export { importDataset, IMPORT_FORMATS, type ImportOptions, type ImportSummary, type ShopRecords } from './data/import/index.js';
export { CATEGORY_NAMES, SET_NAMES, SPLITS, type Catalog, type OutfitTable, type PolyvoreSet, type SetLayout, type SetName, type SplitName } from './data/types.js';
/** A set's categories and slots: its tuples_<set>/layout.json, or the FHN layout of its name (method.md §6.5). */
export { fhnLayout, parseLayout, readLayout } from './data/layout.js';
/** Pretrained image features (method.md §2.4): an ONNX image encoder over a root's catalog → `.npy` + `.names`. */
export { extractFeatures, type ExtractOptions, type ExtractSummary } from './model/pretrained.js';
export { PreprocessSchema, parsePreprocess, type Preprocess, type PreprocessJson } from './data/preprocess.js';

// ---- configuration and training (method.md §4; architecture.md §4.1, §4.2) ---------------------

/** The run configuration: zod schema, parser (unknown keys are errors naming the key) and defaults. */
export { FND_DEFAULT_ALPHA, METHODS, RunConfigSchema, mergeConfig, parseRunConfig, readConfigFile, type Method, type RunConfig } from './config.js';
/**
 * Trains one run into a run folder, as `outfitrec train` does: the folder must be new or empty (or
 * hold the run, with `resume`), is locked while training, and is left as it was when the start fails.
 */
export { trainRunExclusive as train } from './train/exclusive.js';
export type { TrainResult, TrainRunOptions } from './train/trainer.js';

// ---- trained runs ------------------------------------------------------------------------------

/** Rebuilds a trained model from its run folder alone; `runScorer` turns it into an `OutfitScorer`. */
export { loadRun, readRunConfig, runScorer, type LoadRunOptions, type LoadedRun } from './runs/load.js';

// ---- evaluation (method.md §7) -----------------------------------------------------------------

/** Candidates (positives + 10 negatives each) of a split, and AUC / NDCG / FITB of any scorer on them. */
export {
  NEGATIVE_SOURCES,
  buildCandidates,
  evaluateCandidates,
  evaluateScorer,
  randomScorer,
  type Candidates,
  type EvalReport,
  type EvaluateOptions,
  type NegativeSource,
  type OutfitScorer,
} from './eval/evaluate.js';
export { aucOfUser, fitbAccuracy, ndcgOfUser } from './eval/metrics.js';

// ---- serving: score, rank, compose, onboard ------------------------------------------------------

/** A loaded run answering score / rank / compose / new-user requests, with onboarded users in SQLite. */
export {
  Recommender,
  UnknownItemError,
  UnknownUserError,
  type ItemInfo,
  type ItemRef,
  type OnboardOptions,
  type OutfitRefs,
  type RankedOutfit,
  type RecommenderOptions,
} from './serve/recommender.js';
export type { CalibratedScore, ComposeResult, ComposedOutfit } from './serve/compose.js';
/** The HTTP service and web page of `outfitrec serve` over a Recommender. */
export { startServer, type ServerOptions } from './serve/server.js';
export { COLD_START_STRATEGIES, type ColdStartStrategy } from './train/cold-start.js';

// ---- shared --------------------------------------------------------------------------------------

/** Errors a user can cause (bad path, malformed row, bad config field): `message` names the file and line or the field. */
export { ConfigError, DataError, UserError } from './errors.js';
/** The seeded random generator every random choice goes through (architecture.md §4.3). */
export { Rng } from './rng.js';
/** ONNX Runtime intra-op threads of every session created afterwards (default 1). */
export { setEngineThreads } from './engine/runtime.js';
