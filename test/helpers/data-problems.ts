import { DataError, DataErrors } from '../../src/errors.js';

/** The messages of a data problem (one DataError or the DataErrors of several); anything else is rethrown. */
export function problemMessages(err: unknown): string[] {
  if (err instanceof DataErrors) return err.errors.map((e) => e.message);
  if (err instanceof DataError) return [err.message];
  throw err;
}
