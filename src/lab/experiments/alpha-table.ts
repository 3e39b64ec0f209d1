/**
 * method.md §8.4 / §4: the α sweep of the FND student (Eq. S), negative values and 0 included (α = 0 is
 * Eq. T exactly, so that row must match the student alone up to training noise), next to the
 * student alone.
 */
import { lineChartSvg, type ChartPoint } from './charts.js';
import { overSeeds, resultOf, summaryOrNull, type ExperimentContext } from './context.js';
import { makeCell } from './grid.js';
import { METRIC_COLUMNS, metricValues } from './main-table.js';
import type { ReportSection, TableValue } from './report.js';

export async function buildAlphaSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const set = plan.sets[0];
  const student = (seed: number) => makeCell(plan, { set, method: 'softmax', width: plan.studentWidth, seed });
  const rows: Array<Record<string, TableValue>> = [{ alpha: 'student alone (softmax)', ...metricValues(ctx, student), gain: null }];
  const points: ChartPoint[] = [];
  for (const alpha of plan.alphas) {
    const fnd = (seed: number) => makeCell(plan, { set, method: 'fnd', seed, alpha });
    const values = metricValues(ctx, fnd);
    const gain = summaryOrNull(plan.seeds.map((seed) => resultOf(ctx, fnd(seed)).test.file.auc - resultOf(ctx, student(seed)).test.file.auc));
    rows.push({ alpha: String(alpha), ...values, gain });
    const auc = overSeeds(ctx, fnd, (r) => r.test.file.auc);
    const ndcg = overSeeds(ctx, fnd, (r) => r.test.file.ndcg);
    if (auc) points.push({ x: alpha, y: auc.mean, std: auc.std, series: 'FND student AUC' });
    if (ndcg) points.push({ x: alpha, y: ndcg.mean, std: ndcg.std, series: 'FND student NDCG' });
  }
  for (const [metric, label] of [['auc', 'AUC'], ['ndcg', 'NDCG']] as const) {
    const s = overSeeds(ctx, student, (r) => r.test.file[metric]);
    if (s) for (const alpha of plan.alphas) points.push({ x: alpha, y: s.mean, series: `student alone ${label}` });
  }
  return {
    heading: 'Ablation: α',
    tables: [
      {
        id: 'ablation-alpha',
        title: `α of the FND objective on ${set} (docs/method.md §8.4)`,
        caption:
          'FND student (narrow backbone, Eq. S shift form, radius = mean teacher distance) for each α, in score units ' +
          `(the score is a sum of ${plan.model.anchors} cosines). α > 0 is the paper's direction (a suspected false negative weighs more), ` +
          'α < 0 the inverted variant (docs/method.md §4). α = 0 is the softmax objective exactly. ' +
          `Gain = test AUC minus the student alone ` +
          `with the same seed. Mean ± std over ${plan.seeds.length} seed(s).`,
        columns: [{ key: 'alpha', label: 'α' }, ...METRIC_COLUMNS, { key: 'gain', label: 'AUC gain' }],
        rows,
      },
    ],
    charts: [
      {
        id: 'ablation-alpha',
        title: 'Metric vs α',
        caption: 'Test AUC and NDCG of the FND student against α; the flat lines are the student alone.',
        svg: await lineChartSvg(points, { title: 'FND student vs α', xTitle: 'α', yTitle: 'test metric' }),
      },
    ],
  };
}
