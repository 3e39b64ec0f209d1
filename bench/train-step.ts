/**
 * Training-step and inference throughput of the project's model, with EXACTLY the shapes of
 * shared/bench/torch_ref.py (docs/architecture.md §4.6): B samples of 1 positive + M
 * negatives (3 items each), optional CL views (2 of the positive + 2 per negative), F-d features
 * or 28×28×3 images through the width-32 convnet, d, 4 heads, K anchors, 630 users, Adam; inference
 * scores 2048 outfits. Every item of a batch is distinct (as torch's random inputs are), so the
 * project's per-batch item dedupe saves nothing here and both sides do the same work.
 *
 * The step is the project's own code, the trainer's: one ONNX Runtime call per step for forward
 * pass, method.md §4 objectives (softmax + 0.1·contrastive, τ = 0.2) and gradients (TrainingStep), then
 * Adam over the weights and lazily over the batch users' anchor rows (Optimizer).
 *
 * Run one configuration per process (peak RSS is per process):
 *   node --import tsx bench/train-step.ts --mode features --cl 1 [--steps 20] [--warmup 3] [--threads 1|2]
 * Prints one JSON line.
 */
import { ANCHOR_UPDATE_DEFAULT } from '../src/config.js';
import { dedupe, USER_ANCHORS } from '../src/model/anchors.js';
import { setEngineThreads, ortVersion } from '../src/engine/runtime.js';
import { featureInputSource, imageInputSource, type ItemInputSource } from '../src/model/inputs.js';
import { OutfitModel } from '../src/model/outfit-model.js';
import { Optimizer, type DenseGradient } from '../src/train/optimizer.js';
import { ProjectionHead } from '../src/train/projection-head.js';
import { TrainingStep } from '../src/train/step-graph.js';
import { Rng } from '../src/rng.js';

export interface BenchShape {
  mode: 'features' | 'images';
  cl: boolean;
  /** samples per step */
  B: number;
  /** negatives per sample */
  M: number;
  /** item feature size */
  F: number;
  d: number;
  /** anchors per user */
  K: number;
  users: number;
  /** convnet base channels (images mode) */
  width: number;
  heads: number;
  imageSize: number;
  /** outfits scored in the inference measurement */
  inferOutfits: number;
}

export const TORCH_REF_SHAPE: BenchShape = {
  mode: 'features',
  cl: true,
  B: 64,
  M: 10,
  F: 512,
  d: 128,
  K: 64,
  users: 630,
  width: 32,
  heads: 4,
  imageSize: 28,
  inferOutfits: 2048,
};

export interface TrainStepResult {
  engine: string;
  threads: number;
  mode: BenchShape['mode'];
  cl: 0 | 1;
  train_samples_per_s: number;
  infer_outfits_per_s: number;
  step_ms_median: number;
  /** CPU time (all threads) per step: with 1 thread, less sensitive to other load than wall time. */
  step_cpu_ms_median: number;
  infer_ms_median: number;
  loss_first: number;
  loss_last: number;
  peak_rss_mib: number;
  params: number;
  items_per_step: number;
}

const SLOTS = 3;
const CONVNET_BASE_CHANNELS = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Random inputs for `count` distinct items: N(0,1) features, or uniform uint8 images. */
function makeInputs(shape: BenchShape, count: number, rng: Rng): ItemInputSource {
  if (shape.mode === 'features') {
    const values = new Float32Array(count * shape.F);
    for (let i = 0; i < values.length; i++) values[i] = rng.normal();
    return featureInputSource(values, shape.F);
  }
  const s = shape.imageSize;
  const pixels = new Uint8Array(count * s * s * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.int(256);
  return imageInputSource({ n: count, height: s, width: s, channels: 3, pixels });
}

interface StepBatch {
  /** B·(C+V)·3 global item ids: the B·C scored outfits first, then the B·V views (sample-major). */
  items: Int32Array;
  /** user of each scored outfit, B·C */
  scoredUsers: Int32Array;
}

function makeBatch(shape: BenchShape, firstItem: number, rng: Rng): StepBatch {
  const C = shape.M + 1;
  const V = shape.cl ? 2 + 2 * shape.M : 0;
  const outfits = shape.B * (C + V);
  const items = new Int32Array(outfits * SLOTS);
  for (let i = 0; i < items.length; i++) items[i] = firstItem + i;
  const scoredUsers = new Int32Array(shape.B * C);
  for (let b = 0; b < shape.B; b++) scoredUsers.fill(rng.int(shape.users), b * C, (b + 1) * C);
  return { items, scoredUsers };
}

export async function runTrainStepBench(
  shape: BenchShape,
  opts: { steps: number; warmup: number; seed: number; threads: number },
): Promise<TrainStepResult> {
  setEngineThreads(opts.threads);
  const rng = new Rng(opts.seed);
  const C = shape.M + 1;
  const V = shape.cl ? 2 + 2 * shape.M : 0;
  const itemsPerStep = shape.B * (C + V) * SLOTS;
  // two alternating batches, as torch_ref.py; inference reads the first inferOutfits·3 items
  const inputs = makeInputs(shape, Math.max(2 * itemsPerStep, shape.inferOutfits * SLOTS), rng.fork('inputs'));
  const batches = [makeBatch(shape, 0, rng.fork('batch0')), makeBatch(shape, itemsPerStep, rng.fork('batch1'))];

  const model = OutfitModel.create(
    {
      backbone:
        shape.mode === 'features'
          ? { kind: 'features', width: 0, inputDim: shape.F, outDim: shape.F }
          : { kind: 'convnet', width: shape.width / CONVNET_BASE_CHANNELS, outDim: shape.F, imageSize: shape.imageSize },
      dim: shape.d,
      heads: shape.heads,
      anchors: shape.K,
      numUsers: shape.users,
      // torch_ref.py's model has no dropout
      dropout: 0,
    },
    rng.fork('model'),
  );
  const head = shape.cl ? new ProjectionHead(shape.d, rng.fork('clHead')) : null;
  // the trainer's default anchor update (dense, like torch_ref.py's Adam over the whole table)
  const optimizer = new Optimizer({ kind: 'adam', lr: 1e-3, momentum: 0, weightDecay: 0, clip: { mode: 'none', max: 1 }, anchorUpdate: ANCHOR_UPDATE_DEFAULT });
  // the trainer's own step: one ONNX Runtime call for forward, loss and gradients (src/train/step-graph.ts)
  const step = await TrainingStep.build(model, head, inputs.itemShape, {
    method: shape.cl ? 'softmax+cl' : 'softmax',
    batch: shape.B,
    negatives: shape.M,
    slots: SLOTS,
    viewsPerSample: shape.cl ? 2 * shape.M : 0,
    dropout: false,
    cl: shape.cl ? { tau: 0.2, lambda: 0.1, inBatch: false } : null,
  });
  const anchors = model.params.get(USER_ANCHORS);

  const runStep = async (batch: StepBatch): Promise<number> => {
    const { unique, inverse } = dedupe(batch.scoredUsers);
    // every item of the batch is distinct: slot r reads row r
    const slotIndex = Int32Array.from({ length: batch.items.length }, (_, i) => i);
    const result = await step.run({
      items: inputs.gather(batch.items),
      slotIndex,
      anchorRows: model.anchors.gatherRows(unique),
      userIndex: reorderScored(inverse, shape),
    });
    const dense: DenseGradient[] = [];
    for (const [name, grad] of result.grads) dense.push({ param: (name.startsWith('cl_head.') && head ? head.params : model.params).get(name), grad });
    optimizer.step(dense, [{ param: anchors, rows: unique, grad: result.anchorGrad }]);
    return result.total;
  };

  const losses: number[] = [];
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    losses.push(await runStep(batches[i % 2]));
    if (i >= opts.warmup) {
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1000);
    }
  }

  // inference: encode and score 2048 outfits for random users (torch: m.eval(), no_grad)
  const inferItems = new Int32Array(shape.inferOutfits * SLOTS);
  for (let i = 0; i < inferItems.length; i++) inferItems[i] = i;
  const inferUsers = new Int32Array(shape.inferOutfits);
  const inferRng = rng.fork('inferUsers');
  for (let i = 0; i < inferUsers.length; i++) inferUsers[i] = inferRng.int(shape.users);
  const table = { slots: SLOTS, users: inferUsers, items: inferItems };
  const inferTimes: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    const scores = await model.scoreTable(inputs, table);
    if (!Number.isFinite(scores[0])) throw new Error(`inference produced ${scores[0]}`);
    inferTimes.push(performance.now() - t0);
  }

  const stepMs = median(times);
  const inferMs = median(inferTimes.slice(1));
  const params = [...model.namedParams(), ...(head ? head.params.list() : [])].reduce((p, v) => p + v.data.length, 0);
  await step.release();
  await model.dispose();
  return {
    engine: `onnxruntime-node ${ortVersion()}`,
    threads: opts.threads,
    mode: shape.mode,
    cl: shape.cl ? 1 : 0,
    train_samples_per_s: round(shape.B / (stepMs / 1000), 2),
    infer_outfits_per_s: round(shape.inferOutfits / (inferMs / 1000), 1),
    step_ms_median: round(stepMs, 1),
    step_cpu_ms_median: round(median(cpuTimes), 1),
    infer_ms_median: round(inferMs, 1),
    loss_first: round(losses[0], 5),
    loss_last: round(losses[losses.length - 1], 5),
    peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 0),
    params,
    items_per_step: itemsPerStep,
  };
}

/**
 * makeBatch lays the scored outfits out sample-major (sample b: its positive, then its M
 * negatives); a training step wants the B positives first, then the B·M negatives. The items are
 * distinct random inputs, so only the users' order matters: this returns each scored row's user
 * position in the step's order.
 */
function reorderScored(inverse: Int32Array, shape: BenchShape): Int32Array {
  const C = shape.M + 1;
  const out = new Int32Array(shape.B * C);
  for (let b = 0; b < shape.B; b++) {
    out[b] = inverse[b * C];
    for (let j = 0; j < shape.M; j++) out[shape.B + b * shape.M + j] = inverse[b * C + 1 + j];
  }
  return out;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function parseArgs(argv: string[]): { shape: BenchShape; steps: number; warmup: number; seed: number; threads: number } {
  const shape = { ...TORCH_REF_SHAPE };
  let steps = 20;
  let warmup = 3;
  let seed = 0;
  let threads = 1;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value after ${flag}`);
    if (flag === '--mode') {
      if (value !== 'features' && value !== 'images') throw new Error(`--mode must be features or images, got ${value}`);
      shape.mode = value;
    } else if (flag === '--cl') shape.cl = value === '1';
    else if (flag === '--steps') steps = Number(value);
    else if (flag === '--warmup') warmup = Number(value);
    else if (flag === '--seed') seed = Number(value);
    else if (flag === '--B') shape.B = Number(value);
    else if (flag === '--threads') {
      threads = Number(value);
      if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a positive integer, got ${value}`);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return { shape, steps, warmup, seed, threads };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { shape, steps, warmup, seed, threads } = parseArgs(process.argv.slice(2));
  const result = await runTrainStepBench(shape, { steps, warmup, seed, threads });
  console.log(JSON.stringify(result));
}
