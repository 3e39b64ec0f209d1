/** `outfitrec serve`: the HTTP service and web page over a trained run (logic in src/serve/). */
import type { Command } from 'commander';
import { setEngineThreads } from '../engine/runtime.js';
import { UserError } from '../errors.js';
import { isServeProcess, leaveCluster, reportFailed, reportReady, superviseServeProcesses } from '../serve/cluster.js';
import { COMPOSE_DEFAULTS, COMPOSE_DEFAULTS_WITH_COMPLETIONS, COMPOSE_DEFAULTS_WITH_PROBES, MAX_EXPAND_ROUNDS, MAX_PASSES, MAX_PROBE_OUTFITS, PROBE_OUTFITS } from '../serve/compose.js';
import { defaultOnboardWorkers } from '../serve/onboard-pool.js';
import { Recommender } from '../serve/recommender.js';
import { RETRIEVAL_KINDS, type RetrievalKind } from '../serve/retrieval.js';
import { startServer } from '../serve/server.js';

/** Default of --rate-limit: requests per minute per client address. */
export const DEFAULT_RATE_LIMIT = 1200;

interface ServeOptions {
  run: string;
  data?: string;
  set?: string;
  port: string;
  host: string;
  db?: string;
  seed: string;
  composeCache: string;
  threads: string;
  log: boolean;
  apiKey?: string;
  rateLimit: string;
  onboardWorkers: string;
  retrieval: string;
  microBatch: boolean;
  composeConcurrency?: string;
  stageOrder: string;
  retrieve?: string;
  beam?: string;
  passes: string;
  expand: string;
  probes: string;
  processes: string;
}

export function register(command: Command): void {
  command
    .requiredOption('--run <dir>', 'trained run folder (config.json + best.safetensors)')
    .option('--data <dir>', "dataset root (default: the run's)")
    .option('--set <name>', "set folder whose catalog and users are served (default: the run's; its users must be the run's)")
    .option('--port <n>', 'TCP port (0 = any free port)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--db <file|url>', 'onboarded users: a SQLite file, or postgres://user@host:port/db shared by replicas (default <run>/users.sqlite)')
    .option('--seed <n>', 'seed of the new-user fitting', '0')
    .option('--compose-cache <n>', 'composed results remembered per (user, k, fixed, exclude); 0 = compose every request', '1024')
    .option('--threads <n>', 'ONNX Runtime intra-op threads per model session', '1')
    .option('--log', 'log every request (JSON lines on stdout)', false)
    .option('--api-key <key>', 'require this key (header x-api-key or authorization: Bearer) on every route but /health and the page; default: env OUTFITREC_API_KEY, else none')
    .option('--rate-limit <n>', 'requests per minute per client address (0 = no limit)', String(DEFAULT_RATE_LIMIT))
    .option('--onboard-workers <n>', 'worker threads fitting new users off the event loop (0 = on it)', String(defaultOnboardWorkers()))
    .option('--retrieval <kind>', 'composition retrieval: exact (every item scored, SIMD brute force) or ann (a usearch HNSW index built at start: for catalogs far larger than brute force serves; ?exact=1 overrides it per request)', 'exact')
    .option('--micro-batch', 'merge the model calls of concurrent compositions into one', false)
    .option('--stage-order <how>', 'the order the beam fills the slots: calibrate (measured on a small sample at start, the best kept) or layout', 'calibrate')
    .option('--compose-concurrency <n>', 'compositions run at once per process; the others wait their turn, first come first served (default 1; unbounded with --micro-batch)')
    .option('--retrieve <n>', `items retrieved per category before the beam search (default ${COMPOSE_DEFAULTS_WITH_PROBES.retrieve}; ${COMPOSE_DEFAULTS_WITH_COMPLETIONS.retrieve} with fixed items or a restricted catalog; ${COMPOSE_DEFAULTS.retrieve} with --probes 0)`)
    .option('--beam <n>', `partial outfits kept per beam stage (default max(k, ${COMPOSE_DEFAULTS_WITH_PROBES.minBeam}), max(k, ${COMPOSE_DEFAULTS.minBeam}) with --probes 0)`)
    .option('--passes <n>', 'searches per composition: 1, 2 (a second retrieval judging each item in the first pass\'s best outfit; recalls more of the model\'s best outfits for about twice the scoring) or 3 (a third in the best outfit so far, when it changed)', '1')
    .option('--probes <n>', 'random outfits of the catalog scored by one matrix-vector product per composition (their embeddings computed at start) and merged into the search, so the served list is never worse than the best of them; with fixed items, up to 256 random completions scored by the model instead; 0 turns both off', String(PROBE_OUTFITS))
    .option('--expand <n>', 'neighbourhood rounds after the passes, 0 to 6: each scores every outfit one item away from the two best outfits not yet expanded (the first from the best outfit and the outfit of each slot\'s best item alone); recalls more of the model\'s best outfits than a second pass for less scoring', '0')
    .option('--processes <n>', 'server processes sharing the port, each with its own model (composition uses one core per process); users are shared through --db', '1')
    .action(async (opts: ServeOptions) => {
      const processes = parseInteger(opts.processes, '--processes', 1, 64);
      const port = parseInteger(opts.port, '--port', 0, 65535);
      const seed = parseInteger(opts.seed, '--seed', 0, 2 ** 31 - 1);
      const composeCacheSize = parseInteger(opts.composeCache, '--compose-cache', 0, 1_000_000);
      const threads = parseInteger(opts.threads, '--threads', 1, 64);
      setEngineThreads(threads);
      const rateLimit = parseInteger(opts.rateLimit, '--rate-limit', 0, 1_000_000);
      const onboardWorkers = parseInteger(opts.onboardWorkers, '--onboard-workers', 0, 64);
      const apiKey = opts.apiKey ?? (process.env.OUTFITREC_API_KEY || undefined);
      if (apiKey !== undefined && apiKey.length < 8) throw new UserError(`${opts.apiKey !== undefined ? '--api-key' : 'OUTFITREC_API_KEY'}: the key must have at least 8 characters`);
      if (!(RETRIEVAL_KINDS as readonly string[]).includes(opts.retrieval)) throw new UserError(`--retrieval: '${opts.retrieval}' is not one of ${RETRIEVAL_KINDS.join(', ')}`);
      const retrieval = opts.retrieval as RetrievalKind;
      const compose = { retrieve: opts.retrieve === undefined ? undefined : parseInteger(opts.retrieve, '--retrieve', 1, 10_000), beam: opts.beam === undefined ? undefined : parseInteger(opts.beam, '--beam', 1, 100_000), passes: parseInteger(opts.passes, '--passes', 1, MAX_PASSES), expand: parseInteger(opts.expand, '--expand', 0, MAX_EXPAND_ROUNDS), probes: parseInteger(opts.probes, '--probes', 0, MAX_PROBE_OUTFITS) };
      if (opts.stageOrder !== 'calibrate' && opts.stageOrder !== 'layout') throw new UserError(`--stage-order: '${opts.stageOrder}' is not one of calibrate, layout`);
      const composeConcurrency = opts.composeConcurrency === undefined ? undefined : parseInteger(opts.composeConcurrency, '--compose-concurrency', 1, 100_000);
      if (processes > 1 && !isServeProcess()) {
        // the primary: the processes run this same command line (architecture.md §6)
        await superviseServeProcesses(processes);
        return;
      }
      try {
        await serveHere(opts, { port, seed, composeCacheSize, threads, rateLimit, onboardWorkers, apiKey, retrieval, compose, composeConcurrency });
      } catch (err) {
        if (!isServeProcess()) throw err;
        reportFailed(err); // the primary prints it once
        process.exitCode = 1;
      } finally {
        // a server process ends here (the IPC channel to the primary would keep it alive), served or failed
        leaveCluster();
      }
    });
}

/** One server process: loads the run, listens, serves until SIGINT / SIGTERM. */
async function serveHere(
  opts: ServeOptions,
  p: { port: number; seed: number; composeCacheSize: number; threads: number; rateLimit: number; onboardWorkers: number; apiKey?: string; retrieval: RetrievalKind; compose: { retrieve?: number; beam?: number; passes: number; expand: number; probes: number }; composeConcurrency?: number },
): Promise<void> {
  const { port, seed, composeCacheSize, threads, rateLimit, onboardWorkers, apiKey, retrieval, compose, composeConcurrency } = p;
  const started = performance.now();
  const recommender = await Recommender.open(opts.run, { data: opts.data, set: opts.set, db: opts.db, seed, composeCacheSize, onboardWorkers, retrieval, microBatch: opts.microBatch, compose, composeConcurrency, stageOrder: opts.stageOrder as 'calibrate' | 'layout' });
  const info = recommender.describe();
  let app;
  try {
    app = await startServer(recommender, { port, host: opts.host }, { logger: opts.log, apiKey, rateLimit });
  } catch (err) {
    await recommender.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UserError(`cannot listen on ${opts.host}:${port}: ${code}`);
    }
    throw err;
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/` : String(address);
  const banner =
    `outfitrec serve: set ${info.set}, ${info.runUsers} run users + ${info.onboardedUsers} onboarded, ${info.items} items, ` +
    `ONNX Runtime (${threads} thread${threads > 1 ? 's' : ''}), ${recommender.onboardWorkers} onboarding worker(s), users in ${recommender.store.kind === 'postgres' ? recommender.store.location : 'SQLite'}, ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n` +
    `composition: ${retrieval} retrieval${retrieval === 'ann' ? ` (index built in ${(recommender.retrievalBuildMs / 1000).toFixed(1)} s)` : ''}${opts.microBatch ? ', micro-batched' : ''}${compose.passes > 1 ? `, ${compose.passes === 2 ? 'two' : 'three'} passes` : ''}${compose.expand > 0 ? `, ${compose.expand} neighbourhood round${compose.expand > 1 ? 's' : ''}` : ''}${compose.probes > 0 ? `, ${compose.probes} probe outfits` : ', no probe outfits'}, ${stageOrderLine(recommender, info)}\n` +
    `access: ${apiKey !== undefined ? 'API key required (but /health and the page)' : 'no API key'}, ` +
    `${rateLimit > 0 ? `at most ${rateLimit} requests per minute per client` : 'no rate limit'}\n`;
  if (isServeProcess()) reportReady(banner, url);
  else process.stdout.write(`${banner}listening on ${url}\n`);
  await new Promise<void>((resolve) => {
    let closing = false;
    const stop = (): void => {
      if (closing) return;
      closing = true;
      if (!isServeProcess()) process.stdout.write('outfitrec serve: shutting down\n');
      app.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function parseInteger(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !(n >= min && n <= max)) throw new UserError(`${flag}: '${value}' is not an integer in ${min}..${max}`);
  return n;
}

/** The banner's account of the beam's stage order (method.md §3.1). */
function stageOrderLine(recommender: Recommender, info: { categories: string[]; slotCategories: number[] }): string {
  const names = (order: readonly number[]): string => order.map((j) => info.categories[info.slotCategories[j]]).join(' → ');
  const c = recommender.stageOrderCalibration;
  if (c === null) return `stage order ${names(recommender.composer.stages)} (the layout's)`;
  const layout = c.tried[0];
  const chosen = c.tried.find((t) => t.order.join() === c.order.join()) ?? layout;
  return (
    `stage order ${names(c.order)} (recall@${c.k} ${chosen.recall.toFixed(2)} against exhaustive scoring on ${c.itemsPerCategory} items per category, ${c.users} users; ` +
    `the layout's order ${layout.recall.toFixed(2)})`
  );
}
