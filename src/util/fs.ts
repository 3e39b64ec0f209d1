import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { withPath } from '../errors.js';

/**
 * Writes a file atomically: a temp file in the same folder, fsync, then rename over the target.
 * A process killed at any moment leaves either the old file or the new one, never half of one
 * (architecture.md §4.2: checkpoints and run folders are written atomically).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const part of parts) {
      let off = 0;
      while (off < part.length) off += writeSync(fd, part, off, part.length - off);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    // writes on a descriptor (ENOSPC, EIO) carry no path: name the file the user would look for
    throw withPath(err, path);
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** JSON with a trailing newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
