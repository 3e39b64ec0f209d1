/**
 * `outfitrec demo`: the README's main job end to end on built-in defaults (src/lab/demo.ts):
 * synthetic data → wide softmax teacher → narrow fnd+cl student (+ the student alone) → one table
 * next to the oracle and a random scorer.
 */
import type { Command } from 'commander';
import { FND_DEFAULT_ALPHA } from '../config.js';
import { UserError } from '../errors.js';
import { DEMO_DEFAULTS, runDemo } from '../lab/demo.js';

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
        users: num(opts.users, '--users', true),
        outfitScale: num(opts.outfitScale, '--outfit-scale'),
        epochs: num(opts.epochs, '--epochs', true),
        teacherWidth: num(opts.teacherWidth, '--teacher-width'),
        studentWidth: num(opts.studentWidth, '--student-width'),
        alpha: num(opts.alpha, '--alpha'),
        studentAlone: opts.studentAlone,
        seed: num(opts.seed, '--seed', true),
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

function num(value: string | undefined, flag: string, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UserError(`${flag}: '${value}' is not ${integer ? 'an integer' : 'a number'}`);
  }
  return n;
}
