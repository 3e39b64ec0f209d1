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

/** Filesystem errors a user causes (a path that is missing, a directory, unreadable, a full disk …). */
const FS_CAUSES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** SQLite result codes of a file that is not a usable database. */
const SQLITE_CAUSES: Record<string, string> = {
  SQLITE_NOTADB: 'not an SQLite database',
  SQLITE_CORRUPT: 'the SQLite database is corrupt',
  SQLITE_CANTOPEN: 'cannot open the SQLite database',
  SQLITE_READONLY: 'the SQLite database is read-only',
  SQLITE_FULL: 'no space left for the SQLite database',
  SQLITE_IOERR: 'input/output error on the SQLite database',
  SQLITE_PERM: 'permission denied on the SQLite database',
};

/**
 * The one place where errors a user can cause but that arrive as system errors (fs, SQLite)
 * become UserErrors: one line naming the path and the cause. Anything else returns undefined
 * (a bug: the caller keeps its stack). `path` names the file when the error does not carry one
 * (writes on an open file descriptor, SQLite).
 */
export function userErrorOf(err: unknown, path?: string): UserError | undefined {
  if (err instanceof UserError) return err;
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code === undefined) return undefined;
  const where = e.path ?? path ?? (err as { outfitrecPath?: string }).outfitrecPath;
  const fsCause = FS_CAUSES[code];
  if (fsCause !== undefined) {
    const destPath = (e as { dest?: string }).dest;
    const dest = destPath ? ` → ${destPath}` : '';
    return new UserError(`${where ?? `(${e.syscall ?? 'file system'})`}${dest}: ${fsCause} (${code}${e.syscall ? `, ${e.syscall}` : ''})`);
  }
  // extended SQLite codes (SQLITE_IOERR_WRITE) share their primary code's cause
  const sqliteKey = Object.keys(SQLITE_CAUSES).find((k) => code === k || code.startsWith(`${k}_`));
  const sqliteCause = sqliteKey === undefined ? undefined : SQLITE_CAUSES[sqliteKey];
  if (sqliteCause !== undefined) return new UserError(`${where ?? '(database)'}: ${sqliteCause} (${code}: ${err.message})`);
  return undefined;
}

/** Attaches the path an fs error is about when Node did not (writes on a descriptor); returns err. */
export function withPath(err: unknown, path: string): unknown {
  if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) (err as { outfitrecPath?: string }).outfitrecPath = path;
  return err;
}
