/**
 * `outfitrec demo`: the README's main job end to end on built-in defaults (src/lab/demo.ts):
 * synthetic data → wide softmax teacher → narrow fnd+cl student (+ the student alone) → one table
 * next to the oracle and a random scorer.
 */
import type { Command } from 'commander';
import { FND_DEFAULT_ALPHA } from '../config.js';
import { DEMO_DEFAULTS, runDemo } from '../lab/demo.js';
import { parseNumber } from './parse.js';

interface DemoCliOptions {
  out: string;
  preset: string;
  users?: string;
  outfitScale?: string;
  epochs?: string;
  teacherWidth?: string;
  studentWidth?: string;
  alpha?: string;
  studentAlone: boolean;
  seed?: string;
  quiet?: boolean;
}

export function register(command: Command): void {
  command
    .option('--out <dir>', 'folder for the data and the runs (reused when run again)', 'demo-out')
    .option('--preset <name>', 'synthetic preset (its first set is used)', DEMO_DEFAULTS.preset)
    .option('--users <n>', 'users of the set', String(DEMO_DEFAULTS.users))
    .option('--outfit-scale <f>', 'per-user outfit multiplier', String(DEMO_DEFAULTS.outfitScale))
    .option('--epochs <n>', 'epochs of each run', String(DEMO_DEFAULTS.epochs))
    .option('--teacher-width <w>', 'teacher convnet width', String(DEMO_DEFAULTS.teacherWidth))
    .option('--student-width <w>', 'student convnet width', String(DEMO_DEFAULTS.studentWidth))
    .option('--alpha <a>', 'FND α (docs/method.md §4)', String(FND_DEFAULT_ALPHA))
    .option('--no-student-alone', 'skip the student-alone control run')
    .option('--seed <n>', 'seed of the data and the runs', String(DEMO_DEFAULTS.seed))
    .option('--quiet', 'no progress bars')
    .action(async (opts: DemoCliOptions) => {
      const result = await runDemo({
        out: opts.out,
        preset: opts.preset,
        users: parseNumber(opts.users, '--users', true),
        outfitScale: parseNumber(opts.outfitScale, '--outfit-scale'),
        epochs: parseNumber(opts.epochs, '--epochs', true),
        teacherWidth: parseNumber(opts.teacherWidth, '--teacher-width'),
        studentWidth: parseNumber(opts.studentWidth, '--student-width'),
        alpha: parseNumber(opts.alpha, '--alpha'),
        studentAlone: opts.studentAlone,
        seed: parseNumber(opts.seed, '--seed', true),
        progressStream: opts.quiet ? null : process.stderr,
        handleSigint: true,
      });
      if (result.interrupted) {
        process.exitCode = 130;
        return;
      }
      process.stdout.write(result.table);
    });
}
