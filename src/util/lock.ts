/**
 * Exclusive ownership of a folder for the life of a process (docs/reliability.md "Locks"): a lock
 * file created with `wx` (fails when it exists, atomically, also between processes) holding the
 * owner's pid, hostname, start time and command. A lock whose owner ran on this host and is no
 * longer alive is stale: it is taken over, and the caller is told so. A lock of another host
 * cannot be judged from here and is reported with the way to remove it.
 *
 * The lock is removed when released and, as a last resort, when the process exits normally
 * (`process.exit` included); a `kill -9` leaves it behind, which the stale rule handles.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** Name of the lock file inside a locked folder. */
export const LOCK_FILE = '.outfitrec.lock';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO-8601 time the lock was taken. */
  started: string;
  /** What holds it ("train", "experiment"), for messages. */
  command: string;
}

export interface FolderLock {
  readonly path: string;
  /** Set when a stale lock was taken over: its former owner. */
  readonly tookOverFrom?: LockOwner;
  release(): void;
}

/** Raised when another live process owns the folder. */
export class FolderLockedError extends UserError {
  override name = 'FolderLockedError';
  constructor(
    readonly dir: string,
    readonly owner: LockOwner | null,
    detail: string,
  ) {
    super(detail);
  }
}

function describeOwner(o: LockOwner): string {
  return `'${o.command}' (pid ${o.pid} on ${o.hostname}, since ${o.started})`;
}

/** The owner recorded in a lock file; null when the file is unreadable or torn. */
export function readLockOwner(path: string): LockOwner | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof v.pid !== 'number' || typeof v.hostname !== 'string') return null;
    return { pid: v.pid, hostname: v.hostname, started: String(v.started ?? '?'), command: String(v.command ?? '?') };
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists on this host (EPERM: it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of `dir` (which must exist) or throws a FolderLockedError naming the owner.
 * `log` is told when a stale lock is taken over.
 */
export function lockFolder(dir: string, command: string, log?: (line: string) => void): FolderLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, hostname: hostname(), started: new Date().toISOString(), command };
  let tookOverFrom: LockOwner | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readLockOwner(path);
    if (owner === null) {
      // written by a process killed between create and write, or being written right now
      if (attempt < 20) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
        continue;
      }
      throw new FolderLockedError(dir, null, `${dir} is locked by ${path}, which names no owner: if no outfitrec process uses ${dir}, delete ${path}`);
    }
    if (owner.hostname !== me.hostname) {
      throw new FolderLockedError(
        dir,
        owner,
        `${dir} is in use by ${describeOwner(owner)}; it runs on another host, so this one cannot tell whether it is alive: if it is not, delete ${path}`,
      );
    }
    if (pidAlive(owner.pid) && owner.pid !== process.pid) {
      throw new FolderLockedError(dir, owner, `${dir} is in use by ${describeOwner(owner)}: wait for it to finish, or stop it first`);
    }
    if (owner.pid === process.pid) {
      throw new FolderLockedError(dir, owner, `${dir} is already in use by this process (${owner.command})`);
    }
    if (attempt >= 20) throw new FolderLockedError(dir, owner, `${dir}: could not take over the stale lock ${path}`);
    // stale: move it aside atomically; if what was moved is no longer the stale lock (another
    // process took over first), put it back and try again
    const aside = `${path}.stale.${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const moved = readLockOwner(aside);
    if (moved && (moved.pid !== owner.pid || moved.started !== owner.started)) {
      try {
        linkSync(aside, path);
      } catch {
        // the folder was locked again meanwhile; the next attempt sees that lock
      }
    } else {
      tookOverFrom = owner;
    }
    rmSync(aside, { force: true });
  }
  if (tookOverFrom) log?.(`${dir}: took over the lock of ${describeOwner(tookOverFrom)}, which is no longer running`);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // only our own lock is removed
    const owner = readLockOwner(path);
    if (owner && owner.pid === me.pid && owner.started === me.started) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return { path, ...(tookOverFrom ? { tookOverFrom } : {}), release };
}
