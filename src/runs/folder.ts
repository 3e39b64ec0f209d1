/**
 * The run folder (architecture.md §4.2):
 *
 *   config.json             the resolved RunConfig (model completed from the data)
 *   weights.safetensors     latest model weights (end of the last finished epoch)
 *   best.safetensors        weights of the epoch with the best validation AUC
 *   best.json               pointer: that epoch and its validation metrics
 *   optimizer.safetensors   optimizer slots + train-only weights (CL projection head), for --resume
 *   state.json              epoch, step, schedule state, best so far: THE COMMIT RECORD
 *   metrics.jsonl           one line per finished epoch
 *
 * Every file is written atomically (temp + rename). A checkpoint spans several files, so the end of
 * an epoch is a small two-phase commit: the safetensors files are first written as `*.next.safetensors`
 * (each tagged with its epoch in the metadata), then metrics.jsonl, then state.json (the commit),
 * then the `.next` files are renamed into place. A process killed at any moment therefore leaves
 * either the previous checkpoint or the new one: `recoverRunFolder` rolls a committed epoch forward
 * (finishing the renames) and discards an uncommitted one, including temp files of interrupted writes.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, UserError } from '../errors.js';
import { readSafetensors } from '../model/checkpoint.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';

export const RUN_FILES = {
  config: 'config.json',
  weights: 'weights.safetensors',
  best: 'best.safetensors',
  bestPointer: 'best.json',
  optimizer: 'optimizer.safetensors',
  state: 'state.json',
  metrics: 'metrics.jsonl',
} as const;

/** The checkpoint files that go through the `.next` two-phase write. */
const STAGED_FILES = [RUN_FILES.weights, RUN_FILES.optimizer, RUN_FILES.best] as const;

export function stagedPath(dir: string, file: string): string {
  return join(dir, file.replace(/\.safetensors$/, '.next.safetensors'));
}

export interface ValMetrics {
  auc: number;
  ndcg: number;
}

/** The learning-rate schedule's whole state (train/schedule.ts `ReduceOnPlateau`), kept in state.json so --resume restores it. */
export interface PlateauState {
  lr: number;
  best: number | null;
  badEpochs: number;
  cooldownLeft: number;
  reductions: number;
}

export interface BestPointer {
  /** 1-based epoch whose weights are in best.safetensors. */
  epoch: number;
  val: ValMetrics;
  file: string;
}

/** state.json: everything --resume needs besides the tensors. */
export interface TrainState {
  /** Finished epochs (1-based count); the next epoch to run is epoch + 1. */
  epoch: number;
  /** Optimizer steps taken in all. */
  step: number;
  schedule: PlateauState;
  best: BestPointer | null;
  /** Epochs since the best one (early stopping). */
  epochsWithoutImprovement: number;
  /** True once training ended (all epochs, or early stopping). */
  finished: boolean;
  stoppedEarly: boolean;
  /**
   * Randomness: every epoch's sampling stream is derived from (seed, epoch), so a resumed run
   * draws the same negatives and views as an uninterrupted one would have.
   */
  seed: number;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  /** Mean training losses over the epoch's steps: total and its parts. */
  loss: { total: number; main: number; cl?: number; reg?: number };
  val: ValMetrics;
  lr: number;
  seconds: number;
  steps: number;
}

export function readState(dir: string): TrainState | null {
  const path = join(dir, RUN_FILES.state);
  if (!existsSync(path)) return null;
  return readJson(path) as TrainState;
}

export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DataError(path, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DataError(path, undefined, `not valid JSON: ${(err as Error).message}`);
  }
}

/** metrics.jsonl lines, in order; a malformed line is a DataError naming its line. */
export function readMetrics(dir: string): EpochRecord[] {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: EpochRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as EpochRecord);
    } catch (err) {
      throw new DataError(path, i + 1, `not valid JSON: ${(err as Error).message}`);
    }
  });
  return out;
}

/** The epoch a checkpoint file was written for (its safetensors metadata), or null when absent/unreadable. */
export function checkpointEpoch(path: string): number | null {
  if (!existsSync(path)) return null;
  try {
    const epoch = Number(readSafetensors(path).metadata.epoch);
    return Number.isInteger(epoch) ? epoch : null;
  } catch {
    return null;
  }
}

/**
 * Brings a run folder to its last committed checkpoint: staged files of the committed epoch are
 * renamed into place, staged files of an uncommitted epoch are removed, metrics.jsonl loses lines
 * past the committed epoch and best.json is rewritten from state.json. Returns the state.
 */
export function recoverRunFolder(dir: string): TrainState | null {
  // temp files of atomic writes interrupted by a kill (util/fs.ts names them <file>.<pid>.<time>.tmp)
  for (const name of readdirSync(dir)) if (/\.\d+\.\d+\.tmp$/.test(name)) rmSync(join(dir, name), { force: true });
  const state = readState(dir);
  for (const file of STAGED_FILES) {
    const staged = stagedPath(dir, file);
    if (!existsSync(staged)) continue;
    const epoch = checkpointEpoch(staged);
    const committedEpoch = file === RUN_FILES.best ? state?.best?.epoch : state?.epoch;
    if (state && epoch !== null && epoch === committedEpoch) renameSync(staged, join(dir, file));
    else rmSync(staged, { force: true });
  }
  if (!state) return null;
  const metrics = readMetrics(dir).filter((r) => r.epoch <= state.epoch);
  writeMetrics(dir, metrics);
  if (state.best) writeJsonAtomic(join(dir, RUN_FILES.bestPointer), state.best);
  return state;
}

export function writeMetrics(dir: string, records: EpochRecord[]): void {
  writeFileAtomic(join(dir, RUN_FILES.metrics), records.map((r) => JSON.stringify(r) + '\n').join(''));
}

/**
 * Commits one epoch. `stage` writes the epoch's safetensors files to the paths it is given (see
 * `stagedPath`); the rest of the protocol is here.
 */
export function commitEpoch(
  dir: string,
  state: TrainState,
  metrics: EpochRecord[],
  stage: (paths: { weights: string; optimizer: string; best: string | null }) => void,
): void {
  const improved = state.best !== null && state.best.epoch === state.epoch;
  const paths = {
    weights: stagedPath(dir, RUN_FILES.weights),
    optimizer: stagedPath(dir, RUN_FILES.optimizer),
    best: improved ? stagedPath(dir, RUN_FILES.best) : null,
  };
  stage(paths);
  writeMetrics(dir, metrics);
  writeJsonAtomic(join(dir, RUN_FILES.state), state); // the commit point
  renameSync(paths.weights, join(dir, RUN_FILES.weights));
  renameSync(paths.optimizer, join(dir, RUN_FILES.optimizer));
  if (paths.best) renameSync(paths.best, join(dir, RUN_FILES.best));
  if (state.best) writeJsonAtomic(join(dir, RUN_FILES.bestPointer), state.best);
}

/**
 * The weights file of a run to load without modifying the folder (a run may be training in another
 * process): `best` or `latest`, taking a committed-but-not-yet-renamed `.next` file into account.
 */
export function resolveWeightsFile(dir: string, which: 'best' | 'latest'): { path: string; epoch: number | null } {
  const state = readState(dir);
  const file = which === 'best' ? RUN_FILES.best : RUN_FILES.weights;
  const committedEpoch = which === 'best' ? state?.best?.epoch : state?.epoch;
  const staged = stagedPath(dir, file);
  if (committedEpoch !== undefined && checkpointEpoch(staged) === committedEpoch) return { path: staged, epoch: committedEpoch };
  const path = join(dir, file);
  if (!existsSync(path)) {
    if (which === 'best' && existsSync(join(dir, RUN_FILES.weights))) return resolveWeightsFile(dir, 'latest');
    throw new UserError(`${dir}: no ${file} (has this run finished an epoch?)`);
  }
  return { path, epoch: checkpointEpoch(path) };
}
