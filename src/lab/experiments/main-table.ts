/**
 * method.md §8.1: the main comparison on 630 and 519 — lpae, the softmax teacher, the student alone, fnd,
 * softmax+cl, fnd+cl — with the synthetic oracle and a random scorer on the same candidates, and
 * the published LPAE numbers on real Polyvore-U as a clearly separated reference. Also the learning
 * curves (validation AUC per epoch, from each run's metrics.jsonl).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolyvoreSet } from '../../data/polyvore.js';
import { loadOracle } from '../../data/synth/oracle.js';
import { Rng } from '../../rng.js';
import { readMetrics } from '../../runs/folder.js';
import { randomScorer } from '../../eval/evaluate.js';
import { REFERENCE_LABELS, referenceScorer, type ReferenceScorer } from '../../eval/reference.js';
import { testMetrics, type CellResult, type TestMetrics } from './cells.js';
import { lineChartSvg, type ChartPoint } from './charts.js';
import { cached, overSeeds, resultOf, summaryOrNull, type ExperimentContext } from './context.js';
import { mainRows, type TrainSet } from './grid.js';
import type { ReportChart, ReportSection, ReportTable, TableColumn, TableValue } from './report.js';

/** LPAE-u with frozen ResNet-34 features, test split, from the authors' released training logs
 * (github.com/lzcn/LPAE-Net, summaries/polyvore_{630,519}_lpae_u_resnet34_nn/train.log). */
export const PUBLISHED_LPAE: Record<TrainSet, { auc: number; ndcg: number }> = {
  '630': { auc: 0.8995, ndcg: 0.8145 },
  '519': { auc: 0.9188, ndcg: 0.8508 },
};

/** Reference and random scorers on a set's test candidates (file and hard negatives). */
export interface BaselineRows {
  oracle: Record<'file' | 'hard', TestMetrics> | null;
  /** The oracle without item noise ε (absent in caches written before it existed). */
  oracleNoiseless?: Record<'file' | 'hard', TestMetrics> | null;
  /** The count scorer, no learning (absent in caches written before it existed). */
  count?: Record<'file' | 'hard', TestMetrics> | null;
  /** One entry per seed. */
  random: Array<Record<'file' | 'hard', TestMetrics>>;
}

export async function baselinesOf(ctx: ExperimentContext, set: string): Promise<BaselineRows> {
  return cached(ctx, `baselines-v2_${set}_s${ctx.plan.seeds.length}`, () => computeBaselines(ctx.paths.root, set, ctx.plan.seeds));
}

/**
 * The reference scorers of a synthetic root (oracle, oracle without ε, count scorer; method.md
 * §6.3) and one random scorer per seed, on a set's test candidates.
 */
export async function computeBaselines(root: string, set: string, seeds: readonly number[]): Promise<BaselineRows> {
  const data = loadPolyvoreSet(root, set, { splits: ['train', 'test'] });
  const oracle = loadOracle(root);
  const random: BaselineRows['random'] = [];
  for (const seed of seeds) {
    const scorer = randomScorer(new Rng(seed).fork('random-row'));
    random.push({ file: await testMetrics(data, scorer, 'file', seed), hard: await testMetrics(data, scorer, 'hard', seed) });
  }
  if (!oracle) return { oracle: null, oracleNoiseless: null, count: null, random };
  const both = async (kind: ReferenceScorer) => {
    const scorer = referenceScorer(kind, data, oracle);
    return { file: await testMetrics(data, scorer, 'file', 0), hard: await testMetrics(data, scorer, 'hard', 0) };
  };
  return { oracle: await both('oracle'), oracleNoiseless: await both('oracle-noiseless'), count: await both('count'), random };
}

/** The reference rows present in `base`, labelled, in the order oracle, oracle without ε, count. */
export function referenceRows(base: BaselineRows): Array<{ label: string; values: Record<string, TableValue> }> {
  const rows: Array<{ label: string; values: Record<string, TableValue> }> = [];
  const add = (kind: ReferenceScorer, m: Record<'file' | 'hard', TestMetrics> | null | undefined) => {
    if (m) rows.push({ label: REFERENCE_LABELS[kind], values: baselineValues([m]) });
  };
  add('oracle', base.oracle);
  add('oracle-noiseless', base.oracleNoiseless);
  add('count', base.count);
  return rows;
}

/** Table caption text on the reference rows. */
export const REFERENCE_CAPTION =
  'Reference rows (no training): the oracle scores with the generator\'s true utility, a reference and not a ceiling ' +
  '(a scorer can see through its invisible item noise ε, and against hard negatives it is not the best discriminator); ' +
  'the oracle without ε scores what the pictures show; the count scorer learns nothing: per user, the add-one-smoothed ' +
  'log-share of each item\'s (class, colour) group among the user\'s training items (docs/method.md §6.3). ';

export const METRIC_COLUMNS: TableColumn[] = [
  { key: 'auc', label: 'AUC' },
  { key: 'ndcg', label: 'NDCG' },
  { key: 'fitb', label: 'FITB' },
  { key: 'aucHard', label: 'AUC (hard neg.)' },
  { key: 'ndcgHard', label: 'NDCG (hard neg.)' },
];

/** The metric cells of a row, mean ± std over the plan's seeds. */
export function metricValues(ctx: ExperimentContext, cellFor: Parameters<typeof overSeeds>[1]): Record<string, TableValue> {
  return {
    auc: overSeeds(ctx, cellFor, (r) => r.test.file.auc),
    ndcg: overSeeds(ctx, cellFor, (r) => r.test.file.ndcg),
    fitb: overSeeds(ctx, cellFor, (r) => r.test.file.fitb),
    aucHard: overSeeds(ctx, cellFor, (r) => r.test.hard.auc),
    ndcgHard: overSeeds(ctx, cellFor, (r) => r.test.hard.ndcg),
  };
}

export function baselineValues(rows: ReadonlyArray<Record<'file' | 'hard', TestMetrics>>): Record<string, TableValue> {
  const pick = (f: (m: Record<'file' | 'hard', TestMetrics>) => number | null): TableValue =>
    summaryOrNull(rows.map(f).filter((v): v is number => v !== null));
  return {
    auc: pick((m) => m.file.auc),
    ndcg: pick((m) => m.file.ndcg),
    fitb: pick((m) => m.file.fitb),
    aucHard: pick((m) => m.hard.auc),
    ndcgHard: pick((m) => m.hard.ndcg),
  };
}

export async function buildMainSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const rows: Array<Record<string, TableValue>> = [];
  for (const set of plan.sets) {
    const base = await baselinesOf(ctx, set);
    for (const ref of referenceRows(base)) rows.push({ set, method: ref.label, ...ref.values, bestEpoch: null, params: null, backbone: null });
    rows.push({ set, method: 'random scores', ...baselineValues(base.random), bestEpoch: null, params: null, backbone: null });
    for (const [i, row] of mainRows(plan, set, 0).entries()) {
      const cellFor = (seed: number) => mainRows(plan, set, seed)[i].cell;
      rows.push({
        set,
        method: row.label,
        ...metricValues(ctx, cellFor),
        bestEpoch: overSeeds(ctx, cellFor, (r) => r.bestEpoch),
        params: resultOf(ctx, row.cell).params.total,
        backbone: resultOf(ctx, row.cell).params.backbone,
      });
    }
    // published LPAE figures exist for the Polyvore-U sets only
    const ref = Object.hasOwn(PUBLISHED_LPAE, set) ? PUBLISHED_LPAE[set] : undefined;
    if (ref) rows.push({
      set,
      method: 'REFERENCE — LPAE on real Polyvore-U (published; not comparable)',
      auc: ref.auc,
      ndcg: ref.ndcg,
      fitb: null,
      aucHard: null,
      ndcgHard: null,
      bestEpoch: null,
      params: null,
      backbone: null,
    });
  }
  const table: ReportTable = {
    id: 'main',
    title: 'Main comparison (docs/method.md §8.1)',
    caption:
      `Test split of the ${existsSync(join(ctx.paths.root, 'oracle')) ? 'synthetic ' : ''}${plan.sets.join(' / ')} sets; AUC, NDCG and FITB with the fixed random-mix negatives ` +
      '(`tuples_test_nega`), and AUC/NDCG with the hard negatives (`tuples_test_nega_hard`). ' +
      `Mean ± std over ${plan.seeds.length} seed(s). Teacher/LPAE backbone width ${plan.teacherWidth}, student width ${plan.studentWidth}. ` +
      `FND rows at α = ${plan.alpha}: ` +
      (plan.alpha < 0
        ? 'the inverted variant (suspected false negatives weigh less), not the paper\'s α > 0 (docs/method.md §4). '
        : 'the paper\'s direction (suspected false negatives weigh more, docs/method.md §4). ') +
      REFERENCE_CAPTION +
      'The REFERENCE rows are the LPAE numbers on the REAL Polyvore-U data (ResNet-34 features, authors\' logs); ' +
      'they are printed for orientation only and are not comparable with the synthetic rows.',
    columns: [
      { key: 'set', label: 'Set' },
      { key: 'method', label: 'Method' },
      ...METRIC_COLUMNS,
      { key: 'bestEpoch', label: 'Best epoch', digits: 1 },
      { key: 'params', label: 'Params' },
      { key: 'backbone', label: 'Backbone params' },
    ],
    rows,
  };
  return { heading: 'Main comparison', tables: [table], charts: [await learningCurves(ctx)] };
}

/** Validation AUC per epoch, mean ± std over seeds, one panel per set. */
async function learningCurves(ctx: ExperimentContext): Promise<ReportChart> {
  const points: ChartPoint[] = [];
  for (const set of ctx.plan.sets) {
    for (const [i, row] of mainRows(ctx.plan, set, 0).entries()) {
      const byEpoch = new Map<number, number[]>();
      for (const seed of ctx.plan.seeds) {
        const r: CellResult = resultOf(ctx, mainRows(ctx.plan, set, seed)[i].cell);
        for (const m of readMetrics(r.runDir)) byEpoch.set(m.epoch, [...(byEpoch.get(m.epoch) ?? []), m.val.auc]);
      }
      for (const [epoch, values] of [...byEpoch].sort((a, b) => a[0] - b[0])) {
        const s = summaryOrNull(values);
        if (s) points.push({ x: epoch, y: s.mean, std: s.std, series: row.label, panel: `set ${set}` });
      }
    }
  }
  return {
    id: 'learning-curves',
    title: 'Learning curves',
    caption: 'Validation AUC after each epoch (fixed `tuples_val_nega` negatives), mean ± std over seeds, from each run\'s metrics.jsonl.',
    svg: await lineChartSvg(points, { title: 'Validation AUC per epoch', xTitle: 'epoch', yTitle: 'validation AUC', xIntegerTicks: true }),
  };
}
