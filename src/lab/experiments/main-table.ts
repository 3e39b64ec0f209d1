/**
 * method.md §8.1: the main comparison on 630 and 519 — lpae, the softmax teacher, the student alone, fnd,
 * softmax+cl, fnd+cl — with the synthetic oracle and a random scorer on the same candidates, and
 * the published LPAE numbers on real Polyvore-U as a clearly separated reference. Also the learning
 * curves (validation AUC per epoch, from each run's metrics.jsonl).
 */
import { loadPolyvoreSet } from '../../data/polyvore.js';
import { loadOracle } from '../../data/synth/oracle.js';
import { Rng } from '../../rng.js';
import { readMetrics } from '../../runs/folder.js';
import { randomScorer } from '../../eval/evaluate.js';
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

/** Oracle and random scorers on a set's test candidates (file and hard negatives). */
export interface BaselineRows {
  oracle: Record<'file' | 'hard', TestMetrics> | null;
  /** One entry per seed. */
  random: Array<Record<'file' | 'hard', TestMetrics>>;
}

export async function baselinesOf(ctx: ExperimentContext, set: string): Promise<BaselineRows> {
  return cached(ctx, `baselines_${set}_s${ctx.plan.seeds.length}`, () => computeBaselines(ctx.paths.root, set, ctx.plan.seeds));
}

/** Oracle (when `root` has one) and one random scorer per seed on a set's test candidates. */
export async function computeBaselines(root: string, set: string, seeds: readonly number[]): Promise<BaselineRows> {
  const data = loadPolyvoreSet(root, set, { splits: ['test'] });
  const oracle = loadOracle(root);
  const random: BaselineRows['random'] = [];
  for (const seed of seeds) {
    const scorer = randomScorer(new Rng(seed).fork('random-row'));
    random.push({ file: await testMetrics(data, scorer, 'file', seed), hard: await testMetrics(data, scorer, 'hard', seed) });
  }
  if (!oracle) return { oracle: null, random };
  const utility = (table: Parameters<typeof oracle.utility>[1]) => oracle.utility(data, table);
  return { oracle: { file: await testMetrics(data, utility, 'file', 0), hard: await testMetrics(data, utility, 'hard', 0) }, random };
}

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
    if (base.oracle) rows.push({ set, method: 'oracle (true utility)', ...baselineValues([base.oracle]), bestEpoch: null, params: null, backbone: null });
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
    const ref = PUBLISHED_LPAE[set];
    rows.push({
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
      `Test split of the synthetic ${plan.sets.join(' / ')} sets; AUC, NDCG and FITB with the fixed random-mix negatives ` +
      '(`tuples_test_nega`), and AUC/NDCG with the hard negatives (`tuples_test_nega_hard`). ' +
      `Mean ± std over ${plan.seeds.length} seed(s). Teacher/LPAE backbone width ${plan.teacherWidth}, student width ${plan.studentWidth}. ` +
      'The oracle scores with the generator\'s true utility: the ceiling on these candidates. ' +
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
