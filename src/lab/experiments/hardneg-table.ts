/**
 * method.md §8.3 / §6.2: the hard-negative setting. Every method is trained with 5 random + 5 hard
 * negatives per positive and evaluated on the hard-negative file (other users' positives) and on the
 * random-mix file, next to the same method trained with 10 random negatives.
 */
import { overSeeds, type ExperimentContext } from './context.js';
import { mainRows } from './grid.js';
import { baselinesOf, baselineValues, REFERENCE_CAPTION, referenceRows } from './main-table.js';
import type { ReportSection, TableValue } from './report.js';

export async function buildHardNegSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const set = plan.sets[0];
  const rows: Array<Record<string, TableValue>> = [];
  const base = await baselinesOf(ctx, set);
  const baseRow = (v: Record<string, TableValue>) => ({ aucHard: v.aucHard, ndcgHard: v.ndcgHard, auc: v.auc, ndcg: v.ndcg });
  for (const ref of referenceRows(base)) rows.push({ method: ref.label, training: '—', ...baseRow(ref.values) });
  rows.push({ method: 'random scores', training: '—', ...baseRow(baselineValues(base.random)) });
  for (const [i, row] of mainRows(plan, set, 0).entries()) {
    for (const negatives of ['random', 'mixed'] as const) {
      const cellFor = (seed: number) => mainRows(plan, set, seed, negatives)[i].cell;
      rows.push({
        method: row.label,
        training: negatives === 'mixed' ? '5 random + 5 hard' : '10 random',
        aucHard: overSeeds(ctx, cellFor, (r) => r.test.hard.auc),
        ndcgHard: overSeeds(ctx, cellFor, (r) => r.test.hard.ndcg),
        auc: overSeeds(ctx, cellFor, (r) => r.test.file.auc),
        ndcg: overSeeds(ctx, cellFor, (r) => r.test.file.ndcg),
      });
    }
  }
  return {
    heading: 'Hard negatives',
    tables: [
      {
        id: 'hardneg',
        title: `Hard negatives on ${set} (docs/method.md §8.3)`,
        caption:
          'Each method trained with 10 random-mix negatives per positive, or with 5 random + 5 hard (another user\'s positive); ' +
          'tested on `tuples_test_nega_hard` (hard) and `tuples_test_nega` (random mix). ' +
          `FND students distil from a teacher trained in the same setting. Mean ± std over ${plan.seeds.length} seed(s). ` +
          REFERENCE_CAPTION,
        columns: [
          { key: 'method', label: 'Method' },
          { key: 'training', label: 'Training negatives' },
          { key: 'aucHard', label: 'AUC (hard)' },
          { key: 'ndcgHard', label: 'NDCG (hard)' },
          { key: 'auc', label: 'AUC (random mix)' },
          { key: 'ndcg', label: 'NDCG (random mix)' },
        ],
        rows,
      },
    ],
    charts: [],
  };
}
