/**
 * `outfitrec` command line. Each command lives in its own file under src/cli/ and exports
 * `register(command)`, which adds its arguments, options and action; this file only wires them and
 * turns user errors into a message + exit 1.
 *
 * Command modules are imported lazily: only the invoked command's module (and what it imports) is
 * loaded; the others are listed by name and summary, so `outfitrec --help` starts no engine.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { userErrorOf } from '../errors.js';

interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<{ register: (command: Command) => void | Promise<void> }>;
}

const COMMANDS: CommandEntry[] = [
  { name: 'data', summary: 'read, check and synthesise Polyvore-U datasets', load: () => import('./data.js') },
  { name: 'eval', summary: 'evaluate scorers (AUC, NDCG, FITB) on one split of a Polyvore-U set; several scorers share the same candidates', load: () => import('./eval.js') },
  {
    name: 'features',
    summary: 'run a pretrained ONNX image encoder over a dataset\'s item images and write the .npy + .names features that train --features reads',
    load: () => import('./features.js'),
  },
  { name: 'train', summary: 'train a model (lpae, softmax, softmax+cl, fnd, fnd+cl) into a run folder', load: () => import('./train.js') },
  { name: 'demo', summary: 'end to end on a small synthetic set: teacher, distilled fnd+cl student, student alone, evaluated beside the oracle', load: () => import('./demo.js') },
  {
    name: 'coldstart',
    summary: 'profile the new users of 53/32 with a model trained on 630/519 from N outfits each, then evaluate on their full test split (docs/method.md §5)',
    load: () => import('./coldstart.js'),
  },
  {
    name: 'experiment',
    summary: 'run the paper experiments (docs/method.md §8) as a resumable grid of runs and write <out>/report.md with CSV tables and SVG charts',
    load: () => import('./experiment.js'),
  },
  {
    name: 'compare',
    summary: 'evaluate labelled groups of finished runs (one per seed) on the test split and write <out>/report.md with mean ± std, CSVs and SVG charts',
    load: () => import('./compare.js'),
  },
  { name: 'serve', summary: 'serve recommendations over HTTP with a web page: composed outfits, ranking, new users from a few outfits', load: () => import('./serve.js') },
  { name: 'export', summary: 'write a trained run as ONNX models (item encoder, outfit scorers) with a JSON sidecar, for any ONNX runtime', load: () => import('./export.js') },
  { name: 'config', summary: 'the run configuration: its JSON Schema (config schema)', load: () => import('./config.js') },
];

/** The package's version (package.json, two folders up from src/cli/ and from dist/cli/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The command an argument list invokes (`help X` asks for X), or undefined. */
function invokedCommand(args: readonly string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('outfitrec')
    .description('Personalized outfit recommendation: LPAE anchors, Set Transformer, FND distillation, contrastive learning')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  const invoked = invokedCommand(argv.slice(2));
  try {
    for (const entry of COMMANDS) {
      const command = program.command(entry.name).description(entry.summary);
      if (entry.name === invoked) await (await entry.load()).register(command);
    }
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
