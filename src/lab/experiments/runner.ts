/**
 * `outfitrec experiment …` (method.md §8): makes sure the data exists, trains the grid cells the chosen
 * experiments need (resuming, sharing teachers), builds each experiment's section, and writes
 * `<out>/report.md` with a CSV per table and SVG charts. Sections are kept as JSON under
 * `<out>/sections/`, so experiments run at different times end up in one report.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join, resolve, sep } from 'node:path';
import { coldPairsOf } from '../../data/layout.js';
import { generateSynthetic } from '../../data/synth/index.js';
import { UserError } from '../../errors.js';
import { ortVersion } from '../../engine/runtime.js';
import { writeJsonAtomic } from '../../util/fs.js';
import { LOCK_FILE, lockFolder } from '../../util/lock.js';
import { buildAlphaSection } from './alpha-table.js';
import { buildAugmentSection } from './augment-table.js';
import { buildBatchSection } from './batch-table.js';
import type { CellResult, GridPaths } from './cells.js';
import { buildColdStartSection } from './coldstart-table.js';
import type { ExperimentContext } from './context.js';
import { buildEfficiencySection } from './efficiency.js';
import { buildFnAnalysisSection } from './fn-analysis.js';
import { EXPERIMENT_NAMES, FHN_TRAIN_SETS, cellsOf, planGrid, seedsOf, withTeachers, type ExperimentName, type GridPlan } from './grid.js';
import { buildHardNegSection } from './hardneg-table.js';
import { buildMainSection } from './main-table.js';
import { writeReport, type ReportSection, type TableValue } from './report.js';
import { runCells } from './scheduler.js';
import { trainingRoot } from './train-view.js';
import { buildSizeSection } from './size-table.js';

const BUILDERS: Record<ExperimentName, (ctx: ExperimentContext) => Promise<ReportSection>> = {
  main: buildMainSection,
  coldstart: buildColdStartSection,
  hardneg: buildHardNegSection,
  'fn-analysis': buildFnAnalysisSection,
  alpha: buildAlphaSection,
  augment: buildAugmentSection,
  size: buildSizeSection,
  batch: buildBatchSection,
  efficiency: buildEfficiencySection,
};

/**
 * The training sets of an experiment root (method.md §6.5): every set whose layout names a
 * `newUsers` set present beside it (the cold-user table needs both), 630 and 519 first in that
 * order (the FHN grid: 630 → 53, 519 → 32), then the others by name (e.g. shop → shop-new).
 */
export function experimentSetsOf(root: string): string[] {
  const warm = coldPairsOf(root).map((p) => p.warm);
  return [...FHN_TRAIN_SETS.filter((s) => warm.includes(s)), ...warm.filter((s) => !FHN_TRAIN_SETS.includes(s))];
}

export interface ExperimentOptions {
  /** Dataset root; synthesised when it does not exist yet (see `presetScale`). */
  data: string;
  out: string;
  /** Seeds of the method-comparing experiments (default 2, quick 1; ablations use the first). */
  seeds?: number;
  quick?: boolean;
  /**
   * Data to synthesise when `data` is missing: 'default' (syn-all at the default scale, 100 users
   * for 630), 'tiny' (the test preset), or a number = syn-all's user-count factor against the real sets.
   */
  presetScale?: string;
  /** Cells trained at the same time, each in its own process (1 = in this process). */
  jobs?: number;
  /** The command line, printed in the report next to the numbers it made. */
  commandLine?: string;
  log?: (line: string) => void;
  /** Aborting it acts like Ctrl-C: running cells keep their last epoch, the grid stops (tests). */
  signal?: AbortSignal;
}

export interface ExperimentSummary {
  /** report.md and the CSV/SVG files, or empty when interrupted. */
  written: string[];
  interrupted: boolean;
  cells: { total: number; trained: number; reused: number };
  seconds: number;
}

/** 'all' or a list of names → the experiments in canonical order. */
export function parseExperimentNames(names: readonly string[]): ExperimentName[] {
  if (names.length === 0) throw new UserError(`experiment: name one of ${EXPERIMENT_NAMES.join(', ')} or all`);
  const chosen = new Set<ExperimentName>();
  for (const n of names) {
    if (n === 'all') EXPERIMENT_NAMES.forEach((e) => chosen.add(e));
    else if ((EXPERIMENT_NAMES as readonly string[]).includes(n)) chosen.add(n as ExperimentName);
    else throw new UserError(`experiment: unknown experiment '${n}' (expected ${EXPERIMENT_NAMES.join(', ')} or all)`);
  }
  return EXPERIMENT_NAMES.filter((e) => chosen.has(e));
}

/**
 * Synthesises the experiment data when the root does not exist (or is empty); checks it otherwise
 * and returns the sets to train on (`experimentSetsOf`).
 */
export async function ensureExperimentData(root: string, presetScale: string | undefined, log: (line: string) => void): Promise<string[]> {
  const empty = !existsSync(root) || readdirSync(root).length === 0;
  if (!empty) {
    const sets = experimentSetsOf(root);
    if (sets.length > 0) return sets;
    throw new UserError(
      `${root}: no training set with its new-user set (the experiments need both: tuples_630/ with tuples_53/, tuples_519/ with tuples_32/, ` +
        'or a set whose layout.json names "newUsers" and that folder, docs/method.md §6.5)',
    );
  }
  const scale = presetScale ?? 'default';
  let preset = 'syn-all';
  let factor: number | undefined;
  if (scale === 'tiny') preset = 'tiny';
  else if (scale !== 'default') {
    factor = Number(scale);
    if (!(factor > 0 && factor <= 4)) throw new UserError(`--preset-scale: '${scale}' is not 'default', 'tiny' or a factor in (0, 4]`);
  }
  log(`synthesising ${preset}${factor !== undefined ? ` at scale ${factor}` : ''} into ${root} (the data did not exist)`);
  await generateSynthetic({ preset, out: root, scale: factor, log });
  return experimentSetsOf(root);
}

export async function runExperiments(names: readonly ExperimentName[], opts: ExperimentOptions): Promise<ExperimentSummary> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const started = Date.now();
  const jobs = opts.jobs ?? 1;
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new UserError(`--jobs must be a positive integer, got ${opts.jobs}`);
  if (opts.seeds !== undefined && !(Number.isInteger(opts.seeds) && opts.seeds >= 1)) throw new UserError(`--seeds must be a positive integer, got ${opts.seeds}`);
  const root = resolve(opts.data);
  const out = resolve(opts.out);
  checkExperimentFolder(out, root);
  mkdirSync(out, { recursive: true });
  // one process per grid folder: two would resume the same cells and clean up each other's files
  const lock = lockFolder(out, 'experiment', log);
  try {
    return await runLocked(names, opts, { root, out, log, started, jobs });
  } finally {
    lock.release();
  }
}

/** Entries that make a folder an experiment folder (a non-empty folder without any is refused). */
const EXPERIMENT_ENTRIES = ['runs', 'results', 'sections', 'data', 'report.md'];

export function checkExperimentFolder(out: string, dataRoot: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`--out ${out} is a file, not a folder`);
  // the dataset may live inside the grid folder (--data OUT/syn)
  const holdsData = (name: string): boolean => dataRoot === join(out, name) || dataRoot.startsWith(join(out, name) + sep);
  const entries = readdirSync(out).filter((n) => !n.startsWith(LOCK_FILE) && !holdsData(n));
  if (entries.length > 0 && !entries.some((n) => EXPERIMENT_ENTRIES.includes(n))) {
    const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … (${entries.length} entries)` : '');
    throw new UserError(`--out ${out} is not empty and holds no experiment grid (it has ${shown}): give a new or empty folder`);
  }
}

async function runLocked(
  names: readonly ExperimentName[],
  opts: ExperimentOptions,
  ctxIn: { root: string; out: string; log: (line: string) => void; started: number; jobs: number },
): Promise<ExperimentSummary> {
  const { root, out, log, started, jobs } = ctxIn;
  const sets = await ensureExperimentData(root, opts.presetScale, log);
  const plan = planGrid({ quick: opts.quick ?? false, seeds: opts.seeds, sets });
  const paths: GridPaths = { root, out, trainRoot: trainingRoot(root, join(out, 'data'), plan.trainFraction, 0, plan.sets) };
  const cells = withTeachers(names.flatMap((n) => cellsOf(n, plan)), plan);
  const grid = await runCells(cells, plan, paths, { jobs, log, signal: opts.signal });
  const summary = { total: cells.length, trained: grid.trained, reused: grid.reused };
  if (grid.interrupted) {
    log(`interrupted: ${grid.results.size}/${cells.length} cells finished; run the same command again to resume`);
    return { written: [], interrupted: true, cells: summary, seconds: (Date.now() - started) / 1000 };
  }
  const ctx: ExperimentContext = { plan, paths, results: grid.results, log };
  const madeBy = opts.commandLine ?? `outfitrec experiment ${names.join(' ')}`;
  for (const name of names) {
    log(`building section: ${name}`);
    // an ablation's tables summarise the seeds its cells were trained with
    const section = await BUILDERS[name]({ ...ctx, plan: { ...plan, seeds: seedsOf(name, plan) } });
    const stamped: StoredSection = { name, madeBy, plan, finishedAt: new Date().toISOString(), section };
    writeJsonAtomic(join(paths.out, 'sections', `${name}.json`), stamped);
  }
  const written = assembleReport(paths);
  log(`report: ${written[0]}`);
  return { written, interrupted: false, cells: summary, seconds: (Date.now() - started) / 1000 };
}

interface StoredSection {
  name: ExperimentName;
  madeBy: string;
  plan: GridPlan;
  finishedAt: string;
  section: ReportSection;
}

function describePlan(plan: GridPlan): string {
  return (
    `${plan.quick ? 'quick grid' : 'full grid'}: ${plan.seeds.length} seed(s) (ablations ${(plan.ablationSeeds ?? plan.seeds).length}), ` +
    `up to ${plan.epochs} epochs per cell and ${plan.teacherEpochs ?? plan.epochs} per wide softmax teacher (early-stopping patience ${plan.patience}) ` +
    `on ${plan.trainFraction === 1 ? 'all' : `${(plan.trainFraction * 100).toFixed(0)}% (seeded, per user)`} of the training positives, ` +
    `batch ${plan.batchSize}, d ${plan.model.dim}, K ${plan.model.anchors}, convnet widths teacher ${plan.teacherWidth} / student ${plan.studentWidth}`
  );
}

/** report.md from every stored section, in canonical order. */
export function assembleReport(paths: GridPaths): string[] {
  const dir = join(paths.out, 'sections');
  const stored: StoredSection[] = EXPERIMENT_NAMES.map((n) => join(dir, `${n}.json`))
    .filter((p) => existsSync(p))
    .map((p) => JSON.parse(readFileSync(p, 'utf8')) as StoredSection);
  const cpus = os.cpus();
  const preamble = [
    // a root without the synthetic oracle is someone's own data (an import, method.md §6.5)
    `${existsSync(join(paths.root, 'oracle')) ? 'Synthetic Polyvore-U benchmark' : 'Dataset'} in \`${paths.root}\`; runs in \`${join(paths.out, 'runs')}\`.`,
    `Machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown cpu'}, Node ${process.version}, ONNX Runtime ${ortVersion()}.`,
    '',
    'Every number below was made by the command printed under its section heading.',
  ].join('\n');
  const sections = stored.map((s) => ({
    ...s.section,
    intro: [`Made by \`${s.madeBy}\` (${describePlan(s.plan)}; finished ${s.finishedAt}).`, s.section.intro ?? ''].filter((x) => x !== '').join('\n\n'),
  }));
  return writeReport(paths.out, { title: 'outfitrec experiments', preamble }, [...sections, costSection(paths)]);
}

/** What every trained cell of this folder cost: the figures the grid's time budget is planned from. */
function costSection(paths: GridPaths): ReportSection {
  const dir = join(paths.out, 'results');
  const cells: CellResult[] = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CellResult)
        .filter((r) => r.cell !== undefined && r.key !== undefined)
        .sort((a, b) => a.key.localeCompare(b.key))
    : [];
  const rows: Array<Record<string, TableValue>> = cells.map((r) => ({
    cell: r.key,
    epochs: r.epochs,
    steps: Number.isFinite(r.secondsPerStep) && r.secondsPerStep > 0 ? Math.round(r.trainSeconds / r.secondsPerStep) : null,
    trainSeconds: r.trainSeconds,
    cpuSeconds: r.cpuSeconds ?? null,
  }));
  const sum = (f: (r: CellResult) => number | null | undefined): number => cells.reduce((a, r) => a + (f(r) ?? 0), 0);
  rows.push({ cell: `total (${cells.length} cells)`, epochs: sum((r) => r.epochs), steps: null, trainSeconds: sum((r) => r.trainSeconds), cpuSeconds: sum((r) => r.cpuSeconds) });
  return {
    heading: 'Grid cost',
    intro:
      'Per trained cell: epochs run, optimizer steps, training wall seconds (validation included, from metrics.jsonl) and the CPU seconds ' +
      '(user + system) of the process that trained and evaluated it — empty when the cell was trained by an earlier invocation that did ' +
      'not record it. Wall time depends on what else the machine runs; CPU seconds are the budget figure.',
    tables: [
      {
        id: 'grid-cost',
        title: 'Cost per cell',
        caption: 'Cells are named by set, method, backbone width, α, augmentation, negatives, batch, epochs, training share and seed.',
        columns: [
          { key: 'cell', label: 'Cell' },
          { key: 'epochs', label: 'Epochs' },
          { key: 'steps', label: 'Steps' },
          { key: 'trainSeconds', label: 'Train wall s', digits: 0 },
          { key: 'cpuSeconds', label: 'CPU s', digits: 0 },
        ],
        rows,
      },
    ],
    charts: [],
  };
}
