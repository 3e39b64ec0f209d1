/**
 * The project's main job end to end on built-in defaults (`outfitrec demo`): write a small
 * synthetic set (method.md §6.3), train a wide softmax teacher, distill a narrow fnd+cl student from it
 * (method.md §4), train the same narrow student alone with softmax (the control FND must beat), and
 * evaluate all of them on the test split next to the ground-truth oracle and a random scorer, on
 * the same candidates (method.md §7).
 *
 * Sized for a few minutes on 2 CPU cores: the images are fed at 14 px and the models are small, so
 * the figures show the pipeline working, not the method's ceiling (docs/results.md has those).
 * Re-running with the same --out reuses the data and any finished run.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadPolyvoreSet } from '../data/polyvore.js';
import { generateSynthetic, loadOracle } from '../data/synth/index.js';
import { buildCandidates, evaluateCandidates, formatReports, randomScorer, type EvalReport } from '../eval/evaluate.js';
import { Rng } from '../rng.js';
import { readState, RUN_FILES } from '../runs/folder.js';
import { loadRun } from '../runs/load.js';
import { trainRunExclusive } from '../train/exclusive.js';
import type { TrainResult } from '../train/trainer.js';

export interface DemoOptions {
  /** Folder for the data and the three runs. */
  out: string;
  /** Synthetic preset (default tiny); its first set is used. */
  preset?: string;
  /** Users of the preset's first set (default 16). */
  users?: number;
  /** Per-user outfit multiplier (default 2: ~40 training outfits per user). */
  outfitScale?: number;
  /** Epochs of every run (default 6). */
  epochs?: number;
  /** Backbone width of the teacher (default 0.5) and of the student (default 0.125). */
  teacherWidth?: number;
  studentWidth?: number;
  /** FND α (default: the run config's, src/config.ts). */
  alpha?: number;
  /** Also train the student alone with softmax (default true). */
  studentAlone?: boolean;
  seed?: number;
  log?: (line: string) => void;
  progressStream?: NodeJS.WritableStream | null;
  handleSigint?: boolean;
}

export interface DemoRow {
  name: string;
  report: EvalReport;
  /** Model parameters (trained rows). */
  params?: Record<string, number>;
  /** Training seconds summed over epochs (trained rows). */
  trainSeconds?: number;
}

export interface DemoResult {
  root: string;
  set: string;
  rows: DemoRow[];
  /** The table printed at the end. */
  table: string;
  interrupted: boolean;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const out = resolve(opts.out);
  const root = join(out, 'data');
  const preset = opts.preset ?? 'tiny';
  const seed = opts.seed ?? 1;
  const epochs = opts.epochs ?? 6;
  const teacherWidth = opts.teacherWidth ?? 0.5;
  const studentWidth = opts.studentWidth ?? 0.125;

  let setName: string;
  if (existsSync(join(root, 'oracle'))) {
    setName = firstSetIn(root);
    log(`demo: reusing the data in ${root}`);
  } else {
    log(`demo: writing the '${preset}' synthetic set to ${root}`);
    const report = await generateSynthetic({ preset, out: root, seed, users: opts.users ?? 16, outfitScale: opts.outfitScale ?? 2, log: () => {} });
    setName = report.sets[0].set;
  }

  // small models at 14 px: the whole demo stays within a few CPU minutes
  const common = {
    data: { root, set: setName, imageSize: 14 },
    model: { dim: 32, heads: 2, anchors: 8, dropout: 0 },
    epochs,
    batchSize: 32,
  };
  const model = (width: number): Record<string, unknown> => ({ ...common.model, backbone: { kind: 'convnet', width, outDim: 64 } });
  const train = async (name: string, config: Record<string, unknown>): Promise<TrainResult> => {
    const dir = join(out, name);
    const resume = existsSync(join(dir, RUN_FILES.config));
    log(`demo: ${resume ? 'continuing' : 'training'} ${name}`);
    return trainRunExclusive({ out: dir, resume, config: resume ? undefined : config, log, progressStream: opts.progressStream, handleSigint: opts.handleSigint });
  };

  const runs: Array<{ name: string; result: TrainResult }> = [];
  const teacher = await train('teacher', { ...common, model: model(teacherWidth), method: 'softmax', seed });
  runs.push({ name: `teacher softmax w${teacherWidth}`, result: teacher });
  if (!teacher.interrupted) {
    const student = await train('student-fnd-cl', {
      ...common,
      model: model(studentWidth),
      method: 'fnd+cl',
      fnd: { teacher: teacher.dir, alpha: opts.alpha },
      seed: seed + 1,
    });
    runs.push({ name: `student fnd+cl w${studentWidth}`, result: student });
    if (!student.interrupted && opts.studentAlone !== false) {
      const alone = await train('student-alone', { ...common, model: model(studentWidth), method: 'softmax', seed: seed + 1 });
      runs.push({ name: `student alone softmax w${studentWidth}`, result: alone });
    }
  }
  const interrupted = runs.some((r) => r.result.interrupted);
  if (interrupted) {
    log(`demo: interrupted; run it again with --out ${opts.out} to continue`);
    return { root, set: setName, rows: [], table: '', interrupted: true };
  }

  const set = loadPolyvoreSet(root, setName);
  const candidates = buildCandidates(set, 'test', 'file');
  const rows: DemoRow[] = [];
  const oracle = loadOracle(root);
  if (oracle) rows.push({ name: 'oracle', report: await evaluateCandidates(set, 'test', candidates, (t) => oracle.utility(set, t)) });
  for (const { name, result } of runs) {
    const run = await loadRun(result.dir, { loadedSet: set });
    try {
      const inputs = run.inputs;
      if (!inputs) throw new Error('loadRun returned no inputs');
      const report = await evaluateCandidates(set, 'test', candidates, (t) => run.model.scoreTable(inputs, t));
      const state = readState(result.dir);
      const trainSeconds = result.metrics.reduce((a, m) => a + m.seconds, 0);
      rows.push({ name: `${name} (best epoch ${state?.best?.epoch ?? '?'})`, report, params: result.params, trainSeconds });
    } finally {
      await run.model.dispose();
    }
  }
  rows.push({ name: 'random', report: await evaluateCandidates(set, 'test', candidates, randomScorer(new Rng(seed).fork('demo-random'))) });

  const paramLines = rows
    .filter((r) => r.params)
    .map((r) => `  ${r.name}: backbone ${r.params?.backbone} params, total ${r.params?.total}, trained in ${r.trainSeconds?.toFixed(0)} s`);
  const table =
    `set ${setName} of ${root}, test split, negatives tuples_test_nega (${candidates.table.users.length} candidates)\n` +
    formatReports(rows.map((r) => ({ name: r.name, report: r.report }))) +
    paramLines.join('\n') +
    '\n';
  return { root, set: setName, rows, table, interrupted: false };
}

/** The first tuples_<set> folder of a synthetic root, in method.md §6.1 order. */
function firstSetIn(root: string): string {
  for (const s of ['630', '53', '519', '32']) if (existsSync(join(root, `tuples_${s}`))) return s;
  throw new Error(`${root}: no tuples_<set> folder`);
}
