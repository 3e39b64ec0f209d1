/**
 * Why composition has a second pass (method.md §3.1): on a sub-catalog of the first n items of
 * each category (three required slots), the share of the exhaustive top-k outfits whose items are
 * all among each category's top R by
 *   - first order: the item's single-item outfit score (composition's retrieval), and
 *   - in context: the score of the first pass's best outfit with the item swapped into its slot
 *     (the second pass's retrieval).
 * No beam width can find an outfit whose items were not retrieved, so this bounds the recall of
 * retrieval + beam at R items per category.
 *
 *   node --import tsx bench/search-coverage.ts --run RUN [--data DIR] [--set NAME] [--n 30] [--users 10] [--k 10] [--retrieve 8,12,16,20]
 *
 * Users are the run's first --users. Prints one JSON line per retrieval and R.
 */
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

const runDir = requiredArg('run', 'node --import tsx bench/search-coverage.ts --run RUN [--data DIR] [--set NAME] [--n 30] [--users 10] [--k 10] [--retrieve 8,12,16,20]');
const n = Number(arg('n') ?? 30);
const k = Number(arg('k') ?? 10);
const retrieveSizes = (arg('retrieve') ?? '8,12,16,20').split(',').map(Number);
const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0, onboardWorkers: 0 });
const users = Math.min(Number(arg('users') ?? 10), rec.runUsers);
const slots = rec.slotCategories;
if (slots.length !== 3 || rec.composer.optionalSlots.some((o) => o) || new Set(slots).size !== 3) {
  throw new Error('search-coverage: a layout of three required slots of three categories only');
}
const catalog = rec.composer.catalog.map((ids) => ids.slice(0, n));
const lists = slots.map((c) => catalog[c]);
const composer = await rec.composer.withCatalog(catalog);

const covered: Record<'firstOrder' | 'inContext', number[]> = { firstOrder: retrieveSizes.map(() => 0), inContext: retrieveSizes.map(() => 0) };
for (let user = 0; user < users; user++) {
  const v = rec.userVector(user);
  // every outfit of the sub-catalog, scored by the full model
  const all = new Int32Array(n ** 3 * 3);
  let at = 0;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) for (let c = 0; c < n; c++) all.set([lists[0][a], lists[1][b], lists[2][c]], (at++) * 3);
  const scores = await composer.scoreItems(v, all, 3);
  const best = Array.from(scores.keys())
    .sort((p, q) => scores[q] - scores[p])
    .slice(0, k)
    .map((t) => [Math.floor(t / (n * n)), Math.floor(t / n) % n, t % n]);
  // per slot, each item's position under each retrieval score
  const context = (await composer.compose(v, { k: 1, maxShared: 3 })).outfits[0].items;
  const byScore = async (kind: 'firstOrder' | 'inContext'): Promise<Int32Array[]> =>
    Promise.all(
      lists.map(async (ids, j) => {
        const s =
          kind === 'firstOrder'
            ? composer.firstOrderScores(v, ids)
            : await composer.scoreItems(v, Int32Array.from(Array.from(ids, (item) => context.map((x, i) => (i === j ? item : x))).flat()), 3);
        const rank = new Int32Array(ids.length);
        Array.from(s.keys())
          .sort((p, q) => s[q] - s[p])
          .forEach((item, r) => (rank[item] = r));
        return rank;
      }),
    );
  for (const kind of ['firstOrder', 'inContext'] as const) {
    const rank = await byScore(kind);
    retrieveSizes.forEach((r, i) => (covered[kind][i] += best.filter((o) => o.every((x, j) => rank[j][x] < r)).length / k / users));
  }
}
for (const kind of ['firstOrder', 'inContext'] as const) {
  retrieveSizes.forEach((r, i) =>
    process.stdout.write(JSON.stringify({ bench: 'search-coverage', run: runDir, retrieval: kind, itemsPerCategory: n, combinations: n ** 3, users, k, retrieve: r, covered: +covered[kind][i].toFixed(4) }) + '\n'),
  );
}
rec.close();
await rec.model.dispose();
