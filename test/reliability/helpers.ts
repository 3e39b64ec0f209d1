/**
 * Shared by the reliability tests (docs/reliability.md): the CLI run in this process with its
 * output captured, and private copies of the hand-made fixture.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

export const FIXTURE = new URL('../fixtures/fhn-mini', import.meta.url).pathname;

const scratch: string[] = [];
// scratch folders go when the test file's process ends (a test may still hold files open before)
process.on('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

export function scratchDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `outfitrec-rel-${label}-`));
  scratch.push(dir);
  return dir;
}

/** A private copy of test/fixtures/fhn-mini (tests break its files). */
export function fixtureCopy(label: string): string {
  const root = join(scratchDir(label), 'data');
  cpSync(FIXTURE, root, { recursive: true });
  return root;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `outfitrec ARGS` in this process: exit code (process.exitCode as main leaves it), stdout, stderr. */
export async function runCli(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  // the CLI writes strings; the test runner's own reports (binary, on stdout) must go through
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
    typeof chunk === 'string' ? ((stdout += chunk), true) : out(chunk, ...rest)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
    typeof chunk === 'string' ? ((stderr += chunk), true) : err(chunk, ...rest)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await main(['node', 'outfitrec', ...args]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = before;
  return { code, stdout, stderr };
}

/** The one-line error contract: exit 1, one line on stderr, no stack trace, no "internal error". */
export function assertOneLineError(r: CliResult, pattern: RegExp, assert: typeof import('node:assert/strict')): void {
  assert.equal(r.code, 1, `exit status 1, got ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.match(lines[0], pattern);
}
