import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aucOfUser, bootstrapMeanInterval, evaluateRanking, fitbAccuracy, ndcgOfUser } from '../../src/eval/metrics.js';
import { Rng } from '../../src/rng.js';

const close = (actual: number, expected: number, eps = 1e-12): void =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

/** The O(p·n) definition of method.md §7, as an independent check of the sort-based version. */
function bruteAuc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const a of pos) for (const b of neg) s += a > b ? 1 : a === b ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

/** NDCG written out per cut-off k with a separate worst-case tie order (negatives first), binary labels. */
function bruteNdcg(scores: number[], labels: number[]): number {
  const idx = scores.map((_, i) => i);
  idx.sort((a, b) => (scores[a] !== scores[b] ? scores[b] - scores[a] : labels[a] - labels[b]));
  const positives = labels.filter((y) => y === 1).length;
  const n = scores.length;
  let total = 0;
  for (let k = 1; k <= n; k++) {
    let dcg = 0;
    let idcg = 0;
    for (let i = 1; i <= k; i++) {
      const d = i <= 2 ? 1 : Math.log2(i);
      dcg += labels[idx[i - 1]] / d;
      if (i <= positives) idcg += 1 / d;
    }
    total += dcg / idcg;
  }
  return total / n;
}

describe('aucOfUser', () => {
  it('counts ties as one half (hand-computed)', () => {
    // pos 0.9 beats all three negatives: 3 wins; pos 0.4 loses to 0.5, beats 0.1, ties 0.4: 1 + 0.5.
    // (3 + 1.5) / (2 * 3) = 0.75
    close(aucOfUser([0.9, 0.4], [0.5, 0.1, 0.4]), 0.75);
  });
  it('single positive: share of negatives below it', () => {
    // 0.3 beats 0.1 and 0.2, loses to 0.5: 2/3
    close(aucOfUser([0.3], [0.1, 0.5, 0.2]), 2 / 3);
  });
  it('perfect, inverted and constant scorers', () => {
    assert.equal(aucOfUser([2, 3], [0, 1]), 1);
    assert.equal(aucOfUser([0, 1], [2, 3]), 0);
    assert.equal(aucOfUser([5, 5, 5], [5, 5, 5, 5]), 0.5);
  });
  it('is NaN without positives or negatives', () => {
    assert.ok(Number.isNaN(aucOfUser([], [1])));
    assert.ok(Number.isNaN(aucOfUser([1], [])));
  });
  it('matches the pairwise definition on random scores with many ties', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 50; trial++) {
      const pos = Array.from({ length: 1 + rng.int(12) }, () => rng.int(5));
      const neg = Array.from({ length: 1 + rng.int(40) }, () => rng.int(5));
      close(aucOfUser(pos, neg), bruteAuc(pos, neg), 1e-12);
    }
  });
  it('rejects NaN scores', () => {
    assert.throws(() => aucOfUser([NaN], [1]), /NaN/);
  });
});

describe('ndcgOfUser', () => {
  it('hand-computed example with a tie against the positive', () => {
    // scores [0.9, 0.5, 0.4, 0.4, 0.1], labels [1, 0, 1, 0, 0]; the tied 0.4 negative ranks first:
    // ranked labels 1,0,0,1,0; discounts 1, 1, log2 3, 2, log2 5
    // DCG@k  = 1, 1, 1, 1 + 1/2 = 1.5, 1.5
    // IDCG@k = 1, 2, 2, 2, 2      (ideal labels 1,1,0,0,0)
    // NDCG@k = 1, .5, .5, .75, .75 -> mean 3.5 / 5 = 0.7
    close(ndcgOfUser([0.9, 0.5, 0.4, 0.4, 0.1], [1, 0, 1, 0, 0]), 0.7);
  });
  it('ranks 1 and 2 are both undiscounted', () => {
    // scores put the single positive second: ranked labels 0,1,0,0
    // DCG@k = 0, 1, 1, 1 (rank 2 discount log2(max(2,2)) = 1); IDCG@k = 1,1,1,1 -> (0+1+1+1)/4 = 0.75
    close(ndcgOfUser([0.3, 0.1, 0.5, 0.2], [1, 0, 0, 0]), 0.75);
  });
  it('a perfect order gives 1', () => {
    close(ndcgOfUser([3, 2, 1, 0], [1, 1, 0, 0]), 1);
  });
  it('a constant scorer gets the worst-order value, whatever the input order', () => {
    // 1 positive, 2 negatives, all scores 0: negatives first, ranked labels 0,0,1
    // DCG@k = 0, 0, 1/log2 3; IDCG@k = 1, 1, 1 -> (1/log2 3) / 3 = 0.2103099...
    const expected = 1 / Math.log2(3) / 3;
    close(ndcgOfUser([0, 0, 0], [1, 0, 0]), expected);
    close(ndcgOfUser([0, 0, 0], [0, 0, 1]), expected);
    // and equals the value of an explicitly inverted scorer
    close(ndcgOfUser([7, 7, 7, 7, 7], [1, 0, 1, 0, 0]), ndcgOfUser([0, 1, 0, 1, 1], [1, 0, 1, 0, 0]));
  });
  it('matches a per-cut-off implementation on random scores with ties', () => {
    const rng = new Rng(12);
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + rng.int(30);
      const labels = Array.from({ length: n }, (_, i) => (i === 0 || rng.next() < 0.2 ? 1 : 0));
      const scores = Array.from({ length: n }, () => rng.int(4));
      close(ndcgOfUser(scores, labels), bruteNdcg(scores, labels), 1e-12);
    }
  });
  it('is NaN without positives; rejects mismatched lengths', () => {
    assert.ok(Number.isNaN(ndcgOfUser([1, 2], [0, 0])));
    assert.throws(() => ndcgOfUser([1, 2], [1]), RangeError);
  });
});

describe('evaluateRanking', () => {
  it('macro-averages over users and skips users without positives or negatives', () => {
    // user 5: pos 0.9, 0.4 vs neg 0.5, 0.1, 0.4 -> AUC 0.75 (see aucOfUser test), NDCG 0.7 (see ndcgOfUser test)
    // user 2: pos 0.3 vs neg 0.1, 0.5, 0.2 -> AUC 2/3, NDCG 0.75
    // user 9: positives only; user 4: negatives only -> skipped
    const rows: Array<[number, number, number]> = [
      [5, 0.9, 1], [2, 0.3, 1], [5, 0.5, 0], [9, 0.2, 1], [5, 0.4, 1], [2, 0.1, 0],
      [5, 0.4, 0], [4, 0.3, 0], [2, 0.5, 0], [5, 0.1, 0], [2, 0.2, 0],
    ];
    const users = Int32Array.from(rows.map((r) => r[0]));
    const scores = Float32Array.from(rows.map((r) => r[1]));
    const labels = Uint8Array.from(rows.map((r) => r[2]));
    const result = evaluateRanking(users, scores, labels);
    assert.equal(result.users, 2);
    assert.equal(result.skippedUsers, 2);
    assert.deepEqual(result.perUser.map((u) => [u.user, u.positives, u.negatives]), [[2, 1, 3], [5, 2, 3]]);
    close(result.perUser[0].auc, 2 / 3);
    close(result.perUser[1].auc, 0.75);
    close(result.perUser[0].ndcg, 0.75);
    close(result.perUser[1].ndcg, 0.7);
    close(result.auc, (2 / 3 + 0.75) / 2);
    close(result.ndcg, (0.75 + 0.7) / 2);
  });
  it('does not depend on the candidate order', () => {
    const rng = new Rng(3);
    const n = 300;
    const users = Int32Array.from({ length: n }, () => rng.int(7));
    const labels = Uint8Array.from({ length: n }, () => (rng.next() < 0.2 ? 1 : 0));
    const scores = Float64Array.from({ length: n }, () => rng.int(6));
    const a = evaluateRanking(users, scores, labels);
    const perm = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const b = evaluateRanking(
      Int32Array.from(perm, (i) => users[i]),
      Float64Array.from(perm, (i) => scores[i]),
      Uint8Array.from(perm, (i) => labels[i]),
    );
    assert.deepEqual(b, a);
  });
  it('random scores at 1:10 with 20–37 positives per user: AUC ≈ 0.5, NDCG ≈ 0.27 (method.md §7 sanity)', () => {
    const rng = new Rng(2021);
    const users: number[] = [];
    const labels: number[] = [];
    for (let u = 0; u < 300; u++) {
      const p = 20 + rng.int(18);
      for (let i = 0; i < p * 11; i++) {
        users.push(u);
        labels.push(i < p ? 1 : 0);
      }
    }
    const scores = Float64Array.from(users, () => rng.next());
    const r = evaluateRanking(Int32Array.from(users), scores, Uint8Array.from(labels));
    assert.equal(r.users, 300);
    assert.ok(Math.abs(r.auc - 0.5) < 0.01, `AUC ${r.auc}`);
    assert.ok(r.ndcg > 0.26 && r.ndcg < 0.285, `NDCG ${r.ndcg}`);
  });
  it('a constant scorer gets AUC 0.5 and the worst-order NDCG', () => {
    // 2 positives + 20 negatives per user, all scores equal: positives ranked 21 and 22
    const users = new Int32Array(44).map((_, i) => (i < 22 ? 0 : 1));
    const labels = new Uint8Array(44).map((_, i) => (i % 22 < 2 ? 1 : 0));
    const r = evaluateRanking(users, new Float32Array(44), labels);
    close(r.auc, 0.5);
    const worst = ndcgOfUser(Array.from({ length: 22 }, (_, i) => (i < 2 ? 0 : 1)), Array.from(labels.subarray(0, 22)));
    close(r.ndcg, worst);
    assert.ok(r.ndcg < 0.2, `constant scorer NDCG ${r.ndcg}`);
  });
  it('rejects non-binary labels and mismatched lengths', () => {
    assert.throws(() => evaluateRanking(new Int32Array(2), [1, 2], Uint8Array.from([1, 2])), /not 0 or 1/);
    assert.throws(() => evaluateRanking(new Int32Array(2), [1], new Uint8Array(2)), RangeError);
  });
  it('is NaN with no evaluable user', () => {
    const r = evaluateRanking(Int32Array.from([0, 0]), [1, 2], Uint8Array.from([0, 0]));
    assert.equal(r.users, 0);
    assert.equal(r.skippedUsers, 1);
    assert.ok(Number.isNaN(r.auc) && Number.isNaN(r.ndcg));
  });
});

describe('fitbAccuracy', () => {
  it('counts strict wins of the first candidate; ties are wrong', () => {
    // q1: 3 > 1, 2, 0 right; q2: 1 ties 1 wrong; q3: 0 < 2 wrong -> 1/3
    close(fitbAccuracy([3, 1, 2, 0, 1, 1, 0, 0, 0, 2, 1, 1]), 1 / 3);
  });
  it('supports other candidate counts and checks the length', () => {
    close(fitbAccuracy([2, 1, 0, 5], 2), 0.5);
    assert.throws(() => fitbAccuracy([1, 2, 3]), /multiple of 4/);
  });
});

describe('bootstrapMeanInterval', () => {
  const values = Array.from({ length: 40 }, (_, i) => 0.5 + 0.4 * Math.sin(i * 1.7));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  it('brackets the mean, is seeded, and is empty for equal values', () => {
    const a = bootstrapMeanInterval(values, new Rng(3), 500);
    assert.deepEqual(a, bootstrapMeanInterval(values, new Rng(3), 500));
    assert.ok(a.low < mean && mean < a.high, `${a.low} < ${mean} < ${a.high}`);
    const same = bootstrapMeanInterval([0.7, 0.7, 0.7], new Rng(1), 100);
    close(same.low, 0.7, 1e-15);
    close(same.high, 0.7, 1e-15);
    assert.ok(Number.isNaN(bootstrapMeanInterval([], new Rng(1)).low));
  });
  it('has about the normal-theory width and narrows with more users', () => {
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    const a = bootstrapMeanInterval(values, new Rng(5), 4000);
    const expected = 2 * 1.96 * (sd / Math.sqrt(values.length));
    assert.ok(Math.abs(a.high - a.low - expected) < 0.2 * expected, `width ${a.high - a.low} vs ${expected}`);
    const four = bootstrapMeanInterval([...values, ...values, ...values, ...values], new Rng(5), 4000);
    assert.ok(four.high - four.low < 0.6 * (a.high - a.low));
  });
});
