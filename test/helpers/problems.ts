import assert from 'node:assert/strict';
import { DataError, DataErrors } from '../../src/errors.js';

/** The data problems `fn` throws (one DataError or all of a DataErrors); fails when it throws none. */
export function problemsOf(fn: () => unknown): DataError[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataErrors) return err.errors;
    if (err instanceof DataError) return [err];
    throw err;
  }
  assert.fail('expected a data problem, none was raised');
}
