/**
 * `outfitrec eval`: AUC / NDCG (and FITB on test) of one or more scorers on the same candidates (method.md §7).
 * Scorers: the reference scorers of a synthetic root (`--scorer oracle|oracle-noiseless|count`,
 * method.md §6.3; `--oracle` = `--scorer oracle`), `--random` (seeded uniform scores, the sanity row)
 * and `--run RUN` (a trained model; repeat it for several, one row each). The logic lives in
 * src/eval/evaluate.ts and src/eval/reference.ts; this file parses options, picks scorers and prints.
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
import { ORACLE_VERSION, loadOracle } from '../data/synth/oracle.js';
import { REFERENCE_SCORERS, referenceScorer, requireOracle, type ReferenceScorer } from '../eval/reference.js';
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
  scorer: string[];
  run: string[];
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
    .requiredOption('--set <name>', 'set folder tuples_<name>/: 630, 53, 519, 32, or an imported set such as shop')
    .option('--split <name>', `split to evaluate: ${SPLITS.join(', ')}`, 'test')
    .option('--negatives <source>', `negatives: ${NEGATIVE_SOURCES.join(' | ')} (file = tuples_<split>_nega, hard = tuples_<split>_nega_hard, random = fresh 1:10 random mixes)`, 'file')
    .option('--seed <n>', 'seed of the random negatives and of the --random scorer', '0')
    .option('--oracle', 'score with the synthetic ground-truth utility, a reference, not a ceiling (= --scorer oracle; datasets written by `outfitrec data synth`)')
    .option(
      '--scorer <name>',
      `a reference scorer of a synthetic root (repeatable): ${REFERENCE_SCORERS.join(' | ')} (oracle = true utility; oracle-noiseless = without the invisible item noise; count = per-user counts of class and colour in the training outfits, no learning)`,
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--random', 'score with seeded uniform random numbers (sanity row: AUC ≈ 0.5, NDCG ≈ 0.27)')
    .option('--run <dir>', 'score with a trained model run folder (repeatable: one row per run)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--no-fitb', 'skip fill-in-the-blank even on the test split')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: EvalOptions) => {
      const split = parseSplit(opts.split);
      const negatives = parseNegatives(opts.negatives);
      const seed = parseSeed(opts.seed);
      const references = parseReferences(opts);
      if (references.length === 0 && !opts.random && opts.run.length === 0) {
        throw new UserError('eval: choose at least one scorer: --oracle, --scorer NAME, --random or --run RUN');
      }
      const runs = [...new Set(opts.run)];
      if (runs.length < opts.run.length) throw new UserError('eval: a --run folder is given twice');
      // the count scorer learns from the training positives
      const splits: SplitName[] = references.includes('count') && split !== 'train' ? [split, 'train'] : [split];
      const set = loadPolyvoreSet(opts.data, opts.set, { splits });
      const scorers = await resolveScorers(set, references, runs, opts.random === true, seed);
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

/** `--oracle` and `--scorer` as a list of reference scorers in REFERENCE_SCORERS order, each once. */
function parseReferences(opts: EvalOptions): ReferenceScorer[] {
  const names = new Set(opts.scorer);
  if (opts.oracle) names.add('oracle');
  for (const name of names) {
    if (!(REFERENCE_SCORERS as readonly string[]).includes(name)) {
      throw new UserError(`--scorer: '${name}' is not one of ${REFERENCE_SCORERS.join(', ')} (a trained model is --run RUN, uniform scores --random)`);
    }
  }
  return REFERENCE_SCORERS.filter((r) => names.has(r));
}

/**
 * Scorers in a fixed order: reference scorers, runs (in the order given), random. A run is judged
 * by how close it gets to the ground truth (method.md §6.3): the oracle is shown beside it when the
 * dataset has one, even unasked.
 */
async function resolveScorers(set: PolyvoreSet, references: ReferenceScorer[], runs: string[], random: boolean, seed: number): Promise<NamedScorer[]> {
  const scorers: NamedScorer[] = [];
  const oracle = loadOracle(set.root);
  if (oracle && oracle.version < ORACLE_VERSION) {
    process.stderr.write(
      `note: ${set.root} is synthetic benchmark version ${oracle.version}, whose negatives can reuse the user's own items of other splits (a leak, docs/method.md §6.3); regenerate it with 'outfitrec data synth'\n`,
    );
  }
  if (references.length > 0 && !oracle) requireOracle(set, references[0]);
  const shown = references.length === 0 && runs.length > 0 && oracle ? (['oracle'] as ReferenceScorer[]) : references;
  for (const kind of shown) scorers.push({ name: kind, scorer: referenceScorer(kind, set, oracle!) });
  for (const run of runs) scorers.push({ name: `run ${run}`, scorer: await runScorer(set, run) });
  if (random) scorers.push({ name: 'random', scorer: randomScorer(new Rng(seed).fork('eval-random-scorer')) });
  return scorers;
}

/** A trained model's scores. */
async function runScorer(set: PolyvoreSet, run: string): Promise<OutfitScorer> {
  // the run folder alone rebuilds the model (config.json + best.safetensors); the items are read from --data
  const { loadRun, runScorer } = await import('../runs/load.js');
  return runScorer(await loadRun(run, { weights: 'best', root: set.root, set: set.set, loadedSet: set }));
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
