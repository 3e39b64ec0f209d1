/**
 * HTTP serving benchmark: requests/s and p50/p99 latency of composed recommendations
 * (GET /users/:id/outfits?k=10) under 100 concurrent connections on loopback, with autocannon.
 * The server runs as `outfitrec serve` in its own process, so load generator and server do not
 * share an event loop. Every response must be a 2xx: any error, timeout or non-2xx fails the bench.
 *
 *   node --import tsx bench/serve.ts --run RUN [--data DIR] [--set NAME] [--duration 10]
 *        [--connections 100] [--k 10] [--threads 1] [--scenarios cached,uncached,rank]
 *
 * Scenarios (each with a fresh server and a throwaway user database):
 *   cached    compose cache on (the default server), warmed with one request per user first;
 *   uncached  --compose-cache 0: every request runs the beam search;
 *   rank      POST /users/:id/rank with 20 outfits per request.
 * Requests rotate over the run's users.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runDir = arg('run');
if (!runDir) {
  process.stderr.write('usage: node --import tsx bench/serve.ts --run RUN [--data DIR] [--set NAME] [--duration S] [--connections N] ...\n');
  process.exit(2);
}
const duration = Number(arg('duration') ?? 10);
const connections = Number(arg('connections') ?? 100);
const k = Number(arg('k') ?? 10);
const threads = arg('threads') ?? '1';
const scenarios = (arg('scenarios') ?? 'cached,uncached,rank').split(',');
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'outfitrec.js');

/** Starts `outfitrec serve` on a free port and resolves with its base URL once it listens. */
function startServer(extra: string[], db: string): Promise<{ child: ChildProcess; base: string; banner: string }> {
  // the load generator is one client: the per-client rate limit would measure itself
  const args = [CLI, 'serve', '--run', runDir!, '--port', '0', '--db', db, '--threads', threads, '--rate-limit', '0', ...extra];
  if (arg('data')) args.push('--data', arg('data')!);
  if (arg('set')) args.push('--set', arg('set')!);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+?)\/?\n/.exec(out);
      if (m) resolve({ child, base: m[1], banner: out.split('\n')[0] });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

interface Health {
  runUsers: number;
  slotCategories: number[];
}

async function rankBody(base: string): Promise<string> {
  // 20 outfits made of the first items of each category, in the set's slot layout
  const health = (await (await fetch(`${base}/health`)).json()) as Health & { categories: string[] };
  const firstIds: number[][] = [];
  for (const name of health.categories.filter((_, c) => health.slotCategories.includes(c))) {
    const page = (await (await fetch(`${base}/items?category=${name}&limit=40`)).json()) as { items: Array<{ id: number }> };
    firstIds.push(page.items.map((i) => i.id));
  }
  // the second slot of a category (e.g. the second top) stays empty
  const outfits = Array.from({ length: 20 }, (_, r) =>
    health.slotCategories.map((c, j) => (health.slotCategories.indexOf(c) === j ? firstIds[c][r % firstIds[c].length] : null)),
  );
  return JSON.stringify({ outfits });
}

interface Row {
  scenario: string;
  requestsPerSecond: number;
  total: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

const rows: Row[] = [];
let failed = false;
for (const scenario of scenarios) {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-bench-serve-'));
  const { child, base, banner } = await startServer(scenario === 'uncached' ? ['--compose-cache', '0'] : [], join(dir, 'users.sqlite'));
  try {
    process.stderr.write(`${scenario}: ${banner}\n`);
    const health = (await (await fetch(`${base}/health`)).json()) as Health;
    if (scenario === 'cached') {
      // steady state: every user's result composed once before the clock starts
      for (let u = 0; u < health.runUsers; u++) await fetch(`${base}/users/${u}/outfits?k=${k}`);
    }
    let next = 0;
    const request: AutocannonRequest =
      scenario === 'rank'
        ? {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: await rankBody(base),
            setupRequest: (req) => ({ ...req, path: `/users/${next++ % health.runUsers}/rank` }),
          }
        : { method: 'GET', setupRequest: (req) => ({ ...req, path: `/users/${next++ % health.runUsers}/outfits?k=${k}` }) };
    const result = await autocannon({ url: base, connections, duration, timeout: 60, requests: [request] });
    const row: Row = {
      scenario,
      requestsPerSecond: result.requests.average,
      total: result['2xx'],
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
    };
    rows.push(row);
    process.stdout.write(JSON.stringify({ bench: 'serve', connections, duration, k, threads: Number(threads), ...row }) + '\n');
    if (row.errors > 0 || row.timeouts > 0 || row.non2xx > 0) failed = true;
  } finally {
    await stopServer(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const pad = (s: string | number, w: number) => String(s).padStart(w);
process.stdout.write(`\n${connections} connections, ${duration} s per scenario, k = ${k}\n`);
process.stdout.write(`${pad('scenario', 9)} ${pad('req/s', 8)} ${pad('2xx', 7)} ${pad('p50 ms', 8)} ${pad('p90 ms', 8)} ${pad('p99 ms', 8)} ${pad('max ms', 8)} ${pad('errors', 7)}\n`);
for (const r of rows) {
  process.stdout.write(
    `${pad(r.scenario, 9)} ${pad(r.requestsPerSecond.toFixed(1), 8)} ${pad(r.total, 7)} ${pad(r.p50, 8)} ${pad(r.p90, 8)} ${pad(r.p99, 8)} ${pad(r.max, 8)} ${pad(r.errors + r.timeouts + r.non2xx, 7)}\n`,
  );
}
if (failed) {
  process.stderr.write('bench/serve: some requests failed (errors, timeouts or non-2xx responses)\n');
  process.exitCode = 1;
}
