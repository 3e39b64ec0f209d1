/**
 * Whole-model gradient checks (docs/architecture.md §5): the model's own graph pieces, in a float64
 * graph, for every objective, on variable-length outfits (519/32-style rows with an absent second
 * top, so the attention masks are exercised), against central finite differences. The perturbed
 * tensors are weights from every part of the model (backbone, item embedding, Set Transformer,
 * projection) and the fed anchor rows; the other weights are constants.
 */
import { describe, test } from 'node:test';
import type { Graph, Value } from '../../src/engine/graph.js';
import { userVectorsInGraph } from '../../src/model/anchors.js';
import { OutfitModel, packOutfitItems, gatherIndexFromSlots } from '../../src/model/outfit-model.js';
import { keyBiasFromSlots } from '../../src/model/set-transformer.js';
import { Rng } from '../../src/rng.js';
import { contrastiveLoss, distillationLoss, fndShift, pairwiseLoss, softmaxLoss, teacherLogProbs } from '../../src/train/objectives.js';
import { checkGradients } from '../engine/onnx-grad-check.js';

const F = 5;
const model = OutfitModel.create(
  { backbone: { kind: 'features', width: 1, inputDim: F, outDim: 6 }, dim: 8, heads: 2, anchors: 3, dropout: 0, numUsers: 3 },
  new Rng(3),
);
// B = 2 samples × (1 positive + M = 2 negatives), slots [top, top|absent, bottom, shoe]
const slots = 4;
const items = [0, 1, 2, 3, 4, -1, 5, 6, 0, 7, 2, 6, 1, -1, 5, 3, 4, 0, 2, 6, 7, -1, 5, 3];
const packed = packOutfitItems(Int32Array.from(items), slots);
const n = items.length / slots;
const featureRng = new Rng(11);
const itemInputs = Array.from({ length: packed.itemIds.length * F }, () => featureRng.normal());
// users of the scored rows: positives first (samples 0, 1), then their negatives
const users = [0, 2, 0, 0, 2, 2];
const perturbed = ['backbone.fc1.weight', 'embed.linear.weight', 'encoder.sab1.k.weight', 'encoder.pma.seed', 'encoder.sab2.ln1.weight', 'projection.weight'];
const shapes = [...perturbed.map((name) => [...model.params.get(name).shape]), [2, model.anchors.userK, 8]];
const anchorRows = model.anchors.gatherRows(Int32Array.of(0, 2));
const init = (i: number, count: number): number[] =>
  i < perturbed.length ? Array.from(model.params.get(perturbed[i]).data) : Array.from(anchorRows).slice(0, count);

/** Scores of the six rows and the outfit embeddings z, from the model's pieces. */
function forward(g: Graph, xs: Value[]): { scores: Value; z: Value } {
  const w = (name: string): Value => {
    const k = perturbed.indexOf(name);
    if (k >= 0) return xs[k];
    const p = model.params.get(name);
    return g.constant(Float64Array.from(p.data), p.shape);
  };
  const inputs = g.constant(Float64Array.from(itemInputs), [packed.itemIds.length, F]);
  const e = model.itemEmbedding(g, w, inputs, null);
  const idx = g.constant(gatherIndexFromSlots(packed.slotIndex), [packed.slotIndex.length], 'int64');
  const bias = g.constant(Float64Array.from(keyBiasFromSlots(packed.slotIndex)), [n, 1, 1, packed.slots]);
  const z = model.outfitEmbedding(g, w, e, idx, bias, n, packed.slots);
  const userIndex = g.constant(users.map((u) => (u === 0 ? 0 : 1)), [n], 'int64');
  const vectors = g.gather(userVectorsInGraph(g, xs[perturbed.length], null), userIndex);
  const scores = g.mul(g.reduceSum(g.mul(model.projectOutfits(g, w, z), vectors), [1]), 1 / model.scoreDivisor);
  return { scores, z };
}

const objectives: Record<string, (g: Graph, s: Value, z: Value) => Value> = {
  softmax: (g, s) => softmaxLoss(g, g.slice(s, 0, 0, 2), g.reshape(g.slice(s, 0, 2, 6), [2, 2])),
  'fnd (shift, α = −1)': (g, s) => {
    const shift = fndShift(Float32Array.of(0.4, -0.7, 1.2, 0.1), -1, 'shift');
    return softmaxLoss(g, g.slice(s, 0, 0, 2), g.add(g.reshape(g.slice(s, 0, 2, 6), [2, 2]), g.constant(Float64Array.from(shift), [2, 2])));
  },
  'fnd (indicator, α = 2)': (g, s) => {
    const shift = fndShift(Float32Array.of(0.4, -0.7, 1.2, 0.1), 2, 'indicator');
    return softmaxLoss(g, g.slice(s, 0, 0, 2), g.add(g.reshape(g.slice(s, 0, 2, 6), [2, 2]), g.constant(Float64Array.from(shift), [2, 2])));
  },
  'fnd (distill, α = 1)': (g, s) => {
    const logQ = teacherLogProbs(Float32Array.of(0.3, -0.2), Float32Array.of(0.4, -0.7, 1.2, 0.1));
    const sPos = g.slice(s, 0, 0, 2);
    const sNeg = g.reshape(g.slice(s, 0, 2, 6), [2, 2]);
    return g.add(softmaxLoss(g, sPos, sNeg), distillationLoss(g, sPos, sNeg, g.constant(Float64Array.from(logQ), [2, 3])));
  },
  'lpae (pairwise)': (g, s) => pairwiseLoss(g, g.slice(s, 0, 0, 2), g.slice(s, 0, 2, 6)),
  'contrastive (in-batch)': (g, _s, z) => contrastiveLoss(g, g.slice(z, 0, 0, 2), g.slice(z, 0, 2, 4), g.reshape(g.slice(z, 0, 4, 6), [2, 1, 8]), 0.2, { inBatch: true }),
};

describe('whole-model gradients against finite differences (float64, padded slots)', () => {
  for (const [name, loss] of Object.entries(objectives)) {
    test(name, async () => {
      await checkGradients(name, {
        shapes,
        init,
        maxProbes: 8,
        tol: 1e-5,
        build: (g, xs) => {
          const { scores, z } = forward(g, xs);
          return loss(g, scores, z);
        },
      });
    });
  }
});
