/**
 * Outfit composition benchmark (src/serve/compose.ts): how good and how fast the beam search is.
 *
 *   node --import tsx bench/compose.ts --run RUN [--data DIR] [--set NAME] [--users 8] [--k 10]
 *        [--exact-sizes 10,20,30] [--settings 8x10,12x12,16x16,24x24,32x32]
 *        [--sizes 100,1000,3000,all] [--threads 1|2] [--catalog-data DIR --catalog-set NAME]
 *
 * `--catalog-data/--catalog-set` compose from ANOTHER set's catalog (e.g. a 30k-item syn-630 root)
 * with the run's model and users: the items reach the model through their images, so a small run
 * can time composition on a large catalog without training on it.
 *
 * 1. Recall: on sub-catalogs small enough to enumerate (the first n items of each category, n in
 *    --exact-sizes), the search's top-k against the exhaustive top-k, per (retrieve × beam)
 *    setting, with times and the speed-up.
 * 2. Time vs catalog size: the search with the default setting on the first n items of each
 *    category (n in --sizes, `all` = the whole catalog), next to what scoring every combination
 *    would take at the measured per-outfit rate.
 *
 * Prints one JSON line per measurement, then tables.
 */
import { loadPolyvoreSet } from '../src/data/polyvore.js';
import { setEngineThreads } from '../src/engine/runtime.js';
import { COMPOSE_DEFAULTS, OutfitComposer, measureComposeRecall, type ComposeRecall } from '../src/serve/compose.js';
import { Recommender } from '../src/serve/recommender.js';
import { ItemEmbeddingCache } from '../src/train/item-cache.js';
import { buildItemInputs } from '../src/runs/load.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runDir = arg('run');
if (!runDir) {
  process.stderr.write('usage: node --import tsx bench/compose.ts --run RUN [--data DIR] [--set NAME] [--users N] [--k K] ...\n');
  process.exit(2);
}
const k = Number(arg('k') ?? 10);
const userCount = Number(arg('users') ?? 8);
const exactSizes = (arg('exact-sizes') ?? '10,20,30').split(',').map(Number);
const settings = (arg('settings') ?? '8x10,12x12,16x16,24x24,32x32').split(',').map((s) => {
  const [retrieve, beam] = s.split('x').map(Number);
  return { retrieve, beam: Math.max(beam, k) };
});
const sizes = (arg('sizes') ?? '100,1000,3000,all').split(',');
const threads = Number(arg('threads') ?? 1);
setEngineThreads(threads);
let started = performance.now();
const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0 });
let openMs = performance.now() - started;
const info = rec.describe();
const users = Array.from({ length: Math.min(userCount, rec.runUsers) }, (_, u) => rec.userVector(u));

// the catalog composed from: the run's set, or another set's items embedded by the run's model
let composer = rec.composer;
let catalogSet = rec.set;
if (arg('catalog-data')) {
  started = performance.now();
  catalogSet = loadPolyvoreSet(arg('catalog-data')!, arg('catalog-set') ?? rec.set.set, { splits: ['train'] });
  const run = { ...rec.runConfig!, data: { ...rec.runConfig!.data, root: arg('catalog-data')! } };
  const inputs = await buildItemInputs(run, catalogSet);
  const extraCache = await ItemEmbeddingCache.build(rec.model, inputs);
  const byCategory = catalogSet.catalog.counts.map((n, c) => Int32Array.from({ length: n }, (_, i) => catalogSet.catalog.offsets[c] + i));
  composer = await OutfitComposer.create(rec.model, extraCache, catalogSet.layout, catalogSet.catalog.category, byCategory);
  openMs = performance.now() - started;
}
const catalogInfo = catalogSet.catalog;
const counts = catalogInfo.counts.filter((_, c) => catalogSet.slotCategories.includes(c));
process.stdout.write(
  `run ${runDir}: set ${info.set}, d ${info.dim}, K ${info.anchorsPerUser}, ${users.length} users; catalog ${catalogSet.dir}: ${catalogInfo.names.length} items (${counts.join(' / ')}); ` +
    `ONNX Runtime (${threads} thread${threads === 1 ? '' : 's'}); item embeddings ${(openMs / 1000).toFixed(1)} s\n`,
);
const firstN = (n: number) => catalogInfo.counts.map((count, c) => Int32Array.from({ length: Math.min(n, count) }, (_, i) => catalogInfo.offsets[c] + i));

// warm-up: the first calls create the sessions
await composer.compose(users[0], { k, catalog: firstN(10) });

interface RecallRow extends ComposeRecall {
  n: number;
  retrieve: number;
  beam: number;
}
const recallRows: RecallRow[] = [];
for (const n of exactSizes) {
  for (const s of settings) {
    const r = await measureComposeRecall(composer, users, { k, catalog: firstN(n), retrieve: s.retrieve, beam: s.beam });
    const row = { n, retrieve: s.retrieve, beam: s.beam, ...r };
    recallRows.push(row);
    process.stdout.write(JSON.stringify({ bench: 'compose-recall', k, ...row }) + '\n');
  }
}

// per-outfit cost of full-model scoring, for the exhaustive estimates
const probe = firstN(30);
started = performance.now();
const probeResult = await composer.exhaustive(users[0], { k, catalog: probe });
const msPerOutfit = (performance.now() - started) / probeResult.outfitsScored;

interface SizeRow {
  n: number;
  perCategory: number[];
  combinations: number;
  searchMs: number;
  searchScored: number;
  exhaustiveEstimateS: number;
}
const sizeRows: SizeRow[] = [];
for (const size of sizes) {
  const n = size === 'all' ? Math.max(...catalogInfo.counts) : Number(size);
  const catalog = firstN(n);
  let ms = 0;
  let scored = 0;
  for (const v of users) {
    const r = await composer.compose(v, { k, catalog });
    ms += r.ms;
    scored += r.outfitsScored;
  }
  const combinations = composer.combinations(catalog);
  const row = {
    n,
    perCategory: catalog.filter((_, c) => catalogSet.slotCategories.includes(c)).map((c) => c.length),
    combinations,
    searchMs: ms / users.length,
    searchScored: scored / users.length,
    exhaustiveEstimateS: (combinations * msPerOutfit) / 1000,
  };
  sizeRows.push(row);
  process.stdout.write(JSON.stringify({ bench: 'compose-size', k, retrieve: COMPOSE_DEFAULTS.retrieve, ...row }) + '\n');
}

const pad = (s: string | number, w: number) => String(s).padStart(w);
process.stdout.write(`\nrecall of the exhaustive top-${k} (mean over ${users.length} users)\n`);
process.stdout.write(`${pad('n/cat', 6)} ${pad('combos', 8)} ${pad('retrieve', 8)} ${pad('beam', 5)} ${pad('recall', 7)} ${pad('gap', 8)} ${pad('search ms', 10)} ${pad('scored', 7)} ${pad('exhaust ms', 11)} ${pad('speed-up', 9)}\n`);
for (const r of recallRows) {
  process.stdout.write(
    `${pad(r.n, 6)} ${pad(r.combinations, 8)} ${pad(r.retrieve, 8)} ${pad(r.beam, 5)} ${pad(r.recall.toFixed(3), 7)} ${pad(r.scoreGap.toFixed(4), 8)} ` +
      `${pad(r.searchMs.toFixed(1), 10)} ${pad(Math.round(r.searchScored), 7)} ${pad(r.exhaustiveMs.toFixed(1), 11)} ${pad(r.speedup.toFixed(1) + 'x', 9)}\n`,
  );
}
process.stdout.write(
  `\ncomposition time vs catalog size (default retrieve ${COMPOSE_DEFAULTS.retrieve}, beam max(k, ${COMPOSE_DEFAULTS.minBeam}); full-model scoring ${(msPerOutfit * 1000).toFixed(1)} µs/outfit)\n`,
);
process.stdout.write(`${pad('items per category', 20)} ${pad('combinations', 14)} ${pad('search ms', 10)} ${pad('scored', 7)} ${pad('exhaustive (est.)', 18)}\n`);
for (const r of sizeRows) {
  const est = r.exhaustiveEstimateS;
  const days = est / 86400;
  const estText = est < 120 ? `${est.toFixed(1)} s` : days < 2 ? `${(est / 3600).toFixed(1)} h` : days < 730 ? `${days.toFixed(0)} days` : `${(days / 365).toFixed(0)} years`;
  process.stdout.write(`${pad(r.perCategory.join(' / '), 20)} ${pad(r.combinations.toExponential(2), 14)} ${pad(r.searchMs.toFixed(1), 10)} ${pad(Math.round(r.searchScored), 7)} ${pad(estText, 18)}\n`);
}
await rec.close();
await rec.model.dispose();
