/**
 * method.md §8.5 / §7 "Report also" (the paper's Table 5): parameters, memory and inference time of the
 * teacher and the student. Parameter counts, memory and speed do not depend on the weights' values,
 * so both models are built fresh with the grid's configuration (no training needed) and run on real
 * test outfits of the first set; the training step time comes from the main table's runs when they
 * exist.
 */
import { performance } from 'node:perf_hooks';
import { parseRunConfig, resolveModelConfig } from '../../config.js';
import { concatTables, selectRows } from '../../data/batches.js';
import { loadPolyvoreSet } from '../../data/polyvore.js';
import { OutfitModel } from '../../model/outfit-model.js';
import { Rng } from '../../rng.js';
import { buildItemInputs } from '../../runs/load.js';
import { readCellResult } from './cells.js';
import { cached, type ExperimentContext } from './context.js';
import { cellRunConfig, makeCell, type TrainCell } from './grid.js';
import type { ReportSection, TableValue } from './report.js';

/** Outfits timed per model, and the scoring batch. */
const TIMED_OUTFITS = 2048;
const INFERENCE_BATCH = 256;
const REPEATS = 3;

interface EfficiencyRow {
  role: 'teacher' | 'student';
  width: number;
  params: Record<string, number>;
  /** Weights in bytes (float32). */
  weightBytes: number;
  /** Growth of the process's resident memory over the first scoring of one batch (inference sessions and activations). */
  inferenceRssBytes: number;
  /** Median over repeats of the wall time per outfit, scoring `outfits` outfits in batches. */
  msPerOutfit: number;
  outfits: number;
  batch: number;
  engine: string;
}

async function measure(ctx: ExperimentContext, role: 'teacher' | 'student', cell: TrainCell): Promise<EfficiencyRow> {
  // softmax cells have no teacher, so runDirOf is never asked
  const cfg = parseRunConfig(cellRunConfig(cell, ctx.plan, { root: ctx.paths.root, runDirOf: () => '' }));
  const set = loadPolyvoreSet(ctx.paths.root, cell.set, { splits: ['test'] });
  const model = OutfitModel.create(resolveModelConfig(cfg, { numUsers: set.numUsers }), new Rng(cell.seed).fork('model'));
  try {
    const inputs = await buildItemInputs(cfg, set);
    const rssBefore = process.memoryUsage().rss;
    const test = set.splits.test;
    const all = concatTables([test.posi, test.nega]);
    const n = Math.min(TIMED_OUTFITS, all.users.length);
    const table = selectRows(all, Int32Array.from({ length: n }, (_, i) => i));
    const batch = selectRows(table, Int32Array.from({ length: Math.min(INFERENCE_BATCH, n) }, (_, i) => i));
    await model.scoreTable(inputs, batch); // warm-up: sessions created, buffers allocated
    const inferenceRssBytes = process.memoryUsage().rss - rssBefore;
    const times: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const t0 = performance.now();
      await model.scoreTable(inputs, table);
      times.push((performance.now() - t0) / n);
    }
    times.sort((a, b) => a - b);
    const params = { ...model.paramCounts() };
    return {
      role,
      width: cell.width,
      params,
      weightBytes: params.total * 4,
      inferenceRssBytes,
      msPerOutfit: times[Math.floor(times.length / 2)],
      outfits: n,
      batch: INFERENCE_BATCH,
      engine: 'ONNX Runtime, 1 thread',
    };
  } finally {
    await model.dispose();
  }
}

export async function buildEfficiencySection(ctx: ExperimentContext): Promise<ReportSection> {
  const { plan, paths } = ctx;
  const set = plan.sets[0];
  const teacher = makeCell(plan, { set, method: 'softmax', width: plan.teacherWidth, seed: plan.seeds[0] });
  const student = makeCell(plan, { set, method: 'softmax', width: plan.studentWidth, seed: plan.seeds[0] });
  const measured = await cached(ctx, `efficiency_${set}_w${plan.teacherWidth}_w${plan.studentWidth}`, async () => [
    await measure(ctx, 'teacher', teacher),
    await measure(ctx, 'student', student),
  ]);
  const rows: Array<Record<string, TableValue>> = measured.map((m) => {
    // training speed from the main table's runs, when this grid trained them
    const trainedCell = readCellResult(paths, m.role === 'teacher' ? teacher : student);
    return {
      model: `${m.role} (width ${m.width})`,
      backbone: m.params.backbone,
      encoder: m.params.itemEmbedding + m.params.setTransformer + m.params.projection,
      anchors: m.params.anchors,
      total: m.params.total,
      weightsMb: m.weightBytes / 2 ** 20,
      rssMb: m.inferenceRssBytes / 2 ** 20,
      msPerOutfit: m.msPerOutfit,
      trainStep: trainedCell ? trainedCell.secondsPerStep : null,
    };
  });
  const ratio = (key: 'backbone' | 'total') => (measured[0].params[key] / measured[1].params[key]).toFixed(2);
  return {
    heading: 'Efficiency',
    intro:
      `Teacher vs student on set ${set} (the paper's Table 5): the backbone is ${ratio('backbone')}× smaller in the student, ` +
      `the whole model ${ratio('total')}× (the anchors, one set per user, do not shrink).`,
    tables: [
      {
        id: 'efficiency',
        title: 'Parameters, memory and inference time (docs/method.md §8.5)',
        caption:
          `Encoder = item embedding + Set Transformer + projection. RSS growth = resident memory after the first scoring of ` +
          `one batch of ${measured[0].batch} outfits minus before it (inference sessions and activations; weights are counted apart). Inference: wall time per outfit scoring ${measured[0].outfits} test outfits in batches of ` +
          `${measured[0].batch} on ${measured[0].engine}, median of ${REPEATS}, images decoded beforehand. Train s/step: mean over ` +
          'the main-table run (validation included), when that run exists.',
        columns: [
          { key: 'model', label: 'Model' },
          { key: 'backbone', label: 'Backbone params' },
          { key: 'encoder', label: 'Encoder params' },
          { key: 'anchors', label: 'Anchor params' },
          { key: 'total', label: 'Total params' },
          { key: 'weightsMb', label: 'Weights MiB', digits: 2 },
          { key: 'rssMb', label: 'RSS growth MiB (inference)', digits: 2 },
          { key: 'msPerOutfit', label: 'ms/outfit', digits: 4 },
          { key: 'trainStep', label: 'Train s/step', digits: 3 },
        ],
        rows,
      },
    ],
    charts: [],
  };
}
