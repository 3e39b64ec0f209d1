/**
 * `outfitrec experiment main|coldstart|hardneg|fn-analysis|alpha|augment|size|batch|efficiency|all`:
 * the paper's experiments (method.md §8) on a dataset root, as a resumable grid of training runs plus a
 * report (`<out>/report.md`, CSVs, SVG charts). Logic: src/lab/experiments/runner.ts.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { EXPERIMENT_NAMES } from '../lab/experiments/grid.js';
import { parseExperimentNames, runExperiments } from '../lab/experiments/runner.js';
import { commandLineOf, parsePositiveInt } from './parse.js';

interface ExperimentCliOptions {
  data: string;
  out: string;
  seeds?: string;
  quick?: boolean;
  presetScale?: string;
  jobs: string;
}

export function register(command: Command): void {
  command
    .argument('<names...>', `experiments: ${EXPERIMENT_NAMES.join(', ')} or all`)
    .requiredOption('--data <dir>', 'dataset root holding tuples_630/53/519/32, or a set whose layout.json names its newUsers set and that set (synthesised there when the folder does not exist)')
    .requiredOption('--out <dir>', 'grid folder: runs/, results/, sections/ and the report')
    .option('--seeds <n>', 'seeds of the experiments that compare methods (default: 3; 1 with --quick); hardneg and the ablations (alpha, augment, size, batch) train the first seed only')
    .option('--quick', 'the same grid, smaller: 5 % of the training positives, one seed, fewer α points and batch sizes')
    .option('--preset-scale <scale>', "data to synthesise when --data does not exist: 'default' (syn-all, 100 users for 630), 'tiny', or a user-count factor")
    // one tfjs wasm process uses one core: by default, one cell per core
    .option('--jobs <n>', 'cells trained at once, each in its own process (default: one per core)', String(availableParallelism()))
    .action(async (names: string[], opts: ExperimentCliOptions) => {
      const experiments = parseExperimentNames(names);
      const seeds = opts.seeds === undefined ? undefined : parsePositiveInt(opts.seeds, '--seeds');
      const jobs = parsePositiveInt(opts.jobs, '--jobs');
      const summary = await runExperiments(experiments, {
        data: opts.data,
        out: opts.out,
        seeds,
        quick: opts.quick,
        presetScale: opts.presetScale,
        jobs,
        commandLine: commandLineOf(process.argv.slice(2)),
      });
      const c = summary.cells;
      process.stdout.write(
        `${summary.interrupted ? 'interrupted' : 'done'} in ${summary.seconds.toFixed(0)} s: ${c.total} cells (${c.trained} trained now, ${c.reused} reused)\n` +
          (summary.written.length > 0 ? `report: ${summary.written[0]}\n` : ''),
      );
      if (summary.interrupted) process.exitCode = 130;
    });
}
