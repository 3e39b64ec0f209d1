/**
 * Dataset statistics (method.md §6.1 table). "Items" of a split are the distinct
 * items appearing in that split's positives, counted per category and summed (for 519/32 both
 * top slots pool into "top"), which is how the published item counts are defined.
 */
import { FITB_CANDIDATES } from './polyvore.js';
import { SPLITS, type OutfitTable, type PolyvoreSet, type SplitName } from './types.js';

export interface MinMeanMax {
  mean: number;
  min: number;
  max: number;
}

export interface SplitStats {
  positives: number;
  /** Rows of `tuples_<split>_nega`. */
  negatives: number;
  negativesPerPositive: number;
  /** Rows of `tuples_<split>_nega_hard`, when the file exists. */
  hardNegatives?: number;
  hardNegativesPerPositive?: number;
  /** Distinct items in the positives, summed over categories. */
  items: number;
  /** Distinct items in the positives per category (the layout's category order, method.md §6.5). */
  itemsPerCategory: number[];
  /** Users with at least one positive in this split. */
  usersWithPositives: number;
  /** Positives per user over all users 0..U-1 (users without any count as 0). */
  outfitsPerUser: MinMeanMax;
  /** Number of positives by outfit size (items present). */
  outfitSizes: Record<number, number>;
}

export interface SetStats {
  set: string;
  variableLength: boolean;
  /** The set's category names (method.md §6.5). */
  categories: string[];
  /** "layout.json" for an imported set, "fhn" for Polyvore-U and the synthetic sets. */
  layoutSource: 'layout.json' | 'fhn';
  /** Least and most items of an outfit by the layout. */
  minItems: number;
  maxItems: number;
  users: number;
  /** Image-list lengths: every item of the folder, used or not. */
  catalogItems: number;
  catalogItemsPerCategory: number[];
  splits: Record<SplitName, SplitStats>;
  /** Questions in `fill_in_blank_test` (0 when absent). */
  fitbQuestions: number;
}

export function computeStats(set: PolyvoreSet): SetStats {
  const splits = {} as Record<SplitName, SplitStats>;
  for (const split of SPLITS) splits[split] = splitStats(set, split);
  return {
    set: set.set,
    variableLength: set.variableLength,
    categories: [...set.layout.categories],
    layoutSource: set.layout.source,
    minItems: set.layout.minItems,
    maxItems: set.layout.slotCategories.length,
    users: set.numUsers,
    catalogItems: set.catalog.names.length,
    catalogItemsPerCategory: [...set.catalog.counts],
    splits,
    fitbQuestions: set.fitb ? set.fitb.users.length / FITB_CANDIDATES : 0,
  };
}

function splitStats(set: PolyvoreSet, split: SplitName): SplitStats {
  const { posi, nega, negaHard } = set.splits[split];
  const positives = posi.users.length;
  const perCategory = distinctItemsPerCategory(posi, set);
  const perUser = new Int32Array(set.numUsers);
  for (let r = 0; r < positives; r++) perUser[posi.users[r]]++;
  let min = Infinity;
  let max = 0;
  let withPositives = 0;
  for (const n of perUser) {
    min = Math.min(min, n);
    max = Math.max(max, n);
    if (n > 0) withPositives++;
  }
  return {
    positives,
    negatives: nega.users.length,
    negativesPerPositive: ratio(nega.users.length, positives),
    ...(negaHard ? { hardNegatives: negaHard.users.length, hardNegativesPerPositive: ratio(negaHard.users.length, positives) } : {}),
    items: perCategory.reduce((a, b) => a + b, 0),
    itemsPerCategory: perCategory,
    usersWithPositives: withPositives,
    outfitsPerUser: { mean: set.numUsers > 0 ? positives / set.numUsers : 0, min: set.numUsers > 0 ? min : 0, max },
    outfitSizes: outfitSizeHistogram(posi),
  };
}

function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

function distinctItemsPerCategory(table: OutfitTable, set: PolyvoreSet): number[] {
  const seen = new Uint8Array(set.catalog.names.length);
  const counts = set.layout.categories.map(() => 0);
  for (const id of table.items) {
    if (id < 0 || seen[id]) continue;
    seen[id] = 1;
    counts[set.catalog.category[id]]++;
  }
  return counts;
}

function outfitSizeHistogram(table: OutfitTable): Record<number, number> {
  const hist: Record<number, number> = {};
  const { slots, items } = table;
  for (let r = 0; r * slots < items.length; r++) {
    let size = 0;
    for (let j = 0; j < slots; j++) if (items[r * slots + j] >= 0) size++;
    hist[size] = (hist[size] ?? 0) + 1;
  }
  return hist;
}

/** The first line of both formats: users, items per category, outfit shape. */
function headline(stats: SetStats): string {
  const cats = stats.catalogItemsPerCategory.map((n, c) => `${stats.categories[c]} ${fmt(n)}`).join(', ');
  if (stats.layoutSource === 'layout.json') {
    const sizes = stats.minItems === stats.maxItems ? `${stats.minItems}` : `${stats.minItems}-${stats.maxItems}`;
    return `Set ${stats.set}: ${fmt(stats.users)} users, ${fmt(stats.catalogItems)} items in the image lists (${cats}), outfits of ${sizes} items (layout.json)`;
  }
  return `Polyvore-${stats.set}: ${fmt(stats.users)} users, ${fmt(stats.catalogItems)} items in the image lists (${cats}), ${stats.variableLength ? 'variable-length outfits (1-2 tops)' : 'fixed-length outfits'}`;
}

/** A few lines per set, for `outfitrec data stats` (the full table: `formatStats`, `--detail`). */
export function formatStatsSummary(stats: SetStats): string {
  const sp = stats.splits;
  const perUser = sp.train.outfitsPerUser;
  const negatives = [...new Set(SPLITS.map((s) => perPositive(sp[s].negativesPerPositive)))].join(' / ');
  const hard = SPLITS.filter((s) => sp[s].hardNegatives !== undefined);
  return [
    headline(stats),
    `  positives  ${SPLITS.map((s) => `${s} ${fmt(sp[s].positives)}`).join(', ')}; per user in train: mean ${perUser.mean.toFixed(1)}, ${perUser.min}..${perUser.max}`,
    `  negatives  ${negatives}; hard negatives: ${hard.length > 0 ? hard.join(', ') : 'none'}`,
    `  FITB       ${stats.fitbQuestions > 0 ? `${fmt(stats.fitbQuestions)} questions` : 'no fill_in_blank_test file'}`,
  ].join('\n');
}

/** The full table of the statistics (one row per split), for `outfitrec data stats --detail`. */
export function formatStats(stats: SetStats): string {
  const lines = [headline(stats)];
  const header = ['split', 'outfits', 'negatives', 'hard negatives', 'items', ...stats.categories, 'users', 'outfits/user mean [min, max]', 'outfit sizes'];
  const rows = SPLITS.map((split) => {
    const s = stats.splits[split];
    return [
      split,
      fmt(s.positives),
      `${fmt(s.negatives)} (${perPositive(s.negativesPerPositive)})`,
      s.hardNegatives === undefined ? '-' : `${fmt(s.hardNegatives)} (${perPositive(s.hardNegativesPerPositive ?? 0)})`,
      fmt(s.items),
      ...s.itemsPerCategory.map(fmt),
      fmt(s.usersWithPositives),
      `${s.outfitsPerUser.mean.toFixed(1)} [${s.outfitsPerUser.min}, ${s.outfitsPerUser.max}]`,
      Object.entries(s.outfitSizes)
        .map(([size, n]) => `${size}:${fmt(n)}`)
        .join(' '),
    ];
  });
  lines.push(...alignColumns([header, ...rows]));
  lines.push(`fill-in-the-blank: ${stats.fitbQuestions > 0 ? `${fmt(stats.fitbQuestions)} questions` : 'no fill_in_blank_test file'}`);
  return lines.join('\n');
}

function perPositive(r: number): string {
  return `${Number.isInteger(r) ? r : r.toFixed(2)} per positive`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Left-aligns the first column and right-aligns the rest. */
function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  return rows.map((r) => r.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join('  '));
}
