/**
 * What the readable side of composition costs and whether it is right (method.md §3.1), on a
 * trained run of a synthetic set:
 *
 *   node --import tsx bench/quality.ts --run RUN [--data DIR] [--set NAME] [--max-shared 1]
 *        [--users 100] [--k 5] [--stage-order calibrate|layout] [--passes 1|2|3] [--expand N]
 *        [--retrieve R] [--beam B] [--probes N]
 *
 * 1. Diversity's NDCG cost: on the test split's candidates of every user (positives + the fixed
 *    negatives, method.md §7), the ranking by score against the same candidates re-ranked under the
 *    constraint (greedily, best first, skipping a candidate that shares more than --max-shared items
 *    with one already placed; relaxed only when nothing else is left). Mean NDCG (method.md §7) and
 *    NDCG@10 of both orders.
 * 2. Explanations against the oracle: for the composed top-k of --users users, the item with the
 *    largest contribution against a random other item of the outfit, each judged by the ORACLE's
 *    utility drop when it is swapped for 24 random items of its category: the share of outfits where
 *    the top contribution's drop is larger (chance: 0.5).
 * 3. On composed lists: the top-10 without the constraint and with it, for --users users: mean
 *    model score, mean ORACLE utility (nats) and distinct items per list.
 * Prints JSON lines.
 */
import { loadPolyvoreSet } from '../src/data/polyvore.js';
import { loadOracle } from '../src/data/synth/oracle.js';
import { buildCandidates } from '../src/eval/evaluate.js';
import { ndcgOfUser } from '../src/eval/metrics.js';
import { Rng } from '../src/rng.js';
import { selectDiverse } from '../src/serve/compose.js';
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

const runDir = requiredArg('run', 'node --import tsx bench/quality.ts --run RUN [--data DIR] [--set NAME] [--max-shared 1] [--users N] [--k K] [--stage-order calibrate|layout] [--passes 1|2|3] [--expand N] [--retrieve R] [--beam B] [--probes N]');
const maxShared = Number(arg('max-shared') ?? 1);
const k = Number(arg('k') ?? 5);
const stageOrder = arg('stage-order') === 'layout' ? 'layout' : 'calibrate';
const passes = Number(arg('passes') ?? 1);
const expand = Number(arg('expand') ?? 0);
/** The search's width (serve --retrieve/--beam); unset: the server's defaults. */
const retrieve = arg('retrieve') === undefined ? undefined : Number(arg('retrieve'));
const beam = arg('beam') === undefined ? undefined : Number(arg('beam'));
/** Probe outfits per composition (compose.ts PROBE_OUTFITS unless given; 0 = none). */
const probes = arg('probes') === undefined ? undefined : Number(arg('probes'));
const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0, stageOrder, compose: { passes, expand, retrieve, beam, probes } });
const set = loadPolyvoreSet(rec.set.root, rec.set.set, { splits: ['test'] });
const slots = set.slotCategories.length;

// 1. NDCG of the test candidates, plain and diversity-constrained
const { table, labels } = buildCandidates(set, 'test', 'file');
const byUser = new Map<number, number[]>();
table.users.forEach((u, i) => (byUser.get(u) ?? byUser.set(u, []).get(u)!).push(i));
const ndcgAt = (order: number[], rows: number[], at: number): number => {
  const gains = order.map((i) => labels[rows[i]]);
  const ideal = [...gains].sort((a, b) => b - a);
  const dcg = (g: number[]): number => g.slice(0, at).reduce((acc, y, i) => acc + (2 ** y - 1) / Math.log2(Math.max(i + 1, 2)), 0);
  return dcg(ideal) > 0 ? dcg(gains) / dcg(ideal) : NaN;
};
const sums = { plain: 0, diverse: 0, plain10: 0, diverse10: 0, relaxed: 0, users: 0 };
for (const [user, rows] of byUser) {
  if (user >= rec.runUsers) continue;
  const sub = { slots, users: Int32Array.from(rows, () => user), items: Int32Array.from(rows.flatMap((r) => Array.from(table.items.subarray(r * slots, (r + 1) * slots)))) };
  const scores = await rec.scoreOutfits(user, sub);
  const ranked = rows.map((_, i) => ({ i, items: Array.from(sub.items.subarray(i * slots, (i + 1) * slots)) })).sort((a, b) => scores[b.i] - scores[a.i] || a.i - b.i);
  const diverse = selectDiverse(ranked, ranked.length, maxShared);
  const asScores = (order: number[]): Float64Array => {
    const s = new Float64Array(rows.length);
    order.forEach((i, rank) => (s[i] = rows.length - rank));
    return s;
  };
  const userLabels = rows.map((r) => labels[r]);
  const plainOrder = ranked.map((r) => r.i);
  const diverseOrder = diverse.chosen.map((r) => r.i);
  sums.plain += ndcgOfUser(asScores(plainOrder), userLabels);
  sums.diverse += ndcgOfUser(asScores(diverseOrder), userLabels);
  sums.plain10 += ndcgAt(plainOrder, rows, 10);
  sums.diverse10 += ndcgAt(diverseOrder, rows, 10);
  sums.relaxed += diverse.relaxed / rows.length;
  sums.users++;
}
const n = sums.users;
console.log(
  JSON.stringify({
    measure: 'diversity NDCG cost (test split, file negatives)',
    maxShared,
    users: n,
    ndcg: sums.plain / n,
    ndcgDiverse: sums.diverse / n,
    ndcg10: sums.plain10 / n,
    ndcg10Diverse: sums.diverse10 / n,
    relaxedShare: sums.relaxed / n,
  }),
);

// 2. explanations against the oracle; 3. what the constraint costs on composed lists
const oracle = loadOracle(rec.set.root);
if (oracle) {
  const users = Math.min(Number(arg('users') ?? 100), rec.runUsers);
  const listK = 10;
  const lists = { plainScore: 0, diverseScore: 0, plainUtility: 0, diverseUtility: 0, plainItems: 0, diverseItems: 0 };
  for (let user = 0; user < users; user++) {
    for (const [name, m] of [['plain', slots], ['diverse', maxShared]] as const) {
      const r = await rec.compose(user, { k: listK, maxShared: m, exact: true });
      const u = oracle.utility(rec.set, { slots, users: new Int32Array(r.outfits.length).fill(user), items: Int32Array.from(r.outfits.flatMap((o) => o.items)) });
      lists[`${name}Score`] += r.outfits.reduce((a, o) => a + o.score, 0) / r.outfits.length / users;
      lists[`${name}Utility`] += u.reduce((a, b) => a + b, 0) / u.length / users;
      lists[`${name}Items`] += new Set(r.outfits.flatMap((o) => o.items)).size / users;
    }
  }
  console.log(JSON.stringify({ measure: `composed top-${listK}: plain vs maxShared ${maxShared}`, passes, expand, retrieve, beam, probes, users, ...lists }));

  const rng = new Rng(5);
  let wins = 0;
  let outfits = 0;
  for (let user = 0; user < users; user++) {
    const drop = (outfit: number[], j: number): number => {
      const pool = rec.composer.catalog[rec.catalog.category[outfit[j]]];
      const rows = [outfit];
      for (let r = 0; r < 24; r++) {
        const o = outfit.slice();
        o[j] = pool[rng.int(pool.length)];
        rows.push(o);
      }
      const u = oracle.utility(rec.set, { slots, users: new Int32Array(rows.length).fill(user), items: Int32Array.from(rows.flat()) });
      return u[0] - u.slice(1).reduce((a, b) => a + b, 0) / (rows.length - 1);
    };
    const result = await rec.compose(user, { k, explain: true, exact: true });
    for (const o of result.outfits) {
      const c = o.explanation!.contributions;
      const present = c.flatMap((x, j) => (x === null ? [] : [j]));
      const best = present.reduce((b, j) => (c[j]! > c[b]! ? j : b), present[0]);
      const others = present.filter((j) => j !== best);
      const other = others[rng.int(others.length)];
      if (drop(o.items, best) > drop(o.items, other)) wins++;
      outfits++;
    }
  }
  console.log(JSON.stringify({ measure: 'explanations vs oracle', users, k, outfits, topContributionWins: wins, share: wins / outfits }));
}
rec.close();
