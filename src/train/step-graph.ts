/**
 * One training step as ONE ONNX Runtime call (docs/architecture.md "Engine"): forward pass, the
 * objective (method.md §4) and the gradient of every weight it touches, built from the model's own graph
 * pieces and differentiated by the engine's autodiff.
 *
 * What goes in is only what the step touches: the batch's distinct items (each through the
 * backbone once, then gathered into outfit slots), and the anchor rows of the batch's distinct
 * users (the anchor table stays in a typed array; its rows' gradients come back and the optimizer
 * updates just those rows). One graph is compiled per step shape (batch size, negatives, slots,
 * views) and reused; the last, smaller batch of an epoch gets its own.
 *
 * Row order of the outfit table a step feeds: B positives, B·M negatives (row-major per
 * positive), then with CL the v1 views (B), v2 views (B) and V views per sample (B·V).
 */
import { gradients } from '../engine/autodiff.js';
import { Graph, type Value } from '../engine/graph.js';
import { CompiledGraph, type Feed } from '../engine/runtime.js';
import type { Method } from '../config.js';
import { SHARED_ANCHORS, userVectorsInGraph } from '../model/anchors.js';
import type { WeightOf } from '../model/backbones.js';
import type { ItemBatch } from '../model/inputs.js';
import { gatherIndexFromSlots, weightInputs, type OutfitModel } from '../model/outfit-model.js';
import type { ParamTable } from '../model/params.js';
import { keyBiasFromSlots } from '../model/set-transformer.js';
import { contrastiveLoss, distillationLoss, pairwiseLoss, softmaxLoss } from './objectives.js';
import type { ProjectionHead } from './projection-head.js';

export interface StepShape {
  method: Method;
  /** B, positives per step. */
  batch: number;
  /** M, negatives per positive. */
  negatives: number;
  /** S, slots per packed outfit. */
  slots: number;
  /** CL views of each sample's negatives (0 without CL). */
  viewsPerSample: number;
  /** Item-embedding dropout is on (a mask is fed). */
  dropout: boolean;
  cl: { tau: number; lambda: number; inBatch: boolean } | null;
  /** FND's `distill` form: the weight α of the distillation term (null: shift forms or no FND). */
  distill?: number | null;
}

export interface StepInputs {
  /** The distinct items' inputs, [u, …]. */
  items: ItemBatch;
  /** [u · d] dropout multipliers (0 or 1/(1−rate)), when the shape has dropout. */
  dropMask?: Float32Array;
  /** N·S rows of the distinct items per slot, −1 = padding. */
  slotIndex: Int32Array;
  /** The batch's distinct users' anchor rows, [users · Ku · d]. */
  anchorRows: Float32Array;
  /** Per scored row (B + B·M), its user's position among the distinct users. */
  userIndex: Int32Array;
  /** FND: the shift of each negative's logit, [B · M] (objectives.ts fndShift). */
  negShift?: Float32Array;
  /** FND `distill`: the teacher's log-probabilities, [B · (M+1)] (objectives.ts teacherLogProbs). */
  teacherLogQ?: Float32Array;
}

export interface StepResult {
  total: number;
  main: number;
  cl?: number;
  /** Gradient per weight name (model weights and the CL head's). */
  grads: Map<string, Float32Array>;
  /** Gradient of the fed anchor rows, [users · Ku · d]. */
  anchorGrad: Float32Array;
}

export function stepKey(s: StepShape): string {
  return JSON.stringify(s);
}

export class TrainingStep {
  private constructor(
    private readonly compiled: CompiledGraph,
    private readonly shape: StepShape,
    private readonly model: OutfitModel,
    private readonly head: ProjectionHead | null,
    /** Names of the weights the graph reads, in the order of their gradient outputs. */
    readonly weightNames: readonly string[],
  ) {}

  static async build(model: OutfitModel, head: ProjectionHead | null, itemShape: readonly number[], shape: StepShape): Promise<TrainingStep> {
    const cfg = model.config;
    const { batch: B, negatives: M, slots: S, viewsPerSample: V } = shape;
    const d = cfg.dim;
    const scored = B + B * M;
    const rows = scored + (shape.cl ? 2 * B + B * V : 0);
    const g = new Graph('float32');
    const modelWeights = weightInputs(g, model.params);
    const headWeights = head ? weightInputs(g, head.params) : null;
    const w: WeightOf = (name) => (name.startsWith('cl_head.') && headWeights ? headWeights(name) : modelWeights(name));

    const items = g.input('items', ['items', ...itemShape]);
    const dropMask = shape.dropout ? g.input('dropMask', ['items', d]) : null;
    const gatherIndex = g.input('gatherIndex', [rows * S], 'int64');
    const keyBias = g.input('keyBias', [rows, 1, 1, S]);
    const anchorRows = g.input('anchorRows', ['users', model.anchors.userK, d]);
    const userIndex = g.input('userIndex', [scored], 'int64');
    const fnd = shape.method === 'fnd' || shape.method === 'fnd+cl';
    const distill = fnd && typeof shape.distill === 'number' ? shape.distill : null;
    const negShift = fnd && distill === null ? g.input('negShift', [B, M]) : null;
    const teacherLogQ = distill !== null ? g.input('teacherLogQ', [B, M + 1]) : null;

    const e = model.itemEmbedding(g, w, items, dropMask);
    const z = model.outfitEmbedding(g, w, e, gatherIndex, keyBias, rows, S);
    const hats = model.projectOutfits(g, w, g.slice(z, 0, 0, scored));
    const shared = model.anchors.sharedK > 0 ? w(SHARED_ANCHORS) : null;
    const vectors = g.gather(userVectorsInGraph(g, anchorRows, shared), userIndex);
    const scores = g.mul(g.reduceSum(g.mul(hats, vectors), [1]), 1 / model.scoreDivisor);
    const sPos = g.slice(scores, 0, 0, B);
    const sNegFlat = g.slice(scores, 0, B, scored);
    let main: Value;
    if (shape.method === 'lpae') main = pairwiseLoss(g, sPos, sNegFlat);
    else {
      const sNeg = g.reshape(sNegFlat, [B, M]);
      main = softmaxLoss(g, sPos, negShift ? g.add(sNeg, negShift) : sNeg);
      if (teacherLogQ && distill !== null) main = g.add(main, g.mul(distillationLoss(g, sPos, sNeg, teacherLogQ), distill));
    }
    let total = main;
    let cl: Value | null = null;
    if (shape.cl && head) {
      const views = head.forward(g, w, g.slice(z, 0, scored, rows));
      const v1 = g.slice(views, 0, 0, B);
      const v2 = g.slice(views, 0, B, 2 * B);
      const negViews = g.reshape(g.slice(views, 0, 2 * B, 2 * B + B * V), [B, V, d]);
      cl = contrastiveLoss(g, v1, v2, negViews, shape.cl.tau, { inBatch: shape.cl.inBatch });
      total = g.add(main, g.mul(cl, shape.cl.lambda));
    }
    const weights = g.inputs.filter((i) => i.param).map((i) => i.value);
    const grads = gradients(g, total, [...weights, anchorRows]);
    g.output(total);
    g.output(main);
    if (cl) g.output(cl);
    for (const v of grads) g.output(v);
    // the weight gradients are consumed by the optimizer before the next step: reuse their buffers
    const compiled = await CompiledGraph.create(g, { name: 'outfitrec-train-step', reuseOutputs: true });
    return new TrainingStep(compiled, shape, model, head, weights.map((v) => v.name));
  }

  async run(inputs: StepInputs): Promise<StepResult> {
    const { slots: S } = this.shape;
    const d = this.model.config.dim;
    const u = inputs.items.dims[0];
    const rows = inputs.slotIndex.length / S;
    const feeds: Record<string, Feed> = {
      items: inputs.items,
      gatherIndex: { data: gatherIndexFromSlots(inputs.slotIndex), dims: [inputs.slotIndex.length] },
      keyBias: { data: keyBiasFromSlots(inputs.slotIndex), dims: [rows, 1, 1, S] },
      anchorRows: { data: inputs.anchorRows, dims: [inputs.anchorRows.length / (this.model.anchors.userK * d), this.model.anchors.userK, d] },
      userIndex: { data: BigInt64Array.from(inputs.userIndex, (v) => BigInt(v)), dims: [inputs.userIndex.length] },
    };
    if (this.shape.dropout) {
      if (!inputs.dropMask) throw new Error('TrainingStep: this step shape needs a dropout mask');
      feeds.dropMask = { data: inputs.dropMask, dims: [u, d] };
    }
    if ((this.shape.method === 'fnd' || this.shape.method === 'fnd+cl') && typeof this.shape.distill === 'number') {
      if (!inputs.teacherLogQ) throw new Error('TrainingStep: a distilling FND step needs teacherLogQ');
      feeds.teacherLogQ = { data: inputs.teacherLogQ, dims: [this.shape.batch, this.shape.negatives + 1] };
    } else if (this.shape.method === 'fnd' || this.shape.method === 'fnd+cl') {
      if (!inputs.negShift) throw new Error('TrainingStep: an FND step needs negShift');
      feeds.negShift = { data: inputs.negShift, dims: [this.shape.batch, this.shape.negatives] };
    }
    for (const name of this.weightNames) {
      const table: ParamTable = name.startsWith('cl_head.') && this.head ? this.head.params : this.model.params;
      const p = table.get(name);
      feeds[name] = { data: p.data, dims: p.shape };
    }
    const out = (await this.compiled.run(feeds)) as Float32Array[];
    const hasCl = this.shape.cl !== null;
    const first = hasCl ? 3 : 2;
    const grads = new Map<string, Float32Array>();
    this.weightNames.forEach((name, i) => grads.set(name, out[first + i]));
    return {
      total: out[0][0],
      main: out[1][0],
      ...(hasCl ? { cl: out[2][0] } : {}),
      grads,
      anchorGrad: out[first + this.weightNames.length],
    };
  }

  async release(): Promise<void> {
    await this.compiled.release();
  }
}
