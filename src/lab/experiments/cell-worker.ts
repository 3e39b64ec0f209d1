/**
 * Child-process entry of the grid scheduler (scheduler.ts): trains and evaluates ONE cell, logs to
 * stderr, and prints a one-line JSON report as its last stdout line. Argument: JSON of
 * `{ cell, plan, paths }`.
 */
import { userErrorOf } from '../../errors.js';
import { runCell, type GridPaths } from './cells.js';
import type { GridPlan, TrainCell } from './grid.js';

async function main(): Promise<number> {
  const arg = process.argv[2];
  if (!arg) throw new Error('cell-worker: missing the JSON argument');
  const { cell, plan, paths } = JSON.parse(arg) as { cell: TrainCell; plan: GridPlan; paths: GridPaths };
  const outcome = await runCell(cell, plan, paths, { handleSigint: true });
  process.stdout.write(JSON.stringify(outcome.status === 'done' ? { status: 'done', trained: outcome.trained } : { status: 'interrupted' }) + '\n');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const userError = userErrorOf(err);
    process.stderr.write(userError ? `${userError.message}\n` : `${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
