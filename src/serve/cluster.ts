/**
 * `serve --processes N`: N server processes on one port (node:cluster), so that composition, which
 * runs on each process's one event loop (ONNX Runtime session calls included), uses every core of
 * the machine (architecture.md §6).
 *
 * - The primary process serves nothing: it forks the N server processes, which run the same
 *   command line and share the listening socket (the primary accepts connections and hands them
 *   round-robin to the processes), waits until every one is ready, then prints one banner.
 * - Every process holds its own model, item embeddings, ANN index and caches; onboarded users live
 *   in the shared database (the SQLite file, written by one process at a time and watched by the
 *   others, or PostgreSQL), exactly like replicas on several machines: a user onboarded through one
 *   process is served by all of them.
 * - A process that dies after start-up (a crash, `kill -9`) is replaced; its connections fail, the
 *   others' do not. Too many deaths in a short time stop the service instead of looping.
 * - SIGINT / SIGTERM to the primary stop every process gracefully (in-flight requests finish).
 */
import cluster, { type Worker } from 'node:cluster';
import { UserError, userErrorOf } from '../errors.js';

/** Messages a server process sends to the primary. */
export type ServeProcessMessage =
  | {
      kind: 'outfitrec-serve-ready';
      /** The banner the process would print on its own (everything but the "listening on" line). */
      banner: string;
      url: string;
    }
  | {
      /** Start-up failed: the primary prints the message once (every process would fail alike). */
      kind: 'outfitrec-serve-failed';
      /** A user error's message, or undefined for an internal error (then `detail` holds its stack). */
      message?: string;
      detail: string;
    };

/** Deaths after start-up tolerated within RESTART_WINDOW_MS before the service gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** True in a process forked by `superviseServeProcesses` (it serves, and reports to the primary). */
export function isServeProcess(): boolean {
  return cluster.isWorker;
}

/** Tells the primary this process listens; it prints the banner once for all of them. */
export function reportReady(banner: string, url: string): void {
  process.send?.({ kind: 'outfitrec-serve-ready', banner, url } satisfies ServeProcessMessage);
}

/** Tells the primary why this process could not start, instead of printing it (N processes, one message). */
export function reportFailed(err: unknown): void {
  const user = userErrorOf(err);
  process.send?.({ kind: 'outfitrec-serve-failed', message: user?.message, detail: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ServeProcessMessage);
}

/** Ends a server process after its server closed (the IPC channel to the primary would keep it alive). */
export function leaveCluster(): void {
  if (cluster.isWorker && cluster.worker?.isConnected()) cluster.worker.disconnect();
}

/**
 * Runs `processes` server processes on the current command line and resolves when the service has
 * stopped (a signal, or too many deaths: then it rejects with a UserError). `out` receives the
 * banner and the supervision log lines.
 */
export async function superviseServeProcesses(processes: number, out: (line: string) => void = (l) => process.stdout.write(l)): Promise<void> {
  const alive = new Set<Worker>();
  let stopping = false;
  const deaths: number[] = [];
  const fork = (): Worker => {
    const w = cluster.fork();
    alive.add(w);
    return w;
  };

  // start-up: every process must come up, or the service does not start
  const starting = Array.from({ length: processes }, fork);
  const ready = await Promise.all(
    starting.map(
      (w) =>
        new Promise<{ banner: string; url: string }>((resolve, reject) => {
          let failure: Error | undefined;
          const onExit = (code: number | null, signal: string | null): void =>
            reject(failure ?? new UserError(`a server process exited before it was ready (${signal ?? `exit code ${code}`})`));
          w.once('exit', onExit);
          w.on('message', (m: ServeProcessMessage) => {
            if (m?.kind === 'outfitrec-serve-failed') {
              failure = m.message !== undefined ? new UserError(m.message) : new Error(`a server process failed to start: ${m.detail}`);
            } else if (m?.kind === 'outfitrec-serve-ready') {
              w.off('exit', onExit);
              resolve(m);
            }
          });
        }),
    ),
  ).catch(async (err: unknown) => {
    stopping = true;
    await stopAll(alive);
    throw err;
  });
  out(`${ready[0].banner}processes: ${processes} server processes (pids ${starting.map((w) => w.process.pid).join(', ')}) on one port, supervised by pid ${process.pid}\nlistening on ${ready[0].url}\n`);

  await new Promise<void>((resolve, reject) => {
    cluster.on('exit', (w, code, signal) => {
      alive.delete(w);
      if (stopping) return;
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0] < now - RESTART_WINDOW_MS) deaths.shift();
      if (deaths.length > MAX_RESTARTS) {
        stopping = true;
        void stopAll(alive).then(() => reject(new UserError(`${deaths.length} server processes died within ${RESTART_WINDOW_MS / 1000} s; stopping (see their messages above)`)));
        return;
      }
      const replacement = fork();
      out(`outfitrec serve: process ${w.process.pid} exited (${signal ?? `exit code ${code}`}); started process ${replacement.process.pid}\n`);
    });
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      out('outfitrec serve: shutting down\n');
      void stopAll(alive).then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** SIGTERM to every process (each closes its server gracefully); resolves when all have exited. */
async function stopAll(alive: Set<Worker>): Promise<void> {
  await Promise.all(
    [...alive].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
}
