/** Option parsers shared by the commands: each throws a UserError naming the flag. */
import { UserError } from '../errors.js';

export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UserError(`${flag}: '${value}' is not a positive integer`);
  return n;
}

/** An optional number option (undefined stays undefined); `integer` also refuses fractions. */
export function parseNumber(value: string | undefined, flag: string, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UserError(`${flag}: '${value}' is not ${integer ? 'an integer' : 'a number'}`);
  }
  return n;
}

export function parseSeed(value: string, flag = '--seed'): number {
  const seed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seed) || seed > 0xffffffff) {
    throw new UserError(`${flag}: '${value}' is not an integer in 0..4294967295`);
  }
  return seed;
}

/** A comma-separated list of values, each checked against `allowed`. */
export function parseChoiceList<T extends string>(value: string, flag: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim());
  for (const it of items) {
    if (!(allowed as readonly string[]).includes(it)) throw new UserError(`${flag}: '${it}' is not one of ${allowed.join(', ')}`);
  }
  return [...new Set(items)] as T[];
}

/** The command line as a user would retype it: arguments with spaces or shell characters quoted. */
export function commandLineOf(argv: readonly string[]): string {
  return ['outfitrec', ...argv].map((a) => (/^[\w./:=,@+-]+$/u.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
