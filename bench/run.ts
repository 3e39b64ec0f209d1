/**
 * `npm run bench`: the project's training-step and inference throughput next to the PyTorch CPU
 * reference (shared/bench/torch_ref.py), same shapes, same machine, same run (docs/architecture.md
 * §4.6: absolute times on shared machines are noise, ratios are the figure).
 *
 * For every configuration (features/images × CL on/off) it runs, each in its own process:
 *   - bench/train-step.ts (the trainer's ONNX Runtime step) with 1 and 2 intra-op threads (the
 *     faster counts, as torch_ref.py reports the faster of its 1 and 2 threads);
 *   - torch_ref.py (skipped with a message when Debian's python3-torch is absent).
 * Prints every result as a JSON line, then a ratio table; with --json, one JSON object instead.
 *
 * Options: --modes features,images  --cl 1,0  --steps N  --warmup N  --images-steps N
 *          --threads 1|2|both  --no-torch  --repeat N (alternate ours/torch N times, keep medians)
 *          --json
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainStepResult } from './train-step.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TORCH_REF = path.resolve(here, '../../shared/bench/torch_ref.py');

interface TorchResult {
  engine: string;
  mode: string;
  cl: number;
  train_samples_per_s: number;
  infer_outfits_per_s: number;
  by_threads: Record<string, [number, number]>;
  params: number;
  peak_rss_mib?: number;
}

interface Options {
  modes: Array<'features' | 'images'>;
  cl: number[];
  steps: number;
  warmup: number;
  imagesSteps: number;
  threads: number[];
  torch: boolean;
  repeat: number;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { modes: ['features', 'images'], cl: [1, 0], steps: 20, warmup: 3, imagesSteps: 3, threads: [1, 2], torch: true, repeat: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value after ${flag}`);
      return v;
    };
    if (flag === '--modes') {
      opts.modes = value().split(',').map((m) => {
        if (m !== 'features' && m !== 'images') throw new Error(`--modes: unknown mode ${m}`);
        return m;
      });
    } else if (flag === '--cl') opts.cl = value().split(',').map(Number);
    else if (flag === '--steps') opts.steps = Number(value());
    else if (flag === '--warmup') opts.warmup = Number(value());
    else if (flag === '--images-steps') opts.imagesSteps = Number(value());
    else if (flag === '--threads') {
      const v = value();
      opts.threads = v === 'both' ? [1, 2] : v === '1' ? [1] : v === '2' ? [2] : (() => {
        throw new Error(`--threads must be 1, 2 or both, got ${v}`);
      })();
    } else if (flag === '--no-torch') opts.torch = false;
    else if (flag === '--repeat') opts.repeat = Number(value());
    else if (flag === '--json') opts.json = true;
    else throw new Error(`unknown option ${flag}`);
  }
  return opts;
}

/** The interpreter that has Debian's torch: /usr/bin/python3 first (a pyenv shim may shadow it). */
function findTorchPython(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return null;
}

function lastJsonLine(stdout: string): unknown {
  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON line in output:\n${stdout}`);
  return JSON.parse(lines[lines.length - 1]);
}

/** Our result, or the reason the configuration did not run. */
function runOurs(mode: string, cl: number, threads: number, steps: number, warmup: number): TrainStepResult | { error: string } {
  const args = ['--import', 'tsx', path.join(here, 'train-step.ts'), '--mode', mode, '--cl', String(cl), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    const reason = r.stderr.split('\n').find((l) => /^\w*Error/.test(l)) ?? `exit ${r.status}`;
    return { error: `train-step.ts ${args.slice(3).join(' ')}: ${reason}` };
  }
  return lastJsonLine(r.stdout) as TrainStepResult;
}

function runTorch(python: string, mode: string, cl: number, steps: number, warmup: number): TorchResult {
  // OPENBLAS_CORETYPE/L2_SIZE slow OpenBLAS down where set (env notes): unset for this command only
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const args = [TORCH_REF, '--mode', mode, '--cl', String(cl), '--steps', String(steps), '--warmup', String(warmup)];
  // /usr/bin/time is not guaranteed: peak RSS of the child comes from Python's own resource module
  const wrapper = `import resource, runpy, sys; sys.argv = ${JSON.stringify(args)}; runpy.run_path(sys.argv[0], run_name='__main__'); print('{"peak_rss_mib": %d}' % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024))`;
  const r = spawnSync(python, ['-c', wrapper], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_ref.py ${args.slice(1).join(' ')} failed (${r.status}):\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  const result = JSON.parse(lines[lines.length - 2]) as TorchResult;
  result.peak_rss_mib = (JSON.parse(lines[lines.length - 1]) as { peak_rss_mib: number }).peak_rss_mib;
  return result;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Row {
  mode: string;
  cl: number;
  oursTrain: number;
  oursInfer: number;
  oursRss: number | null;
  /** why no run of ours finished, when none did */
  oursError: string | null;
  oursTrainThreads: number;
  oursInferThreads: number;
  torchTrain: number | null;
  torchInfer: number | null;
  torchRss: number | null;
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '—' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  let python: string | null = null;
  if (opts.torch) {
    if (!existsSync(TORCH_REF)) console.error(`torch reference skipped: ${TORCH_REF} not found`);
    else {
      python = findTorchPython();
      if (!python) console.error('torch reference skipped: no python3 with torch (apt-get install python3-torch libopenblas0-pthread)');
    }
  }
  const rows: Row[] = [];
  const runs: unknown[] = [];
  for (const mode of opts.modes) {
    for (const cl of opts.cl) {
      const steps = mode === 'images' ? opts.imagesSteps : opts.steps;
      const warmup = mode === 'images' ? Math.min(opts.warmup, 1) : opts.warmup;
      const ours: TrainStepResult[] = [];
      const torch: TorchResult[] = [];
      const errors: string[] = [];
      for (let rep = 0; rep < opts.repeat; rep++) {
        for (const threads of opts.threads) {
          const r = runOurs(mode, cl, threads, steps, warmup);
          if (!opts.json) console.log(JSON.stringify(r));
          runs.push(r);
          if ('error' in r) errors.push(r.error);
          else ours.push(r);
        }
        if (python) {
          const t = runTorch(python, mode, cl, steps, warmup);
          if (!opts.json) console.log(JSON.stringify(t));
          torch.push(t);
          runs.push(t);
        }
      }
      // per thread count: median over repeats; then the faster thread count, as torch_ref.py does
      const best = (key: 'train_samples_per_s' | 'infer_outfits_per_s'): [number, number] => {
        let top: [number, number] = [0, 0];
        for (const threads of opts.threads) {
          const runs = ours.filter((r) => r.threads === threads);
          if (runs.length === 0) continue;
          const v = median(runs.map((r) => r[key]));
          if (v > top[0]) top = [v, threads];
        }
        return top;
      };
      const [oursTrain, trainThreads] = best('train_samples_per_s');
      const [oursInfer, inferThreads] = best('infer_outfits_per_s');
      rows.push({
        mode,
        cl,
        oursTrain,
        oursInfer,
        oursRss: ours.length ? Math.max(...ours.map((r) => r.peak_rss_mib)) : null,
        oursError: ours.length ? null : errors[0] ?? 'no result',
        oursTrainThreads: trainThreads,
        oursInferThreads: inferThreads,
        torchTrain: torch.length ? median(torch.map((t) => t.train_samples_per_s)) : null,
        torchInfer: torch.length ? median(torch.map((t) => t.infer_outfits_per_s)) : null,
        torchRss: torch.length ? Math.max(...torch.map((t) => t.peak_rss_mib ?? 0)) : null,
      });
    }
  }

  if (opts.json) {
    const ratio = (a: number, b: number | null): number | null => (b ? a / b : null);
    const configurations = rows.map((r) => ({ ...r, trainRatio: r.oursError ? null : ratio(r.oursTrain, r.torchTrain), inferRatio: r.oursError ? null : ratio(r.oursInfer, r.torchInfer) }));
    console.log(JSON.stringify({ machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, node: process.version }, options: opts, configurations, runs }));
    return;
  }
  const header = '| mode | CL | ours train samples/s (threads) | torch train samples/s | train ratio | ours infer outfits/s (threads) | torch infer outfits/s | infer ratio | ours peak RSS MiB | torch peak RSS MiB |';
  console.log('');
  console.log(header);
  console.log('|' + '---|'.repeat(10));
  for (const r of rows) {
    if (r.oursError) {
      console.log(`| ${r.mode} | ${r.cl ? 'on' : 'off'} | did not run | ${fmt(r.torchTrain, 2)} | — | — | ${fmt(r.torchInfer)} | — | — | ${fmt(r.torchRss, 0)} |`);
      continue;
    }
    const trainRatio = r.torchTrain ? r.oursTrain / r.torchTrain : null;
    const inferRatio = r.torchInfer ? r.oursInfer / r.torchInfer : null;
    console.log(
      `| ${r.mode} | ${r.cl ? 'on' : 'off'} | ${fmt(r.oursTrain, 2)} (${r.oursTrainThreads}) | ${fmt(r.torchTrain, 2)} | ${fmt(trainRatio, 3)} | ${fmt(r.oursInfer)} (${r.oursInferThreads}) | ${fmt(r.torchInfer)} | ${fmt(inferRatio, 3)} | ${r.oursRss} | ${fmt(r.torchRss, 0)} |`,
    );
  }
  for (const r of rows) if (r.oursError) console.log(`${r.mode} CL ${r.cl ? 'on' : 'off'}: ${r.oursError}`);
  console.log('\nTargets: training >= 1.0x PyTorch in every mode (features with CL: aim 1.5x), inference >= 2x.');
}

await main();
