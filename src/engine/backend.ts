/** Backend choice (DESIGN.md Engine): wasm by default, cpu as the exact reference for tests. */
import { tf } from './tf.js';

export type BackendName = 'wasm' | 'cpu';

export interface EngineOptions {
  /** 'auto' = wasm when it initialises, else cpu. */
  backend?: BackendName | 'auto';
}

/** Selects and readies a backend; returns the name of the backend in use. */
export async function initEngine(opts: EngineOptions = {}): Promise<BackendName> {
  const want = opts.backend ?? 'auto';
  const order: BackendName[] = want === 'auto' ? ['wasm', 'cpu'] : [want];
  for (const name of order) {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return name;
    }
  }
  throw new Error(`no tfjs backend could be initialised (tried ${order.join(', ')})`);
}
