/**
 * A training subset of a dataset root, for grids that cannot afford full epochs: the same §6.1
 * layout, in which `tuples_<set>/tuples_train_{posi,nega,nega_hard}` of the training sets (630,
 * 519) keep a seeded share of each user's training positives together with their 10 negatives
 * each, and every other file (image lists, val/test tuples, FITB, the 53/32 folders, images/ and
 * the decoded-image cache) is a symlink to the original. Users keep their ids and the catalogs
 * are the original ones, so a model trained on the view scores the original val/test candidates,
 * the oracle's users, and the cold sets exactly as a model trained on the full root would.
 *
 * The oracle is not linked: its false-negative flags are aligned with the ORIGINAL negative files,
 * so everything that reads the oracle uses the original root.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataError, UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/fs.js';

/** The sets the FHN grid trains on; the cold sets (53, 32) are linked whole. */
const TRAINING_SETS = ['630', '519'];
/** A user keeps at least this many training positives (or all, when fewer). */
export const MIN_POSITIVES_PER_USER = 3;
const NEGATIVE_FILES = ['tuples_train_nega', 'tuples_train_nega_hard'];
const MARKER = 'train-view.json';

interface ViewMarker {
  source: string;
  fraction: number;
  seed: number;
  /** Positives kept per training set. */
  kept: Record<string, { positives: number; of: number }>;
}

/**
 * The root to train on: `root` itself when `fraction` is 1, else a view under `viewsDir`
 * (built once, reused while its marker matches) whose training sets `sets` (the grid's, method.md
 * §6.5) hold the subsampled training tuples.
 */
export function trainingRoot(root: string, viewsDir: string, fraction: number, seed: number, sets: readonly string[] = TRAINING_SETS): string {
  if (!(fraction > 0 && fraction <= 1)) throw new UserError(`training fraction must be in (0, 1], got ${fraction}`);
  if (fraction === 1) return root;
  const source = resolve(root);
  const dir = join(viewsDir, `train-view_f${fraction}_s${seed}`);
  const markerPath = join(dir, MARKER);
  if (existsSync(markerPath)) {
    const marker = JSON.parse(readFileSync(markerPath, 'utf8')) as ViewMarker;
    if (marker.source === source && marker.fraction === fraction && marker.seed === seed) return dir;
    throw new UserError(`${dir} is a training view of ${marker.source}, not of ${source}: use another --out`);
  }
  // built in a temp folder and renamed, so a killed build never looks finished
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const kept: ViewMarker['kept'] = {};
  for (const entry of readdirSync(source)) {
    const from = join(source, entry);
    if (entry === 'oracle') continue;
    const match = /^tuples_(.+)$/.exec(entry);
    if (match && sets.includes(match[1]) && statSync(from).isDirectory()) {
      kept[match[1]] = writeSetView(from, join(tmp, entry), fraction, new Rng(seed).fork(`train-view-${match[1]}`));
    } else {
      symlinkSync(from, join(tmp, entry));
    }
  }
  // share the decoded-image cache with the original root (same catalogs, same pixels)
  if (!existsSync(join(tmp, '.cache'))) {
    mkdirSync(join(source, '.cache'), { recursive: true });
    symlinkSync(join(source, '.cache'), join(tmp, '.cache'));
  }
  writeJsonAtomic(join(tmp, MARKER), { source, fraction, seed, kept } satisfies ViewMarker);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** One set folder: subsampled training tuples, everything else linked. */
function writeSetView(from: string, to: string, fraction: number, rng: Rng): { positives: number; of: number } {
  mkdirSync(to, { recursive: true });
  const posiPath = join(from, 'tuples_train_posi');
  const posi = readLines(posiPath);
  const rows = posi.lines;
  const rowsOfUser = new Map<string, number[]>();
  rows.forEach((line, r) => {
    const user = line.slice(0, line.indexOf(','));
    rowsOfUser.set(user, [...(rowsOfUser.get(user) ?? []), r]);
  });
  const keep: number[] = [];
  for (const userRows of rowsOfUser.values()) {
    const k = Math.min(userRows.length, Math.max(MIN_POSITIVES_PER_USER, Math.ceil(fraction * userRows.length)));
    keep.push(...rng.shuffle([...userRows]).slice(0, k));
  }
  keep.sort((a, b) => a - b); // file order, as the original
  writeFileAtomic(join(to, 'tuples_train_posi'), [posi.header, ...keep.map((r) => rows[r])].join('\n') + '\n');
  for (const name of NEGATIVE_FILES) {
    const path = join(from, name);
    if (!existsSync(path)) continue;
    const nega = readLines(path);
    if (nega.lines.length % rows.length !== 0 || nega.lines.length === 0) {
      throw new DataError(path, undefined, `${nega.lines.length} rows is not a multiple of the ${rows.length} positives`);
    }
    const per = nega.lines.length / rows.length;
    const out = [nega.header];
    for (const r of keep) for (let j = 0; j < per; j++) out.push(nega.lines[r * per + j]);
    writeFileAtomic(join(to, name), out.join('\n') + '\n');
  }
  const written = new Set(['tuples_train_posi', ...NEGATIVE_FILES.filter((n) => existsSync(join(from, n)))]);
  for (const entry of readdirSync(from)) {
    if (!written.has(entry)) symlinkSync(join(from, entry), join(to, entry));
  }
  return { positives: keep.length, of: rows.length };
}

function readLines(path: string): { header: string; lines: string[] } {
  const text = readFileSync(path, 'utf8');
  const all = text.split('\n').filter((l) => l.trim() !== '');
  if (all.length === 0) throw new DataError(path, undefined, 'empty file (expected a header line)');
  return { header: all[0], lines: all.slice(1) };
}
