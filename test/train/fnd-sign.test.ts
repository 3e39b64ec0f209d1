/**
 * The sign of FND end to end (method.md §4 Eq. S, "The sign of α"), on the shared tiny run
 * (test/serve/tiny-run.ts) as the teacher: φ as FndTeacher computes it from the teacher's own
 * scores (a negative the teacher scores above the user's mean positive is inside the radius,
 * φ > 0), and the shift as the training graph applies it (α·φ added to the negative's logit, so
 * α > 0 raises the loss of a suspected false negative). Flipping the sign of φ, of the radius, of
 * the shift or of its use in the graph makes one of these fail.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { concatTables, packOutfits, selectRows, type TrainingBatch } from '../../src/data/batches.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import type { OutfitTable, PolyvoreSet } from '../../src/data/types.js';
import { dedupe } from '../../src/model/anchors.js';
import { FndTeacher } from '../../src/train/fnd.js';
import { distillationLoss, fndShift, teacherLogProbs } from '../../src/train/objectives.js';
import { loadRun, type LoadedRun } from '../../src/runs/load.js';
import { TrainingStep } from '../../src/train/step-graph.js';
import { runGraph64 } from '../helpers/run-graph.js';
import { tinyRun } from '../serve/tiny-run.js';

let set: PolyvoreSet;
let run: LoadedRun;
/** User 0's training positives. */
let own: OutfitTable;
let ownRows: Int32Array;

before(async () => {
  const tiny = await tinyRun();
  set = loadPolyvoreSet(tiny.root, '630');
  run = await loadRun(tiny.runDir, { loadedSet: set });
  const train = set.splits.train.posi;
  ownRows = Int32Array.from(Array.from(train.users.keys()).filter((r) => train.users[r] === 0));
  own = selectRows(train, ownRows);
});

/** A batch of one positive (user 0's first training positive) whose negatives are all of user 0's training positives. */
function ownBatch(): TrainingBatch {
  return { rows: ownRows.subarray(0, 1), users: Int32Array.of(0), positives: selectRows(own, [0]), negatives: own };
}

describe('FND sign (method.md §4)', () => {
  it("φ > 0 exactly for the negatives the teacher scores above the user's mean training positive (radius mean), or above the positive (sample)", async () => {
    const s = await run.model.scoreTable(run.inputs!, own);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    for (const mode of ['mean', 'sample'] as const) {
      const teacher = await FndTeacher.load(run.dir, set, mode, { inputs: run.inputs!, sameInputs: () => true });
      try {
        const phi = await teacher.falseNegativeness(ownBatch());
        const centre = mode === 'mean' ? mean : s[0];
        assert.equal(phi.length, s.length);
        for (let j = 0; j < s.length; j++) assert.ok(Math.abs(phi[j] - (s[j] - centre)) < 1e-4, `${mode}: φ_${j} = ${phi[j]}, s − centre = ${s[j] - centre}`);
        const best = s.indexOf(Math.max(...s));
        const worst = s.indexOf(Math.min(...s));
        assert.ok(phi[best] > 0, `${mode}: the teacher's favourite is a suspected false negative (φ ${phi[best]})`);
        assert.ok(phi[worst] < 0, `${mode}: the teacher's least liked is a plain negative (φ ${phi[worst]})`);
      } finally {
        await teacher.dispose();
      }
    }
  });

  it('the training graph adds α·φ to the negative logits: α > 0 raises the loss of a suspected false negative, α < 0 lowers it', async () => {
    const m = 3;
    const positives = selectRows(own, [0]);
    const negatives = selectRows(own, [1, 2, 3]);
    const scores = await run.model.scoreTable(run.inputs!, concatTables([positives, negatives]));
    const packed = packOutfits(concatTables([positives, negatives]));
    const { unique, inverse } = dedupe(Int32Array.of(0, 0, 0, 0));
    const step = await TrainingStep.build(run.model, null, run.inputs!.itemShape, {
      method: 'fnd',
      batch: 1,
      negatives: m,
      slots: packed.slots,
      viewsPerSample: 0,
      dropout: false,
      cl: null,
    });
    const phi = Float32Array.of(0.8, 0, 0); // the first negative inside the radius
    const loss = async (alpha: number): Promise<number> =>
      (
        await step.run({
          items: run.inputs!.gather(packed.uniqueItems),
          slotIndex: packed.slotIndex,
          anchorRows: run.model.anchors.gatherRows(unique),
          userIndex: inverse,
          negShift: fndShift(phi, alpha, 'shift'),
        })
      ).main;
    const byAlpha = new Map<number, number>();
    for (const alpha of [1, 0, -1]) {
      const got = await loss(alpha);
      // by hand: L_T(s⁺, s⁻ + α·φ)
      const logits = [scores[0], ...Array.from({ length: m }, (_, j) => scores[1 + j] + alpha * phi[j])];
      const max = Math.max(...logits);
      const hand = max + Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0)) - scores[0];
      assert.ok(Math.abs(got - hand) < 1e-4, `α = ${alpha}: graph loss ${got}, by hand ${hand}`);
      byAlpha.set(alpha, got);
    }
    assert.ok(byAlpha.get(1)! > byAlpha.get(0)! && byAlpha.get(0)! > byAlpha.get(-1)!, `losses at α = 1, 0, −1: ${[...byAlpha.values()]}`);
  });

  it('distill: KL(teacher ‖ student) is 0 when the student scores as the teacher does (up to a constant), positive otherwise, by hand', async () => {
    const tPos = Float32Array.of(1, -0.5);
    const tNeg = Float32Array.of(0.2, 0.9, -1, 0, 0.3, 2);
    const logQ = teacherLogProbs(tPos, tNeg);
    for (let b = 0; b < 2; b++) {
      const total = Array.from(logQ.subarray(b * 4, b * 4 + 4)).reduce((a, l) => a + Math.exp(l), 0);
      assert.ok(Math.abs(total - 1) < 1e-6, `row ${b} of q sums to ${total}`);
    }
    const klOf = async (sPos: number[], sNeg: number[]): Promise<number> =>
      (
        await runGraph64((g) => [
          distillationLoss(g, g.constant(Float64Array.from(sPos), [2]), g.constant(Float64Array.from(sNeg), [2, 3]), g.constant(Float64Array.from(logQ), [2, 4])),
        ])
      )[0][0];
    const same = await klOf([1 + 3, -0.5 - 1], [0.2 + 3, 0.9 + 3, -1 + 3, 0 - 1, 0.3 - 1, 2 - 1]);
    assert.ok(Math.abs(same) < 1e-6, `KL of a shifted copy: ${same}`);
    const sPos = [0, 0];
    const sNeg = [1, 0, 0, 0, -1, 0];
    let hand = 0;
    for (let b = 0; b < 2; b++) {
      const logits = [sPos[b], ...sNeg.slice(b * 3, b * 3 + 3)];
      const lse = Math.log(logits.reduce((a, l) => a + Math.exp(l), 0));
      for (let i = 0; i < 4; i++) hand += Math.exp(logQ[b * 4 + i]) * (logQ[b * 4 + i] - (logits[i] - lse));
    }
    hand /= 2;
    const got = await klOf(sPos, sNeg);
    assert.ok(hand > 0 && Math.abs(got - hand) < 1e-6, `KL ${got} vs by hand ${hand}`);
  });
});
