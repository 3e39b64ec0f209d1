/**
 * One small trained run on the tiny synthetic preset, shared by the serving tests (and reused across
 * test runs): cached under os.tmpdir(), keyed by a hash of the code that makes it (data, model,
 * training, engine), so a change to that code trains a fresh one. One process builds it (a lock
 * folder), in a temp folder renamed into place, so test files running in parallel neither train
 * twice nor see half a run.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSynthetic } from '../../src/data/synth/index.js';
import { trainRun } from '../../src/train/trainer.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCES = ['src/data', 'src/model', 'src/runs', 'src/train', 'src/engine', 'src/config.ts', 'src/rng.ts'];

/** Small enough to train in seconds; big enough to have learned something (2 epochs). */
export const TINY_RUN_CONFIG = {
  method: 'softmax',
  model: { backbone: { kind: 'convnet', width: 0.25, outDim: 32 }, dim: 32, heads: 2, anchors: 8 },
  epochs: 2,
  batchSize: 32,
  seed: 7,
};

export interface TinyRun {
  /** Dataset root (tiny preset: tuples_630, _53, _519, _32). */
  root: string;
  /** Run folder trained on tuples_630. */
  runDir: string;
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
    } else if (path.endsWith('.ts')) {
      hash.update(path.slice(REPO.length)).update(readFileSync(path));
    }
  };
  for (const s of SOURCES) visit(join(REPO, s));
  hash.update(JSON.stringify(TINY_RUN_CONFIG));
  return hash.digest('hex').slice(0, 16);
}

/** A lock older than this is left over from a killed process. */
const STALE_LOCK_MS = 5 * 60_000;

export async function tinyRun(): Promise<TinyRun> {
  const base = join(tmpdir(), `outfitrec-serve-run-${sourceHash()}`);
  const ready = (): TinyRun => ({ root: join(base, 'data'), runDir: join(base, 'run') });
  const lock = `${base}.lock`;
  // one process builds; test files running beside it wait for its result instead of training too
  for (;;) {
    if (existsSync(join(base, 'run', 'best.safetensors'))) return ready();
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        // the lock went away meanwhile: try again
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (!existsSync(join(base, 'run', 'best.safetensors'))) await buildTinyRun(base);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return ready();
}

async function buildTinyRun(base: string): Promise<void> {
  const build = mkdtempSync(join(tmpdir(), 'outfitrec-serve-build-'));
  try {
    const root = join(build, 'data');
    await generateSynthetic({ preset: 'tiny', out: root, log: () => {} });
    await trainRun({
      config: { ...TINY_RUN_CONFIG, data: { root, set: '630' } },
      out: join(build, 'run'),
      log: () => {},
      progressStream: null,
    });
    rmSync(base, { recursive: true, force: true }); // a half-built leftover of a killed process
    renameSync(build, base);
  } catch (err) {
    rmSync(build, { recursive: true, force: true });
    throw err;
  }
}
