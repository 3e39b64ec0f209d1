/**
 * `trainRun` with the run folder owned exclusively (docs/reliability.md "Locks", "Failed starts"):
 *
 * - `--out` must be a folder (or not exist), and a new run goes only into an empty folder or one
 *   that does not exist yet: a non-empty folder that holds no run is refused with what is in it.
 * - The folder's lock (util/lock.ts) is taken before anything is written into it and held until
 *   training returns, so two processes never train into one folder. What the folder holds is
 *   judged only with the lock held: a process starting while another writes its first files is
 *   told the folder is in use, not that it holds stray files.
 * - A new run that fails before its first epoch is committed (a bad teacher, a teacher of another
 *   set, a data error, …) leaves the folder as it found it: the files it created are removed, and
 *   the folder too when this call created it. A run with a committed epoch is kept (--resume).
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { LOCK_FILE, lockFolder } from '../util/lock.js';
import { RUN_FILES } from '../runs/folder.js';
import { trainRun, type TrainResult, type TrainRunOptions } from './trainer.js';

/** Entries of a folder besides its lock file. */
function entriesOf(dir: string): string[] {
  return readdirSync(dir).filter((n) => n !== LOCK_FILE && !n.startsWith(`${LOCK_FILE}.stale.`));
}

function listForMessage(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown}, … (${names.length} entries)` : shown;
}

/**
 * Checks `--out` before anything is written: a file is refused, and so is a missing folder for
 * --resume. Returns whether the folder exists. What the folder holds is checked once its lock is
 * taken (checkRunFolderContents): before that, another process may be writing into it.
 */
export function checkRunFolderTarget(dir: string, resume: boolean): boolean {
  if (!existsSync(dir)) {
    if (resume) throw new UserError(`--resume: ${dir} does not exist`);
    return false;
  }
  if (!statSync(dir).isDirectory()) throw new UserError(`--out ${dir} is a file, not a folder: give a folder for the run`);
  return true;
}

/** With the lock held: a new run goes only into an empty folder or one that holds a run (the trainer then refuses or resumes). */
function checkRunFolderContents(dir: string, resume: boolean): void {
  if (resume) return;
  const isRun = existsSync(join(dir, RUN_FILES.config)) || existsSync(join(dir, RUN_FILES.state));
  const entries = entriesOf(dir);
  if (!isRun && entries.length > 0) {
    throw new UserError(`--out ${dir} is not empty and holds no run (it has ${listForMessage(entries)}): give a new or empty folder`);
  }
}

export async function trainRunExclusive(opts: TrainRunOptions): Promise<TrainResult> {
  const dir = resolve(opts.out);
  const resume = opts.resume === true;
  const existed = checkRunFolderTarget(dir, resume);
  const created = !existed && mkdirSync(dir, { recursive: true }) !== undefined;
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  // another process owning the folder is refused here; the folder is then theirs and left alone
  const lock = lockFolder(dir, resume ? 'train --resume' : 'train', log);
  try {
    checkRunFolderContents(dir, resume);
  } catch (err) {
    lock.release();
    throw err;
  }
  const before = new Set(entriesOf(dir));
  const fresh = !resume && !existsSync(join(dir, RUN_FILES.config)) && !existsSync(join(dir, RUN_FILES.state));
  try {
    return await trainRun({ ...opts, out: dir, log });
  } catch (err) {
    if (fresh && !existsSync(join(dir, RUN_FILES.state))) {
      // nothing was committed: put the folder back the way it was
      for (const name of entriesOf(dir)) if (!before.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
      lock.release();
      if (created) {
        try {
          rmdirSync(dir); // only when empty: a process that locked it meanwhile keeps it
        } catch {
          // not empty: left as it is
        }
      }
    }
    throw err;
  } finally {
    lock.release();
  }
}
