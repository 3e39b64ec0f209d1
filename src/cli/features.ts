/**
 * `outfitrec features`: a pretrained ONNX image encoder over a dataset's catalog images, written as
 * the `.npy` + names pair that `train --features` reads (method.md §2.4; src/model/pretrained.ts).
 */
import type { Command } from 'commander';
import { setEngineThreads } from '../engine/runtime.js';
import { DEFAULT_FEATURE_BATCH, extractFeatures } from '../model/pretrained.js';
import { commandLineOf, parsePositiveInt } from './parse.js';

interface FeaturesCliOptions {
  data: string;
  set?: string[];
  encoder: string;
  preprocess: string;
  out: string;
  batch?: string;
  threads?: string;
  quiet?: boolean;
}

export function register(command: Command): void {
  command
    .requiredOption('--data <dir>', 'dataset root holding images/ and tuples_<set>/ (docs/method.md §6.1)')
    .option('--set <name>', 'a set whose catalog to cover; repeat for several (default: every tuples_<set>/ of --data, one row per distinct image)', (v: string, prev: string[] = []) => [...prev, v])
    .requiredOption('--encoder <file.onnx>', 'ONNX image encoder: one float32 image input, one float32 feature output')
    .requiredOption('--preprocess <file.json>', 'preprocessing JSON: size, resize, mean, std, scale, layout, input, output (docs/method.md §2.4)')
    .requiredOption('--out <prefix>', 'writes <prefix>.npy (float32 [items, F]) and <prefix>.names (image name per row)')
    .option('--batch <n>', `images per encoder run (default: ${DEFAULT_FEATURE_BATCH}, or the encoder's fixed batch size)`)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: 1)')
    .option('--quiet', 'no progress display')
    .action(async (opts: FeaturesCliOptions) => {
      const batch = opts.batch === undefined ? undefined : parsePositiveInt(opts.batch, '--batch');
      if (opts.threads !== undefined) setEngineThreads(parsePositiveInt(opts.threads, '--threads'));
      const out = opts.out.replace(/\.(npy|names)$/, '');
      const s = await extractFeatures({ root: opts.data, sets: opts.set, encoder: opts.encoder, preprocess: opts.preprocess, out, batch, progressStream: opts.quiet ? null : process.stderr });
      process.stdout.write(
        `features: ${s.items} images of ${s.sets.join(', ')} → ${s.npy} (${s.items} × ${s.dim} float32) + ${s.names}, batch ${s.batch}, ${s.seconds.toFixed(1)} s\n` +
          `train on them: ${commandLineOf(['train', '--data', opts.data, '--set', s.sets[0], '--features', s.npy, '--out', 'RUN'])}\n`,
      );
    });
}
