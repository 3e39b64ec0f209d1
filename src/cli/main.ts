/**
 * `outfitrec` command line. Each command lives in its own file under src/cli/ and exports
 * `register(program)`; this file only wires them and turns user errors into a message + exit 1.
 */
import { Command, CommanderError } from 'commander';
import { userErrorOf } from '../errors.js';

// Command modules: each exports `register(program: Command): void`.
const commandModules: Array<() => Promise<{ register: (p: Command) => void | Promise<void> }>> = [
  async () => ({ register: (await import('./data.js')).registerAsync }),
  () => import('./eval.js'),
  () => import('./train.js'),
  () => import('./demo.js'),
  () => import('./coldstart.js'),
  () => import('./experiment.js'),
  () => import('./compare.js'),
  () => import('./serve.js'),
  () => import('./export.js'),
];

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('outfitrec')
    .description('Personalized outfit recommendation: LPAE anchors, Set Transformer, FND distillation, contrastive learning')
    .showHelpAfterError()
    .exitOverride();
  for (const load of commandModules) await (await load()).register(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints an error the way a user should see it; returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (or help/version, which exit 0)
    return err.exitCode;
  }
  const userError = userErrorOf(err);
  if (userError) {
    process.stderr.write(`outfitrec: ${userError.message}\n`);
    return 1;
  }
  process.stderr.write(`outfitrec: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 2;
}
