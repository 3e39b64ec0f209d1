/**
 * The training loop (method.md §4; architecture.md §4.2 run folder, §4.5 progress and Ctrl-C).
 *
 * Per step: the batch's positives, their M negatives and (with CL) the 2 + 2M augmented views of
 * every sample are packed into ONE table whose distinct items go through the backbone once
 * (method.md §2.1); the main loss uses the un-augmented outfits only (method.md §4 "Total"), L_CL the views.
 * Forward pass, loss and gradients are one ONNX Runtime call (step-graph.ts); the optimizer
 * (optimizer.ts) decays, clips and applies them, touching only the batch users' anchor rows. The
 * step's randomness (batches, views, dropout masks) derives from (seed, epoch, step), so a resumed
 * run draws exactly what the uninterrupted run would have. Every epoch ends with
 * validation (method.md §7 metrics on the val split), the plateau schedule, the best checkpoint, early
 * stopping, one metrics.jsonl line and an atomic checkpoint (src/runs/folder.ts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  backboneKindOf,
  parseRunConfig,
  resolveModelConfig,
  usesContrastive,
  usesTeacher,
  type RunConfig,
  type UnresolvedRunConfig,
} from '../config.js';
import { eraseRuleOf, eraseTable, replaceTable, trainingItemPools, type EraseRule, type ItemPools } from '../data/augment.js';
import { concatTables, packOutfits, selectRows, trainingBatches, type TrainingBatch } from '../data/batches.js';
import { NegativeSampler } from '../data/negatives.js';
import { loadPolyvoreSet } from '../data/polyvore.js';
import type { OutfitTable, PolyvoreSet } from '../data/types.js';
import { setEngineThreads } from '../engine/runtime.js';
import { UserError } from '../errors.js';
import { buildCandidates, evaluateCandidates, type Candidates } from '../eval/evaluate.js';
import { loadNamedTensors, loadWeights, saveNamedTensors, saveWeights } from '../model/checkpoint.js';
import type { ItemInputSource } from '../model/inputs.js';
import { dedupe, USER_ANCHORS } from '../model/anchors.js';
import { OutfitModel } from '../model/outfit-model.js';
import { Rng } from '../rng.js';
import { writeJsonAtomic } from '../util/fs.js';
import { Progress } from '../util/progress.js';
import { FndTeacher, averagePhiRows } from './fnd.js';
import { ItemEmbeddingCache } from './item-cache.js';
import { fndShift, teacherLogProbs } from './objectives.js';
import { Optimizer, type DenseGradient } from './optimizer.js';
import { ProjectionHead } from './projection-head.js';
import {
  commitEpoch,
  readMetrics,
  readState,
  recoverRunFolder,
  RUN_FILES,
  type EpochRecord,
  type TrainState,
  type ValMetrics,
} from '../runs/folder.js';
import { buildItemInputs, readRunConfig } from '../runs/load.js';
import { ReduceOnPlateau } from './schedule.js';
import { stepKey, TrainingStep, type StepShape } from './step-graph.js';

export interface TrainRunOptions {
  /** Raw configuration (config file merged with CLI options); ignored with `resume`. */
  config?: Record<string, unknown>;
  /** Run folder. */
  out: string;
  /** Continue the run in `out` from its last checkpoint. */
  resume?: boolean;
  /** With `resume`: train up to this many epochs in all (extends a finished run). */
  epochs?: number;
  /** Human-readable log lines (default: stderr). */
  log?: (line: string) => void;
  /** Where the progress bar goes; null = no progress display. Default process.stderr. */
  progressStream?: NodeJS.WritableStream | null;
  /** Stop after the current step on SIGINT (the CLI sets this). */
  handleSigint?: boolean;
  /** Stops after the current step when aborted (tests). */
  signal?: AbortSignal;
}

export interface TrainResult {
  dir: string;
  config: RunConfig;
  state: TrainState;
  metrics: EpochRecord[];
  /** Stopped by SIGINT / abort: the run folder holds the last finished epoch. */
  interrupted: boolean;
  /** Parameter counts of the model (method.md §7 "Report also"). */
  params: Record<string, number>;
}

/** The loss of one step and its parts (plain numbers, for logs and metrics.jsonl). */
interface StepLoss {
  total: number;
  main: number;
  cl?: number;
  reg?: number;
  /** FND: share of the step's negatives the teacher puts inside the user's radius (φ > 0). */
  falseNegatives?: number;
}

/** Written into optimizer.safetensors; a file without it comes from the tfjs engine of 0.1. */
const OPTIMIZER_FORMAT = 'outfitrec-onnxruntime-1';

export async function trainRun(opts: TrainRunOptions): Promise<TrainResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const dir = resolve(opts.out);
  const { config, fresh } = prepareRunFolder(dir, opts);
  setEngineThreads(config.threads);

  const set = loadPolyvoreSet(config.data.root, config.data.set, { splits: ['train', 'val'] });
  if (set.splits.train.posi.users.length === 0) throw new UserError(`${set.dir}: no training positives`);
  const inputs = await buildItemInputs(config, set, {
    onImageProgress: progressReporter(opts, `decoding ${set.set} images`),
  });
  const resolved: RunConfig = {
    ...config,
    model: resolveModelConfig(config, { numUsers: set.numUsers, featureDim: inputs.kind === 'features' ? inputs.itemShape[0] : undefined }),
  };
  if (!fresh && JSON.stringify(resolved.model) !== JSON.stringify(config.model)) {
    // a resumed run's config.json is already resolved: the data must still give the same model
    throw new UserError(`${dir}: the data no longer matches the run's model (${JSON.stringify(config.model)} vs ${JSON.stringify(resolved.model)})`);
  }
  // a resume that changes the epoch count records it, so a later plain --resume trains to the same end
  if (fresh || opts.epochs !== undefined) writeJsonAtomic(join(dir, RUN_FILES.config), resolved);

  const trainer = new Trainer(resolved, set, inputs, dir, log, opts);
  try {
    await trainer.setUp(fresh);
    log(
      `train ${resolved.method} on ${set.dir} (${set.numUsers} users, ${set.splits.train.posi.users.length} train positives), ` +
        `backbone ${resolved.model.backbone.kind} width ${resolved.model.backbone.width}, d ${resolved.model.dim}, K ${resolved.model.anchors}, ` +
        `${trainer.paramSummary()}, ONNX Runtime (${resolved.threads} thread${resolved.threads > 1 ? 's' : ''}) → ${dir}`,
    );
    return await trainer.run();
  } finally {
    await trainer.dispose();
  }
}

/** Creates (or, with --resume, recovers) the run folder and returns the config to train with. */
function prepareRunFolder(dir: string, opts: TrainRunOptions): { config: UnresolvedRunConfig; fresh: boolean } {
  if (opts.resume) {
    if (!existsSync(join(dir, RUN_FILES.config))) throw new UserError(`--resume: ${dir} is not a run folder (no ${RUN_FILES.config})`);
    recoverRunFolder(dir);
    const config = readRunConfig(dir);
    if (opts.epochs !== undefined) config.epochs = opts.epochs;
    return { config, fresh: !existsSync(join(dir, RUN_FILES.state)) };
  }
  if (existsSync(join(dir, RUN_FILES.config)) || existsSync(join(dir, RUN_FILES.state))) {
    throw new UserError(`${dir} already holds a run: use --resume to continue it, or another --out`);
  }
  if (!opts.config) throw new Error('trainRun: config is required for a new run');
  const parsed = parseRunConfig(opts.config);
  // absolute paths, so the run folder is usable from any working directory
  const data = {
    ...parsed.data,
    root: resolve(parsed.data.root),
    ...(parsed.data.features ? { features: { npy: resolve(parsed.data.features.npy), names: resolve(parsed.data.features.names) } } : {}),
  };
  const fnd = { ...parsed.fnd, ...(parsed.fnd.teacher ? { teacher: resolve(parsed.fnd.teacher) } : {}) };
  mkdirSync(dir, { recursive: true });
  // the model part is resolved from the data in trainRun
  return { config: { ...parsed, data, fnd }, fresh: true };
}

function progressReporter(opts: TrainRunOptions, label: string): ((done: number, total: number) => void) | undefined {
  if (opts.progressStream === null) return undefined;
  let bar: Progress | null = null;
  return (done, total) => {
    bar ??= new Progress({ label, total, unit: 'images', stream: opts.progressStream ?? process.stderr });
    bar.tick(1);
    if (done >= total) bar.finish();
  };
}

class Trainer {
  private readonly model: OutfitModel;
  private readonly head: ProjectionHead | null;
  private readonly optimizer: Optimizer;
  /** Compiled training steps by shape (the last, smaller batch of an epoch has its own). */
  private readonly steps = new Map<string, Promise<TrainingStep>>();
  private schedule!: ReduceOnPlateau;
  private state!: TrainState;
  private metrics: EpochRecord[] = [];
  private teacher: FndTeacher | null = null;
  private readonly sampler: NegativeSampler;
  private readonly pools: ItemPools;
  /** What `erase` may remove (method.md §6.5). */
  private readonly eraseRule: EraseRule;
  private valCandidates!: Candidates;
  private stopRequested = false;

  constructor(
    private readonly cfg: RunConfig,
    private readonly set: PolyvoreSet,
    private readonly inputs: ItemInputSource,
    private readonly dir: string,
    private readonly log: (line: string) => void,
    private readonly opts: TrainRunOptions,
  ) {
    const seedRng = (label: string): Rng => new Rng(cfg.seed).fork(label);
    this.model = OutfitModel.create(cfg.model, seedRng('model'));
    this.head = usesContrastive(cfg.method) ? new ProjectionHead(cfg.model.dim, seedRng('cl-head')) : null;
    this.optimizer = new Optimizer(cfg.optim);
    this.sampler = new NegativeSampler(set, 'train');
    this.pools = trainingItemPools(set);
    this.eraseRule = eraseRuleOf(set.layout);
  }

  paramSummary(): string {
    const p = this.model.paramCounts();
    return `params: backbone ${p.backbone}, encoder ${p.itemEmbedding + p.setTransformer + p.projection}, anchors ${p.anchors}, total ${p.total}`;
  }

  async setUp(fresh: boolean): Promise<void> {
    const cfg = this.cfg;
    const { schedule } = cfg.optim;
    const plateau = { factor: schedule.factor, patience: schedule.patience, cooldown: schedule.cooldown, threshold: schedule.threshold, minLr: schedule.minLr };
    if (fresh) {
      this.state = {
        epoch: 0,
        step: 0,
        schedule: new ReduceOnPlateau(plateau, cfg.optim.lr).snapshot(),
        best: null,
        epochsWithoutImprovement: 0,
        finished: false,
        stoppedEarly: false,
        seed: cfg.seed,
      };
    } else {
      // prepareRunFolder has brought the folder to its last committed epoch
      const state = readState(this.dir);
      if (!state) throw new Error(`${this.dir}: no ${RUN_FILES.state} to resume from`);
      this.state = state;
      loadWeights(join(this.dir, RUN_FILES.weights), this.model);
      this.loadOptimizer(join(this.dir, RUN_FILES.optimizer));
      this.metrics = readMetrics(this.dir);
      // a finished run asked for more epochs continues; one stopped early stays stopped
      if (this.state.finished && !this.state.stoppedEarly && this.state.epoch < cfg.epochs) this.state.finished = false;
    }
    this.schedule = new ReduceOnPlateau(plateau, cfg.optim.lr, this.state.schedule);
    this.setLearningRate(this.schedule.lr);
    if (usesTeacher(cfg.method) && !this.state.finished) {
      const teacherDir = cfg.fnd.teacher as string;
      this.teacher = await FndTeacher.load(teacherDir, this.set, cfg.fnd.radius, {
        inputs: this.inputs,
        sameInputs: (t) =>
          backboneKindOf(t.config) === backboneKindOf(cfg) &&
          (backboneKindOf(cfg) === 'features'
            ? JSON.stringify(t.config.data.features) === JSON.stringify(cfg.data.features)
            : t.config.data.imageSize === cfg.data.imageSize),
      });
      const s = this.teacher.summary();
      this.log(
        `teacher ${s.dir}: best epoch ${s.bestEpoch ?? '?'}, val AUC ${s.bestValAuc?.toFixed(4) ?? '?'}` +
          (s.meanRadius !== null ? `, mean radius r̂ (${cfg.fnd.radius}) ${s.meanRadius.toFixed(4)}` : ', radius per positive (sample)'),
      );
    }
    this.valCandidates = buildCandidates(this.set, 'val', cfg.evalNegatives, new Rng(cfg.seed).fork('val-negatives'));
  }

  async run(): Promise<TrainResult> {
    const cfg = this.cfg;
    const onSigint = (): void => {
      if (this.stopRequested) process.exit(130);
      this.stopRequested = true;
      this.log('interrupt: stopping after the current step (press Ctrl-C again to quit at once)');
    };
    if (this.opts.handleSigint) process.on('SIGINT', onSigint);
    const onAbort = (): void => {
      this.stopRequested = true;
    };
    this.opts.signal?.addEventListener('abort', onAbort);
    let interrupted = false;
    try {
      if (this.state.finished) {
        this.log(`${this.dir}: training already finished at epoch ${this.state.epoch}${this.state.stoppedEarly ? ' (early stopping)' : ''}`);
      }
      while (!this.state.finished && this.state.epoch < cfg.epochs) {
        const completed = await this.runEpoch(this.state.epoch + 1);
        if (!completed) {
          interrupted = true;
          this.log(`stopped during epoch ${this.state.epoch + 1}; ${this.dir} holds epoch ${this.state.epoch} (continue with --resume)`);
          break;
        }
      }
    } finally {
      if (this.opts.handleSigint) process.off('SIGINT', onSigint);
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
    if (!interrupted && this.state.best) {
      this.log(`best epoch ${this.state.best.epoch}: val AUC ${this.state.best.val.auc.toFixed(4)}, NDCG ${this.state.best.val.ndcg.toFixed(4)}`);
    }
    return {
      dir: this.dir,
      config: cfg,
      state: this.state,
      metrics: this.metrics,
      interrupted,
      params: { ...this.model.paramCounts() },
    };
  }

  /** One epoch; false when stopped before its end (nothing of it is committed then). */
  private async runEpoch(epoch: number): Promise<boolean> {
    const cfg = this.cfg;
    const started = performance.now();
    // the epoch's randomness depends only on (seed, epoch): a resumed run redraws the same batches
    const epochRng = new Rng(cfg.seed).fork(`epoch:${epoch}`);
    const batchRng = epochRng.fork('batches');
    const viewRng = epochRng.fork('views');
    const positives = this.set.splits.train.posi.users.length;
    const steps = Math.ceil(positives / cfg.batchSize);
    const bar =
      this.opts.progressStream === null
        ? null
        : new Progress({ label: `epoch ${epoch}/${cfg.epochs}`, total: steps, unit: 'steps', stream: this.opts.progressStream ?? process.stderr });
    const sums = { total: 0, main: 0, cl: 0, reg: 0, falseNegatives: 0 };
    const parts = { cl: false, reg: false, fn: false };
    let done = 0;
    for (const batch of trainingBatches(this.set, {
      batchSize: cfg.batchSize,
      negatives: cfg.negatives.kind,
      perPositive: cfg.negatives.perPositive,
      rng: batchRng,
      sampler: this.sampler,
    })) {
      const loss = await this.step(batch, viewRng, epoch, done + 1);
      done++;
      this.state.step++;
      sums.total += loss.total;
      sums.main += loss.main;
      if (loss.cl !== undefined) {
        sums.cl += loss.cl;
        parts.cl = true;
      }
      if (loss.reg !== undefined) {
        sums.reg += loss.reg;
        parts.reg = true;
      }
      if (loss.falseNegatives !== undefined) {
        sums.falseNegatives += loss.falseNegatives;
        parts.fn = true;
      }
      bar?.tick(1, `loss ${(sums.total / done).toFixed(4)}`);
      // let signal handlers run between steps
      await new Promise((r) => setImmediate(r));
      if (this.stopRequested) {
        bar?.finish();
        return false;
      }
    }
    bar?.finish();

    const val = await this.validate();
    const lr = this.schedule.lr;
    this.schedule.step(val.auc);
    this.setLearningRate(this.schedule.lr);
    const improved = this.state.best === null || val.auc > this.state.best.val.auc;
    if (improved) this.state.best = { epoch, val, file: RUN_FILES.best };
    this.state.epochsWithoutImprovement = improved ? 0 : this.state.epochsWithoutImprovement + 1;
    this.state.epoch = epoch;
    this.state.schedule = this.schedule.snapshot();
    const patience = cfg.earlyStopping.patience;
    if (patience > 0 && this.state.epochsWithoutImprovement >= patience) {
      this.state.finished = true;
      this.state.stoppedEarly = true;
    }
    if (epoch >= cfg.epochs) this.state.finished = true;
    const record: EpochRecord & { fnd?: { falseNegativeShare: number } } = {
      epoch,
      step: this.state.step,
      loss: {
        total: sums.total / done,
        main: sums.main / done,
        ...(parts.cl ? { cl: sums.cl / done } : {}),
        ...(parts.reg ? { reg: sums.reg / done } : {}),
      },
      val,
      lr,
      seconds: (performance.now() - started) / 1000,
      steps: done,
      ...(parts.fn ? { fnd: { falseNegativeShare: sums.falseNegatives / done } } : {}),
    };
    this.metrics.push(record);
    await this.commit();
    this.log(
      `epoch ${epoch}/${cfg.epochs}  loss ${record.loss.total.toFixed(4)}` +
        (record.loss.cl !== undefined ? ` (main ${record.loss.main.toFixed(4)}, cl ${record.loss.cl.toFixed(4)})` : '') +
        (record.fnd ? `  φ>0 ${(record.fnd.falseNegativeShare * 100).toFixed(1)}%` : '') +
        `  val AUC ${val.auc.toFixed(4)} NDCG ${val.ndcg.toFixed(4)}${improved ? ' *' : ''}  lr ${lr.toPrecision(3)}  ${record.seconds.toFixed(1)}s` +
        (this.state.stoppedEarly ? `  (early stop: ${patience} epochs without a better val AUC)` : ''),
    );
    return true;
  }

  /** One optimizer step on one batch; returns the loss parts. */
  private async step(batch: TrainingBatch, viewRng: Rng, epoch: number, stepInEpoch: number): Promise<StepLoss> {
    const cfg = this.cfg;
    const b = batch.users.length;
    const m = cfg.negatives.perPositive;
    const tables: OutfitTable[] = [batch.positives, batch.negatives];
    let viewsPerSample = 0;
    if (this.head) {
      const views = this.contrastiveViews(batch, viewRng);
      tables.push(views.v1, views.v2, views.negatives);
      viewsPerSample = views.perSample;
    }
    const packed = packOutfits(concatTables(tables));
    const distill = cfg.fnd.form === 'distill';
    const teacherView = this.teacher ? await this.teacher.view(batch, { positives: distill }) : null;
    const teacherPhi = teacherView?.phi ?? null;
    const phi = teacherPhi && cfg.fnd.phi === 'row-mean' ? averagePhiRows(teacherPhi, m) : teacherPhi;
    const mainUsers = new Int32Array(b + b * m);
    mainUsers.set(batch.users, 0);
    mainUsers.set(batch.negatives.users, b);
    const { unique: batchUsers, inverse: userIndex } = dedupe(mainUsers);
    const d = cfg.model.dim;
    const rate = cfg.model.dropout;
    const shape: StepShape = {
      method: cfg.method,
      batch: b,
      negatives: m,
      slots: packed.slots,
      viewsPerSample,
      dropout: rate > 0,
      cl: this.head ? { tau: cfg.cl.tau, lambda: cfg.cl.lambda, inBatch: cfg.cl.inBatch } : null,
      ...(teacherView && distill ? { distill: cfg.fnd.alpha } : {}),
    };
    const step = await this.trainingStep(shape);
    const result = await step.run({
      items: this.inputs.gather(packed.uniqueItems),
      // dropout masks drawn from (seed, epoch, step): a resumed run repeats them exactly
      dropMask: rate > 0 ? dropoutMask(new Rng(cfg.seed).fork(`dropout:${epoch}:${stepInEpoch}`), packed.uniqueItems.length * d, rate) : undefined,
      slotIndex: packed.slotIndex,
      anchorRows: this.model.anchors.gatherRows(batchUsers),
      userIndex,
      negShift: phi && cfg.fnd.form !== 'distill' ? fndShift(phi, cfg.fnd.alpha, cfg.fnd.form) : undefined,
      teacherLogQ: teacherView && distill ? teacherLogProbs(teacherView.posScores!, teacherView.negScores) : undefined,
    });
    let total = result.total;
    let reg: number | undefined;
    if (cfg.method === 'lpae') {
      // LPAE's anchor regulariser (method.md §3), in closed form outside the graph: its gradient goes
      // into the fed rows' gradient
      const r = this.model.anchors.regularizer(batch.users);
      reg = r.value;
      total += cfg.regWeight * r.value;
      const per = this.model.anchors.userK * d;
      const position = new Map(Array.from(batchUsers, (u, i) => [u, i]));
      r.unique.forEach((u, i) => {
        const at = (position.get(u) as number) * per;
        for (let j = 0; j < per; j++) result.anchorGrad[at + j] += cfg.regWeight * r.grad[i * per + j];
      });
    }
    if (!Number.isFinite(total)) {
      throw new UserError(
        `training diverged: the loss is ${total} at epoch ${epoch}, step ${stepInEpoch} (learning rate ${this.schedule.lr}); ` +
          `try a lower --lr or gradient clipping (optim.clip); ` +
          (this.state.epoch > 0 ? `${this.dir} keeps epoch ${this.state.epoch}` : `${this.dir} has no checkpoint yet`),
      );
    }
    const dense: DenseGradient[] = [];
    for (const [name, grad] of result.grads) {
      const table = name.startsWith('cl_head.') && this.head ? this.head.params : this.model.params;
      dense.push({ param: table.get(name), grad });
    }
    this.optimizer.step(dense, [{ param: this.model.params.get(USER_ANCHORS), rows: batchUsers, grad: result.anchorGrad }]);
    let falseNegatives: number | undefined;
    if (phi) {
      let inside = 0;
      for (const v of phi) if (v > 0) inside++;
      falseNegatives = inside / phi.length;
    }
    return { total, main: result.main, cl: result.cl, reg, falseNegatives };
  }

  private trainingStep(shape: StepShape): Promise<TrainingStep> {
    const key = stepKey(shape);
    let step = this.steps.get(key);
    if (!step) {
      step = TrainingStep.build(this.model, this.head, this.inputs.itemShape, shape);
      this.steps.set(key, step);
    }
    return step;
  }

  /**
   * The CL views of a batch (method.md §4): v1 and v2 of every positive and, per sample, 2M views of its
   * negatives, grouped per sample (rows s·2M .. s·2M+2M-1 belong to sample s).
   */
  private contrastiveViews(batch: TrainingBatch, rng: Rng): { v1: OutfitTable; v2: OutfitTable; negatives: OutfitTable; perSample: number } {
    const mode = this.cfg.cl.augment;
    const first = (t: OutfitTable): OutfitTable => (mode === 'replace' ? replaceTable(t, this.pools, rng) : mode === 'none' ? t : eraseTable(t, rng, this.eraseRule));
    const second = (t: OutfitTable): OutfitTable => (mode === 'erase' ? eraseTable(t, rng, this.eraseRule) : mode === 'none' ? t : replaceTable(t, this.pools, rng));
    const v1 = first(batch.positives);
    const v2 = second(batch.positives);
    const b = batch.users.length;
    const m = batch.negatives.users.length / b;
    if (mode === 'none') return { v1, v2, negatives: batch.negatives, perSample: m };
    const a = first(batch.negatives);
    const c = second(batch.negatives);
    const order = new Int32Array(b * 2 * m);
    for (let s = 0; s < b; s++) {
      for (let j = 0; j < m; j++) {
        order[s * 2 * m + j] = s * m + j; // first view of negative j
        order[s * 2 * m + m + j] = b * m + s * m + j; // second view
      }
    }
    return { v1, v2, negatives: selectRows(concatTables([a, c]), order), perSample: 2 * m };
  }

  /** Validation AUC / NDCG (method.md §7) on the fixed val candidates, items embedded once. */
  private async validate(): Promise<ValMetrics> {
    const cache = await ItemEmbeddingCache.build(this.model, this.inputs, ItemEmbeddingCache.itemsOf(this.valCandidates.table));
    const report = await evaluateCandidates(this.set, 'val', this.valCandidates, (table) => cache.scoreTable(table), { fitb: false });
    return { auc: report.auc, ndcg: report.ndcg };
  }

  private setLearningRate(lr: number): void {
    this.optimizer.lr = lr;
  }

  /** Writes the epoch's checkpoint (weights, optimizer + head, best, metrics, state) atomically. */
  private async commit(): Promise<void> {
    const epochMeta = { epoch: String(this.state.epoch) };
    commitEpoch(this.dir, this.state, this.metrics, (paths) => {
      saveWeights(paths.weights, this.model, epochMeta);
      if (paths.best) saveWeights(paths.best, this.model, epochMeta);
      saveNamedTensors(paths.optimizer, [...this.optimizer.state(), ...(this.head?.params.list() ?? [])], {
        ...epochMeta,
        format: OPTIMIZER_FORMAT,
        optimizer: this.cfg.optim.kind,
        steps: String(this.optimizer.steps),
      });
    });
  }

  private loadOptimizer(path: string): void {
    const { tensors, metadata } = loadNamedTensors(path);
    if (metadata.format !== OPTIMIZER_FORMAT) {
      throw new UserError(
        `${path}: optimizer state written by the tfjs engine of outfitrec 0.1, which this version cannot continue; ` +
          `eval, coldstart and serve still read the run, or train a new run`,
      );
    }
    if (metadata.optimizer !== this.cfg.optim.kind) {
      throw new UserError(`${path}: optimizer state is for '${metadata.optimizer}', the run uses '${this.cfg.optim.kind}'`);
    }
    this.optimizer.load(tensors, Number(metadata.steps ?? 0));
    this.head?.load(new Map(tensors.filter((t) => t.name.startsWith('cl_head.')).map((t) => [t.name, t])), path);
  }

  async dispose(): Promise<void> {
    await this.teacher?.dispose();
    for (const step of this.steps.values()) await (await step).release();
    await this.model.dispose();
  }
}

/** Inverted-dropout multipliers: 0 with probability `rate`, 1/(1 − rate) otherwise. */
function dropoutMask(rng: Rng, size: number, rate: number): Float32Array {
  const keep = 1 / (1 - rate);
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) mask[i] = rng.next() < rate ? 0 : keep;
  return mask;
}
