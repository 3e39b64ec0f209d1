/** Command-line options of the bench scripts: `--name value` pairs, nothing more. */

/** The value after `--name`, or undefined. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The value after `--name`; without it, prints `usage` and exits 2. */
export function requiredArg(name: string, usage: string): string {
  const value = arg(name);
  if (value === undefined) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return value;
}
