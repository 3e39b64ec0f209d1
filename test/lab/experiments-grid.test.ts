import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunConfig } from '../../src/config.js';
import { EXPERIMENT_NAMES, cellKey, cellRunConfig, cellsOf, makeCell, planGrid, teacherOf, withTeachers } from '../../src/lab/experiments/grid.js';
import { parseExperimentNames } from '../../src/lab/experiments/runner.js';

const plan = planGrid({ quick: false, seeds: 2 });
const e = plan.epochs;

test('cellKey: every knob that changes training changes the key; shared runs share it', () => {
  // the default grid trains on all training positives: no share in the key
  assert.equal(plan.trainFraction, 1);
  const fnd = makeCell(plan, { set: '630', method: 'fnd', seed: 0 });
  assert.equal(cellKey(fnd), `630_fnd_w0.125_am1_b64_e${e}_s0`);
  assert.equal(cellKey(makeCell(plan, { set: '630', method: 'fnd', seed: 0, alpha: 1 })), `630_fnd_w0.125_a1_b64_e${e}_s0`);
  assert.equal(
    cellKey(makeCell(plan, { set: '519', method: 'fnd+cl', seed: 1, augment: 'erase', negatives: 'mixed' })),
    `519_fnd-cl_w0.125_am1_aug-erase_hardneg_b64_e${e}_s1`,
  );
  // a different share of the training data is a different run
  assert.notEqual(cellKey(fnd), cellKey({ ...fnd, trainFraction: 0.2 }));
  assert.equal(cellKey({ ...fnd, trainFraction: 0.2 }), `630_fnd_w0.125_am1_b64_e${e}_f0.2_s0`);
  // the wide softmax cell is the teacher, trained longer than the students
  const teacher = makeCell(plan, { set: '630', method: 'softmax', width: plan.teacherWidth, seed: 0 });
  assert.ok(plan.teacherEpochs > plan.epochs);
  assert.equal(cellKey(teacher), `630_softmax_w${plan.teacherWidth}_b64_e${plan.teacherEpochs}_s0`);
  assert.equal(cellKey(teacherOf(fnd, plan) as typeof fnd), cellKey(teacher));
  assert.equal(makeCell(plan, { set: '630', method: 'softmax', seed: 0 }).epochs, plan.epochs);
  // the main table's fnd+cl is the augmentation ablation's "both" and the batch ablation's default batch
  const main = makeCell(plan, { set: '630', method: 'fnd+cl', seed: 0 });
  assert.equal(cellKey(main), cellKey(makeCell(plan, { set: '630', method: 'fnd+cl', seed: 0, augment: 'both', batchSize: 64 })));
  // LPAE defaults to the wide backbone, everything else to the student's
  assert.equal(makeCell(plan, { set: '630', method: 'lpae', seed: 0 }).width, plan.teacherWidth);
  assert.equal(makeCell(plan, { set: '630', method: 'softmax+cl', seed: 0 }).width, plan.studentWidth);
});

test('withTeachers: teachers first, each cell once, students point at the shared teacher', () => {
  const cells = withTeachers(EXPERIMENT_NAMES.flatMap((n) => cellsOf(n, plan)), plan);
  const keys = cells.map(cellKey);
  assert.equal(new Set(keys).size, keys.length, 'no duplicate cells');
  for (const [i, c] of cells.entries()) {
    const t = teacherOf(c, plan);
    if (!t) continue;
    const ti = keys.indexOf(cellKey(t));
    assert.ok(ti >= 0 && ti < i, `${keys[i]}: its teacher ${cellKey(t)} comes first`);
    assert.equal(t.method, 'softmax');
    assert.equal(t.width, plan.teacherWidth);
  }
  // every seed runs the method-comparing cells; hard negatives and the ablations the first seed only
  assert.deepEqual(plan.ablationSeeds, [0]);
  const comparing = withTeachers((['main', 'coldstart', 'fn-analysis'] as const).flatMap((n) => cellsOf(n, plan)), plan);
  const perSeed = comparing.filter((c) => c.seed === 0).length;
  assert.equal(comparing.length, perSeed * plan.seeds.length);
  assert.deepEqual(new Set(cells.filter((c) => c.seed === 1).map(cellKey)), new Set(comparing.filter((c) => c.seed === 1).map(cellKey)));
  for (const name of ['hardneg', 'alpha', 'augment', 'size', 'batch'] as const) {
    assert.deepEqual([...new Set(cellsOf(name, plan).map((c) => c.seed))], [0], `${name} trains seed 0 only`);
  }
  assert.equal(cellsOf('efficiency', plan).length, 0);
  // the default grid: 3 seeds for the method-comparing tables, 53 cells (the grid of docs/report-grid)
  const def = planGrid({ quick: false });
  assert.deepEqual(def.seeds, [0, 1, 2]);
  assert.equal(withTeachers(EXPERIMENT_NAMES.flatMap((n) => cellsOf(n, def)), def).length, 53);
});

test('cellRunConfig: a valid run config that names the teacher run folder', () => {
  const fndcl = makeCell(plan, { set: '519', method: 'fnd+cl', seed: 1, alpha: -1, augment: 'replace' });
  const raw = cellRunConfig(fndcl, plan, { root: '/data', runDirOf: (c) => `/grid/runs/${cellKey(c)}` });
  const cfg = parseRunConfig(raw);
  assert.equal(cfg.method, 'fnd+cl');
  assert.equal(cfg.fnd.teacher, `/grid/runs/519_softmax_w${plan.teacherWidth}_b64_e${plan.teacherEpochs}_s1`);
  assert.equal(cfg.fnd.alpha, -1);
  assert.equal(cfg.cl.augment, 'replace');
  assert.equal(cfg.seed, 1);
  assert.equal(cfg.negatives.perPositive, 10);
});

test('parseExperimentNames: canonical order, all expands, unknown names are user errors', () => {
  assert.deepEqual(parseExperimentNames(['alpha', 'main']), ['main', 'alpha']);
  assert.deepEqual(parseExperimentNames(['all']), [...EXPERIMENT_NAMES]);
  assert.throws(() => parseExperimentNames(['mian']), /unknown experiment 'mian'/);
});
