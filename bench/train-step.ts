/**
 * Training-step and inference throughput of the project's model, with EXACTLY the shapes of
 * the PyTorch reference step torch_ref.py (bench/README.md; architecture.md §4.6): B samples of 1 positive + M
 * negatives (3 items each), optional CL views (2 of the positive + 2 per negative), F-d features
 * or 28×28×3 images through the width-32 convnet, d, 4 heads, K anchors, 630 users, Adam; inference
 * scores 2048 outfits. Every item of a batch is distinct (as torch's random inputs are), so the
 * project's per-batch item dedupe saves nothing here and both sides do the same work.
 *
 * The step is the project's own code: OutfitModel (backbone, item embedding, Set Transformer,
 * anchors), the method.md §4 objectives (softmaxLoss + 0.1·contrastiveLoss, τ = 0.2) and the
 * trainer's CL projection head g (2-layer MLP d→d→d).
 *
 * Run one configuration per process (peak RSS is per process):
 *   node --import tsx bench/train-step.ts --mode features --cl 1 [--steps 20] [--warmup 3] [--threads 1|2]
 * Prints one JSON line.
 */
import { initEngine, shutdownEngine } from '../src/engine/backend.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../src/engine/tf.js';
import { featureInputSource, imageInputSource, type ItemInputSource } from '../src/model/inputs.js';
import { OutfitModel, packOutfitItems } from '../src/model/outfit-model.js';
import { contrastiveLoss, softmaxLoss } from '../src/train/objectives.js';
import { ProjectionHead } from '../src/train/projection-head.js';
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
  opts: { steps: number; warmup: number; seed: number; threads: 1 | 2 },
): Promise<TrainStepResult> {
  const backend = await initEngine({ backend: 'wasm', threads: opts.threads });
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
    },
    rng.fork('model'),
  );
  const head = shape.cl ? new ProjectionHead(shape.d, rng.fork('clHead')) : null;
  const varList = [...model.namedVariables().map((v) => v.variable), ...(head ? head.variables() : [])];
  const optimizer = tf.train.adam(1e-3);

  const lossOf = (batch: StepBatch): tf.Scalar => {
    const packed = packOutfitItems(batch.items, SLOTS);
    const features = model.itemFeatures(inputs.gather(packed.itemIds), true);
    const z = model.embedOutfits(features, packed.slotIndex, SLOTS, true);
    const scored = tf.slice(z, [0, 0], [shape.B * C, shape.d]);
    const scores = tf.reshape(model.scoreOutfits(scored, batch.scoredUsers), [shape.B, C]);
    const sPos = tf.reshape(tf.slice(scores, [0, 0], [shape.B, 1]), [shape.B]) as Tensor1D;
    const sNeg = tf.slice(scores, [0, 1], [shape.B, shape.M]) as Tensor2D;
    let loss: Tensor = softmaxLoss(sPos, sNeg);
    if (head) {
      const views = tf.reshape(head.forward(tf.slice(z, [shape.B * C, 0], [shape.B * V, shape.d])), [shape.B, V, shape.d]);
      const v1 = tf.reshape(tf.slice(views, [0, 0, 0], [shape.B, 1, shape.d]), [shape.B, shape.d]) as Tensor2D;
      const v2 = tf.reshape(tf.slice(views, [0, 1, 0], [shape.B, 1, shape.d]), [shape.B, shape.d]) as Tensor2D;
      const neg = tf.slice(views, [0, 2, 0], [shape.B, V - 2, shape.d]) as Tensor3D;
      loss = tf.add(loss, tf.mul(contrastiveLoss(v1, v2, neg, 0.2, { inBatch: false }), 0.1));
    }
    return loss as tf.Scalar;
  };

  const losses: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    const t0 = performance.now();
    const loss = optimizer.minimize(() => lossOf(batches[i % 2]), true, varList) as tf.Scalar;
    losses.push((await loss.data())[0]);
    loss.dispose();
    if (i >= opts.warmup) times.push(performance.now() - t0);
  }

  // inference: encode and score 2048 outfits for random users, no gradients (torch: m.eval(), no_grad)
  const inferItems = new Int32Array(shape.inferOutfits * SLOTS);
  for (let i = 0; i < inferItems.length; i++) inferItems[i] = i;
  const inferUsers = new Int32Array(shape.inferOutfits);
  const inferRng = rng.fork('inferUsers');
  for (let i = 0; i < inferUsers.length; i++) inferUsers[i] = inferRng.int(shape.users);
  const table = { slots: SLOTS, users: inferUsers, items: inferItems };
  const inferTimes: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    const scores = await model.scoreTable(inputs, table, { batchSize: shape.inferOutfits });
    if (!Number.isFinite(scores[0])) throw new Error(`inference produced ${scores[0]}`);
    inferTimes.push(performance.now() - t0);
  }

  const stepMs = median(times);
  const inferMs = median(inferTimes.slice(1));
  const params = varList.reduce((p, v) => p + v.size, 0);
  optimizer.dispose();
  model.dispose();
  return {
    engine: `tfjs ${tf.version.tfjs} ${backend}`,
    threads: opts.threads,
    mode: shape.mode,
    cl: shape.cl ? 1 : 0,
    train_samples_per_s: round(shape.B / (stepMs / 1000), 2),
    infer_outfits_per_s: round(shape.inferOutfits / (inferMs / 1000), 1),
    step_ms_median: round(stepMs, 1),
    infer_ms_median: round(inferMs, 1),
    loss_first: round(losses[0], 5),
    loss_last: round(losses[losses.length - 1], 5),
    peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 0),
    params,
    items_per_step: itemsPerStep,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function parseArgs(argv: string[]): { shape: BenchShape; steps: number; warmup: number; seed: number; threads: 1 | 2 } {
  const shape = { ...TORCH_REF_SHAPE };
  let steps = 20;
  let warmup = 3;
  let seed = 0;
  let threads: 1 | 2 = 1;
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
      if (value !== '1' && value !== '2') throw new Error(`--threads must be 1 or 2, got ${value}`);
      threads = value === '1' ? 1 : 2;
    } else throw new Error(`unknown flag ${flag}`);
  }
  return { shape, steps, warmup, seed, threads };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { shape, steps, warmup, seed, threads } = parseArgs(process.argv.slice(2));
  const result = await runTrainStepBench(shape, { steps, warmup, seed, threads });
  console.log(JSON.stringify(result));
  shutdownEngine();
}
