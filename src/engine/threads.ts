/**
 * Node shim for tfjs-backend-wasm threads (architecture.md §5). tfjs 4.22 turns threads off in
 * Node (WASM_HAS_MULTITHREAD_SUPPORT is false when IS_NODE) because its pthread workers are loaded from `blob:` URLs, which Node workers cannot
 * load. This shim:
 * - records the text of the two Blobs tfjs builds (the threaded module factory and the pthread
 *   worker script) and writes them to files in a temp dir, so workers load real paths;
 * - makes os.cpus() report twice the cores while the module initialises, because the C++ side
 *   caps threads at logical cores / 2 (= 1 on a 2-vCPU machine);
 * - then forces the flag and calls setThreadsCount.
 * It depends on internals of tfjs-backend-wasm 4.22.0 (rollup's require$$N names), hence the
 * pinned version and the test asserting getThreadsCount(). With threads, pthread workers keep
 * the process alive: call shutdownEngine() (backend.ts) before exiting.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { tf } from './tf.js';

/** Names the rollup bundle of tfjs-backend-wasm gives its imports; the factory text refers to them. */
const FACTORY_PRELUDE =
  "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os'),commonjsGlobal=globalThis;\n";
const FACTORY_MARKER = 'var WasmBackendModuleThreadedSimd';

let enabledThreads = 0;

/**
 * Enables `threads` wasm threads. Must run before the wasm backend is first initialised; throws
 * if it already is (the thread count is fixed at initialisation).
 */
export async function enableWasmThreads(threads: number): Promise<void> {
  if (enabledThreads === threads) return;
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (registry.wasm) {
    throw new Error('enableWasmThreads: the wasm backend is already initialised; enable threads before initEngine selects it');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'outfitrec-wasm-threads-'));
  const mainPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.main.js');
  const workerPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');

  const originalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  // Blobs built while the module initialises keep their text. The module factory's Blob is sent
  // to the workers as-is (they call URL.createObjectURL on it in their own realm, patched by the
  // worker prelude below), so its file is written as soon as it is built.
  class RecordingBlob extends originalBlob {
    readonly recordedText: string;
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      this.recordedText = (parts ?? []).map((p) => (typeof p === 'string' ? p : '')).join('');
      if (this.recordedText.startsWith(FACTORY_MARKER)) writeFileSync(mainPath, FACTORY_PRELUDE + this.recordedText);
    }
  }
  globalThis.Blob = RecordingBlob;
  URL.createObjectURL = (obj: Blob | MediaSource): string => {
    if (!(obj instanceof RecordingBlob)) return originalCreateObjectURL(obj as Blob);
    // the pthread worker script; inside a worker the factory "blob" resolves to the file above
    writeFileSync(workerPath, `URL.createObjectURL=()=>${JSON.stringify(mainPath)};URL.revokeObjectURL=()=>{};\n` + obj.recordedText);
    return workerPath;
  };
  os.cpus = () => {
    const cpus = originalCpus();
    return [...cpus, ...cpus];
  };
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('enableWasmThreads: the wasm backend failed to initialise');
    await tf.ready();
  } finally {
    globalThis.Blob = originalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    os.cpus = originalCpus;
  }
  const actual = getThreadsCount();
  if (actual !== threads) throw new Error(`enableWasmThreads: asked for ${threads} threads, the backend runs ${actual}`);
  enabledThreads = threads;
}

/** Threads the wasm backend runs (1 unless enableWasmThreads ran). */
export function wasmThreadsCount(): number {
  return getThreadsCount();
}
