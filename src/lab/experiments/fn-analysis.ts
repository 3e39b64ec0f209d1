/**
 * Beyond the papers: does the teacher actually find false negatives? On the synthetic benchmark the
 * generator knows which sampled negatives are false negatives (oracle flags, method.md §6.3), so the
 * rule FND trains with — "φ = r̂_u − d^T(u, o⁻) > 0 means false negative" (method.md §4 Eq. S) — can be
 * scored: precision and recall of φ > t over thresholds t, on the training split's fixed negatives
 * (random mix and hard), for the same teachers the FND students distil from. Then: how does that
 * relate to the student's gain (FND over the student alone), overall and user by user?
 */
import { loadPolyvoreSet } from '../../data/polyvore.js';
import { loadFalseNegativeFlags } from '../../data/synth/oracle.js';
import type { ItemInputSource } from '../../model/inputs.js';
import { userRadius } from '../../train/fnd.js';
import { ItemEmbeddingCache } from '../../train/item-cache.js';
import { loadRun } from '../../runs/load.js';
import { runDirOf } from './cells.js';
import { lineChartSvg, type ChartPoint } from './charts.js';
import { cached, overSeeds, perUserDifference, resultOf, summaryOrNull, type ExperimentContext } from './context.js';
import { flagQuality, pearson, type FlagQuality } from './fn-flags.js';
import { cellKey, makeCell, teacherOf, type TrainCell } from './grid.js';
import type { ReportChart, ReportSection, TableColumn, TableValue } from './report.js';

export const FLAG_KINDS = [
  { kind: 'nega' as const, label: 'random mix' },
  { kind: 'nega_hard' as const, label: 'hard' },
];

/** One teacher's flags on one negatives file. */
export interface TeacherFlags {
  kind: 'nega' | 'nega_hard';
  quality: FlagQuality;
  /** Per user: precision of φ > 0 (null when the user has nothing flagged) and share of true false negatives. */
  perUserPrecision: Array<number | null>;
  perUserFnShare: Array<number | null>;
}

/**
 * φ of a trained teacher on the train split's negative files, against the oracle's flags; null
 * without flags. r̂_u is the FND default (mean teacher distance) over the training positives the
 * cells trained on (the training view); φ is scored on the ORIGINAL files, which the flags align with.
 */
async function teacherFlagsOf(ctx: ExperimentContext, teacher: TrainCell): Promise<TeacherFlags[] | null> {
  return cached(ctx, `fn-analysis_${cellKey(teacher)}`, () =>
    computeTeacherFlags(runDirOf(ctx.paths, teacher), ctx.paths.root, ctx.paths.trainRoot, teacher.set),
  );
}

/**
 * φ of the teacher in `teacherDir` on the train split's negative files of `setName` under `root`,
 * scored against the oracle's flags; null when `root` has no flags. r̂_u is taken over the training
 * positives under `trainRoot` (the ones the teacher and its students trained on).
 */
export async function computeTeacherFlags(teacherDir: string, root: string, trainRoot: string, setName: string): Promise<TeacherFlags[] | null> {
  const flagsByKind = FLAG_KINDS.map(({ kind }) => loadFalseNegativeFlags(root, setName, 'train', kind));
  if (flagsByKind.some((f) => f === null)) return null;
  const run = await loadRun(teacherDir, { root, splits: ['train'] });
  try {
    const set = run.set;
    const trainedOn = trainRoot === root ? set.splits.train.posi : loadPolyvoreSet(trainRoot, setName, { splits: ['train'] }).splits.train.posi;
    const negativeFiles = FLAG_KINDS.map(({ kind }) => {
      const t = kind === 'nega' ? set.splits.train.nega : set.splits.train.negaHard;
      if (!t) throw new Error(`${set.dir}: no tuples_train_${kind}`);
      return t;
    });
    // the teacher's item embeddings once, for every item the positives and both files hold
    const cache = await ItemEmbeddingCache.build(run.model, run.inputs as ItemInputSource, ItemEmbeddingCache.itemsOf(set.splits.train.posi, trainedOn, ...negativeFiles));
    const radius = userRadius(trainedOn.users, await cache.scoreTable(trainedOn), set.numUsers, 'mean');
    const flagged: TeacherFlags[] = [];
    for (const [k, { kind }] of FLAG_KINDS.entries()) {
      const negatives = negativeFiles[k];
      const scores = await cache.scoreTable(negatives);
      // φ = r̂_u − d^T(u, o⁻) = r̂_u + s^T(u, o⁻) (method.md §4)
      const phi = scores.map((s, i) => radius[negatives.users[i]] + s);
      const flags = flagsByKind[k] as Uint8Array;
      if (flags.length !== phi.length) throw new Error(`${kind}: ${flags.length} oracle flags for ${phi.length} negatives`);
      flagged.push({ kind, quality: flagQuality(phi, flags), ...perUserFlags(negatives.users, phi, flags, set.numUsers) });
    }
    return flagged;
  } finally {
    await run.model.dispose();
  }
}

function perUserFlags(users: Int32Array, phi: Float32Array, flags: Uint8Array, numUsers: number): Pick<TeacherFlags, 'perUserPrecision' | 'perUserFnShare'> {
  const flagged = new Int32Array(numUsers);
  const hits = new Int32Array(numUsers);
  const negatives = new Int32Array(numUsers);
  const trueFn = new Int32Array(numUsers);
  for (let i = 0; i < phi.length; i++) {
    const u = users[i];
    negatives[u]++;
    trueFn[u] += flags[i];
    if (phi[i] > 0) {
      flagged[u]++;
      hits[u] += flags[i];
    }
  }
  return {
    perUserPrecision: Array.from(flagged, (f, u) => (f > 0 ? hits[u] / f : null)),
    perUserFnShare: Array.from(negatives, (n, u) => (n > 0 ? trueFn[u] / n : null)),
  };
}

/** The flag table's columns (the grid's table puts a Set column first). */
export const FLAG_COLUMNS: TableColumn[] = [
  { key: 'negatives', label: 'Negatives' },
  { key: 'threshold', label: 'Rule' },
  { key: 'flaggedShare', label: 'Flagged share' },
  { key: 'precision', label: 'Precision' },
  { key: 'recall', label: 'Recall' },
  { key: 'baseRate', label: 'Base rate' },
  { key: 'rankingAuc', label: 'Ranking AUC' },
];

export const FLAG_CAPTION =
  'Precision and recall of the rule "φ > t" against the oracle flags; thresholds in units of φ\'s standard deviation. ' +
  'Base rate = share of negatives that truly are false negatives (the precision of flagging at random). ' +
  'Ranking AUC = P(φ of a true false negative > φ of a true negative).';

/**
 * The flag table's rows for one set, each negatives file × threshold, mean ± std over the teachers
 * given (one per seed), and the precision/recall points of the threshold chart.
 */
export function flagRowsOf(perTeacher: readonly TeacherFlags[][], fixed: Record<string, TableValue>, panel: string): { rows: Array<Record<string, TableValue>>; points: ChartPoint[] } {
  const rows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  for (const [k, { label }] of FLAG_KINDS.entries()) {
    const qualities = perTeacher.map((f) => f[k].quality);
    const thresholds = qualities[0].rows.map((r) => r.thresholdInStd);
    for (const [t, thresholdInStd] of thresholds.entries()) {
      const prec = summaryOrNull(qualities.map((q) => q.rows[t].precision).filter(Number.isFinite));
      const rec = summaryOrNull(qualities.map((q) => q.rows[t].recall).filter(Number.isFinite));
      rows.push({
        ...fixed,
        negatives: label,
        threshold: thresholdInStd === 0 ? 'φ > 0 (FND rule)' : `φ > ${thresholdInStd}·std(φ)`,
        flaggedShare: summaryOrNull(qualities.map((q) => q.rows[t].flagged / q.negatives)),
        precision: prec,
        recall: rec,
        baseRate: summaryOrNull(qualities.map((q) => q.baseRate)),
        rankingAuc: summaryOrNull(qualities.map((q) => q.rankingAuc).filter(Number.isFinite)),
      });
      if (prec) points.push({ x: thresholdInStd, y: prec.mean, std: prec.std, series: `precision (${label})`, panel });
      if (rec) points.push({ x: thresholdInStd, y: rec.mean, std: rec.std, series: `recall (${label})`, panel });
    }
  }
  return { rows, points };
}

export async function flagThresholdChart(points: readonly ChartPoint[]): Promise<ReportChart> {
  return {
    id: 'fn-flags-threshold',
    title: 'Flag precision and recall vs threshold',
    caption: 'Precision and recall of φ > t·std(φ) against the oracle flags, per negatives file; t = 0 is the rule FND trains with.',
    svg: await lineChartSvg(points, { title: 'Teacher false-negative flags', xTitle: 'threshold t (in std of φ)', yTitle: 'precision / recall' }),
  };
}

/** Pearson r over users of a per-user gain and a per-user flag statistic (users missing either are left out). */
export function gainCorrelation(gain: ReadonlyArray<number | null>, per: ReadonlyArray<number | null>): number {
  const users = gain.map((_, u) => u).filter((u) => gain[u] !== null && per[u] !== null && per[u] !== undefined);
  return pearson(users.map((u) => per[u] as number), users.map((u) => gain[u] as number));
}

export async function buildFnAnalysisSection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan } = ctx;
  const flagRows: Array<Record<string, TableValue>> = [];
  const gainRows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  let available = true;
  for (const set of plan.sets) {
    const student = (seed: number) => makeCell(plan, { set, method: 'softmax', width: plan.studentWidth, seed });
    const fnd = (seed: number) => makeCell(plan, { set, method: 'fnd', seed });
    const perSeed: TeacherFlags[][] = [];
    for (const seed of plan.seeds) {
      const flags = await teacherFlagsOf(ctx, teacherOf(fnd(seed), plan) as TrainCell);
      if (!flags) {
        available = false;
        break;
      }
      perSeed.push(flags);
    }
    if (!available) break;
    const flagged = flagRowsOf(perSeed, { set }, `set ${set}`);
    flagRows.push(...flagged.rows);
    points.push(...flagged.points);
    // the student's gain from FND, and whether it follows the teacher's flag quality user by user
    const corrPrecision: number[] = [];
    const corrFnShare: number[] = [];
    for (const [s, seed] of plan.seeds.entries()) {
      const gain = perUserDifference(resultOf(ctx, fnd(seed)).test.file.perUserAuc, resultOf(ctx, student(seed)).test.file.perUserAuc);
      const flags = perSeed[s][0];
      corrPrecision.push(gainCorrelation(gain, flags.perUserPrecision));
      corrFnShare.push(gainCorrelation(gain, flags.perUserFnShare));
    }
    const atZero = (q: FlagQuality) => q.rows.find((r) => r.thresholdInStd === 0);
    gainRows.push({
      set,
      precision: summaryOrNull(perSeed.map((f) => atZero(f[0].quality)?.precision ?? NaN).filter(Number.isFinite)),
      recall: summaryOrNull(perSeed.map((f) => atZero(f[0].quality)?.recall ?? NaN).filter(Number.isFinite)),
      studentAuc: overSeeds(ctx, student, (r) => r.test.file.auc),
      fndAuc: overSeeds(ctx, fnd, (r) => r.test.file.auc),
      gain: summaryOrNull(plan.seeds.map((seed) => resultOf(ctx, fnd(seed)).test.file.auc - resultOf(ctx, student(seed)).test.file.auc)),
      corrPrecision: summaryOrNull(corrPrecision.filter(Number.isFinite)),
      corrFnShare: summaryOrNull(corrFnShare.filter(Number.isFinite)),
    });
  }
  if (!available) {
    return {
      heading: 'False-negative analysis',
      intro: `${ctx.paths.root} has no oracle false-negative flags (not written by \`outfitrec data synth\`), so the teacher's flags cannot be scored.`,
      tables: [],
      charts: [],
    };
  }
  return {
    heading: 'False-negative analysis (beyond the papers)',
    intro:
      'FND treats a sampled negative as a false negative when the frozen teacher places it inside the user\'s radius, φ = r̂_u − d^T(u, o⁻) > 0 ' +
      '(r̂_u: mean teacher distance over the user\'s training positives the cells trained on). The synthetic generator flags a negative as a true false negative when its ' +
      'true utility for the user is above the median utility of the user\'s positives. Here φ is computed for the training split\'s fixed ' +
      'negatives (`tuples_train_nega`, `tuples_train_nega_hard`) by the same teachers the FND students of the main table distil from.',
    tables: [
      {
        id: 'fn-flags',
        title: 'Teacher flags vs true false negatives',
        caption: `${FLAG_CAPTION} Mean ± std over ${plan.seeds.length} teacher seed(s).`,
        columns: [{ key: 'set', label: 'Set' }, ...FLAG_COLUMNS],
        rows: flagRows,
      },
      {
        id: 'fn-gain',
        title: 'Flag quality and the student\'s gain',
        caption:
          'Precision/recall of φ > 0 on the random-mix training negatives; test AUC of the student alone and of the FND student ' +
          `(α = ${plan.alpha}); gain = FND − student alone (same seed). The last two columns correlate, over users, the user\'s AUC gain ` +
          'with the precision of the teacher\'s flags for that user and with the user\'s true false-negative share (Pearson r, mean over seeds).',
        columns: [
          { key: 'set', label: 'Set' },
          { key: 'precision', label: 'Precision (φ>0)' },
          { key: 'recall', label: 'Recall (φ>0)' },
          { key: 'studentAuc', label: 'Student alone AUC' },
          { key: 'fndAuc', label: 'FND AUC' },
          { key: 'gain', label: 'Gain' },
          { key: 'corrPrecision', label: 'r(gain, precision)' },
          { key: 'corrFnShare', label: 'r(gain, FN share)' },
        ],
        rows: gainRows,
      },
    ],
    charts: [await flagThresholdChart(points)],
  };
}
