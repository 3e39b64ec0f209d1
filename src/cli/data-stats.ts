/** `outfitrec data stats DIR` and `outfitrec data check DIR` (method.md §6.1). */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { existsSync, statSync } from 'node:fs';
import { verifyImages } from '../data/images.js';
import { FITB_CANDIDATES, checkPolyvoreRoot, findImageDir, findSetNames, loadPolyvoreSet, locateImages, throwIfProblems, type CheckedSet, type ImageDir } from '../data/polyvore.js';
import { Progress } from '../util/progress.js';
import type { DataError } from '../errors.js';
import { computeStats, formatStats, formatStatsSummary, type SetStats } from '../data/stats.js';
import { SPLITS, type PolyvoreSet, type SplitName } from '../data/types.js';

export function register(data: Command): void {
  data
    .command('stats')
    .description('print dataset statistics (users, outfits, items per split and category, outfits per user, negatives per positive, outfit sizes)')
    .argument('<dir>', 'dataset root holding tuples_<set>/ folders')
    .option('--set <name>', 'one set folder (630, 53, 519, 32, or any tuples_<name>/ such as shop) (default: every tuples_* folder in DIR)')
    .option('--detail', 'one wide row per split: negatives, hard negatives, distinct items per category, outfits per user, outfit sizes')
    .option('--json', 'print every statistic as JSON')
    .action((dir: string, opts: { set?: string; json?: boolean; detail?: boolean }) => {
      requireRoot(dir);
      const sets = opts.set !== undefined ? [opts.set] : findSetNames(dir);
      if (sets.length === 0) throw new UserError(`${dir}: no tuples_<set>/ folder found`);
      const stats: SetStats[] = sets.map((set) => computeStats(loadPolyvoreSet(dir, set, { requireImages: false })));
      if (opts.json) {
        const value = opts.set !== undefined ? stats[0] : Object.fromEntries(stats.map((s) => [s.set, s]));
        process.stdout.write(JSON.stringify(value, null, 2) + '\n');
      } else {
        process.stdout.write(stats.map(opts.detail ? formatStats : formatStatsSummary).join('\n\n') + '\n');
      }
    });

  data
    .command('check')
    .description('validate every tuples_* folder of a dataset root and list ALL problems (exit 1), or one summary line per set (exit 0)')
    .argument('<dir>', 'dataset root holding tuples_<set>/ folders (and images/<W>x<H>/)')
    .option('--images', 'require image files even when DIR has no images/ folder')
    .option('--no-images', 'do not check image files')
    .option('--jobs <n>', 'images decoded at once (default: 2 × cores)')
    .option('--quiet', 'no progress display')
    .action(async (dir: string, opts: { images?: boolean; jobs?: string; quiet?: boolean }) => {
      const concurrency = opts.jobs === undefined ? undefined : Number(opts.jobs);
      if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) {
        throw new UserError(`--jobs: '${opts.jobs}' is not an integer in 1..256`);
      }
      const report = checkPolyvoreRoot(dir, { images: opts.images });
      const { errors: imageErrors, pathsOf } = await decodeImages(report.sets, { concurrency, quiet: opts.quiet === true });
      for (const s of report.sets) {
        if (!s.data) continue;
        const bad = imageErrors.filter((e) => pathsOf.get(s.set)?.has(e.file)).length;
        process.stdout.write(summaryLine(s.data, s.imagesChecked, bad) + '\n');
      }
      throwIfProblems([...report.errors, ...imageErrors]);
    });
}

/** `data stats` reads a dataset root: a missing one, or a file, is said so in one line. */
function requireRoot(dir: string): void {
  if (!existsSync(dir)) throw new UserError(`${dir}: dataset root not found (expected a folder holding tuples_<set>/ folders)`);
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir}: is a file, not a dataset root (expected a folder holding tuples_<set>/ folders)`);
}

/**
 * Decodes every image of the sets that passed (each file once, `concurrency` at a time, with a
 * progress display on stderr) and returns the undecodable ones, each naming its path.
 */
async function decodeImages(sets: readonly CheckedSet[], opts: { concurrency?: number; quiet: boolean }): Promise<{ errors: DataError[]; pathsOf: Map<string, Set<string>> }> {
  const all = new Set<string>();
  const pathsOf = new Map<string, Set<string>>();
  let imageDir: ImageDir | undefined;
  for (const s of sets) {
    if (!s.data || !s.imagesChecked) continue;
    const located = locateImages(s.data.root, s.data.dir, s.data.catalog, s.data.layout.categories);
    if (!located.imageDir) continue;
    imageDir = located.imageDir;
    const paths = new Set(located.paths.filter((p): p is string => p !== undefined));
    pathsOf.set(s.set, paths);
    for (const p of paths) all.add(p);
  }
  if (!imageDir || all.size === 0) return { errors: [], pathsOf };
  const paths = [...all];
  const bar = opts.quiet ? null : new Progress({ label: 'decoding images', total: paths.length, unit: 'images', stream: process.stderr });
  const errors = await verifyImages(paths, imageDir.width, imageDir.height, {
    concurrency: opts.concurrency,
    onProgress: (done, total) => {
      bar?.tick(1);
      if (done >= total) bar?.finish();
    },
  });
  return { errors, pathsOf };
}

function summaryLine(set: PolyvoreSet, imagesChecked: boolean, badImages: number): string {
  const per = (count: (s: SplitName) => number): string => SPLITS.map(count).join('/');
  const hard = SPLITS.filter((s) => set.splits[s].negaHard);
  const images = !imagesChecked
    ? 'images not checked'
    : badImages > 0
      ? `${badImages} image${badImages === 1 ? '' : 's'} cannot be decoded (listed below)`
      : `images ok: ${set.catalog.names.length} decoded (${findImageDir(set.root)?.path})`;
  return (
    `tuples_${set.set}: ok: ${set.numUsers} users, ${set.catalog.names.length} items, ` +
    `train/val/test positives ${per((s) => set.splits[s].posi.users.length)}, negatives ${per((s) => set.splits[s].nega.users.length)}, ` +
    `hard negatives ${hard.length > 0 ? hard.join('+') : 'none'}, FITB ${set.fitb ? set.fitb.users.length / FITB_CANDIDATES : 0} questions, ${images}`
  );
}
