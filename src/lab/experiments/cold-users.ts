/**
 * Cold users (method.md §5): a model trained on 630 (or 519) profiles the new users of
 * 53 (or 32) from N of their training outfits, everything but the new anchors frozen, and is
 * evaluated on their FULL test split. Both sets live in one dataset root and share `images/`, so the
 * new set's items reach the trained backbone through their images (or, with precomputed features,
 * through the feature matrix keyed by image name): no item id crosses sets.
 */
import { performance } from 'node:perf_hooks';
import { trainingItemPools, type ItemPools } from '../../data/augment.js';
import { selectRows } from '../../data/batches.js';
import { coldUserShots } from '../../data/coldstart.js';
import { coldPairsOf, newUsersSetOf, warmSetOf } from '../../data/layout.js';
import { loadPolyvoreSet } from '../../data/polyvore.js';
import type { OutfitTable, PolyvoreSet } from '../../data/types.js';
import { UserError } from '../../errors.js';
import type { ItemInputSource } from '../../model/inputs.js';
import { Rng } from '../../rng.js';
import { COLD_START_STRATEGIES, fitAnchorsForNewUser, soFitting, type ColdStartStrategy } from '../../train/cold-start.js';
import { buildItemInputs, loadRun, type LoadedRun } from '../../runs/load.js';
import { evaluateScorer, type EvalReport, type NegativeSource, type OutfitScorer } from '../../eval/evaluate.js';


/** A trained run, opened once, ready to profile the new users of one cold set. */
export interface ColdStartContext {
  run: LoadedRun;
  coldSet: PolyvoreSet;
  /** Backbone inputs of the cold set's items. */
  inputs: ItemInputSource;
  /** The cold set's training items per category: where SO draws its random-mix negatives (method.md §6.2). */
  pools: ItemPools;
  /** Users the model was trained with: SU/SA search only among them. */
  warmUsers: Int32Array;
  /** Model user id of cold user 0; cold user u is `firstColdUser + u`. */
  firstColdUser: number;
}

export interface OpenColdStartOptions {
  /** Dataset root holding both sets (default: the run's). */
  root?: string;
  /** Cold set folder (default: the run's set's `newUsers`, method.md §6.5: 53 for 630, 32 for 519). */
  coldSet?: string;
}

/** Loads the run's best weights and the cold set, and reserves model slots for the new users. */
export async function openColdStart(runDir: string, opts: OpenColdStartOptions = {}): Promise<ColdStartContext> {
  // the warm set's test/val tuples are not needed: read only its train split
  const run = await loadRun(runDir, { root: opts.root, splits: ['train'], inputs: false });
  try {
    const root = run.config.data.root;
    const trainedOn = run.config.data.set;
    // method.md §6.5: the pairing is the warm set's layout `newUsers` (630 → 53, 519 → 32 on the FHN layout)
    const paired = newUsersSetOf(root, trainedOn);
    const coldName = opts.coldSet ?? paired;
    if (!coldName) {
      throw new UserError(`${runDir}: trained on set ${trainedOn}, which has no new-user set (no "newUsers" in tuples_${trainedOn}/layout.json); give --set NAME`);
    }
    if (coldName === trainedOn) throw new UserError(`--set ${coldName} is the set the run was trained on; cold users come from another set`);
    const pairedWarm = warmSetOf(root, coldName);
    if (pairedWarm === undefined) {
      const known = coldPairsOf(root).map((p) => p.cold);
      throw new UserError(`--set: '${coldName}' is not a new-user set (no set in ${root} names it "newUsers"${known.length > 0 ? `; new-user sets here: ${known.join(', ')}` : ''})`);
    }
    if (pairedWarm !== trainedOn) {
      throw new UserError(`--set ${coldName}: its new users go with a model trained on ${pairedWarm}, but ${runDir} was trained on ${trainedOn} (use --set ${paired ?? '53 or 32'})`);
    }
    const coldSet = loadPolyvoreSet(root, coldName);
    const inputs = await buildItemInputs(run.config, coldSet);
    const warmUsers = Int32Array.from({ length: run.model.config.numUsers }, (_, i) => i);
    // slots for the new users; their anchors are overwritten by every fit below
    const firstColdUser = run.model.addUsers(coldSet.numUsers, new Rng(run.config.seed).fork('cold-user-slots'));
    return { run, coldSet, inputs, pools: trainingItemPools(coldSet), warmUsers, firstColdUser };
  } catch (err) {
    await run.model.dispose();
    throw err;
  }
}

export async function closeColdStart(ctx: ColdStartContext): Promise<void> {
  await ctx.run.model.dispose();
}

export interface ColdStartRunOptions {
  shots: number;
  strategy: ColdStartStrategy;
  /** Seeds the choice of the N outfits and the SO initialisation/negatives. */
  seed: number;
  /** Test negatives (default the fixed file, method.md §7). */
  negatives?: NegativeSource;
  /** SO: Adam steps (cold-start.ts default when absent). */
  steps?: number;
}

export interface ColdStartResult {
  trainSet: string;
  coldSet: string;
  shots: number;
  strategy: ColdStartStrategy;
  seed: number;
  /** New users profiled. */
  users: number;
  /** Outfits the new users were profiled from, in all. */
  outfitsUsed: number;
  /**
   * How the anchors were found (method.md §5): SO's objective ("Eq. T", or "pairwise + 0.01·L_reg"
   * for an `lpae` run, soFitting), or "search" for SU/SA. Absent in results cached before it existed.
   */
  fitting?: string;
  report: EvalReport;
  /** Wall-clock seconds to fit one user's anchors, each user fitted on its own. */
  fitSeconds: { mean: number; median: number; max: number; total: number };
}

/**
 * Fits every cold user's anchors from `shots` of their training outfits (each user alone, so the
 * time per user is what a new user would wait), then evaluates on the cold set's full test split.
 */
export async function runColdStart(ctx: ColdStartContext, opts: ColdStartRunOptions): Promise<ColdStartResult> {
  if (!COLD_START_STRATEGIES.includes(opts.strategy)) {
    throw new UserError(`--strategy must be one of ${COLD_START_STRATEGIES.join(', ')}, got '${opts.strategy}'`);
  }
  if (!(Number.isInteger(opts.shots) && opts.shots >= 1)) throw new UserError(`--shots must be a positive integer, got ${opts.shots}`);
  const { coldSet, run } = ctx;
  const rng = new Rng(opts.seed);
  const shots = coldUserShots(coldSet, opts.shots, rng.fork('shots'));
  const train = coldSet.splits.train.posi;
  const rowsOfUser: number[][] = Array.from({ length: coldSet.numUsers }, () => []);
  for (const r of shots.rows) rowsOfUser[train.users[r]].push(r);
  const times: number[] = [];
  const fitRng = rng.fork('fit');
  const so = soFitting(run.config);
  for (let u = 0; u < coldSet.numUsers; u++) {
    if (rowsOfUser[u].length === 0) {
      throw new UserError(`${coldSet.dir}: cold user ${u} has no training outfits to profile from`);
    }
    const outfits: OutfitTable = selectRows(train, rowsOfUser[u]);
    const t0 = performance.now();
    const anchors = await fitAnchorsForNewUser(run.model, ctx.inputs, outfits, {
      strategy: opts.strategy,
      rng: fitRng.fork(`user-${u}`),
      pools: ctx.pools,
      candidateUsers: ctx.warmUsers,
      steps: opts.steps,
      objective: so.objective,
      regWeight: so.regWeight,
    });
    run.model.setUserAnchors(ctx.firstColdUser + u, anchors);
    times.push((performance.now() - t0) / 1000);
  }
  const scorer: OutfitScorer = (table) =>
    run.model.scoreTable(ctx.inputs, { slots: table.slots, items: table.items, users: table.users.map((u) => ctx.firstColdUser + u) });
  const report = await evaluateScorer(coldSet, 'test', scorer, { negatives: opts.negatives ?? 'file', rng: rng.fork('eval-negatives') });
  const sorted = [...times].sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  return {
    trainSet: run.config.data.set,
    coldSet: coldSet.set,
    shots: opts.shots,
    strategy: opts.strategy,
    seed: opts.seed,
    users: coldSet.numUsers,
    outfitsUsed: shots.rows.length,
    fitting: opts.strategy === 'so' ? so.label : 'search',
    report,
    fitSeconds: {
      mean: total / times.length,
      median: sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2,
      max: sorted[sorted.length - 1],
      total,
    },
  };
}

/**
 * Every shots × strategy cold start of one run folder, in that order (the model and the cold set
 * are loaded once). `log` gets one line per result.
 */
export async function coldStartAll(
  runDir: string,
  opts: { root?: string; coldSet?: string; shots: readonly number[]; strategies: readonly ColdStartStrategy[]; seed: number; steps?: number },
  log: (line: string) => void = () => {},
): Promise<ColdStartResult[]> {
  const cold = await openColdStart(runDir, { root: opts.root, coldSet: opts.coldSet });
  try {
    const out: ColdStartResult[] = [];
    for (const shots of opts.shots) {
      for (const strategy of opts.strategies) {
        const r = await runColdStart(cold, { shots, strategy, seed: opts.seed, steps: opts.steps });
        log(
          `cold start ${runDir} → ${r.coldSet}: ${shots} shot(s), ${strategy}: AUC ${r.report.auc.toFixed(4)}, ` +
            `NDCG ${r.report.ndcg.toFixed(4)}, ${(r.fitSeconds.mean * 1000).toFixed(1)} ms/user`,
        );
        out.push(r);
      }
    }
    return out;
  } finally {
    await closeColdStart(cold);
  }
}
