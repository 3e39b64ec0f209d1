/**
 * The serving graph against the training-time graph, in one process (method.md §3.1): CPU time of
 * one uncached top-k composition with outfits scored by `OutfitModel.projectServing` (SAB1's
 * projections precomputed per item, PMA's keys folded into the seed) and by `projectEmbedded`,
 * in interleaved blocks so that the machine's drift hits both alike; and the largest difference
 * between the two graphs' scores on the composed outfits.
 *
 *   node --import tsx bench/serving-graph.ts --run RUN [--data DIR] [--set NAME] [--blocks 20] [--per-block 50] [--k 10]
 */
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

const runDir = requiredArg('run', 'node --import tsx bench/serving-graph.ts --run RUN [--data DIR] [--set NAME] [--blocks 20] [--per-block 50] [--k 10]');
const blocks = Number(arg('blocks') ?? 20);
const perBlock = Number(arg('per-block') ?? 50);
const k = Number(arg('k') ?? 10);
const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0 });
const composer = rec.composer;
const users = rec.runUsers;

// warm-up (graph compilation) and the score check: the same outfits through both graphs
let worst = 0;
for (let u = 0; u < Math.min(users, 20); u++) {
  composer.setServingGraph(true);
  const [composed] = await rec.compose(u, { k }).then((r) => [r.outfits]);
  const items = Int32Array.from(composed.flatMap((o) => o.items));
  const vector = rec.userVector(u);
  const fast = await composer.scoreItems(vector, items, composer.slotCategories.length);
  composer.setServingGraph(false);
  await rec.compose(u, { k });
  const reference = await composer.scoreItems(vector, items, composer.slotCategories.length);
  fast.forEach((s, i) => (worst = Math.max(worst, Math.abs(s - reference[i]))));
}

const cpu: Record<'serving' | 'training', number[]> = { serving: [], training: [] };
for (let b = 0; b < blocks; b++) {
  for (const graph of ['serving', 'training'] as const) {
    composer.setServingGraph(graph === 'serving');
    const started = process.cpuUsage();
    for (let i = 0; i < perBlock; i++) await rec.compose((b * perBlock + i) % users, { k });
    const used = process.cpuUsage(started);
    cpu[graph].push((used.user + used.system) / 1000 / perBlock);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const summary = {
  run: runDir,
  k,
  blocks,
  perBlock,
  cpuMsPerComposition: {
    serving: { median: +median(cpu.serving).toFixed(3), min: +Math.min(...cpu.serving).toFixed(3) },
    training: { median: +median(cpu.training).toFixed(3), min: +Math.min(...cpu.training).toFixed(3) },
  },
  ratio: +(median(cpu.training) / median(cpu.serving)).toFixed(3),
  maxScoreDifference: worst,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
rec.close();
await rec.model.dispose();
