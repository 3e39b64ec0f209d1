/**
 * The experiment grid (method.md §8): which training runs ("cells") each paper table needs, how big they
 * are, and the run configuration of each. A cell is identified by a key derived from everything
 * that changes its training, so tables that need the same run share it (the main table's `fnd+cl`
 * is the augmentation ablation's `both` row and the batch ablation's default batch), and a teacher
 * run is shared by every student that distils from it.
 */
import { FND_DEFAULT_ALPHA, type Method } from '../../config.js';

export const EXPERIMENT_NAMES = ['main', 'coldstart', 'hardneg', 'fn-analysis', 'alpha', 'augment', 'size', 'batch', 'efficiency'] as const;
export type ExperimentName = (typeof EXPERIMENT_NAMES)[number];

export type Augment = 'none' | 'erase' | 'replace' | 'both';
export const AUGMENTS: readonly Augment[] = ['none', 'erase', 'replace', 'both'];
/** A set the grid trains on: 630 / 519 on the FHN layout, or an imported set with a newUsers set (method.md §6.5). */
export type TrainSet = string;

/** The FHN grid's training sets, in report order. */
export const FHN_TRAIN_SETS: readonly TrainSet[] = ['630', '519'];

/** The sizes of the grid; `planGrid` picks them for full or `--quick` runs. */
export interface GridPlan {
  quick: boolean;
  seeds: number[];
  /**
   * Seeds of the hard-negative setting and the ablations (alpha, augment, size, batch): the first
   * seed only at default scale, where a second seed of those cells would not fit the 3-hour budget.
   */
  ablationSeeds: number[];
  /** Epochs of every cell but the wide softmax teachers (early stopping may end a cell sooner). */
  epochs: number;
  /**
   * Epochs of the wide softmax teacher cells (the FND teachers, which are also the main table's
   * teacher row): a teacher is trained to convergence before it teaches.
   */
  teacherEpochs: number;
  /**
   * Share of each user's training positives the cells train on (train-view.ts; 1 = all, the
   * default grid; the quick grid trains on a share).
   */
  trainFraction: number;
  /** Early-stopping patience in epochs. */
  patience: number;
  /** Model fields shared by every cell (method.md §2–§3); the backbone width is per cell. */
  model: { dim: number; heads: number; anchors: number; backboneOutDim: number };
  /** Backbone width multipliers: the wide teacher (and LPAE) and the narrow student (method.md §2.1). */
  teacherWidth: number;
  studentWidth: number;
  batchSize: number;
  /** α of Eq. S for the main-table FND cells, in score units. */
  alpha: number;
  /** α sweep (method.md §4: include 0 and negative values). */
  alphas: number[];
  /** Student widths of the size ablation. */
  widths: number[];
  /** Batch sizes of the batch ablation. */
  batchSizes: number[];
  /** Cold start (method.md §5). */
  shots: number[];
  coldStartSteps: number;
  /** Sets of the main table; the ablations and the hard-negative table run on the first. */
  sets: TrainSet[];
}

/**
 * Grid sizes, from the per-step costs measured on 2 cores (docs/experiments.md "Budget"). Full:
 * every cell trains on ALL training positives (students pass 0.75–0.81 validation AUC after two
 * epochs, the teacher 0.79 after three; a 20 % share left every cell near 0.6), 3 seeds for the
 * main, cold-start and false-negative tables (53 cells, 49 min wall on the ONNX Runtime engine), the hard-negative setting and the ablations on the
 * first seed, and 6 α points, 2 widths, 2 batch sizes. Quick: one seed, 2 epochs on 5 %, 4 α points,
 * two widths and two batch sizes.
 */
export function planGrid(opts: { quick: boolean; seeds?: number; sets?: readonly TrainSet[] }): GridPlan {
  const quick = opts.quick;
  const seedCount = opts.seeds ?? (quick ? 1 : 3);
  const seeds = Array.from({ length: seedCount }, (_, i) => i);
  return {
    quick,
    seeds,
    ablationSeeds: quick ? seeds : seeds.slice(0, 1),
    epochs: 2,
    teacherEpochs: quick ? 2 : 3,
    trainFraction: quick ? 0.05 : 1,
    patience: 2,
    model: { dim: 64, heads: 4, anchors: 16, backboneOutDim: 128 },
    teacherWidth: 0.5,
    studentWidth: 0.125,
    batchSize: 64,
    // the run config's default (src/config.ts says why it is negative)
    alpha: FND_DEFAULT_ALPHA,
    alphas: quick ? [-1, -0.5, 0, 1] : [-2, -1, -0.5, 0, 0.5, 1],
    widths: [0.125, 0.25],
    batchSizes: quick ? [32, 64] : [64, 128],
    shots: [1, 5],
    coldStartSteps: quick ? 50 : 150,
    sets: [...(opts.sets ?? FHN_TRAIN_SETS)],
  };
}

/** One training run of the grid. */
export interface TrainCell {
  set: TrainSet;
  method: Method;
  /** Backbone width multiplier. */
  width: number;
  seed: number;
  /** 'mixed' = the hard-negative setting, 5 random + 5 hard (method.md §6.2). */
  negatives: 'random' | 'mixed';
  batchSize: number;
  epochs: number;
  /** Share of each user's training positives (GridPlan.trainFraction). */
  trainFraction: number;
  /** FND methods only. */
  alpha?: number;
  /** CL methods only. */
  augment?: Augment;
}

const usesTeacher = (m: Method): boolean => m === 'fnd' || m === 'fnd+cl';
const usesCl = (m: Method): boolean => m === 'softmax+cl' || m === 'fnd+cl';

function num(x: number): string {
  return String(x).replace('-', 'm');
}

/** Folder-safe key naming everything that changes a cell's training. */
export function cellKey(c: TrainCell): string {
  const parts = [c.set, c.method.replace('+', '-'), `w${num(c.width)}`];
  if (usesTeacher(c.method)) parts.push(`a${num(c.alpha ?? NaN)}`);
  if (usesCl(c.method)) parts.push(`aug-${c.augment ?? 'both'}`);
  if (c.negatives === 'mixed') parts.push('hardneg');
  parts.push(`b${c.batchSize}`, `e${c.epochs}`);
  if (c.trainFraction !== 1) parts.push(`f${num(c.trainFraction)}`);
  parts.push(`s${c.seed}`);
  return parts.join('_');
}

/** The frozen teacher a distillation cell learns from: the wide softmax cell of its set/seed/negatives/share. */
export function teacherOf(c: TrainCell, plan: GridPlan): TrainCell | undefined {
  if (!usesTeacher(c.method)) return undefined;
  return makeCell(plan, { set: c.set, method: 'softmax', width: plan.teacherWidth, seed: c.seed, negatives: c.negatives, trainFraction: c.trainFraction });
}

/** A cell with the plan's defaults for everything not given. */
export function makeCell(plan: GridPlan, c: Partial<TrainCell> & Pick<TrainCell, 'set' | 'method' | 'seed'>): TrainCell {
  // LPAE is the published baseline with its big backbone; everything else defaults to the student
  const width = c.width ?? (c.method === 'lpae' ? plan.teacherWidth : plan.studentWidth);
  const batchSize = c.batchSize ?? plan.batchSize;
  // a wide softmax cell IS the teacher of its (set, seed, negatives): same run, same epochs
  const isTeacher = c.method === 'softmax' && width === plan.teacherWidth && batchSize === plan.batchSize;
  const cell: TrainCell = {
    set: c.set,
    method: c.method,
    width,
    seed: c.seed,
    negatives: c.negatives ?? 'random',
    batchSize,
    epochs: c.epochs ?? (isTeacher ? plan.teacherEpochs : plan.epochs),
    trainFraction: c.trainFraction ?? plan.trainFraction,
  };
  if (usesTeacher(c.method)) cell.alpha = c.alpha ?? plan.alpha;
  if (usesCl(c.method)) cell.augment = c.augment ?? 'both';
  return cell;
}

/** The rows of the main table (method.md §8.1) for one set and seed, labelled as in the report. */
export function mainRows(plan: GridPlan, set: TrainSet, seed: number, negatives: 'random' | 'mixed' = 'random'): Array<{ label: string; cell: TrainCell }> {
  const m = (method: Method, width?: number): TrainCell => makeCell(plan, { set, method, seed, width, negatives });
  return [
    { label: 'lpae (pairwise, wide)', cell: m('lpae', plan.teacherWidth) },
    { label: 'softmax teacher (wide)', cell: m('softmax', plan.teacherWidth) },
    { label: 'student alone (softmax, narrow)', cell: m('softmax', plan.studentWidth) },
    { label: 'fnd (student)', cell: m('fnd') },
    { label: 'softmax+cl (student)', cell: m('softmax+cl') },
    { label: 'fnd+cl (student)', cell: m('fnd+cl') },
  ];
}

/** The hard-negative setting and the ablations: trained on `plan.ablationSeeds` only. */
export const ABLATIONS: readonly ExperimentName[] = ['hardneg', 'alpha', 'augment', 'size', 'batch'];

/** The seeds an experiment's cells and tables run over. */
export function seedsOf(name: ExperimentName, plan: GridPlan): number[] {
  return ABLATIONS.includes(name) ? plan.ablationSeeds : plan.seeds;
}

/** Every training cell an experiment needs (teachers not included; see `withTeachers`). */
export function cellsOf(name: ExperimentName, plan: GridPlan): TrainCell[] {
  const cells: TrainCell[] = [];
  const first = plan.sets[0];
  for (const seed of seedsOf(name, plan)) {
    switch (name) {
      case 'main':
        for (const set of plan.sets) cells.push(...mainRows(plan, set, seed).map((r) => r.cell));
        break;
      case 'coldstart':
        // the base models: LPAE vs the full method, on both warm sets (method.md §5, §8.2)
        for (const set of plan.sets) {
          cells.push(makeCell(plan, { set, method: 'lpae', seed }), makeCell(plan, { set, method: 'fnd+cl', seed }));
        }
        break;
      case 'hardneg':
        // the random-negative runs are the comparison: does 5+5 training help on hard negatives?
        cells.push(...mainRows(plan, first, seed).map((r) => r.cell), ...mainRows(plan, first, seed, 'mixed').map((r) => r.cell));
        break;
      case 'fn-analysis':
        for (const set of plan.sets) {
          cells.push(makeCell(plan, { set, method: 'softmax', width: plan.studentWidth, seed }), makeCell(plan, { set, method: 'fnd', seed }));
        }
        break;
      case 'alpha':
        cells.push(makeCell(plan, { set: first, method: 'softmax', width: plan.studentWidth, seed }));
        for (const alpha of plan.alphas) cells.push(makeCell(plan, { set: first, method: 'fnd', seed, alpha }));
        break;
      case 'augment':
        cells.push(makeCell(plan, { set: first, method: 'fnd', seed }));
        for (const augment of AUGMENTS) cells.push(makeCell(plan, { set: first, method: 'fnd+cl', seed, augment }));
        break;
      case 'size':
        for (const width of plan.widths) {
          cells.push(makeCell(plan, { set: first, method: 'softmax', width, seed }), makeCell(plan, { set: first, method: 'fnd+cl', width, seed }));
        }
        break;
      case 'batch':
        for (const batchSize of plan.batchSizes) cells.push(makeCell(plan, { set: first, method: 'fnd+cl', seed, batchSize }));
        break;
      case 'efficiency':
        break;
    }
  }
  return cells;
}

/**
 * The cells plus their teachers, deduplicated by key, teachers first (a student needs its
 * teacher's finished run folder).
 */
export function withTeachers(cells: readonly TrainCell[], plan: GridPlan): TrainCell[] {
  const byKey = new Map<string, TrainCell>();
  const teachers: TrainCell[] = [];
  const students: TrainCell[] = [];
  for (const c of cells) {
    const t = teacherOf(c, plan);
    if (t && !byKey.has(cellKey(t))) {
      byKey.set(cellKey(t), t);
      teachers.push(t);
    }
  }
  for (const c of cells) {
    const key = cellKey(c);
    if (byKey.has(key)) continue;
    byKey.set(key, c);
    (usesTeacher(c.method) ? students : teachers).push(c);
  }
  return [...teachers, ...students];
}

/** The raw run configuration of a cell (parsed by src/config.ts in the trainer). */
export function cellRunConfig(c: TrainCell, plan: GridPlan, paths: { root: string; runDirOf: (c: TrainCell) => string }): Record<string, unknown> {
  const teacher = teacherOf(c, plan);
  const cfg: Record<string, unknown> = {
    data: { root: paths.root, set: c.set },
    method: c.method,
    model: {
      backbone: { kind: 'convnet', width: c.width, outDim: plan.model.backboneOutDim },
      dim: plan.model.dim,
      heads: plan.model.heads,
      anchors: plan.model.anchors,
    },
    // the hard-negative setting is 5 random + 5 hard for every method, LPAE's pairwise loss included
    // (it then pairs each positive with all 10B negatives of the batch; its own default is 1 random)
    negatives: c.negatives === 'mixed' ? { kind: 'mixed', perPositive: 10 } : { kind: 'random' },
    epochs: c.epochs,
    batchSize: c.batchSize,
    earlyStopping: { patience: plan.patience },
    seed: c.seed,
  };
  if (teacher) cfg.fnd = { teacher: paths.runDirOf(teacher), alpha: c.alpha };
  if (usesCl(c.method)) cfg.cl = { augment: c.augment };
  return cfg;
}
