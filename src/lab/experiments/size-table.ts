/**
 * method.md §8.4: backbone size. The student alone and the full method at several backbone widths; the
 * gap between them at each width is what distillation + CL buy at that size.
 */
import { lineChartSvg, type ChartPoint } from './charts.js';
import { overSeeds, resultOf, summaryOrNull, type ExperimentContext } from './context.js';
import { makeCell } from './grid.js';
import { METRIC_COLUMNS, metricValues } from './main-table.js';
import type { ReportSection, TableValue } from './report.js';

export async function buildSizeSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const set = plan.sets[0];
  const rows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  for (const width of plan.widths) {
    for (const [method, label] of [['softmax', 'softmax (alone)'], ['fnd+cl', 'fnd+cl']] as const) {
      const cellFor = (seed: number) => makeCell(plan, { set, method, width, seed });
      const first = resultOf(ctx, cellFor(plan.seeds[0]));
      rows.push({
        width: String(width),
        method: label,
        backbone: first.params.backbone,
        total: first.params.total,
        ...metricValues(ctx, cellFor),
        secondsPerStep: summaryOrNull(plan.seeds.map((seed) => resultOf(ctx, cellFor(seed)).secondsPerStep)),
      });
      const auc = overSeeds(ctx, cellFor, (r) => r.test.file.auc);
      if (auc) points.push({ x: width, y: auc.mean, std: auc.std, series: label });
    }
  }
  return {
    heading: 'Ablation: backbone size',
    tables: [
      {
        id: 'ablation-size',
        title: `Backbone width on ${set} (docs/method.md §8.4)`,
        caption:
          `Convnet backbone width multiplier (channels 32w/64w/128w); the teacher of every fnd+cl run has width ${plan.teacherWidth}. ` +
          `Seconds per step include validation, averaged over the run. Mean ± std over ${plan.seeds.length} seed(s).`,
        columns: [
          { key: 'width', label: 'Width' },
          { key: 'method', label: 'Method' },
          { key: 'backbone', label: 'Backbone params' },
          { key: 'total', label: 'Total params' },
          ...METRIC_COLUMNS,
          { key: 'secondsPerStep', label: 's/step', digits: 3 },
        ],
        rows,
      },
    ],
    charts: [
      {
        id: 'ablation-size',
        title: 'AUC vs backbone width',
        caption: 'Test AUC against the backbone width multiplier, student alone vs fnd+cl.',
        svg: await lineChartSvg(points, { title: 'Test AUC vs backbone width', xTitle: 'backbone width multiplier', yTitle: 'test AUC', xOrdinal: true }),
      },
    ],
  };
}
