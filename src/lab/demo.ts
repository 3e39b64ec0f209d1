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
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findSetNames, loadPolyvoreSet } from '../data/polyvore.js';
import { SET_NAMES } from '../data/types.js';
import { generateSynthetic, loadOracle } from '../data/synth/index.js';
import { buildCandidates, evaluateCandidates, randomScorer, type EvalReport, type OutfitScorer } from '../eval/evaluate.js';
import { bootstrapMeanInterval, evaluateRanking, type BootstrapInterval } from '../eval/metrics.js';
import { UserError } from '../errors.js';
import { Rng } from '../rng.js';
import { readState, RUN_FILES } from '../runs/folder.js';
import { loadRun, runScorer } from '../runs/load.js';
import { trainRunExclusive } from '../train/exclusive.js';
import type { TrainResult } from '../train/trainer.js';

/** What the demo uses for every option not given (`outfitrec demo --help` shows them). */
export const DEMO_DEFAULTS = { preset: 'tiny', users: 16, outfitScale: 2, epochs: 6, teacherWidth: 0.5, studentWidth: 0.125, seed: 1 } as const;

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
  /** Bootstrap 95 % interval of the AUC over the test users. */
  aucInterval?: BootstrapInterval;
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
  const preset = opts.preset ?? DEMO_DEFAULTS.preset;
  const seed = opts.seed ?? DEMO_DEFAULTS.seed;
  const epochs = opts.epochs ?? DEMO_DEFAULTS.epochs;
  const teacherWidth = opts.teacherWidth ?? DEMO_DEFAULTS.teacherWidth;
  const studentWidth = opts.studentWidth ?? DEMO_DEFAULTS.studentWidth;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`--out ${opts.out}: is a file, not a folder`);

  let setName: string;
  if (existsSync(join(root, 'oracle'))) {
    setName = firstSetIn(root);
    log(`demo: reusing the data in ${root}`);
  } else {
    log(`demo: writing the '${preset}' synthetic set to ${root}`);
    const report = await generateSynthetic({ preset, out: root, seed, users: opts.users ?? DEMO_DEFAULTS.users, outfitScale: opts.outfitScale ?? DEMO_DEFAULTS.outfitScale, log: () => {} });
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
  // every row's per-user AUCs resampled over the same users (one seed): the noise of this test set
  const evaluate = async (name: string, scorer: OutfitScorer, extra: Partial<DemoRow> = {}): Promise<void> => {
    let candidateScores: Float32Array | undefined;
    const report = await evaluateCandidates(set, 'test', candidates, async (t) => {
      const scores = await scorer(t);
      if (t === candidates.table) candidateScores = scores;
      return scores;
    });
    if (!candidateScores) throw new Error('demo: the candidates were not scored');
    const perUser = evaluateRanking(candidates.table.users, candidateScores, candidates.labels).perUser.map((u) => u.auc);
    rows.push({ name, report, aucInterval: bootstrapMeanInterval(perUser, new Rng(seed).fork('demo-bootstrap'), BOOTSTRAP_RESAMPLES), ...extra });
  };
  const oracle = loadOracle(root);
  if (oracle) await evaluate('oracle', (t) => oracle.utility(set, t));
  for (const { name, result } of runs) {
    const run = await loadRun(result.dir, { loadedSet: set });
    try {
      const state = readState(result.dir);
      const trainSeconds = result.metrics.reduce((a, m) => a + m.seconds, 0);
      await evaluate(`${name} (best epoch ${state?.best?.epoch ?? '?'})`, runScorer(run), { params: result.params, trainSeconds });
    } finally {
      await run.model.dispose();
    }
  }
  await evaluate('random', randomScorer(new Rng(seed).fork('demo-random')));

  const table = formatDemo({ out: opts.out, root, setName, seed, candidates: candidates.table.users.length, rows, studentAlone: runs.length === 3 });
  return { root, set: setName, rows, table, interrupted: false };
}

/** Resamples of the bootstrap interval of each row's AUC. */
const BOOTSTRAP_RESAMPLES = 1000;

/** The demo's report: the table, one line per column, and the commands to try next. */
function formatDemo(d: { out: string; root: string; setName: string; seed: number; candidates: number; rows: DemoRow[]; studentAlone: boolean }): string {
  const f4 = (v: number | undefined): string => (v === undefined ? '-' : Number.isNaN(v) ? 'NaN' : v.toFixed(4));
  const header = ['scorer', 'AUC', 'AUC 95% CI', 'NDCG', 'FITB', 'params', 'train s'];
  const body = d.rows.map((r) => [
    r.name,
    f4(r.report.auc),
    r.aucInterval ? `${f4(r.aucInterval.low)}–${f4(r.aucInterval.high)}` : '-',
    f4(r.report.ndcg),
    f4(r.report.fitb),
    r.params ? String(r.params.total) : '-',
    r.trainSeconds !== undefined ? r.trainSeconds.toFixed(0) : '-',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  const first = d.rows[0]?.report;
  const out = d.out;
  const rowsOf = ['teacher=' + `${out}/teacher`, 'student=' + `${out}/student-fnd-cl`, ...(d.studentAlone ? [`alone=${out}/student-alone`] : [])];
  return [
    `set ${d.setName} of ${d.root}, test split: ${first?.users ?? 0} users, ${d.candidates} candidates (each positive with its 10 negatives of tuples_test_nega)` +
      (first?.fitbQuestions !== undefined ? `, ${first.fitbQuestions} FITB questions` : ''),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    '  AUC         per user, the chance that a positive outfit scores above one of its negatives, averaged over users (0.5 = chance, 1 = perfect)',
    `  AUC 95% CI  bootstrap interval of that mean over the test users (${BOOTSTRAP_RESAMPLES} resamples, seed ${d.seed}): rows whose intervals overlap are not told apart by this test set`,
    "  NDCG        how near the top of each user's candidate list the positives sit (1 = every positive first), averaged over users",
    '  FITB        fill in the blank: the right item picked among 4 candidates for an outfit with one item hidden (0.25 = chance)',
    '  params      trained weights of the model; train s = seconds spent training it',
    '  oracle      the synthetic ground truth scoring the same candidates: a reference, not a ceiling (docs/method.md §6.3); random = seeded coin flips',
    '',
    'next:',
    `  outfitrec serve --run ${out}/student-fnd-cl      # the distilled student behind an HTTP API and a web page`,
    `  outfitrec compare --data ${out}/data --set ${d.setName} --out ${out}/compare ${rowsOf.map((r) => `--row ${r}`).join(' ')} --oracle --random${d.studentAlone ? ' --baseline alone' : ''}`,
    `  outfitrec experiment main --data ${out}/experiment-data --out ${out}/experiment --quick      # the paper's main table as a resumable grid of runs`,
  ].join('\n') + '\n';
}

/** The first tuples_<set> folder of a synthetic root: in method.md §6.1 order, then any other set folder by name (§6.5). */
function firstSetIn(root: string): string {
  for (const s of [...SET_NAMES, ...findSetNames(root)]) if (existsSync(join(root, `tuples_${s}`))) return s;
  throw new Error(`${root}: no tuples_<set> folder`);
}
