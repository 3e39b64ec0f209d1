/** `outfitrec data stats DIR` and `outfitrec data check DIR` (method.md §6.1). */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { FITB_CANDIDATES, checkPolyvoreRoot, findImageDir, findSetNames, loadPolyvoreSet, throwIfProblems } from '../data/polyvore.js';
import { computeStats, formatStats, type SetStats } from '../data/stats.js';
import { SPLITS, type PolyvoreSet, type SplitName } from '../data/types.js';

export function register(data: Command): void {
  data
    .command('stats')
    .description('print dataset statistics (users, outfits, items per split and category, outfits per user, negatives per positive, outfit sizes)')
    .argument('<dir>', 'dataset root holding tuples_<set>/ folders')
    .option('--set <name>', 'one set folder (630, 53, 519, 32); default: every tuples_* folder in DIR')
    .option('--json', 'print JSON instead of a table')
    .action((dir: string, opts: { set?: string; json?: boolean }) => {
      const sets = opts.set !== undefined ? [opts.set] : findSetNames(dir);
      if (sets.length === 0) throw new UserError(`${dir}: no tuples_<set>/ folder found`);
      const stats: SetStats[] = sets.map((set) => computeStats(loadPolyvoreSet(dir, set, { requireImages: false })));
      if (opts.json) {
        const value = opts.set !== undefined ? stats[0] : Object.fromEntries(stats.map((s) => [s.set, s]));
        process.stdout.write(JSON.stringify(value, null, 2) + '\n');
      } else {
        process.stdout.write(stats.map(formatStats).join('\n\n') + '\n');
      }
    });

  data
    .command('check')
    .description('validate every tuples_* folder of a dataset root and list ALL problems (exit 1), or one summary line per set (exit 0)')
    .argument('<dir>', 'dataset root holding tuples_<set>/ folders (and images/<W>x<H>/)')
    .option('--images', 'require image files even when DIR has no images/ folder')
    .option('--no-images', 'do not check image files')
    .action((dir: string, opts: { images?: boolean }) => {
      const report = checkPolyvoreRoot(dir, { images: opts.images });
      for (const s of report.sets) if (s.data) process.stdout.write(summaryLine(s.data, s.imagesChecked) + '\n');
      throwIfProblems(report.errors);
    });
}

function summaryLine(set: PolyvoreSet, imagesChecked: boolean): string {
  const per = (count: (s: SplitName) => number): string => SPLITS.map(count).join('/');
  const hard = SPLITS.filter((s) => set.splits[s].negaHard);
  const images = imagesChecked ? `images ok (${findImageDir(set.root)?.path})` : 'images not checked';
  return (
    `tuples_${set.set}: ok: ${set.numUsers} users, ${set.catalog.names.length} items, ` +
    `train/val/test positives ${per((s) => set.splits[s].posi.users.length)}, negatives ${per((s) => set.splits[s].nega.users.length)}, ` +
    `hard negatives ${hard.length > 0 ? hard.join('+') : 'none'}, FITB ${set.fitb ? set.fitb.users.length / FITB_CANDIDATES : 0} questions, ${images}`
  );
}
