/**
 * The evaluation protocol (method.md §7): per user, the user's positives of a split plus their
 * negatives (10 per positive), scored for that user; AUC / NDCG macro-averaged over users, and FITB on the
 * test split when the set has the file. Scorers are plain functions from outfits to scores, so the synthetic
 * oracle, a random baseline and trained models are evaluated on exactly the same candidates.
 */
import { concatTables } from '../data/batches.js';
import { NegativeSampler } from '../data/negatives.js';
import { NEGATIVES_PER_POSITIVE, type OutfitTable, type PolyvoreSet, type SplitName } from '../data/types.js';
import { DataError, UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { evaluateRanking, fitbAccuracy } from './metrics.js';

/**
 * Where the negatives come from (method.md §7):
 * - `file`: the fixed `tuples_<split>_nega` (FHN protocol; the headline numbers);
 * - `hard`: the fixed `tuples_<split>_nega_hard` (other users' positives);
 * - `random`: freshly drawn type-aware random mixes, 1:10, seeded (LPAE protocol).
 */
export const NEGATIVE_SOURCES = ['file', 'hard', 'random'] as const;
export type NegativeSource = (typeof NEGATIVE_SOURCES)[number];

export interface Candidates {
  /** The split's positives (rows 0..P-1) followed by their negatives (10 per positive, grouped). */
  table: OutfitTable;
  /** 1 for the P positives, 0 for the negatives. */
  labels: Uint8Array;
  /** The negative source used ('file' | 'hard' | 'random'). */
  negatives: string;
}

/** Scores outfits, each for its row's user (higher = better). One score per row. */
export type OutfitScorer = (table: OutfitTable) => Float32Array | Promise<Float32Array>;

export interface EvalReport {
  auc: number;
  ndcg: number;
  /** Users evaluated (at least one positive and one negative in the split). */
  users: number;
  /** Users of the candidates skipped for lack of positives or negatives. */
  skippedUsers: number;
  /** Candidate outfits scored (positives + negatives). */
  candidates: number;
  /** FITB accuracy (test split, when `fill_in_blank_test` exists). */
  fitb?: number;
  /** FITB questions answered. */
  fitbQuestions?: number;
  negatives: string;
  split: string;
  set: string;
}

export interface EvaluateOptions {
  negatives: NegativeSource;
  /** Required for `random` negatives. */
  rng?: Rng;
  /** Also report FITB when the split is `test` and the set has the file (default true). */
  fitb?: boolean;
}

/** The candidate outfits of one split (method.md §7). */
export function buildCandidates(set: PolyvoreSet, split: SplitName, negatives: NegativeSource, rng?: Rng): Candidates {
  const tuples = set.splits[split];
  const positives = tuples.posi;
  const p = positives.users.length;
  if (p === 0) throw new UserError(`set ${set.set}: split '${split}' has no positive outfits to evaluate`);
  let nega: OutfitTable;
  switch (negatives) {
    case 'file':
      nega = checkedNegatives(tuples.nega, p, `${set.dir}/tuples_${split}_nega`);
      break;
    case 'hard':
      if (!tuples.negaHard) {
        throw new UserError(`set ${set.set}: no hard negatives for split '${split}' (${set.dir}/tuples_${split}_nega_hard is missing)`);
      }
      nega = checkedNegatives(tuples.negaHard, p, `${set.dir}/tuples_${split}_nega_hard`);
      break;
    case 'random': {
      if (!rng) throw new Error("buildCandidates: 'random' negatives need an rng");
      const rows = Int32Array.from({ length: p }, (_, i) => i);
      nega = new NegativeSampler(set, split).randomMix(rows, NEGATIVES_PER_POSITIVE, rng);
      break;
    }
    default:
      throw new UserError(`unknown negatives '${negatives as string}' (expected ${NEGATIVE_SOURCES.join(', ')})`);
  }
  const table = concatTables([positives, nega]);
  const labels = new Uint8Array(table.users.length);
  labels.fill(1, 0, p);
  return { table, labels, negatives };
}

/** A negatives file must hold 10 rows per positive, each carrying its positive's user (method.md §6.1). */
function checkedNegatives(nega: OutfitTable, positives: number, file: string): OutfitTable {
  const expected = positives * NEGATIVES_PER_POSITIVE;
  if (nega.users.length !== expected) {
    throw new DataError(file, undefined, `${nega.users.length} rows, expected ${NEGATIVES_PER_POSITIVE} per positive = ${expected}`);
  }
  return nega;
}

/** Scores `table` and checks the scorer kept its side of the contract. */
async function scoreTable(scorer: OutfitScorer, table: OutfitTable, what: string): Promise<Float32Array> {
  const scores = await scorer(table);
  if (scores.length !== table.users.length) {
    throw new Error(`scorer returned ${scores.length} scores for ${table.users.length} ${what}`);
  }
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new UserError(`the scorer produced NaN for ${what} row ${i} (user ${table.users[i]})`);
  }
  return scores;
}

/** Evaluates one scorer on prepared candidates (so several scorers can share the same random negatives). */
export async function evaluateCandidates(
  set: PolyvoreSet,
  split: SplitName,
  candidates: Candidates,
  scorer: OutfitScorer,
  opts: { fitb?: boolean } = {},
): Promise<EvalReport> {
  const scores = await scoreTable(scorer, candidates.table, 'candidate');
  const ranking = evaluateRanking(candidates.table.users, scores, candidates.labels);
  const report: EvalReport = {
    auc: ranking.auc,
    ndcg: ranking.ndcg,
    users: ranking.users,
    skippedUsers: ranking.skippedUsers,
    candidates: candidates.table.users.length,
    negatives: candidates.negatives,
    split,
    set: set.set,
  };
  // FITB exists only for the test split (method.md §6.1 `fill_in_blank_test`).
  if ((opts.fitb ?? true) && split === 'test' && set.fitb && set.fitb.users.length > 0) {
    const fitbScores = await scoreTable(scorer, set.fitb, 'FITB candidate');
    report.fitb = fitbAccuracy(fitbScores, 4);
    report.fitbQuestions = set.fitb.users.length / 4;
  }
  return report;
}

/** Builds the candidates of `split` and evaluates `scorer` on them. */
export async function evaluateScorer(
  set: PolyvoreSet,
  split: SplitName,
  scorer: OutfitScorer,
  opts: EvaluateOptions,
): Promise<EvalReport> {
  const candidates = buildCandidates(set, split, opts.negatives, opts.rng);
  return evaluateCandidates(set, split, candidates, scorer, { fitb: opts.fitb });
}

/** Uniform random scores: the sanity row of method.md §7 (AUC ≈ 0.5, NDCG ≈ 0.27 at 1:10). */
export function randomScorer(rng: Rng): OutfitScorer {
  return (table) => {
    const scores = new Float32Array(table.users.length);
    for (let i = 0; i < scores.length; i++) scores[i] = rng.next();
    return scores;
  };
}

/** A small aligned text table, one row per named report. */
export function formatReports(rows: Array<{ name: string; report: EvalReport }>): string {
  const fmt = (v: number | undefined): string => (v === undefined ? '-' : Number.isNaN(v) ? 'NaN' : v.toFixed(4));
  const header = ['scorer', 'set', 'split', 'negatives', 'users', 'AUC', 'NDCG', 'FITB'];
  const body = rows.map(({ name, report: r }) => [
    name,
    r.set,
    r.split,
    r.negatives,
    String(r.users),
    fmt(r.auc),
    fmt(r.ndcg),
    fmt(r.fitb),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  // text columns left-aligned, numbers right-aligned
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n';
}
