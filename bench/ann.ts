/**
 * Nearest-neighbour libraries for composition's retrieval stage (src/serve/retrieval.ts): usearch
 * against hnswlib-node on a served run's catalog — build time, query time and recall@N of the
 * per-category top-N (maximum inner product with the user vector) against the exact scan.
 *
 *   node --import tsx bench/ann.ts --run RUN [--data DIR] [--set NAME] [--top 16]
 *        [--settings 16x128x64,...] [--hnswlib DIR] [--repeat 5]
 *
 * `--settings` are connectivity×expansionAdd×expansionSearch×overfetch[×metric] (hnswlib: M×efConstruction×ef;
 * overfetch: neighbours asked per wanted item, re-scored exactly; metric cos (default) or ip).
 * hnswlib-node is not a dependency (it has no prebuilt binaries: it compiles at install); to
 * compare, install it elsewhere (`npm install hnswlib-node` in a scratch folder, where a compiler
 * and the node headers exist) and pass that node_modules/hnswlib-node folder as --hnswlib.
 * Queries: the vectors of the run's users. Prints one JSON line per library and setting (with the
 * worst list's hits), the catalog's spread (norm of the mean unit vector per category) and how many
 * lists differ between two builds of the first setting.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { AnnRetriever, ExactRetriever, type RetrievalVectors } from '../src/serve/retrieval.js';
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

const runDir = requiredArg('run', 'node --import tsx bench/ann.ts --run RUN [--data DIR] [--set NAME] [--top 16] [--settings CxAxS,...] [--hnswlib DIR]');
const top = Number(arg('top') ?? 16);
const repeat = Number(arg('repeat') ?? 5);
const settings = (arg('settings') ?? '16x128x64x1xip,16x128x64x1,32x200x256x1,16x128x64x4,16x128x128x4,32x200x128x4').split(',').map((s) => {
  const [connectivity, expansionAdd, expansionSearch, overfetch, metric] = s.split('x');
  return {
    connectivity: Number(connectivity),
    expansionAdd: Number(expansionAdd),
    expansionSearch: Number(expansionSearch),
    overfetch: Number(overfetch ?? 1),
    metric: metric === 'ip' ? ('ip' as const) : ('cos' as const),
  };
});

const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0 });
const data: RetrievalVectors = rec.composer.retrievalVectors();
const queries = Array.from({ length: rec.runUsers }, (_, u) => rec.userVector(u));
const categories = data.catalog.map((_, c) => c).filter((c) => data.catalog[c].length > 0);
const sizes = categories.map((c) => data.catalog[c].length);
process.stderr.write(`catalog ${sizes.join(' / ')} items per category, d ${data.dim}, ${queries.length} queries per category, top ${top}\n`);
// how tightly the rows crowd together: the norm of the mean of a category's unit vectors (1: all
// alike, 0: spread evenly)
const cone = categories.map((c) => {
  const mean = new Float64Array(data.dim);
  for (const id of data.catalog[c]) for (let t = 0; t < data.dim; t++) mean[t] += data.vectors[data.rowOf[id] * data.dim + t] / data.catalog[c].length;
  return +Math.hypot(...mean).toFixed(3);
});
console.log(JSON.stringify({ normOfMeanUnitVector: cone }));

interface Searcher {
  top(query: Float32Array, category: number, count: number): Int32Array;
}

const dot = (q: Float32Array, id: number): number => {
  let s = 0;
  const o = data.rowOf[id] * data.dim;
  for (let t = 0; t < data.dim; t++) s += data.vectors[o + t] * q[t];
  return s;
};

/**
 * Mean query time (µs), recall@top against the exact lists, and the tie-aware recall: a returned
 * item counts when its inner product reaches the exact top-th one (within 1e-5 relative): items
 * with (nearly) identical vectors are interchangeable, and the synthetic catalog has many.
 */
function measure(searcher: Searcher, exact: Int32Array[][]): { queryUs: number; recall: number; recallTies: number; worstList: number } {
  let hits = 0;
  let worstList = top;
  let tieHits = 0;
  let total = 0;
  const started = performance.now();
  for (let r = 0; r < repeat; r++) {
    queries.forEach((q, u) =>
      categories.forEach((c) => {
        const got = searcher.top(q, c, top);
        if (r === 0) {
          const want = new Set(exact[u][c]);
          const found = Array.from(got).filter((id) => want.has(id)).length;
          hits += found;
          worstList = Math.min(worstList, found);
          const last = dot(q, exact[u][c][exact[u][c].length - 1]);
          tieHits += Array.from(got).filter((id) => dot(q, id) >= last - 1e-5 * Math.abs(last)).length;
          total += want.size;
        }
      }),
    );
  }
  const queryUs = ((performance.now() - started) * 1000) / (repeat * queries.length * categories.length);
  return { queryUs, recall: hits / total, recallTies: tieHits / total, worstList };
}

const exactSearcher = new ExactRetriever(data);
const exactLists = queries.map((q) => data.catalog.map((_, c) => exactSearcher.top(q, c, top)));
const exact = measure(exactSearcher, exactLists);
console.log(JSON.stringify({ library: 'exact scan', buildMs: 0, ...exact }));

for (const s of settings) {
  const ann = new AnnRetriever(data, s);
  console.log(JSON.stringify({ library: 'usearch', settings: s, buildMs: ann.buildMs, ...measure(ann, exactLists) }));
}
{
  // two builds with the same settings must be the same index (replicas and restarts agree)
  const [a, b] = [new AnnRetriever(data, settings[0]), new AnnRetriever(data, settings[0])];
  const differing = queries.reduce((n, q) => n + categories.filter((c) => a.top(q, c, top).join() !== b.top(q, c, top).join()).length, 0);
  console.log(JSON.stringify({ library: 'usearch', settings: settings[0], rebuilt: true, listsDifferingBetweenTwoBuilds: differing, lists: queries.length * categories.length }));
}

interface Hnsw {
  initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number): void;
  addPoint(point: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { neighbors: number[]; distances: number[] };
}
const hnswDir = arg('hnswlib');
if (hnswDir) {
  const { HierarchicalNSW } = createRequire(import.meta.url)(resolve(hnswDir)) as { HierarchicalNSW: new (space: string, dim: number) => Hnsw };
  for (const s of settings) {
    const started = performance.now();
    const indexes = data.catalog.map((ids) => {
      const index = new HierarchicalNSW(s.metric === 'ip' ? 'ip' : 'cosine', data.dim);
      if (ids.length === 0) return index;
      index.initIndex(ids.length, s.connectivity, s.expansionAdd, 100);
      for (const id of ids) index.addPoint(Array.from(data.vectors.subarray(data.rowOf[id] * data.dim, (data.rowOf[id] + 1) * data.dim)), id);
      index.setEf(Math.max(s.expansionSearch, top * s.overfetch));
      return index;
    });
    const buildMs = performance.now() - started;
    const searcher: Searcher = {
      top: (q, c, count) => {
        const { neighbors } = indexes[c].searchKnn(Array.from(q), Math.min(count * s.overfetch, data.catalog[c].length));
        // re-scored exactly, as AnnRetriever does
        return exactSearcher.top(q, c, count, undefined, Int32Array.from(neighbors));
      },
    };
    console.log(JSON.stringify({ library: 'hnswlib-node', settings: s, buildMs, ...measure(searcher, exactLists) }));
  }
}
rec.close();
