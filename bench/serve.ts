/**
 * HTTP serving benchmark (issue 12): requests/s and p50/p99 latency of `outfitrec serve` on
 * loopback with autocannon, the server in its own process(es) so load generator and server do
 * not share an event loop. Bounded: every scenario runs --duration seconds per connection count.
 * Every response must be a 2xx: any error, timeout or non-2xx fails the bench (exit 1).
 *
 *   node --import tsx bench/serve.ts --run RUN [--data DIR] [--set NAME] [--duration 10]
 *        [--connections 10,100] [--k 10] [--threads 1]
 *        [--scenarios compose,compose-exact,rank,onboard,mixed,failover] [--server-args "--micro-batch"]
 *        [--db URL] [--replicas N] [--recall-sizes 10,20,30] [--recall-users 20] [--retrieve R --beam B --passes P --expand E --probes N]
 *        [--completions mean,none] [--stage-orders all]
 *
 * Scenarios (each with fresh server(s) and, without --db, a throwaway user database):
 *   cached         compose cache on, warmed with one request per user first;
 *   compose        GET /users/:id/outfits?k=K with --compose-cache 0: every request composes
 *                  (the server's retrieval: ANN unless --server-args says otherwise);
 *   compose-exact  the same with &exact=1 (retrieval scans every item);
 *   rank           POST /users/:id/rank with 20 outfits;
 *   onboard        POST /users with 5 outfits (a new user per request);
 *   mixed          compose (all connections) + onboard (2 connections) + GET /health
 *                  (2 connections) at once: p99 of each (issue 16);
 *   failover       (needs --replicas 2 or more) uncached composition from a client of our own
 *                  that sends each request to one replica and, when the connection fails or
 *                  the answer is a 5xx, retries it once on each other replica; halfway through,
 *                  the first replica is killed (SIGKILL). Reports requests, retried, failed.
 * Requests rotate over the run's users. `--db URL` is passed to `serve --db` (e.g. a PostgreSQL
 * URL once the server accepts one); `--replicas N` starts N servers on one database and splits
 * the connections between them (one autocannon per replica, run together: req/s add up, the
 * latency row reports the worst replica's percentiles).
 *
 * Before the load, `--recall-sizes` measures retrieval + beam against exhaustive scoring
 * in-process: for each n, a composer over the first n items of every category (n³ combinations
 * on a three-slot set) with the ANN index and with the exact scan, and for each --completions
 * (how the beam scores partial outfits: average items in the slots still to fill, or none), and
 * for the server's stage order (with --stage-orders all, every distinct order too), recall@K of the top-K
 * (diversity off, as the exhaustive list has none) over --recall-users users. The composer's probe
 * outfits (--probes, default compose.ts PROBE_OUTFITS) are drawn from that small catalog and cover
 * much of it, so the recall is that of retrieval, beam and probes together; `--probes 0` measures
 * the beam alone. Then the CPU time
 * (process.cpuUsage: all threads, ONNX Runtime's included) of one uncached composition on the
 * whole catalog, which a loaded machine inflates far less than wall-clock time.
 * `--recall-sizes ''` skips both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distinctStageOrders, measureComposeRecall, type Completion } from '../src/serve/compose.js';
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

interface Histogram {
  average: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  requests: Histogram & { total: number };
  latency: Histogram;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  duration: number;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const runDir = requiredArg('run', 'node --import tsx bench/serve.ts --run RUN [--data DIR] [--set NAME] [--duration S] [--connections 10,100] ...');
const duration = Number(arg('duration') ?? 10);
const connectionCounts = (arg('connections') ?? '10,100').split(',').map(Number);
const k = Number(arg('k') ?? 10);
const threads = arg('threads') ?? '1';
const scenarios = (arg('scenarios') ?? 'compose,compose-exact,rank,onboard,mixed').split(',').filter((s) => s !== '');
const serverArgs = (arg('server-args') ?? '').split(/\s+/).filter((a) => a !== '');
const db = arg('db');
const replicas = Number(arg('replicas') ?? 1);
const recallSizes = (arg('recall-sizes') ?? '10,20,30').split(',').filter((s) => s !== '').map(Number);
const recallUsers = Number(arg('recall-users') ?? 20);
/** `--stage-orders all`: recall of every distinct stage order beside the server's own. */
const allStageOrders = arg('stage-orders') === 'all';
/** Two orders search alike when they differ only in their first two slots (scored together as pairs). */
function sameStageOrder(a: readonly number[], b: readonly number[]): boolean {
  return [...a.slice(0, 2)].sort().join() === [...b.slice(0, 2)].sort().join() && a.slice(2).join() === b.slice(2).join();
}
/** How the beam scores partial outfits in the recall measurement (compose.ts `Completion`): the server's `none` (its composer's default), and `mean` beside it. */
const completions = (arg('completions') ?? 'mean,none').split(',').filter((c): c is Completion => c === 'mean' || c === 'none');
/** The search's width (serve --retrieve/--beam), for the in-process measurements and the servers alike. */
const search = {
  retrieve: arg('retrieve') === undefined ? undefined : Number(arg('retrieve')),
  beam: arg('beam') === undefined ? undefined : Number(arg('beam')),
  passes: arg('passes') === undefined ? undefined : Number(arg('passes')),
  expand: arg('expand') === undefined ? undefined : Number(arg('expand')),
  probes: arg('probes') === undefined ? undefined : Number(arg('probes')),
};
const searchArgs = [
  ...(search.retrieve ? ['--retrieve', String(search.retrieve)] : []),
  ...(search.beam ? ['--beam', String(search.beam)] : []),
  ...(search.passes ? ['--passes', String(search.passes)] : []),
  ...(search.expand ? ['--expand', String(search.expand)] : []),
  ...(search.probes !== undefined ? ['--probes', String(search.probes)] : []),
];
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'outfitrec.js');

// ---- recall of retrieval + beam against exhaustive scoring (in-process) -----------------------------

if (recallSizes.length > 0) {
  const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0, compose: search });
  const users = Array.from({ length: Math.min(recallUsers, rec.runUsers) }, (_, u) => rec.userVector(u));
  for (const n of recallSizes) {
    const catalog = rec.composer.catalog.map((ids) => ids.slice(0, n));
    for (const completion of completions) {
      const composer = await rec.composer.withCatalog(catalog, completion);
      // the server's order (chosen at start, compose.ts calibrateStageOrder), then with --stage-orders all every other candidate
      const served = composer.stages.filter((j) => !composer.optionalSlots[j]);
      const orders = allStageOrders ? [served, ...distinctStageOrders(served.slice().sort((a, b) => a - b)).filter((o) => !sameStageOrder(o, served))] : [served];
      for (const order of orders) {
        composer.setStageOrder(order);
        for (const retrieval of ['ann', 'exact'] as const) {
          composer.setRetrieval(retrieval);
          const r = await measureComposeRecall(composer, users, { k, ...search });
          process.stdout.write(
            JSON.stringify({
              bench: 'serve-recall',
              retrieval,
              completion,
              stageOrder: order.join(','),
              served: order === served,
              ...search,
              itemsPerCategory: n,
              combinations: r.combinations,
              users: r.users,
              k,
              recall: r.recall,
              scoreGap: r.scoreGap,
              searchScored: r.searchScored,
              searchMs: r.searchMs,
            }) + '\n',
          );
        }
      }
    }
  }
  // CPU time per uncached composition on the whole catalog: what the process spends, whatever else
  // the machine runs (wall-clock figures on a shared machine are not)
  for (const [label, opts] of [
    ['ann, maxShared 1', {}],
    ['exact, maxShared 1', { exact: true }],
    ['ann, no diversity', { maxShared: rec.slotCategories.length }],
    ['ann, maxShared 1, explain', { explain: true }],
  ] as const) {
    rec.composer.setRetrieval('ann');
    const n = 60;
    for (let u = 0; u < 5; u++) await rec.compose(u, { k, ...opts });
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < n; i++) await rec.compose(i % rec.runUsers, { k, ...opts });
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000 / n;
    process.stdout.write(JSON.stringify({ bench: 'serve-cpu', composition: label, ...search, k, compositions: n, cpuMsEach: cpuMs, wallMsEach: (performance.now() - started) / n }) + '\n');
  }
  await rec.close();
  await rec.model.dispose();
}

// ---- servers ------------------------------------------------------------------------------------

/** Starts `outfitrec serve` on a free port and resolves with its base URL once it listens. */
function startServer(extra: string[], database: string): Promise<{ child: ChildProcess; base: string; banner: string }> {
  // the load generator is one client: the per-client rate limit would measure itself
  const args = [CLI, 'serve', '--run', runDir, '--port', '0', '--db', database, '--threads', threads, '--rate-limit', '0', ...searchArgs, ...serverArgs, ...extra];
  if (arg('data')) args.push('--data', arg('data')!);
  if (arg('set')) args.push('--set', arg('set')!);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+?)\/?\n/.exec(out);
      if (m) resolve({ child, base: m[1], banner: out.split('\n').slice(0, 3).join(' | ') });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

interface Health {
  runUsers: number;
  slotCategories: number[];
  categories: string[];
}

/** `count` outfits made of the first items of each category, in the set's slot layout (second slots empty). */
async function outfitsOf(base: string, health: Health, count: number, offset = 0): Promise<Array<Array<number | null>>> {
  const firstIds: number[][] = [];
  for (const name of health.categories.filter((_, c) => health.slotCategories.includes(c))) {
    const page = (await (await fetch(`${base}/items?category=${name}&limit=40`)).json()) as { items: Array<{ id: number }> };
    firstIds.push(page.items.map((i) => i.id));
  }
  return Array.from({ length: count }, (_, r) =>
    health.slotCategories.map((c, j) => (health.slotCategories.indexOf(c) === j ? firstIds[c][(r + offset * (c + 1)) % firstIds[c].length] : null)),
  );
}

/**
 * CPU time (ms) used so far by the processes of the trees rooted at `roots` (a server and the
 * processes it started), from /proc: what the server spends per request, which a machine whose
 * speed drifts changes far less than requests/s. Linux only; null elsewhere.
 */
function treeCpuMs(roots: readonly number[]): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  const stats = new Map<number, { parent: number; ticks: number }>();
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(e), { parent: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended between the listing and the read
    }
  }
  const inTree = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!inTree.has(pid) && inTree.has(st.parent)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of inTree) ticks += stats.get(pid)?.ticks ?? 0;
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}
/** USER_HZ: the unit of /proc/<pid>/stat's times on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

interface Row {
  scenario: string;
  connections: number;
  requestsPerSecond: number;
  total: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  /** CPU ms per 2xx response: the server processes', and this process's (autocannon, the load generator). */
  serverCpuMsPerRequest?: number;
  loadCpuMsPerRequest?: number;
}

const rows: Row[] = [];
let failed = false;

interface CpuMark {
  server: number | null;
  load: NodeJS.CpuUsage;
}
function cpuMark(servers: ReadonlyArray<{ child: ChildProcess }>): CpuMark {
  return { server: treeCpuMs(servers.map((s) => s.child.pid!)), load: process.cpuUsage() };
}

function record(scenario: string, connections: number, results: AutocannonResult[], cpu?: { from: CpuMark; to: CpuMark }): void {
  const total = results.reduce((a, r) => a + r['2xx'], 0);
  const perRequest = (ms: number): number => +(ms / Math.max(1, total)).toFixed(3);
  const row: Row = {
    scenario,
    connections,
    requestsPerSecond: results.reduce((a, r) => a + r.requests.average, 0),
    total: results.reduce((a, r) => a + r['2xx'], 0),
    // over replicas: the worst replica's percentiles
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    max: Math.max(...results.map((r) => r.latency.max)),
    errors: results.reduce((a, r) => a + r.errors + r.timeouts + r.non2xx, 0),
  };
  if (cpu) {
    if (cpu.from.server !== null && cpu.to.server !== null) row.serverCpuMsPerRequest = perRequest(cpu.to.server - cpu.from.server);
    const load = process.cpuUsage(cpu.from.load);
    row.loadCpuMsPerRequest = perRequest((load.user + load.system) / 1000);
  }
  rows.push(row);
  process.stdout.write(JSON.stringify({ bench: 'serve', ...search, duration, k, threads: Number(threads), replicas, db: db ?? 'sqlite (temp)', serverArgs, ...row }) + '\n');
  if (row.errors > 0) failed = true;
}

interface FailoverResult {
  total: number;
  retried: number;
  failed: number;
  latencies: number[];
  killedAtMs: number;
}

/**
 * The failover scenario's client: `connections` loops, each sending its requests to replica
 * (loop mod replicas) first and to the next replicas on a connection error or a 5xx; the first
 * replica is killed with SIGKILL halfway through. Latency counts from the first attempt.
 */
async function failover(servers: Array<{ child: ChildProcess; base: string }>, connections: number, pathOf: (i: number) => string): Promise<FailoverResult> {
  if (servers.length < 2) throw new Error('the failover scenario needs --replicas 2 or more');
  const result: FailoverResult = { total: 0, retried: 0, failed: 0, latencies: [], killedAtMs: (duration * 1000) / 2 };
  const started = performance.now();
  const killer = setTimeout(() => servers[0].child.kill('SIGKILL'), result.killedAtMs);
  let next = 0;
  const loop = async (c: number): Promise<void> => {
    while (performance.now() - started < duration * 1000) {
      const path = pathOf(next++);
      const t0 = performance.now();
      let ok = false;
      for (let attempt = 0; attempt < servers.length && !ok; attempt++) {
        if (attempt > 0) result.retried++;
        try {
          const res = await fetch(`${servers[(c + attempt) % servers.length].base}${path}`, { signal: AbortSignal.timeout(60_000) });
          await res.arrayBuffer();
          ok = res.status < 500;
        } catch {
          ok = false;
        }
      }
      result.total++;
      if (ok) result.latencies.push(performance.now() - t0);
      else result.failed++;
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, c) => loop(c)));
  clearTimeout(killer);
  return result;
}

function recordFailover(connections: number, r: FailoverResult): void {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const pct = (p: number): number => (sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]));
  const row: Row = {
    scenario: 'failover',
    connections,
    requestsPerSecond: Math.round((sorted.length / duration) * 10) / 10,
    total: sorted.length,
    p50: pct(50),
    p99: pct(99),
    max: Math.round(sorted.at(-1) ?? 0),
    errors: r.failed,
  };
  rows.push(row);
  process.stdout.write(
    JSON.stringify({ bench: 'serve', ...search, duration, k, threads: Number(threads), replicas, db: db ?? 'sqlite (temp)', serverArgs, ...row, requests: r.total, retried: r.retried, killedAfterMs: r.killedAtMs }) + '\n',
  );
  if (row.errors > 0) failed = true;
}

for (const connections of connectionCounts) {
  for (const scenario of scenarios) {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-bench-serve-'));
    const database = db ?? join(dir, 'users.sqlite');
    const servers: Array<{ child: ChildProcess; base: string; banner: string }> = [];
    try {
      for (let r = 0; r < replicas; r++) servers.push(await startServer(scenario === 'cached' ? [] : ['--compose-cache', '0'], database));
      process.stderr.write(`${scenario} @ ${connections}: ${servers[0].banner}\n`);
      const health = (await (await fetch(`${servers[0].base}/health`)).json()) as Health;
      // warm-up outside the clock: the first compositions pay for graph compilation, JIT and the reference outfits
      for (const s of servers) for (let u = 0; u < 5; u++) await fetch(`${s.base}/users/${u}/outfits?k=${k}&exact=${u % 2}`);
      if (scenario === 'cached') {
        for (const s of servers) for (let u = 0; u < health.runUsers; u++) await fetch(`${s.base}/users/${u}/outfits?k=${k}`);
      }
      let next = 0;
      const composeRequest: AutocannonRequest = {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: `/users/${next++ % health.runUsers}/outfits?k=${k}${scenario === 'compose-exact' ? '&exact=1' : ''}` }),
      };
      const rankRequest: AutocannonRequest = {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ outfits: await outfitsOf(servers[0].base, health, 20) }),
        setupRequest: (req) => ({ ...req, path: `/users/${next++ % health.runUsers}/rank` }),
      };
      const onboardRequest: AutocannonRequest = {
        method: 'POST',
        path: '/users',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ outfits: await outfitsOf(servers[0].base, health, 5, 3), label: 'bench' }),
      };
      // one autocannon per replica, `share` of the connections each, all at once
      const load = (request: AutocannonRequest, total: number): Promise<AutocannonResult[]> =>
        Promise.all(
          servers.map((s, i) =>
            autocannon({ url: s.base, connections: Math.max(1, Math.floor(total / replicas) + (i < total % replicas ? 1 : 0)), duration, timeout: 60, requests: [request] }),
          ),
        );
      if (scenario === 'failover') {
        recordFailover(connections, await failover(servers, connections, (i) => `/users/${i % health.runUsers}/outfits?k=${k}`));
      } else if (scenario === 'mixed') {
        const [compose, onboard, healthResults] = await Promise.all([load(composeRequest, connections), load(onboardRequest, 2), load({ method: 'GET', path: '/health' }, 2)]);
        record('mixed: compose', connections, compose);
        record('mixed: onboard', 2, onboard);
        record('mixed: /health', 2, healthResults);
      } else {
        const request = scenario === 'rank' ? rankRequest : scenario === 'onboard' ? onboardRequest : composeRequest;
        const from = cpuMark(servers);
        const results = await load(request, connections);
        record(scenario, connections, results, { from, to: cpuMark(servers) });
      }
    } finally {
      for (const s of servers) await stopServer(s.child);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const pad = (s: string | number, w: number) => String(s).padStart(w);
process.stdout.write(`\n${duration} s per scenario, k = ${k}, ${replicas} replica(s), ${db ?? 'SQLite'}\n`);
process.stdout.write(
  `${pad('scenario', 16)} ${pad('conns', 5)} ${pad('req/s', 8)} ${pad('2xx', 7)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('max ms', 7)} ${pad('errors', 6)} ${pad('server CPU ms/req', 17)} ${pad('load CPU ms/req', 15)}\n`,
);
for (const r of rows) {
  process.stdout.write(
    `${pad(r.scenario, 16)} ${pad(r.connections, 5)} ${pad(r.requestsPerSecond.toFixed(1), 8)} ${pad(r.total, 7)} ${pad(r.p50, 7)} ${pad(r.p99, 7)} ${pad(r.max, 7)} ${pad(r.errors, 6)} ${pad(r.serverCpuMsPerRequest?.toFixed(3) ?? '', 17)} ${pad(r.loadCpuMsPerRequest?.toFixed(3) ?? '', 15)}\n`,
  );
}
if (failed) {
  process.stderr.write('bench/serve: some requests failed (errors, timeouts or non-2xx responses)\n');
  process.exitCode = 1;
}
