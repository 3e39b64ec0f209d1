/**
 * `outfitrec eval`: AUC / NDCG (and FITB on test) of one or more scorers on the same candidates (method.md §7).
 * Scorers: `--oracle` (the synthetic ground truth, method.md §6.3), `--random` (seeded uniform scores, the
 * sanity row) and `--run RUN` (a trained model). The logic lives in src/eval/evaluate.ts; this file parses
 * options, picks scorers and prints.
 */
import type { Command } from 'commander';
import { loadPolyvoreSet } from '../data/polyvore.js';
import { SPLITS, type PolyvoreSet, type SplitName } from '../data/types.js';
import { UserError } from '../errors.js';
import {
  NEGATIVE_SOURCES,
  buildCandidates,
  evaluateCandidates,
  formatReports,
  randomScorer,
  type EvalReport,
  type NegativeSource,
  type OutfitScorer,
} from '../eval/evaluate.js';
import { Rng } from '../rng.js';
import { parseSeed } from './parse.js';

interface EvalOptions {
  data: string;
  set: string;
  split: string;
  negatives: string;
  seed: string;
  oracle?: boolean;
  random?: boolean;
  run?: string;
  fitb: boolean;
  json?: boolean;
}

interface NamedScorer {
  name: string;
  scorer: OutfitScorer;
}

export function register(command: Command): void {
  command
    .requiredOption('--data <dir>', 'dataset root holding tuples_<set>/')
    .requiredOption('--set <name>', 'set folder: 630, 53, 519 or 32')
    .option('--split <name>', `split to evaluate: ${SPLITS.join(', ')}`, 'test')
    .option('--negatives <source>', `negatives: ${NEGATIVE_SOURCES.join(' | ')} (file = tuples_<split>_nega, hard = tuples_<split>_nega_hard, random = fresh 1:10 random mixes)`, 'file')
    .option('--seed <n>', 'seed of the random negatives and of the --random scorer', '0')
    .option('--oracle', 'score with the synthetic ground-truth utility (datasets written by `outfitrec data synth`)')
    .option('--random', 'score with seeded uniform random numbers (sanity row: AUC ≈ 0.5, NDCG ≈ 0.27)')
    .option('--run <dir>', 'score with a trained model run folder')
    .option('--no-fitb', 'skip fill-in-the-blank even on the test split')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: EvalOptions) => {
      const split = parseSplit(opts.split);
      const negatives = parseNegatives(opts.negatives);
      const seed = parseSeed(opts.seed);
      if (!opts.oracle && !opts.random && opts.run === undefined) {
        throw new UserError('eval: choose at least one scorer: --oracle, --random or --run RUN');
      }
      const set = loadPolyvoreSet(opts.data, opts.set, { splits: [split] });
      const scorers = await resolveScorers(set, opts, seed);
      const candidates = buildCandidates(set, split, negatives, new Rng(seed).fork('eval-negatives'));
      const results: Array<{ name: string; report: EvalReport }> = [];
      for (const { name, scorer } of scorers) {
        results.push({ name, report: await evaluateCandidates(set, split, candidates, scorer, { fitb: opts.fitb }) });
      }
      if (opts.json) {
        const out = {
          data: opts.data,
          set: set.set,
          split,
          negatives,
          ...(negatives === 'random' ? { seed } : {}),
          results: results.map(({ name, report }) => ({ scorer: name, ...report })),
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        const first = results[0].report;
        const source = negatives === 'random' ? `random 1:10, seed ${seed}` : negatives === 'hard' ? `tuples_${split}_nega_hard` : `tuples_${split}_nega`;
        process.stdout.write(
          `set ${set.set}, split ${split}: ${first.users} users (${first.skippedUsers} skipped), ${first.candidates} candidates, negatives ${source}` +
            (first.fitbQuestions !== undefined ? `, ${first.fitbQuestions} FITB questions` : '') +
            '\n' +
            formatReports(results),
        );
      }
    });
}

/** Scorers in a fixed order: oracle, run, random. */
async function resolveScorers(set: PolyvoreSet, opts: EvalOptions, seed: number): Promise<NamedScorer[]> {
  const scorers: NamedScorer[] = [];
  if (opts.oracle) scorers.push({ name: 'oracle', scorer: await oracleScorer(set) });
  // a run is judged by how close it gets to the ground truth (method.md §6.3): show the oracle beside it when there is one
  else if (opts.run !== undefined) {
    const oracle = await optionalOracleScorer(set);
    if (oracle) scorers.push({ name: 'oracle', scorer: oracle });
  }
  if (opts.run !== undefined) scorers.push({ name: `run ${opts.run}`, scorer: await runScorer(set, opts.run) });
  if (opts.random) scorers.push({ name: 'random', scorer: randomScorer(new Rng(seed).fork('eval-random-scorer')) });
  return scorers;
}

/** The synthetic ground truth (method.md §6.3): the true utility of each outfit for its user. */
async function oracleScorer(set: PolyvoreSet): Promise<OutfitScorer> {
  // loaded lazily: only --oracle needs the synthetic generator's code
  const { loadOracle } = await import('../data/synth/oracle.js');
  const oracle = loadOracle(set.root);
  if (!oracle) {
    throw new UserError(`${set.root}: no synthetic oracle here (--oracle needs a dataset written by 'outfitrec data synth')`);
  }
  return (table) => oracle.utility(set, table);
}

/** A trained model's scores. */
async function runScorer(set: PolyvoreSet, run: string): Promise<OutfitScorer> {
  // the run folder alone rebuilds the model (config.json + best.safetensors); the items are read from --data
  const { loadRun, runScorer } = await import('../runs/load.js');
  return runScorer(await loadRun(run, { weights: 'best', root: set.root, set: set.set, loadedSet: set }));
}

/** The oracle when the dataset has one, else null. */
async function optionalOracleScorer(set: PolyvoreSet): Promise<OutfitScorer | null> {
  const { loadOracle } = await import('../data/synth/oracle.js');
  const oracle = loadOracle(set.root);
  return oracle ? (table) => oracle.utility(set, table) : null;
}

function parseSplit(value: string): SplitName {
  if (!(SPLITS as readonly string[]).includes(value)) throw new UserError(`--split: '${value}' is not one of ${SPLITS.join(', ')}`);
  return value as SplitName;
}

function parseNegatives(value: string): NegativeSource {
  if (!(NEGATIVE_SOURCES as readonly string[]).includes(value)) {
    throw new UserError(`--negatives: '${value}' is not one of ${NEGATIVE_SOURCES.join(', ')}`);
  }
  return value as NegativeSource;
}
