import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { OutfitKeySet } from '../../src/data/outfit-keys.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import type { OutfitTable } from '../../src/data/types.js';
import { UserError } from '../../src/errors.js';
import {
  buildCandidates,
  evaluateCandidates,
  evaluateScorer,
  formatReports,
  randomScorer,
  type OutfitScorer,
} from '../../src/eval/evaluate.js';
import { Rng } from '../../src/rng.js';
import { makeRandomSet, makeSet, rowsOf, tableOf } from '../helpers/make-set.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/fhn-mini', import.meta.url));

/** Scores 1 for an outfit that is one of `positives` (any user, any slot order), else 0. */
function lookupScorer(positives: OutfitTable): OutfitScorer {
  const keys = OutfitKeySet.fromTable(positives);
  return (t) => Float32Array.from({ length: t.users.length }, (_, r) => (keys.has(t.items, r * t.slots) ? 1 : 0));
}

describe('buildCandidates', () => {
  const set = makeRandomSet({ numUsers: 3, counts: [20, 20, 20], perUser: { test: 2 }, seed: 1, withNegatives: true });
  const posi = set.splits.test.posi;

  it("'file': the positives then the file's negatives, labelled 1 then 0", () => {
    const c = buildCandidates(set, 'test', 'file');
    assert.equal(c.negatives, 'file');
    assert.deepEqual(rowsOf(c.table), [...rowsOf(posi), ...rowsOf(set.splits.test.nega)]);
    assert.deepEqual(Array.from(c.labels), [...new Array(6).fill(1), ...new Array(60).fill(0)]);
  });

  it("'random': 10 fresh type-aware mixes per positive for the positive's user, seeded", () => {
    const a = buildCandidates(set, 'test', 'random', new Rng(5));
    const b = buildCandidates(set, 'test', 'random', new Rng(5));
    assert.deepEqual(a, b);
    assert.equal(a.table.users.length, 66);
    for (let r = 6; r < 66; r++) assert.equal(a.table.users[r], posi.users[Math.floor((r - 6) / 10)]);
    assert.notDeepEqual(rowsOf(a.table).slice(6), rowsOf(set.splits.test.nega));
    assert.throws(() => buildCandidates(set, 'test', 'random'), /rng/);
  });

  it("'hard': the nega_hard table, a UserError when the file is absent", () => {
    assert.throws(() => buildCandidates(set, 'test', 'hard'), (e: unknown) => e instanceof UserError && /nega_hard/.test(e.message));
    const withHard = makeSet({
      numUsers: 2,
      counts: [2, 2, 2],
      splits: { test: { posi: [[0, 0, 2, 4], [1, 1, 3, 5]], negaHard: [...new Array(10).fill([0, 1, 3, 5]), ...new Array(10).fill([1, 0, 2, 4])] } },
    });
    const c = buildCandidates(withHard, 'test', 'hard');
    assert.equal(c.negatives, 'hard');
    assert.deepEqual(rowsOf(c.table)[2], [0, 1, 3, 5]);
    assert.deepEqual(rowsOf(c.table)[21], [1, 0, 2, 4]);
  });

  it('rejects an empty split and a negatives table of the wrong length', () => {
    assert.throws(() => buildCandidates(set, 'val', 'file'), UserError);
    const bad = makeSet({ numUsers: 1, counts: [2, 2, 2], splits: { test: { posi: [[0, 0, 2, 4]], nega: [[0, 1, 3, 5]] } } });
    assert.throws(() => buildCandidates(bad, 'test', 'file'), /tuples_test_nega: 1 rows, expected 10/);
  });
});

describe('evaluateScorer', () => {
  const set = makeRandomSet({ numUsers: 40, counts: [200, 200, 200], perUser: { test: 25 }, seed: 2, withNegatives: true });

  it('a scorer that knows the positives is perfect; a constant one is not', async () => {
    const perfect = await evaluateScorer(set, 'test', lookupScorer(set.splits.test.posi), { negatives: 'file' });
    assert.equal(perfect.users, 40);
    assert.equal(perfect.candidates, 40 * 25 * 11);
    assert.equal(perfect.auc, 1);
    assert.equal(perfect.ndcg, 1);
    const constant = await evaluateScorer(set, 'test', (t) => new Float32Array(t.users.length), { negatives: 'file' });
    assert.equal(constant.auc, 0.5);
    assert.ok(constant.ndcg < 0.2, `constant NDCG ${constant.ndcg}`);
  });

  it('random scores sit near the method.md §7 sanity values on resampled negatives', async () => {
    const r = await evaluateScorer(set, 'test', randomScorer(new Rng(3)), { negatives: 'random', rng: new Rng(4) });
    assert.equal(r.negatives, 'random');
    assert.ok(Math.abs(r.auc - 0.5) < 0.03, `AUC ${r.auc}`);
    assert.ok(r.ndcg > 0.25 && r.ndcg < 0.3, `NDCG ${r.ndcg}`);
    assert.equal(r.fitb, undefined);
  });

  it('checks the scorer output', async () => {
    await assert.rejects(evaluateScorer(set, 'test', () => new Float32Array(3), { negatives: 'file' }), /returned 3 scores/);
    await assert.rejects(
      evaluateScorer(set, 'test', (t) => new Float32Array(t.users.length).fill(NaN), { negatives: 'file' }),
      (e: unknown) => e instanceof UserError && /NaN/.test(e.message),
    );
  });

  it('reports FITB on the test split when the set has questions (ties count as wrong)', async () => {
    const s = makeSet({
      numUsers: 1,
      counts: [3, 3, 3],
      splits: { test: { posi: [[0, 0, 3, 6]] } },
      // q1: the answer is the positive, q2: the answer ties with a candidate (scores 1, 1, 0, 0)
      fitb: [[0, 0, 3, 6], [0, 1, 3, 6], [0, 2, 3, 6], [0, 0, 4, 6], [0, 0, 3, 6], [0, 6, 3, 0], [0, 1, 4, 7], [0, 2, 5, 8]],
    });
    const scorer = lookupScorer(tableOf(3, [[0, 0, 3, 6]]));
    const r = await evaluateScorer(s, 'test', scorer, { negatives: 'file' });
    assert.equal(r.fitb, 0.5);
    assert.equal(r.fitbQuestions, 2);
    const noFitb = await evaluateScorer(s, 'test', scorer, { negatives: 'file', fitb: false });
    assert.equal(noFitb.fitb, undefined);
  });
});

describe('evaluateCandidates on the fhn-mini fixture', () => {
  it('hand-checked: a negative that copies the positive ties, and ties go against the positive', async () => {
    const set = loadPolyvoreSet(FIXTURE, '630');
    // user 0: positive top2/bottom2/shoe1; its 3rd file negative is the same outfit -> scores tie.
    //   AUC_0 = (9 + 0.5) / 10 = 0.95; ranks: tied negative first, then the positive at rank 2 (undiscounted),
    //   so NDCG@1 = 0 and NDCG@k = 1 for k = 2..11: NDCG_0 = 10/11.
    // user 1: no negative copies the positive: AUC_1 = NDCG_1 = 1.
    // FITB: both answers are the positives and no other candidate is one: 2/2.
    const candidates = buildCandidates(set, 'test', 'file');
    const r = await evaluateCandidates(set, 'test', candidates, lookupScorer(set.splits.test.posi));
    assert.equal(r.users, 2);
    assert.equal(r.auc, (0.95 + 1) / 2);
    assert.ok(Math.abs(r.ndcg - (10 / 11 + 1) / 2) < 1e-12, `NDCG ${r.ndcg}`);
    assert.equal(r.fitb, 1);
    const hard = await evaluateScorer(set, 'test', lookupScorer(set.splits.test.posi), { negatives: 'hard' });
    assert.equal(hard.negatives, 'hard');
    assert.equal(hard.users, 2);
  });
});

describe('formatReports', () => {
  it('prints one aligned row per scorer, with - for a missing FITB', () => {
    const base = { users: 630, skippedUsers: 0, candidates: 253594, negatives: 'file', split: 'test', set: '630' };
    const text = formatReports([
      { name: 'oracle', report: { ...base, auc: 0.91234, ndcg: 0.80001, fitb: 0.7 } },
      { name: 'random', report: { ...base, auc: 0.5, ndcg: 0.27 } },
    ]);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^scorer\s+set\s+split\s+negatives\s+users\s+AUC\s+NDCG\s+FITB$/);
    assert.match(lines[2], /^oracle\s+630\s+test\s+file\s+630\s+0\.9123\s+0\.8000\s+0\.7000$/);
    assert.match(lines[3], /^random\s+630\s+test\s+file\s+630\s+0\.5000\s+0\.2700\s+-$/);
    assert.equal(lines[2].length, lines[3].length);
  });
});
