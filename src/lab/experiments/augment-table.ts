/**
 * method.md §8.4 / §4: which contrastive views help. The full method (fnd+cl) with views from erase and
 * replace (the paper), erase only, replace only, or none (both views are the outfit itself, so CL
 * can only push the negatives apart).
 */
import { type ExperimentContext } from './context.js';
import { AUGMENTS, makeCell } from './grid.js';
import { METRIC_COLUMNS, metricValues } from './main-table.js';
import type { ReportSection, TableValue } from './report.js';

const AUGMENT_LABELS: Record<string, string> = {
  none: 'none (v1 = v2 = the outfit)',
  erase: 'erase only',
  replace: 'replace only',
  both: 'erase + replace (paper)',
};

export async function buildAugmentSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const set = plan.sets[0];
  const fnd = (seed: number) => makeCell(plan, { set, method: 'fnd', seed });
  const rows: Array<Record<string, TableValue>> = [{ augment: 'no CL (fnd)', ...metricValues(ctx, fnd) }];
  for (const augment of AUGMENTS) {
    rows.push({ augment: AUGMENT_LABELS[augment], ...metricValues(ctx, (seed) => makeCell(plan, { set, method: 'fnd+cl', seed, augment })) });
  }
  return {
    heading: 'Ablation: augmentations',
    tables: [
      {
        id: 'ablation-augment',
        title: `Contrastive augmentations on ${set} (docs/method.md §8.4)`,
        caption:
          'fnd+cl student with each choice of views (λ = 0.1, τ = 0.2, the 20 augmented negatives of the sample as CL negatives), ' +
          `and fnd without CL for reference. Mean ± std over ${plan.seeds.length} seed(s).`,
        columns: [{ key: 'augment', label: 'Views' }, ...METRIC_COLUMNS],
        rows,
      },
    ],
    charts: [],
  };
}
