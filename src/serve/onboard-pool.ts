/**
 * A pool of worker threads that fit new users (method.md §5) off the event loop, so /health,
 * composition and ranking keep answering while users are created (an SO fit from 50 outfits is
 * hundreds of milliseconds of JavaScript). Each worker loads the run's model once and shares the
 * main thread's serving table; jobs queue for the first free worker. A worker that dies fails its
 * job with a clear error and is replaced.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';
import type { ColdStartOptions, ColdStartStrategy } from '../train/cold-start.js';

/** What every worker starts from (structured-cloned: each worker gets its own copy). */
export interface WorkerInit {
  runDir: string;
  root: string;
  set: string;
  /**
   * The composer's serving table (compose.ts `servingTable`: SAB1's projections, [rows · 3d], row =
   * global item id for every item): the worker projects outfits through the same graph and table as
   * the main thread, so a user fitted in a worker gets the very anchors an in-process fit gives.
   * A copy per worker (onnxruntime-node refuses shared memory as a tensor).
   */
  servingTable: Float32Array;
  pools: { byCategory: Int32Array[]; categoryOf: Uint8Array };
  coldStart: Partial<Omit<ColdStartOptions, 'rng' | 'strategy' | 'pools' | 'projectOutfits' | 'candidateUsers'>>;
}

export interface OnboardJob {
  job: number;
  /** n·slots global ids, -1 = empty slot. */
  items: Int32Array;
  slots: number;
  strategy: ColdStartStrategy;
  /** The fit's randomness: `new Rng(seed).fork(fork)`. */
  seed: number;
  fork: string;
}

export type OnboardReply = { job: number; anchors: Float32Array } | { job: number; error: string; userError: boolean };

/** Default pool size: every core but one for the event loop, at least one worker. */
export function defaultOnboardWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  /** The worker has loaded the run and takes jobs. */
  loaded: boolean;
  busy: { job: OnboardJob; resolve: (a: Float32Array) => void; reject: (e: Error) => void } | null;
}

export class OnboardPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Array<{ job: OnboardJob; resolve: (a: Float32Array) => void; reject: (e: Error) => void }> = [];
  private nextJob = 0;
  private closed = false;
  /** Jobs fitted so far by each worker (tests, diagnostics). */
  readonly fitted: number[];

  constructor(
    private readonly init: WorkerInit,
    readonly size: number,
  ) {
    if (!(Number.isInteger(size) && size >= 1)) throw new UserError(`onboarding workers must be a positive integer, got ${size}`);
    this.fitted = new Array<number>(size).fill(0);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  /** Resolves when every worker has loaded the run (rejects with the first failure). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** Fits one new user's anchors [Ku·d] in a worker. */
  fit(job: Omit<OnboardJob, 'job'>): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('the onboarding pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { ...job, job: this.nextJob++ }, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new Error('the onboarding pool was closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(index: number): Slot {
    const worker = new Worker(workerUrl(), { workerData: this.init });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    const slot: Slot = { worker, busy: null, loaded: false, ready: new Promise((res, rej) => ((readyResolve = res), (readyReject = rej))) };
    slot.ready.catch(() => {}); // observed by ready() or by the jobs
    worker.on('message', (msg: OnboardReply | { ready: true } | { failed: string }) => {
      if ('ready' in msg) {
        slot.loaded = true;
        // a loading or busy worker keeps the process alive; an idle one does not (a library user
        // who never closes the recommender still sees the process end)
        worker.unref();
        readyResolve();
        this.dispatch();
        return;
      }
      if ('failed' in msg) {
        readyReject(new Error(`onboarding worker could not load the run: ${msg.failed}`));
        this.failQueue(`onboarding worker could not load the run: ${msg.failed}`);
        return;
      }
      const busy = slot.busy;
      if (!busy || busy.job.job !== msg.job) return;
      slot.busy = null;
      worker.unref();
      if ('anchors' in msg) {
        this.fitted[index]++;
        busy.resolve(msg.anchors);
      } else {
        busy.reject(msg.userError ? new UserError(msg.error) : new Error(msg.error));
      }
      this.dispatch();
    });
    worker.on('error', (err) => {
      if (!slot.loaded) readyReject(err);
    });
    worker.on('exit', (code) => {
      if (this.closed) return;
      const busy = slot.busy;
      slot.busy = null;
      busy?.reject(new Error(`onboarding worker stopped (exit code ${code}) while fitting a user`));
      if (!slot.loaded) {
        readyReject(new Error(`onboarding worker stopped (exit code ${code}) before it was ready`));
        this.failQueue(`onboarding worker stopped (exit code ${code}) before it was ready`);
        return;
      }
      // replace it: the pool keeps its size
      this.slots[index] = this.spawn(index);
    });
    return slot;
  }

  private failQueue(message: string): void {
    // every worker loads the same run: one failing to load means none will
    for (const q of this.queue.splice(0)) q.reject(new Error(message));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      // a worker still loading gets no job yet; its 'ready' message dispatches again
      if (slot.busy || !slot.loaded) continue;
      const next = this.queue.shift()!;
      slot.busy = next;
      slot.worker.ref();
      slot.worker.postMessage(next.job);
    }
  }
}

/**
 * The worker's entry. Compiled (dist/), the .js file itself. Under tsx (the sources as they are),
 * a worker inherits neither tsx's `register()` (bin/outfitrec.js) nor, on Node 20, an `--import tsx`
 * flag's hooks: a two-line ES module registers tsx in the worker, then imports the TypeScript entry.
 */
function workerUrl(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./onboard-worker.js', import.meta.url);
  const entry = new URL('./onboard-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}
