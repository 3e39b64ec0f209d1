/** `outfitrec export`: a run's inference graphs as self-contained ONNX models (src/serve/export.ts). */
import type { Command } from 'commander';
import { exportRun } from '../serve/export.js';

export function register(command: Command): void {
  command
    .requiredOption('--run <dir>', 'trained run folder (config.json + best.safetensors)')
    .requiredOption('--out <dir>', 'folder to write (created; must be empty)')
    .option('--data <dir>', "dataset root (default: the run's); only the set's layout is read")
    .action(async (opts: { run: string; out: string; data?: string }) => {
      const summary = await exportRun(opts.run, opts.out, { root: opts.data });
      process.stdout.write(`exported ${opts.run} → ${summary.dir}: ${summary.files.join(', ')}\n`);
    });
}
