/**
 * Errors a user can cause (architecture.md §4.4). The CLI prints `message`
 * without a stack trace and exits non-zero; anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** Malformed input data: names the file and, where known, the 1-based line. */
export class DataError extends UserError {
  override name = 'DataError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly detail: string,
  ) {
    super(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`);
  }
}

/** Several data problems found in one pass (`data check` reports all of them, not only the first). */
export class DataErrors extends UserError {
  override name = 'DataErrors';
  constructor(readonly errors: DataError[]) {
    super(
      `${errors.length} problem${errors.length === 1 ? '' : 's'} found:\n` +
        errors.map((e) => `  ${e.message}`).join('\n'),
    );
  }
}

/** A configuration field with a bad value: names the field. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`config field '${field}': ${detail}`);
  }
}
