/**
 * What every table builder receives, and small helpers they share: the plan, the paths, the cell
 * results, a cache for evaluation-only work (cold start, φ analysis, efficiency), and seed-wise
 * summaries.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../util/fs.js';
import type { CellResult, GridPaths } from './cells.js';
import { cellKey, type GridPlan, type TrainCell } from './grid.js';
import { summarise, type Summary } from './report.js';

export interface ExperimentContext {
  plan: GridPlan;
  paths: GridPaths;
  /** Finished cells by key. */
  results: Map<string, CellResult>;
  log: (line: string) => void;
}

/** The result of a cell; an error if the grid did not produce it (a bug in cellsOf). */
export function resultOf(ctx: ExperimentContext, c: TrainCell): CellResult {
  const r = ctx.results.get(cellKey(c));
  if (!r) throw new Error(`experiment: no result for cell ${cellKey(c)}`);
  return r;
}

/** Mean ± std over the plan's seeds of a quantity of a cell family (`cellFor(seed)`). */
export function overSeeds(ctx: ExperimentContext, cellFor: (seed: number) => TrainCell, pick: (r: CellResult) => number | null): Summary | null {
  const values: number[] = [];
  for (const seed of ctx.plan.seeds) {
    const v = pick(resultOf(ctx, cellFor(seed)));
    if (v !== null) values.push(v);
  }
  return summarise(values) ?? null;
}

/** Mean ± std of plain numbers, null when none. */
export function summaryOrNull(values: readonly number[]): Summary | null {
  return summarise(values) ?? null;
}

/**
 * A JSON cache under `<out>/results/<name>.json` for work that is not a training run (cold-start
 * fits, teacher φ, efficiency timings): computed once, so re-running the report is cheap and its
 * numbers do not drift between invocations.
 */
export async function cached<T>(ctx: ExperimentContext, name: string, compute: () => Promise<T>): Promise<T> {
  const path = join(ctx.paths.out, 'results', `${name}.json`);
  if (existsSync(path)) {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      // torn cache: recompute
    }
  }
  const value = await compute();
  writeJsonAtomic(path, value);
  return value;
}

/** Difference of two paired per-user AUC lists (null where either is missing). */
export function perUserDifference(a: ReadonlyArray<number | null>, b: ReadonlyArray<number | null>): Array<number | null> {
  return a.map((x, u) => (x === null || b[u] === null || b[u] === undefined ? null : x - (b[u] as number)));
}
