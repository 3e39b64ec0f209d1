/**
 * Running one grid cell: train it (or resume it, or skip it when finished), then evaluate its best
 * weights on the test split with the fixed random-mix negatives and the hard negatives (method.md §7,
 * §8.3), and cache that evaluation as `<out>/results/<key>.json`. Every step is idempotent, so an
 * interrupted grid continues where it stopped: finished cells are skipped, partial runs resume from
 * their last checkpoint, evaluated cells are read back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolyvoreSet } from '../../data/types.js';
import { UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { readMetrics, readState, RUN_FILES, type EpochRecord } from '../../runs/folder.js';
import { ItemEmbeddingCache } from '../../train/item-cache.js';
import { loadRun } from '../../runs/load.js';
import { trainRunExclusive } from '../../train/exclusive.js';
import { writeJsonAtomic } from '../../util/fs.js';
import { buildCandidates, evaluateCandidates, type NegativeSource, type OutfitScorer } from '../../eval/evaluate.js';
import { evaluateRanking } from '../../eval/metrics.js';
import { cellKey, cellRunConfig, type GridPlan, type TrainCell } from './grid.js';

/** Where a grid keeps its runs and cached evaluations. */
export interface GridPaths {
  /** Dataset root (holds every tuples_<set>/ and the synthetic oracle); evaluation reads it. */
  root: string;
  /** Root the cells train on: `root`, or a view with a share of the training positives (train-view.ts). */
  trainRoot: string;
  /** `--out`. */
  out: string;
}

export function runDirOf(paths: GridPaths, c: TrainCell): string {
  return join(paths.out, 'runs', cellKey(c));
}

export function resultPathOf(paths: GridPaths, c: TrainCell): string {
  return join(paths.out, 'results', `${cellKey(c)}.json`);
}

/** Test metrics of one candidate source. `perUserAuc[u]` is null for a user without candidates. */
export interface TestMetrics {
  auc: number;
  ndcg: number;
  fitb: number | null;
  users: number;
  perUserAuc: Array<number | null>;
}

/** What a finished cell contributes to the tables (JSON in results/). */
export interface CellResult {
  key: string;
  cell: TrainCell;
  runDir: string;
  epochs: number;
  bestEpoch: number;
  bestVal: { auc: number; ndcg: number };
  stoppedEarly: boolean;
  /** Training wall time summed over epochs (validation included), and per optimizer step. */
  trainSeconds: number;
  secondsPerStep: number;
  /**
   * CPU seconds (user + system) of this process while it trained and evaluated the cell in this
   * invocation, or null when the run was trained earlier: the figure the grid's time budget is
   * planned with, since wall time depends on whatever else the machine runs.
   */
  cpuSeconds: number | null;
  params: Record<string, number>;
  test: Record<'file' | 'hard', TestMetrics>;
}

export interface RunCellOptions {
  log?: (line: string) => void;
  /** Stop training after the current step (Ctrl-C); the run folder keeps its last epoch. */
  signal?: AbortSignal;
  handleSigint?: boolean;
}

/** Outcome of `runCell`: the result, or `interrupted` when training was stopped. */
export type CellOutcome = { status: 'done'; result: CellResult; trained: boolean } | { status: 'interrupted' };

/** Reads a cached evaluation; undefined when absent or not for this cell. */
export function readCellResult(paths: GridPaths, c: TrainCell): CellResult | undefined {
  const path = resultPathOf(paths, c);
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as CellResult;
    return r.key === cellKey(c) ? r : undefined;
  } catch {
    return undefined; // a torn or stale cache is recomputed, never trusted
  }
}

/** Trains (or resumes) and evaluates one cell; a finished, evaluated cell costs one file read. */
export async function runCell(c: TrainCell, plan: GridPlan, paths: GridPaths, opts: RunCellOptions = {}): Promise<CellOutcome> {
  const cached = readCellResult(paths, c);
  if (cached) return { status: 'done', result: cached, trained: false };
  const dir = runDirOf(paths, c);
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const cpuAtStart = process.cpuUsage();
  let trained = false;
  const state = readState(dir);
  if (!state?.finished) {
    const resume = existsSync(join(dir, RUN_FILES.config));
    const result = await trainRunExclusive({
      out: dir,
      resume,
      config: resume ? undefined : cellRunConfig(c, plan, { root: paths.trainRoot, runDirOf: (t) => runDirOf(paths, t) }),
      log,
      progressStream: null,
      signal: opts.signal,
      handleSigint: opts.handleSigint,
    });
    if (result.interrupted) return { status: 'interrupted' };
    trained = true;
  }
  const evaluated = await evaluateCell(c, paths);
  const cpu = process.cpuUsage(cpuAtStart);
  const result: CellResult = { ...evaluated, cpuSeconds: trained ? (cpu.user + cpu.system) / 1e6 : null };
  writeJsonAtomic(resultPathOf(paths, c), result);
  return { status: 'done', result, trained };
}

/** Best weights of a finished cell on the test split, file and hard negatives. */
export async function evaluateCell(c: TrainCell, paths: GridPaths): Promise<Omit<CellResult, 'cpuSeconds'>> {
  const dir = runDirOf(paths, c);
  return { key: cellKey(c), cell: c, ...(await evaluateRunFolder(dir, paths.root, c.seed)) };
}

/** What the test evaluation of a finished run folder gives, whether or not it is a grid cell. */
export type RunEvaluation = Omit<CellResult, 'key' | 'cell' | 'cpuSeconds'>;

/**
 * Best weights of a finished run folder on the test split of the set it was trained on, read from
 * `root` (the full dataset root, also for runs trained on a training view): the fixed random-mix
 * negatives with FITB and the hard negatives (method.md §7, §8.3). `seed` seeds only random negatives.
 */
export async function evaluateRunFolder(dir: string, root: string, seed: number): Promise<RunEvaluation> {
  const state = readState(dir);
  if (!state?.finished || !state.best) throw new UserError(`${dir}: the run has not finished, so it cannot be evaluated`);
  const run = await loadRun(dir, { root, splits: ['test'] });
  try {
    const inputs = run.inputs;
    if (!inputs) throw new Error('loadRun returned no inputs');
    // every test item through the backbone once, then only the Set Transformer per outfit: the
    // candidates share most items, so this is several times cheaper than scoring outfit batches
    const split = run.set.splits.test;
    const tables = [split.posi, split.nega, ...(split.negaHard ? [split.negaHard] : []), ...(run.set.fitb ? [run.set.fitb] : [])];
    const cache = await ItemEmbeddingCache.build(run.model, inputs, ItemEmbeddingCache.itemsOf(...tables));
    const scorer: OutfitScorer = (table) => cache.scoreTable(table);
    const test: CellResult['test'] = {
      file: await testMetrics(run.set, scorer, 'file', seed),
      hard: await testMetrics(run.set, scorer, 'hard', seed),
    };
    const metrics: EpochRecord[] = readMetrics(dir);
    const trainSeconds = metrics.reduce((a, m) => a + m.seconds, 0);
    const steps = metrics.reduce((a, m) => a + m.steps, 0);
    return {
      runDir: dir,
      epochs: state.epoch,
      bestEpoch: state.best.epoch,
      bestVal: state.best.val,
      stoppedEarly: state.stoppedEarly,
      trainSeconds,
      secondsPerStep: steps > 0 ? trainSeconds / steps : NaN,
      params: { ...run.model.paramCounts() },
      test,
    };
  } finally {
    await run.model.dispose();
  }
}

/** AUC/NDCG (with per-user AUC) and FITB of one scorer on the test split (method.md §7). */
export async function testMetrics(set: PolyvoreSet, scorer: OutfitScorer, negatives: NegativeSource, seed: number): Promise<TestMetrics> {
  const candidates = buildCandidates(set, 'test', negatives, new Rng(seed).fork('test-negatives'));
  // evaluateCandidates scores the candidates once; keep those scores for the per-user AUCs
  let candidateScores: Float32Array | undefined;
  const recording: OutfitScorer = async (table) => {
    const s = await scorer(table);
    if (table === candidates.table) candidateScores = s;
    return s;
  };
  const report = await evaluateCandidates(set, 'test', candidates, recording, { fitb: negatives === 'file' });
  if (!candidateScores) throw new Error('testMetrics: the candidates were not scored');
  const ranking = evaluateRanking(candidates.table.users, candidateScores, candidates.labels);
  const perUserAuc: Array<number | null> = new Array(set.numUsers).fill(null);
  for (const u of ranking.perUser) perUserAuc[u.user] = u.auc;
  return { auc: report.auc, ndcg: report.ndcg, fitb: report.fitb ?? null, users: report.users, perUserAuc };
}
