/**
 * Runs the grid's cells: teachers before the students that distil from them, each cell at most once.
 * With `jobs` = 1 the cells train in this process, one after the other; with more, each cell trains
 * in its own child process (cell-worker.ts), up to `jobs` at a time — one tfjs wasm process uses
 * one core, so two cells side by side use a 2-core machine fully.
 *
 * Ctrl-C (or SIGTERM): every running cell stops after its current step with its last epoch
 * checkpointed (the signal is forwarded to the children), no new cell starts, and the grid reports
 * `interrupted`; the next invocation resumes. A second signal quits at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cellKey, teacherOf, type GridPlan, type TrainCell } from './grid.js';
import { readCellResult, runCell, type CellResult, type GridPaths } from './cells.js';

export interface RunCellsOptions {
  jobs: number;
  log?: (line: string) => void;
  /** Aborting it acts like Ctrl-C (tests). */
  signal?: AbortSignal;
}

export interface RunCellsResult {
  results: Map<string, CellResult>;
  /** Cells trained (or resumed) by this call. */
  trained: number;
  /** Cells whose cached results were reused. */
  reused: number;
  interrupted: boolean;
}

/** The message a worker prints as its last stdout line. */
interface WorkerReport {
  status: 'done' | 'interrupted';
  trained?: boolean;
}

export async function runCells(cells: readonly TrainCell[], plan: GridPlan, paths: GridPaths, opts: RunCellsOptions): Promise<RunCellsResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const results = new Map<string, CellResult>();
  let trained = 0;
  let reused = 0;
  const pending: TrainCell[] = [];
  for (const c of cells) {
    const cached = readCellResult(paths, c);
    if (cached) {
      results.set(cellKey(c), cached);
      reused++;
    } else if (!pending.some((p) => cellKey(p) === cellKey(c))) {
      pending.push(c);
    }
  }
  if (pending.length === 0) return { results, trained, reused, interrupted: false };
  log(`experiment grid: ${pending.length} cell(s) to run, ${reused} already done, ${Math.min(opts.jobs, pending.length)} at a time`);

  let interrupted = false;
  const controller = new AbortController();
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
    log('interrupt: running cells stop after their current step; run the same command again to resume');
  };
  // SIGTERM too: without a handler Node would die at once and leave the detached children running
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const onAbort = (): void => {
    interrupted = true;
    controller.abort();
  };
  opts.signal?.addEventListener('abort', onAbort);
  const started = Date.now();
  let finished = 0;
  const total = pending.length;
  const progress = (c: TrainCell, what: string): void =>
    log(`[${++finished}/${total}] ${cellKey(c)} ${what} (${((Date.now() - started) / 1000).toFixed(0)} s elapsed)`);

  try {
    if (opts.jobs <= 1) {
      for (const c of pending) {
        if (interrupted) break;
        log(`cell ${cellKey(c)}: training`);
        const outcome = await runCell(c, plan, paths, { log: (line) => log(`  ${line}`), signal: controller.signal });
        if (outcome.status === 'interrupted') {
          interrupted = true;
          break;
        }
        results.set(cellKey(c), outcome.result);
        if (outcome.trained) trained++;
        progress(c, 'done');
      }
    } else {
      const running = new Map<string, Promise<void>>();
      const failures: Error[] = [];
      const queue = [...pending];
      // every teacher is in the cell list (grid.withTeachers): cached, or pending until it finishes
      const ready = (c: TrainCell): boolean => {
        const t = teacherOf(c, plan);
        return !t || results.has(cellKey(t));
      };
      while ((queue.length > 0 || running.size > 0) && failures.length === 0) {
        while (!interrupted && running.size < opts.jobs) {
          const idx = queue.findIndex(ready);
          if (idx < 0) break;
          const [c] = queue.splice(idx, 1);
          const key = cellKey(c);
          running.set(
            key,
            runCellInChild(c, plan, paths, log, controller.signal)
              .then((report) => {
                if (report.status === 'interrupted') {
                  interrupted = true;
                  return;
                }
                const r = readCellResult(paths, c);
                if (!r) throw new Error(`cell ${key}: the worker finished but left no result`);
                results.set(key, r);
                if (report.trained) trained++;
                progress(c, 'done');
              })
              .catch((err: Error) => {
                failures.push(err);
              })
              .finally(() => running.delete(key)),
          );
        }
        if (running.size === 0) break; // interrupted, or nothing ready (a teacher failed)
        await Promise.race(running.values());
      }
      await Promise.all(running.values());
      if (failures.length > 0) throw failures[0];
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { results, trained, reused, interrupted };
}

/** Trains and evaluates one cell in a child process; resolves with the worker's report. */
function runCellInChild(c: TrainCell, plan: GridPlan, paths: GridPaths, log: (line: string) => void, signal: AbortSignal): Promise<WorkerReport> {
  const key = cellKey(c);
  // from the sources (tsx) the worker is cell-worker.ts, run through tsx resolved from here so any
  // cwd works; from the built package (dist/) it is the compiled cell-worker.js, run by plain node
  const fromSource = import.meta.url.endsWith('.ts');
  const worker = fileURLToPath(new URL(fromSource ? './cell-worker.ts' : './cell-worker.js', import.meta.url));
  const loader = fromSource ? ['--import', import.meta.resolve('tsx')] : [];
  log(`cell ${key}: training in a child process`);
  return new Promise((resolvePromise, reject) => {
    // own process group: the terminal's Ctrl-C reaches the child once, forwarded from here
    const child = spawn(process.execPath, [...loader, worker, JSON.stringify({ cell: c, plan, paths })], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const forward = (): void => {
      child.kill('SIGINT');
    };
    signal.addEventListener('abort', forward);
    // a detached child outlives its parent: if this process exits (killed, crashed), stop the
    // child too, so a later invocation never trains the same cell beside an orphan
    const stopOnExit = (): void => {
      child.kill('SIGINT');
    };
    process.on('exit', stopOnExit);
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim() !== '') log(`  [${key}] ${line}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      signal.removeEventListener('abort', forward);
      process.off('exit', stopOnExit);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const report = JSON.parse(last) as WorkerReport;
        if (code === 0 && (report.status === 'done' || report.status === 'interrupted')) return resolvePromise(report);
      } catch {
        // fall through to the error below
      }
      reject(new Error(`cell ${key}: worker exited with code ${code}\n${stderrTail}`));
    });
  });
}
