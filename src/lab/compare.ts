/**
 * `outfitrec compare`: finished run folders, grouped into labelled rows (typically one run per
 * seed), evaluated on the test split of the set they were trained on and written as a report
 * folder like the experiment grid's (report.md, one CSV per table, SVG charts), with mean ± std
 * over each row's runs. It is how runs trained with `train` outside the grid (for instance on all
 * training positives, which the grid cannot afford, docs/experiments.md "Budget") get the grid's
 * tables, and how a user compares their own runs.
 *
 * - Metrics: method.md §7 on the fixed random-mix negatives (`tuples_test_nega`, with FITB) and on the
 *   hard negatives (`tuples_test_nega_hard`, §8.3), by the same code as the grid's cells.
 * - Optional oracle and random rows on the same candidates (§6.3), and a baseline row against which
 *   every row's mean AUC difference and its per-run wins are reported.
 * - Optional cold users (§5): each run profiles the new users of 53 (or 32) with the chosen
 *   strategies and shot counts, mean ± std over the row's runs.
 * - Optional sweeps: rows placed on a numeric axis (α, backbone width, batch size, ...) become a
 *   table and a metric-vs-x chart (§8.4), with the baseline row as a flat reference line.
 *
 * Evaluations are cached under `<out>/results/`, keyed by the run folder and stamped with its best
 * checkpoint, so re-running the command (e.g. after adding a seed) only evaluates what is new.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { ColdStartStrategy } from '../train/cold-start.js';
import { readMetrics, readState, resolveWeightsFile } from '../runs/folder.js';
import { readRunConfig } from '../runs/load.js';
import { writeJsonAtomic } from '../util/fs.js';
import { evaluateRunFolder, type RunEvaluation } from './experiments/cells.js';
import { lineChartSvg, type ChartPoint } from './experiments/charts.js';
import { coldStartShotsChart } from './experiments/coldstart-table.js';
import { summaryOrNull } from './experiments/context.js';
import { newUsersSetOf } from '../data/layout.js';
import { coldStartAll, type ColdStartResult } from './experiments/cold-users.js';
import { computeTeacherFlags, FLAG_CAPTION, FLAG_COLUMNS, flagRowsOf, flagThresholdChart, gainCorrelation, type TeacherFlags } from './experiments/fn-analysis.js';
import { baselineValues, computeBaselines, METRIC_COLUMNS, REFERENCE_CAPTION, referenceRows, type BaselineRows } from './experiments/main-table.js';
import { summarise, writeReport, type ReportChart, type ReportSection, type ReportTable, type TableValue } from './experiments/report.js';

/** Rows placed on a numeric axis: a metric-vs-x table and chart (e.g. test AUC vs α). */
export interface CompareSweep {
  /** Axis title, e.g. "α" or "backbone width". */
  axis: string;
  points: Array<{ label: string; x: number }>;
}

/** One row of the comparison: a label and the run folders (seeds) it summarises. */
export interface CompareRow {
  label: string;
  runs: string[];
}

export interface CompareColdStart {
  /** New-user set (default: the set's layout `newUsers`: 53 for runs on 630, 32 for 519, method.md §6.5). */
  set?: string;
  shots: number[];
  strategies: ColdStartStrategy[];
  /** SO Adam steps (cold-start.ts default when absent). */
  steps?: number;
  /** Seed of the outfit choice and the SO fit (the same for every run). */
  seed: number;
}

export interface CompareOptions {
  /** Dataset root the runs are evaluated on. */
  root: string;
  /** Set the runs were trained on (630, 519, ...): every run is checked against it. */
  set: string;
  out: string;
  rows: CompareRow[];
  oracle: boolean;
  random: boolean;
  /** Label of the row the others are compared with (mean AUC difference, wins per run). */
  baseline?: string;
  cold?: CompareColdStart;
  /**
   * A teacher run (the FND students' teacher): adds how well its "φ > t" flags find the true false
   * negatives of the training negatives (synthetic data only), and, with a baseline, how each row's
   * per-user AUC gain over the baseline follows the teacher's per-user flag precision.
   */
  teacher?: string;
  sweeps?: CompareSweep[];
  /** Printed in the report's preamble. */
  commandLine: string;
  log?: (line: string) => void;
}

/** Parses `LABEL=RUN[,RUN...]`. */
export function parseCompareRow(text: string): CompareRow {
  const eq = text.lastIndexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new UserError(`--row: '${text}' is not LABEL=RUN[,RUN...]`);
  const label = text.slice(0, eq).trim();
  const runs = text
    .slice(eq + 1)
    .split(',')
    .map((r) => r.trim());
  if (label === '') throw new UserError(`--row: '${text}' has an empty label`);
  if (runs.some((r) => r === '')) throw new UserError(`--row '${label}': empty run folder in '${text.slice(eq + 1)}'`);
  return { label, runs };
}

/** Parses `AXIS|ROW LABEL@X|ROW LABEL@X...` (the last '@' of a point separates its x). */
export function parseCompareSweep(text: string): CompareSweep {
  const [axisText, ...pointTexts] = text.split('|');
  const axis = axisText.trim();
  if (axis === '' || pointTexts.length < 2) throw new UserError(`--sweep: '${text}' is not AXIS|ROW@X|ROW@X[...] (an axis title and at least two points)`);
  const points = pointTexts.map((p) => {
    const at = p.lastIndexOf('@');
    const label = p.slice(0, Math.max(0, at)).trim();
    const xText = p.slice(at + 1).trim();
    const x = Number(xText);
    if (at <= 0 || label === '' || xText === '' || !Number.isFinite(x)) {
      throw new UserError(`--sweep '${axis}': '${p.trim()}' is not ROW LABEL@NUMBER`);
    }
    return { label, x };
  });
  const xs = new Set<number>();
  for (const { x } of points) {
    if (xs.has(x)) throw new UserError(`--sweep '${axis}': x = ${x} is given twice`);
    xs.add(x);
  }
  return { axis, points };
}

/**
 * Checks every row before anything is evaluated: labels unique, run folders finished and trained on
 * `set`, no run in two rows, the baseline a known label. Throws a UserError naming the row and run.
 */
export function validateCompare(opts: Pick<CompareOptions, 'rows' | 'set' | 'baseline' | 'teacher' | 'sweeps'>): void {
  if (opts.rows.length === 0) throw new UserError('compare: give at least one --row LABEL=RUN[,RUN...]');
  const labels = new Set<string>();
  const seen = new Map<string, string>();
  for (const row of opts.rows) {
    if (labels.has(row.label)) throw new UserError(`--row: the label '${row.label}' is given twice`);
    labels.add(row.label);
    for (const run of row.runs) {
      const abs = resolve(run);
      const other = seen.get(abs);
      if (other !== undefined) throw new UserError(`--row '${row.label}': ${run} is already in row '${other}'`);
      seen.set(abs, row.label);
      const config = readRunConfig(run); // UserError when not a run folder
      if (config.data.set !== opts.set) {
        throw new UserError(`--row '${row.label}': ${run} was trained on set ${config.data.set}, not on --set ${opts.set}`);
      }
      const state = readState(run);
      if (!state?.finished || !state.best) throw new UserError(`--row '${row.label}': ${run} has not finished training`);
    }
  }
  if (opts.teacher !== undefined) {
    const config = readRunConfig(opts.teacher);
    if (config.data.set !== opts.set) throw new UserError(`--teacher: ${opts.teacher} was trained on set ${config.data.set}, not on --set ${opts.set}`);
    const state = readState(opts.teacher);
    if (!state?.finished || !state.best) throw new UserError(`--teacher: ${opts.teacher} has not finished training`);
  }
  if (opts.baseline !== undefined && !labels.has(opts.baseline)) {
    throw new UserError(`--baseline: '${opts.baseline}' is not one of the row labels (${[...labels].join(', ')})`);
  }
  for (const sweep of opts.sweeps ?? []) {
    for (const { label } of sweep.points) {
      if (!labels.has(label)) throw new UserError(`--sweep '${sweep.axis}': '${label}' is not one of the row labels (${[...labels].join(', ')})`);
    }
  }
}

/** The cache file of one run's evaluation of a kind (test metrics, cold start). */
function cachePath(out: string, kind: string, run: string, extra: string): string {
  const id = createHash('sha256').update(`${resolve(run)}\n${extra}`).digest('hex').slice(0, 12);
  return join(out, 'results', `${kind}-${basename(resolve(run))}-${id}.json`);
}

/** What identifies the weights a cached evaluation was made with: the best checkpoint's epoch, size and time. */
function weightsStamp(run: string): string {
  const { path, epoch } = resolveWeightsFile(run, 'best');
  const st = statSync(path);
  return `${epoch ?? 'none'}:${st.size}:${st.mtimeMs}`;
}

async function cachedRunResult<T>(path: string, stamp: string, compute: () => Promise<T>): Promise<T> {
  if (existsSync(path)) {
    try {
      const c = JSON.parse(readFileSync(path, 'utf8')) as { stamp: string; value: T };
      if (c.stamp === stamp) return c.value;
    } catch {
      // a torn cache is recomputed
    }
  }
  const value = await compute();
  writeJsonAtomic(path, { stamp, value });
  return value;
}

function runEvaluation(opts: CompareOptions, run: string): Promise<RunEvaluation> {
  const extra = `test\n${resolve(opts.root)}\n${opts.set}`;
  return cachedRunResult(cachePath(opts.out, 'test', run, extra), weightsStamp(run), () => {
    opts.log?.(`evaluating ${run} on ${opts.root} set ${opts.set} (test)`);
    return evaluateRunFolder(run, opts.root, 0);
  });
}

function runColdStarts(opts: CompareOptions, cold: CompareColdStart, run: string): Promise<ColdStartResult[]> {
  // "cold2": SO fits lpae runs with their own pairwise loss + L_reg since then
  const extra = `cold2\n${resolve(opts.root)}\n${cold.set ?? ''}\n${cold.shots.join(',')}\n${cold.strategies.join(',')}\n${cold.steps ?? ''}\n${cold.seed}`;
  return cachedRunResult(cachePath(opts.out, 'coldstart', run, extra), weightsStamp(run), () =>
    coldStartAll(run, { root: opts.root, coldSet: cold.set, shots: cold.shots, strategies: cold.strategies, seed: cold.seed, steps: cold.steps }, (l) => opts.log?.(l)),
  );
}

/** Runs the comparison and writes the report folder; returns the paths written, report.md first. */
export async function runCompare(opts: CompareOptions): Promise<string[]> {
  validateCompare(opts);
  const evaluations = new Map<string, RunEvaluation[]>();
  for (const row of opts.rows) {
    const evs: RunEvaluation[] = [];
    for (const run of row.runs) evs.push(await runEvaluation(opts, run));
    evaluations.set(row.label, evs);
  }
  const baselines: BaselineRows | null =
    opts.oracle || opts.random ? await computeBaselines(opts.root, opts.set, [0]) : null;
  const sections: ReportSection[] = [
    { heading: `Test split of set ${opts.set}`, tables: [mainTable(opts, evaluations, baselines)], charts: [await learningCurves(opts)] },
  ];
  if (opts.cold) sections.push(await coldSection(opts, opts.cold));
  if (opts.teacher !== undefined) sections.push(await flagSection(opts, opts.teacher, evaluations));
  if (opts.sweeps && opts.sweeps.length > 0) sections.push(await sweepSection(opts, opts.sweeps, evaluations));
  const preamble =
    `Command: \`${opts.commandLine}\`\n\n` +
    `Dataset root \`${opts.root}\`, set ${opts.set}. Each row summarises its runs (one per seed) as mean ± std ` +
    '(sample standard deviation); every run is evaluated with its best-validation weights. ' +
    `Cached evaluations: \`${join(opts.out, 'results')}/\`.`;
  return writeReport(opts.out, { title: `Comparison of runs on set ${opts.set}`, preamble }, sections);
}

function mainTable(opts: CompareOptions, evaluations: Map<string, RunEvaluation[]>, baselines: BaselineRows | null): ReportTable {
  const rows: Array<Record<string, TableValue>> = [];
  const empty = { runs: null, perRun: null, dAuc: null, wins: null, bestEpoch: null, trainS: null, params: null, backbone: null };
  if (baselines && opts.oracle) for (const ref of referenceRows(baselines)) rows.push({ method: ref.label, ...ref.values, ...empty });
  const base = opts.baseline === undefined ? undefined : evaluations.get(opts.baseline);
  const baseMean = base ? mean(base.map((e) => e.test.file.auc)) : undefined;
  for (const row of opts.rows) {
    const evs = evaluations.get(row.label) ?? [];
    const aucs = evs.map((e) => e.test.file.auc);
    const isBase = row.label === opts.baseline;
    rows.push({
      method: row.label,
      ...metricSummaries(evs),
      runs: evs.length,
      perRun: aucs.map((a) => a.toFixed(4)).join(' / '),
      dAuc: baseMean === undefined || isBase ? null : mean(aucs) - baseMean,
      // runs of this row whose test AUC is above every run of the baseline, of all runs
      wins: base === undefined || isBase ? null : `${aucs.filter((a) => base.every((b) => a > b.test.file.auc)).length} of ${aucs.length}`,
      bestEpoch: summaryOrNull(evs.map((e) => e.bestEpoch)),
      trainS: summaryOrNull(evs.map((e) => e.trainSeconds)),
      params: evs[0]?.params.total ?? null,
      backbone: evs[0]?.params.backbone ?? null,
    });
  }
  if (baselines && opts.random) rows.push({ method: 'random scores', ...baselineValues(baselines.random), ...empty });
  const baseNote =
    opts.baseline === undefined
      ? ''
      : ` "Δ AUC" is the row's mean test AUC minus that of '${opts.baseline}'; "above baseline" counts the row's runs whose AUC is above every '${opts.baseline}' run.`;
  return {
    id: 'compare',
    title: `Runs on set ${opts.set}`,
    caption:
      'AUC, NDCG and FITB with the fixed random-mix negatives (`tuples_test_nega`), AUC/NDCG with the hard negatives ' +
      '(`tuples_test_nega_hard`); mean ± std over the row\'s runs, whose AUCs are listed. ' +
      (opts.oracle ? REFERENCE_CAPTION : '') +
      '"Train s" is the wall time of training, validation included.' +
      baseNote,
    columns: [
      { key: 'method', label: 'Row' },
      ...METRIC_COLUMNS,
      { key: 'runs', label: 'Runs' },
      { key: 'perRun', label: 'AUC per run' },
      ...(opts.baseline === undefined
        ? []
        : [
            { key: 'dAuc', label: `Δ AUC vs ${opts.baseline}` },
            { key: 'wins', label: 'Above baseline' },
          ]),
      { key: 'bestEpoch', label: 'Best epoch', digits: 1 },
      { key: 'trainS', label: 'Train s', digits: 0 },
      { key: 'params', label: 'Params' },
      { key: 'backbone', label: 'Backbone params' },
    ],
    rows,
  };
}

/** The METRIC_COLUMNS cells of a row: each test metric, mean ± std over the row's runs. */
function metricSummaries(evs: readonly RunEvaluation[]): Record<string, TableValue> {
  return {
    auc: summaryOrNull(evs.map((e) => e.test.file.auc)),
    ndcg: summaryOrNull(evs.map((e) => e.test.file.ndcg)),
    fitb: summaryOrNull(evs.flatMap((e) => (e.test.file.fitb === null ? [] : [e.test.file.fitb]))),
    aucHard: summaryOrNull(evs.map((e) => e.test.hard.auc)),
    ndcgHard: summaryOrNull(evs.map((e) => e.test.hard.ndcg)),
  };
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Validation AUC per epoch, mean ± std over each row's runs. */
async function learningCurves(opts: CompareOptions): Promise<ReportChart> {
  const points: ChartPoint[] = [];
  for (const row of opts.rows) {
    const byEpoch = new Map<number, number[]>();
    for (const run of row.runs) for (const m of readMetrics(run)) byEpoch.set(m.epoch, [...(byEpoch.get(m.epoch) ?? []), m.val.auc]);
    for (const [epoch, values] of [...byEpoch].sort((a, b) => a[0] - b[0])) {
      const s = summarise(values);
      if (s) points.push({ x: epoch, y: s.mean, std: s.std, series: row.label, panel: `set ${opts.set}` });
    }
  }
  return {
    id: 'learning-curves',
    title: 'Learning curves',
    caption: 'Validation AUC after each epoch (fixed `tuples_val_nega` negatives), mean ± std over each row\'s runs, from their metrics.jsonl.',
    svg: await lineChartSvg(points, { title: 'Validation AUC per epoch', xTitle: 'epoch', yTitle: 'validation AUC', xIntegerTicks: true }),
  };
}

async function coldSection(opts: CompareOptions, cold: CompareColdStart): Promise<ReportSection> {
  // method.md §6.5: the set's layout names its new-user set (53 for 630, 32 for 519)
  const coldSet = cold.set ?? newUsersSetOf(opts.root, opts.set);
  if (!coldSet) throw new UserError(`--cold: set ${opts.set} has no new-user set (no "newUsers" in its layout.json); give --cold-set NAME`);
  const rows: Array<Record<string, TableValue>> = [];
  const points: ChartPoint[] = [];
  if (opts.oracle || opts.random) {
    const b = await computeBaselines(opts.root, coldSet, [0]);
    const none = { strategy: '—', shots: 'all (none fitted)', fitting: '—', runs: null, fitMs: null };
    if (opts.oracle) for (const ref of referenceRows(b)) rows.push({ model: ref.label, ...none, auc: ref.values.auc, ndcg: ref.values.ndcg });
    if (opts.random) {
      const v = baselineValues(b.random);
      rows.push({ model: 'random scores', ...none, auc: v.auc, ndcg: v.ndcg });
    }
  }
  for (const row of opts.rows) {
    const perRun: ColdStartResult[][] = [];
    for (const run of row.runs) perRun.push(await runColdStarts(opts, { ...cold, set: coldSet }, run));
    for (const strategy of cold.strategies) {
      for (const shots of cold.shots) {
        const matching = perRun.map((rs) => {
          const r = rs.find((x) => x.shots === shots && x.strategy === strategy);
          if (!r) throw new Error(`compare: no cold-start result for ${shots} shot(s), ${strategy}`);
          return r;
        });
        const auc = summarise(matching.map((r) => r.report.auc));
        rows.push({
          model: row.label,
          strategy: strategy.toUpperCase(),
          shots,
          fitting: matching[0]?.fitting ?? null,
          auc: auc ?? null,
          ndcg: summaryOrNull(matching.map((r) => r.report.ndcg)),
          runs: matching.length,
          fitMs: summaryOrNull(matching.map((r) => r.fitSeconds.mean * 1000)),
        });
        if (auc) points.push({ x: shots, y: auc.mean, std: auc.std, series: `${row.label} ${strategy.toUpperCase()}`, panel: `new users of ${coldSet}` });
      }
    }
  }
  return {
    heading: `New users of set ${coldSet}`,
    intro:
      `Every run profiles the new users of ${coldSet} from ${cold.shots.join(' or ')} of their training outfits (docs/method.md §5; seed ${cold.seed}: the same ` +
      'outfits for every run), everything but the new anchors frozen, and is evaluated on their full test split with `tuples_test_nega`. ' +
      'SO optimises fresh anchors with the objective the run was trained with ("Fitting": LPAE\'s pairwise loss + 0.01·L_reg for an `lpae` run, Eq. T otherwise), SU copies the anchors of the trained user who scores the outfits highest, SA takes the trained anchors nearest the outfits.',
    tables: [
      {
        id: 'coldstart',
        title: `New users of ${coldSet}`,
        caption: 'Mean ± std over the row\'s runs. "Fit ms/user" is the wall time to profile one user, each user fitted alone.',
        columns: [
          { key: 'model', label: 'Row' },
          { key: 'strategy', label: 'Strategy' },
          { key: 'shots', label: 'Outfits/user' },
          { key: 'fitting', label: 'Fitting' },
          { key: 'auc', label: 'AUC' },
          { key: 'ndcg', label: 'NDCG' },
          { key: 'runs', label: 'Runs' },
          { key: 'fitMs', label: 'Fit ms/user', digits: 1 },
        ],
        rows,
      },
    ],
    charts: [await coldStartShotsChart(points)],
  };
}

/** Each sweep's rows in x order (AUC/NDCG on both negatives files) and its metric-vs-x chart. */
async function sweepSection(opts: CompareOptions, sweeps: readonly CompareSweep[], evaluations: Map<string, RunEvaluation[]>): Promise<ReportSection> {
  const tables: ReportTable[] = [];
  const charts: ReportChart[] = [];
  const base = opts.baseline === undefined ? undefined : evaluations.get(opts.baseline);
  const metrics = [
    ['AUC', (e: RunEvaluation) => e.test.file.auc],
    ['NDCG', (e: RunEvaluation) => e.test.file.ndcg],
    ['AUC (hard neg.)', (e: RunEvaluation) => e.test.hard.auc],
  ] as const;
  for (const [i, sweep] of sweeps.entries()) {
    const id = `sweep-${i + 1}`;
    const ordered = [...sweep.points].sort((a, b) => a.x - b.x);
    const points: ChartPoint[] = [];
    const rows: Array<Record<string, TableValue>> = ordered.map(({ label, x }) => {
      const evs = evaluations.get(label) ?? [];
      for (const [name, get] of metrics) {
        const s = summarise(evs.map(get));
        if (s) points.push({ x, y: s.mean, std: s.std, series: name });
      }
      return {
        x: String(x), // as given (a number cell would print 4 decimals)
        method: label,
        ...metricSummaries(evs),
        runs: evs.length,
        dAuc: base === undefined || evs.length === 0 ? null : mean(evs.map((e) => e.test.file.auc)) - mean(base.map((e) => e.test.file.auc)),
      };
    });
    if (base) {
      for (const [name, get] of metrics) {
        const b = mean(base.map(get));
        for (const { x } of ordered) points.push({ x, y: b, series: `${opts.baseline}: ${name}` });
      }
    }
    tables.push({
      id,
      title: `Test metrics vs ${sweep.axis}`,
      caption:
        `The rows placed on the ${sweep.axis} axis, in its order; mean ± std over each row's runs.` +
        (opts.baseline === undefined ? '' : ` "Δ AUC" is the row's mean test AUC minus that of '${opts.baseline}'.`),
      columns: [
        { key: 'x', label: sweep.axis },
        { key: 'method', label: 'Row' },
        ...METRIC_COLUMNS,
        { key: 'runs', label: 'Runs' },
        ...(opts.baseline === undefined ? [] : [{ key: 'dAuc', label: `Δ AUC vs ${opts.baseline}` }]),
      ],
      rows,
    });
    charts.push({
      id,
      title: `Test metrics vs ${sweep.axis}`,
      caption:
        `Test AUC and NDCG (random-mix negatives) and AUC on the hard negatives against ${sweep.axis}, mean ± std over each row's runs` +
        (opts.baseline === undefined ? '.' : `; the flat lines are '${opts.baseline}'.`),
      svg: await lineChartSvg(points, { title: `Test metrics vs ${sweep.axis}`, xTitle: sweep.axis, yTitle: 'test metric' }),
    });
  }
  return { heading: 'Sweeps', tables, charts };
}

/** Per-user mean test AUC over a row's runs (null for a user without candidates in every run). */
function perUserMeanAuc(evs: readonly RunEvaluation[]): Array<number | null> {
  const n = evs[0]?.test.file.perUserAuc.length ?? 0;
  return Array.from({ length: n }, (_, u) => {
    const xs = evs.map((e) => e.test.file.perUserAuc[u]).filter((v): v is number => v !== null);
    return xs.length > 0 ? mean(xs) : null;
  });
}

async function flagSection(opts: CompareOptions, teacher: string, evaluations: Map<string, RunEvaluation[]>): Promise<ReportSection> {
  const flags = await cachedRunResult(
    cachePath(opts.out, 'fn-flags', teacher, `fn-flags\n${resolve(opts.root)}\n${opts.set}`),
    weightsStamp(teacher),
    async (): Promise<TeacherFlags[] | null> => {
      opts.log?.(`teacher flags of ${teacher} on ${opts.root} set ${opts.set} (train negatives)`);
      return computeTeacherFlags(teacher, opts.root, opts.root, opts.set);
    },
  );
  const heading = `The teacher's false-negative flags (${teacher})`;
  if (!flags) {
    return { heading, intro: `${opts.root} has no oracle false-negative flags (not written by \`outfitrec data synth\`), so the teacher's flags cannot be scored.`, tables: [], charts: [] };
  }
  const { rows: flagRows, points } = flagRowsOf([flags], {}, `set ${opts.set}`);
  const tables: ReportTable[] = [
    {
      id: 'fn-flags',
      title: 'Teacher flags vs true false negatives',
      caption:
        'FND counts a sampled negative as a false negative when the teacher places it inside the user\'s radius, φ = r̂_u − d^T(u, o⁻) > 0 ' +
        '(docs/method.md §4; r̂_u: mean teacher distance over the user\'s training positives); the generator flags a negative whose true utility is above ' +
        'the median utility of the user\'s positives. On the training negatives (`tuples_train_nega`, `tuples_train_nega_hard`). ' +
        FLAG_CAPTION,
      columns: FLAG_COLUMNS,
      rows: flagRows,
    },
  ];
  const base = opts.baseline === undefined ? undefined : evaluations.get(opts.baseline);
  if (base) {
    const baseUsers = perUserMeanAuc(base);
    const random = flags[0];
    const gainRows: Array<Record<string, TableValue>> = [];
    for (const row of opts.rows) {
      if (row.label === opts.baseline) continue;
      const rowUsers = perUserMeanAuc(evaluations.get(row.label) ?? []);
      const gain = rowUsers.map((a, u) => (a === null || baseUsers[u] === null ? null : a - (baseUsers[u] as number)));
      const gains = gain.filter((g): g is number => g !== null);
      gainRows.push({
        method: row.label,
        meanGain: gains.length > 0 ? mean(gains) : null,
        usersGaining: `${gains.filter((g) => g > 0).length} of ${gains.length}`,
        corrPrecision: finiteOrNull(gainCorrelation(gain, random.perUserPrecision)),
        corrFnShare: finiteOrNull(gainCorrelation(gain, random.perUserFnShare)),
      });
    }
    tables.push({
      id: 'fn-gain',
      title: `Per-user gain over '${opts.baseline}' and the teacher's flags`,
      caption:
        `Per user, the row's mean test AUC minus '${opts.baseline}'s (means over each row's runs); "users gaining" counts users with a positive gain. ` +
        'The last two columns correlate (Pearson r over users) that gain with the precision of the teacher\'s φ > 0 flags for the user and with the ' +
        'user\'s true false-negative share, both on the random-mix training negatives.',
      columns: [
        { key: 'method', label: 'Row' },
        { key: 'meanGain', label: 'Mean per-user AUC gain' },
        { key: 'usersGaining', label: 'Users gaining' },
        { key: 'corrPrecision', label: 'r(gain, flag precision)' },
        { key: 'corrFnShare', label: 'r(gain, FN share)' },
      ],
      rows: gainRows,
    });
  }
  return {
    heading,
    tables,
    charts: [await flagThresholdChart(points)],
  };
}
