/**
 * `outfitrec compare`: labelled groups of finished run folders (one per seed) evaluated on the test
 * split of their set, written as a report folder with mean ± std per row, optional oracle/random
 * rows, a baseline difference and cold users. Logic: src/lab/compare.ts.
 */
import type { Command } from 'commander';
import { parseCompareRow, parseCompareSweep, runCompare, validateCompare, type CompareColdStart } from '../lab/compare.js';
import { COLD_START_STRATEGIES } from '../train/cold-start.js';
import { commandLineOf, parseChoiceList, parsePositiveInt, parseSeed } from './parse.js';

interface CompareCliOptions {
  data: string;
  set: string;
  out: string;
  row: string[];
  oracle?: boolean;
  random?: boolean;
  baseline?: string;
  cold?: boolean;
  coldSet?: string;
  shots: string;
  strategies: string;
  coldSteps?: string;
  coldSeed: string;
  teacher?: string;
  sweep: string[];
}

export function register(command: Command): void {
  command
    .requiredOption('--data <dir>', 'dataset root the runs are evaluated on')
    .requiredOption('--set <name>', 'set the runs were trained on: 630, 519, ...')
    .requiredOption('--out <dir>', 'report folder (report.md, CSVs, SVGs; cached evaluations in results/)')
    .option('--row <label=runs>', 'a row: LABEL=RUN[,RUN...] (repeat for each row; the runs are its seeds)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--oracle', 'add the reference rows of a synthetic root on the same candidates: the oracle (a reference, not a ceiling), the oracle without item noise, the count scorer (no learning)')
    .option('--random', 'add a random scorer on the same candidates')
    .option('--baseline <label>', "row the others are compared with (mean AUC difference, runs above all of the baseline's)")
    .option('--cold', 'also profile the new users (docs/method.md §5) with every run')
    .option('--cold-set <name>', 'new-user set (default: 53 for 630, 32 for 519)')
    .option('--shots <list>', 'outfits per new user, comma-separated', '1,5')
    .option('--strategies <list>', `cold-start strategies, comma-separated: ${COLD_START_STRATEGIES.join(', ')}`, COLD_START_STRATEGIES.join(','))
    .option('--cold-steps <n>', 'SO optimisation steps (default: 150)')
    .option('--cold-seed <n>', 'seed of the new users\' outfit choice and SO fit', '0')
    .option('--teacher <run>', "the FND students' teacher: adds how well its φ > t flags find the true false negatives (synthetic data), and per-user gains against them")
    .option(
      '--sweep <axis|row@x|...>',
      'rows on a numeric axis: "AXIS|ROW LABEL@X|ROW LABEL@X..." → a table and a metric-vs-x chart (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .action(async (opts: CompareCliOptions) => {
      const rows = opts.row.map(parseCompareRow);
      const sweeps = opts.sweep.map(parseCompareSweep);
      let cold: CompareColdStart | undefined;
      if (opts.cold) {
        const shots = [...new Set(opts.shots.split(',').map((s) => parsePositiveInt(s.trim(), '--shots')))];
        cold = {
          set: opts.coldSet,
          shots,
          strategies: parseChoiceList(opts.strategies, '--strategies', COLD_START_STRATEGIES),
          steps: opts.coldSteps === undefined ? undefined : parsePositiveInt(opts.coldSteps, '--cold-steps'),
          seed: parseSeed(opts.coldSeed, '--cold-seed'),
        };
      }
      const compareOpts = {
        root: opts.data,
        set: opts.set,
        out: opts.out,
        rows,
        oracle: opts.oracle === true,
        random: opts.random === true,
        baseline: opts.baseline,
        cold,
        teacher: opts.teacher,
        sweeps,
        commandLine: commandLineOf(process.argv.slice(2)),
        log: (line: string) => process.stderr.write(line + '\n'),
      };
      validateCompare(compareOpts); // before the engine starts: bad rows fail fast
      const written = await runCompare(compareOpts);
      process.stdout.write(`report: ${written[0]}\n`);
    });
}
