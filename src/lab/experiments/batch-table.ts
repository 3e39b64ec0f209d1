/**
 * method.md §8.4: batch size of the full method (fnd+cl). The CL negatives are the sample's own 20
 * augmented negatives (in-batch negatives off, the default), so the batch size acts through the
 * optimisation, not through the number of contrastive negatives.
 */
import { lineChartSvg, type ChartPoint } from './charts.js';
import { overSeeds, resultOf, summaryOrNull, type ExperimentContext } from './context.js';
import { makeCell } from './grid.js';
import { METRIC_COLUMNS, metricValues } from './main-table.js';
import type { ReportSection, TableValue } from './report.js';

export async function buildBatchSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const set = plan.sets[0];
  const rows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  for (const batchSize of plan.batchSizes) {
    const cellFor = (seed: number) => makeCell(plan, { set, method: 'fnd+cl', seed, batchSize });
    rows.push({
      batchSize,
      ...metricValues(ctx, cellFor),
      bestEpoch: overSeeds(ctx, cellFor, (r) => r.bestEpoch),
      trainSeconds: summaryOrNull(plan.seeds.map((seed) => resultOf(ctx, cellFor(seed)).trainSeconds)),
    });
    const auc = overSeeds(ctx, cellFor, (r) => r.test.file.auc);
    if (auc) points.push({ x: batchSize, y: auc.mean, std: auc.std, series: 'fnd+cl' });
  }
  return {
    heading: 'Ablation: batch size',
    tables: [
      {
        id: 'ablation-batch',
        title: `Batch size of fnd+cl on ${set} (docs/method.md §8.4)`,
        caption: `Positives per step (each with 10 negatives and 22 contrastive views). Same epochs for every batch size. Mean ± std over ${plan.seeds.length} seed(s).`,
        columns: [
          { key: 'batchSize', label: 'Batch' },
          ...METRIC_COLUMNS,
          { key: 'bestEpoch', label: 'Best epoch', digits: 1 },
          { key: 'trainSeconds', label: 'Train s', digits: 0 },
        ],
        rows,
      },
    ],
    charts: [
      {
        id: 'ablation-batch',
        title: 'AUC vs batch size',
        caption: 'Test AUC of fnd+cl against the batch size.',
        svg: await lineChartSvg(points, { title: 'fnd+cl test AUC vs batch size', xTitle: 'batch size', yTitle: 'test AUC', xOrdinal: true }),
      },
    ],
  };
}
