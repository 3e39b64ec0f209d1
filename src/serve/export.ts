/**
 * `outfitrec export`: a trained run as self-contained ONNX models that any ONNX runtime loads
 * (Python onnxruntime, ONNX Runtime Web, C++, …), with the run's weights baked in, plus a JSON
 * sidecar that says what goes in and comes out:
 *
 * - `item-encoder.onnx`: item inputs [n, …] → item embeddings e [n, d] (backbone + item embedding,
 *   inference mode);
 * - `outfit-scorer.onnx`: item embeddings [rows, d], each outfit's rows of them [n, S] (−1 =
 *   absent slot) and each outfit's user anchors [n, K, d] → scores [n], so that any user's anchors
 *   (an onboarded user's too) can be given;
 * - `outfit-scorer-users.onnx`: the same with the run's anchor table baked in and user ids [n];
 * - `item-encoder.preprocess.json` (image backbones): the preprocessing that `outfitrec features`
 *   reads to run the item encoder over another catalog's images (method.md §2.4).
 *
 * The graphs are the model's own graph pieces (src/model/outfit-model.ts); the test
 * test/serve/export.test.ts scores with the exported files in a fresh session and matches the
 * run's scores.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Graph, type ConstTensor, type Value } from '../engine/graph.js';
import { OPSET, toOnnx } from '../engine/onnx.js';
import { UserError } from '../errors.js';
import { IMAGE_FIT } from '../data/images.js';
import type { PreprocessJson } from '../data/preprocess.js';
import { PIXEL_MEAN, PIXEL_STD } from '../model/inputs.js';
import { SHARED_ANCHORS, USER_ANCHORS, userVectorsInGraph } from '../model/anchors.js';
import { MASKED_LOGIT } from '../model/set-transformer.js';
import { weightInputs, type OutfitModel } from '../model/outfit-model.js';
import { loadRun } from '../runs/load.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';

export const EXPORT_FILES = {
  itemEncoder: 'item-encoder.onnx',
  outfitScorer: 'outfit-scorer.onnx',
  outfitScorerUsers: 'outfit-scorer-users.onnx',
  sidecar: 'outfitrec-export.json',
  /** How `outfitrec features` feeds images to the item encoder (image backbones only; method.md §2.4). */
  itemEncoderPreprocess: 'item-encoder.preprocess.json',
} as const;

export interface ExportSummary {
  dir: string;
  files: string[];
  slots: number;
}

function bakeFrom(model: OutfitModel): (name: string) => ConstTensor | undefined {
  return (name) => {
    if (!model.params.has(name)) return undefined;
    const p = model.params.get(name);
    return { dtype: 'float32', dims: p.shape, data: p.data };
  };
}

/** The outfit part: slot rows → ĥ [n, d], with padding handled in the graph. */
function outfitHats(g: Graph, model: OutfitModel, embeddings: Value, slotRows: Value, slots: number): Value {
  const w = weightInputs(g, model.params);
  const absent = g.less(slotRows, g.constant([0], [], 'int64'));
  const gatherIndex = g.reshape(g.where(absent, g.constant([0], [], 'int64'), slotRows), ['slotEntries']);
  const keyBias = g.reshape(g.where(absent, MASKED_LOGIT, 0), ['n', 1, 1, slots]);
  const z = model.outfitEmbedding(g, w, embeddings, gatherIndex, keyBias, 'n', slots);
  return model.projectOutfits(g, w, z);
}

/** Writes the run's ONNX models and sidecar into `out` (created; must be empty or absent). */
export async function exportRun(runDir: string, out: string, opts: { root?: string } = {}): Promise<ExportSummary> {
  const dir = resolve(out);
  mkdirSync(dir, { recursive: true });
  const existing = readdirSync(dir).filter((f) => !f.startsWith('.'));
  if (existing.length > 0) throw new UserError(`${dir} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}): export into a new folder`);
  const run = await loadRun(runDir, { root: opts.root, splits: [], inputs: false });
  const model = run.model;
  const cfg = model.config;
  const d = cfg.dim;
  const slots = run.set.slotCategories.length;
  const itemShape = cfg.backbone.kind === 'features' ? [cfg.backbone.inputDim as number] : [run.config.data.imageSize ?? 28, run.config.data.imageSize ?? 28, 3];
  const bake = bakeFrom(model);
  const metadata = { run: run.dir, method: run.config.method, set: run.set.set };

  const encoder = new Graph('float32');
  const items = encoder.input('items', ['n', ...itemShape]);
  encoder.output(model.itemEmbedding(encoder, weightInputs(encoder, model.params), items, null), 'embeddings');

  const scorer = (byUser: boolean): Graph => {
    const g = new Graph('float32');
    const embeddings = g.input('item_embeddings', ['rows', d]);
    const slotRows = g.input('slot_rows', ['n', slots], 'int64');
    const hats = outfitHats(g, model, embeddings, slotRows, slots);
    let vectors: Value;
    const shared = model.anchors.sharedK > 0 ? weightInputs(g, model.params)(SHARED_ANCHORS) : null;
    if (byUser) {
      const users = g.input('users', ['n'], 'int64');
      const table = g.param(USER_ANCHORS, model.params.get(USER_ANCHORS).shape);
      vectors = g.gather(userVectorsInGraph(g, table, shared), users);
    } else {
      const anchors = g.input('user_anchors', ['n', model.anchors.userK, d]);
      vectors = userVectorsInGraph(g, anchors, shared);
    }
    g.output(g.mul(g.reduceSum(g.mul(hats, vectors), [1]), 1 / model.scoreDivisor), 'scores');
    return g;
  };

  const files: Array<[string, Uint8Array]> = [
    [EXPORT_FILES.itemEncoder, toOnnx(encoder, { name: 'outfitrec-item-encoder', bake, metadata })],
    [EXPORT_FILES.outfitScorer, toOnnx(scorer(false), { name: 'outfitrec-outfit-scorer', bake, metadata })],
    [EXPORT_FILES.outfitScorerUsers, toOnnx(scorer(true), { name: 'outfitrec-outfit-scorer-users', bake, metadata })],
  ];
  for (const [name, bytes] of files) writeFileAtomic(join(dir, name), [bytes]);
  const images = cfg.backbone.kind !== 'features';
  const written: string[] = files.map(([f]) => f);
  if (images) {
    // the run's own pixels: the image cache's fit, the backbones' (x/255 − mean)/std, NHWC
    const preprocess: PreprocessJson = {
      size: [itemShape[0], itemShape[1]],
      resize: IMAGE_FIT,
      mean: [PIXEL_MEAN, PIXEL_MEAN, PIXEL_MEAN],
      std: [PIXEL_STD, PIXEL_STD, PIXEL_STD],
      scale: 1 / 255,
      layout: 'NHWC',
      input: 'items',
      output: 'embeddings',
    };
    writeJsonAtomic(join(dir, EXPORT_FILES.itemEncoderPreprocess), preprocess);
    written.push(EXPORT_FILES.itemEncoderPreprocess);
  }
  writeJsonAtomic(join(dir, EXPORT_FILES.sidecar), {
    format: 'outfitrec-export-1',
    opset: OPSET,
    run: run.dir,
    method: run.config.method,
    set: run.set.set,
    categories: run.set.slotCategories,
    dim: d,
    anchorsPerUser: model.anchors.userK,
    sharedAnchors: model.anchors.sharedK,
    users: cfg.numUsers,
    scoreDivisor: model.scoreDivisor,
    preprocessing: images
      ? {
          kind: 'images',
          layout: 'NHWC',
          size: itemShape[0],
          channels: 'RGB',
          scale: 'x = (pixel / 255 - 0.5) / 0.25',
          resize: `images are resized to ${itemShape[0]}×${itemShape[1]} as the run's data loader does (docs/method.md §6)`,
        }
      : { kind: 'features', dim: itemShape[0], note: 'the precomputed feature vector of the item, as in the run\'s --features file' },
    models: {
      [EXPORT_FILES.itemEncoder]: {
        inputs: [{ name: 'items', dtype: 'float32', shape: ['n', ...itemShape] }],
        outputs: [{ name: 'embeddings', dtype: 'float32', shape: ['n', d], meaning: 'item embeddings e' }],
      },
      [EXPORT_FILES.outfitScorer]: {
        inputs: [
          { name: 'item_embeddings', dtype: 'float32', shape: ['rows', d], meaning: 'item-encoder outputs' },
          { name: 'slot_rows', dtype: 'int64', shape: ['n', slots], meaning: 'per outfit, the row of item_embeddings in each slot; -1 = absent slot' },
          { name: 'user_anchors', dtype: 'float32', shape: ['n', model.anchors.userK, d], meaning: "each outfit's user's own anchors" },
        ],
        outputs: [{ name: 'scores', dtype: 'float32', shape: ['n'], meaning: 's(u, o)' }],
      },
      [EXPORT_FILES.outfitScorerUsers]: {
        inputs: [
          { name: 'item_embeddings', dtype: 'float32', shape: ['rows', d] },
          { name: 'slot_rows', dtype: 'int64', shape: ['n', slots] },
          { name: 'users', dtype: 'int64', shape: ['n'], meaning: `the run's user ids 0..${cfg.numUsers - 1}` },
        ],
        outputs: [{ name: 'scores', dtype: 'float32', shape: ['n'], meaning: 's(u, o)' }],
      },
    },
  });
  await model.dispose();
  return { dir, files: [...written, EXPORT_FILES.sidecar], slots };
}
