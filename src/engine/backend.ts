/** Backend choice (architecture.md §5): wasm by default, cpu as the exact reference for tests. */
import { installEngineFixes } from './kernels.js';
import { tf } from './tf.js';

export type BackendName = 'wasm' | 'cpu';

export interface EngineOptions {
  /** 'auto' = wasm when it initialises, else cpu. */
  backend?: BackendName | 'auto';
  /**
   * wasm threads (architecture.md §5): 1 (default) or 2 through the Node threads shim (threads.ts). They
   * speed up XNNPACK products and convolutions, not the small elementwise kernels. A process that
   * asks for 2 must call `shutdownEngine()` before it exits, or the pthread workers keep it alive.
   * Fixed when the wasm backend first initialises.
   */
  threads?: 1 | 2;
}

/** Selects and readies a backend, installing the engine fixes; returns the backend in use. */
export async function initEngine(opts: EngineOptions = {}): Promise<BackendName> {
  installEngineFixes();
  const want = opts.backend ?? 'auto';
  const threads = opts.threads ?? 1;
  if (threads !== 1 && threads !== 2) throw new Error(`initEngine: threads must be 1 or 2, got ${String(threads)}`);
  if (threads === 2 && want !== 'cpu') {
    const { enableWasmThreads } = await import('./threads.js');
    await enableWasmThreads(threads);
  }
  const order: BackendName[] = want === 'auto' ? ['wasm', 'cpu'] : [want];
  for (const name of order) {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return name;
    }
  }
  throw new Error(`no tfjs backend could be initialised (tried ${order.join(', ')})`);
}

/**
 * Runs `fn` with backend `name` active, then restores the previous backend (tests that compare
 * wasm against the cpu reference). Tensors made inside live on `name`; read them out inside `fn`.
 */
export async function withBackend<R>(name: BackendName, fn: () => R | Promise<R>): Promise<R> {
  installEngineFixes();
  const previous = tf.getBackend();
  if (!(await tf.setBackend(name))) throw new Error(`withBackend: backend ${name} could not be initialised`);
  await tf.ready();
  try {
    return await fn();
  } finally {
    if (previous && previous !== name) {
      await tf.setBackend(previous);
      await tf.ready();
    }
  }
}

/**
 * Removes the wasm backend, which terminates its pthread workers (threads: 2), so the process can
 * exit on its own. Harmless with 1 thread.
 */
export function shutdownEngine(): void {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (registry.wasm) tf.removeBackend('wasm');
}
