/**
 * `outfitrec coldstart`: a run trained on 630 (or 519) profiles the new users of 53 (or 32) from N of
 * their training outfits and is evaluated on their full test split (method.md §5). The logic lives in
 * src/lab/experiments/cold-users.ts; this file parses options and prints.
 */
import type { Command } from 'commander';
import { SET_NAME_PATTERN } from '../data/layout.js';
import { UserError } from '../errors.js';
import { closeColdStart, openColdStart, runColdStart } from '../lab/experiments/cold-users.js';
import { COLD_START_STRATEGIES, type ColdStartStrategy } from '../train/cold-start.js';
import { parsePositiveInt, parseSeed } from './parse.js';

interface ColdStartCliOptions {
  run: string;
  data?: string;
  set?: string;
  shots: string;
  strategy: string;
  seed: string;
  steps?: string;
  json?: boolean;
}

export function register(command: Command): void {
  command
    .requiredOption('--run <dir>', 'run folder of a model trained on 630 or 519')
    .option('--data <dir>', "dataset root holding both sets (default: the run's)")
    .option('--set <name>', 'new-user set: 53 (for 630), 32 (for 519), or the "newUsers" of the layout.json of the run\'s set; default follows the run')
    .option('--shots <n>', 'training outfits per new user (docs/method.md §5: 1 or 5)', '5')
    .option('--strategy <name>', `profiling: ${COLD_START_STRATEGIES.join(' | ')} (SO optimisation, SU user search, SA anchor search)`, 'so')
    .option('--seed <n>', 'seed of the outfit choice and of the SO fit', '0')
    .option('--steps <n>', 'SO optimisation steps (default: 150)')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: ColdStartCliOptions) => {
      const shots = parsePositiveInt(opts.shots, '--shots');
      const seed = parseSeed(opts.seed);
      const steps = opts.steps === undefined ? undefined : parsePositiveInt(opts.steps, '--steps');
      if (!(COLD_START_STRATEGIES as readonly string[]).includes(opts.strategy)) {
        throw new UserError(`--strategy: '${opts.strategy}' is not one of ${COLD_START_STRATEGIES.join(', ')}`);
      }
      // which sets are new-user sets comes from the data (method.md §6.5); openColdStart checks the pairing
      if (opts.set !== undefined && !SET_NAME_PATTERN.test(opts.set)) {
        throw new UserError(`--set: '${opts.set}' is not a set name (letters, digits, "_" or "-")`);
      }
      const ctx = await openColdStart(opts.run, { root: opts.data, coldSet: opts.set });
      try {
        const r = await runColdStart(ctx, { shots, strategy: opts.strategy as ColdStartStrategy, seed, steps });
        if (opts.json) {
          process.stdout.write(JSON.stringify({ run: opts.run, ...r }, null, 2) + '\n');
        } else {
          const f = r.fitSeconds;
          process.stdout.write(
            `model trained on ${r.trainSet} → new users of ${r.coldSet}: ${r.users} users, ${r.shots} shot(s), strategy ${r.strategy} (${r.fitting}), seed ${r.seed} ` +
              `(${r.outfitsUsed} outfits used)\n` +
              `test (${r.report.negatives} negatives, ${r.report.candidates} candidates): AUC ${r.report.auc.toFixed(4)}  NDCG ${r.report.ndcg.toFixed(4)}` +
              (r.report.fitb !== undefined ? `  FITB ${r.report.fitb.toFixed(4)}` : '') +
              '\n' +
              `fitting time per user: mean ${ms(f.mean)}, median ${ms(f.median)}, max ${ms(f.max)} (total ${f.total.toFixed(2)} s)\n`,
          );
        }
      } finally {
        await closeColdStart(ctx);
      }
    });
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(1)} ms`;
}
