/**
 * method.md §8.2 / §5: cold users. The LPAE and FND-CL models trained on 630 (519) profile the new users
 * of 53 (32) from 1 or 5 outfits each with SO, SU and SA, and are evaluated on the new users' full
 * test split; oracle and random rows on the same candidates bound the numbers.
 */
import { COLD_START_STRATEGIES, type ColdStartStrategy } from '../../train/cold-start.js';
import { runDirOf } from './cells.js';
import { lineChartSvg, type ChartPoint } from './charts.js';
import { newUsersSetOf } from '../../data/layout.js';
import { UserError } from '../../errors.js';
import { coldStartAll, type ColdStartResult } from './cold-users.js';
import { cached, summaryOrNull, type ExperimentContext } from './context.js';
import { cellKey, makeCell, type TrainCell } from './grid.js';
import { baselinesOf, baselineValues, referenceRows } from './main-table.js';
import type { ReportChart, ReportSection, TableValue } from './report.js';

const BASE_METHODS = [
  { method: 'lpae' as const, label: 'LPAE' },
  { method: 'fnd+cl' as const, label: 'FND-CL' },
];

/** The cold-start results of one trained base model, every shots × strategy pair. */
async function coldStartResultsOf(ctx: ExperimentContext, base: TrainCell): Promise<ColdStartResult[]> {
  const { plan } = ctx;
  // v2: SO fits an lpae run with its own pairwise loss + L_reg (earlier caches used Eq. T for every model)
  return cached(ctx, `coldstart-v2_${cellKey(base)}_steps${plan.coldStartSteps}`, () =>
    coldStartAll(
      runDirOf(ctx.paths, base),
      { root: ctx.paths.root, shots: plan.shots, strategies: COLD_START_STRATEGIES, seed: base.seed, steps: plan.coldStartSteps },
      ctx.log,
    ),
  );
}

export async function buildColdStartSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const rows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  for (const set of plan.sets) {
    const coldSet = coldSetOfPlan(ctx, set);
    const base = await baselinesOf(ctx, coldSet);
    const none = { shots: 'all (none fitted)', fitting: '—', fitMs: null };
    for (const ref of referenceRows(base)) rows.push({ coldSet, model: ref.label, strategy: '—', ...none, ...pickFile(ref.values) });
    rows.push({ coldSet, model: 'random scores', strategy: '—', ...none, ...pickFile(baselineValues(base.random)) });
    for (const { method, label } of BASE_METHODS) {
      const perSeed: ColdStartResult[][] = [];
      for (const seed of plan.seeds) perSeed.push(await coldStartResultsOf(ctx, makeCell(plan, { set, method, seed })));
      for (const strategy of COLD_START_STRATEGIES) {
        for (const shots of plan.shots) {
          const matching = perSeed.map((rs) => find(rs, shots, strategy));
          const auc = summaryOrNull(matching.map((r) => r.report.auc));
          rows.push({
            coldSet,
            model: `${label} (trained on ${set})`,
            strategy: strategy.toUpperCase(),
            shots,
            fitting: matching[0]?.fitting ?? null,
            auc,
            ndcg: summaryOrNull(matching.map((r) => r.report.ndcg)),
            fitMs: summaryOrNull(matching.map((r) => r.fitSeconds.mean * 1000)),
          });
          if (auc) points.push({ x: shots, y: auc.mean, std: auc.std, series: `${label} ${strategy.toUpperCase()}`, panel: `new users of ${coldSet}` });
        }
      }
    }
  }
  return {
    heading: 'Cold users',
    intro:
      `Models trained on ${plan.sets.join(' / ')} profile the new users of ${plan.sets.map((s) => coldSetOfPlan(ctx, s)).join(' / ')} from ` +
      `${plan.shots.join(' or ')} training outfit(s) each (docs/method.md §5): SO optimises fresh anchors for ${plan.coldStartSteps} Adam steps with ` +
      'everything else frozen, with the objective the model was trained with ("Fitting": LPAE\'s pairwise loss + 0.01·L_reg for LPAE, Eq. T for FND-CL), SU copies the anchors of the existing user who scores the outfits highest, SA takes the existing anchors ' +
      'nearest the outfits. Evaluation on the new users\' full test split with `tuples_test_nega`.',
    tables: [
      {
        id: 'coldstart',
        title: 'Cold users (docs/method.md §8.2)',
        caption: `Mean ± std over ${plan.seeds.length} seed(s) (base model and outfit choice). "Fit ms/user" is the wall time to profile one user, each user fitted alone.`,
        columns: [
          { key: 'coldSet', label: 'New users' },
          { key: 'model', label: 'Model' },
          { key: 'strategy', label: 'Strategy' },
          { key: 'shots', label: 'Outfits/user' },
          { key: 'fitting', label: 'Fitting' },
          { key: 'auc', label: 'AUC' },
          { key: 'ndcg', label: 'NDCG' },
          { key: 'fitMs', label: 'Fit ms/user', digits: 1 },
        ],
        rows,
      },
    ],
    charts: [await coldStartShotsChart(points)],
  };
}

function pickFile(v: Record<string, TableValue>): Record<string, TableValue> {
  return { auc: v.auc, ndcg: v.ndcg };
}

function find(rs: ColdStartResult[], shots: number, strategy: ColdStartStrategy): ColdStartResult {
  const r = rs.find((x) => x.shots === shots && x.strategy === strategy);
  if (!r) throw new Error(`cold start: no result for ${shots} shot(s), ${strategy}`);
  return r;
}

/** New-user test AUC against the outfits each user was profiled from, one line per model × strategy. */
export async function coldStartShotsChart(points: readonly ChartPoint[]): Promise<ReportChart> {
  return {
    id: 'coldstart-shots',
    title: 'Cold users: AUC vs outfits per user',
    caption: 'Test AUC of the new users against the number of outfits they were profiled from, per model and strategy (mean ± std over seeds).',
    svg: await lineChartSvg(points, { title: 'New-user AUC vs outfits per user', xTitle: 'outfits per new user', yTitle: 'test AUC', xOrdinal: true }),
  };
}

/** The new-user set of a training set of the plan: its layout's `newUsers` (method.md §6.5; 53 for 630, 32 for 519). */
function coldSetOfPlan(ctx: ExperimentContext, set: string): string {
  const cold = newUsersSetOf(ctx.paths.root, set);
  if (cold === undefined) throw new UserError(`${ctx.paths.root}: set ${set} names no new-user set ("newUsers" in tuples_${set}/layout.json)`);
  return cold;
}
