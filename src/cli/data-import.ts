/** `outfitrec data import`: a shop's own catalog and outfits → a dataset folder (method.md §6.4). Logic: src/data/import/. */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { IMPORT_FORMATS, importDataset, type ImportSummary } from '../data/import/index.js';
import { CATEGORY_NAME, DEFAULT_MAX_PER_CATEGORY } from '../data/import/validate.js';
import { DEFAULT_NEW_USERS } from '../data/import/write.js';
import { parseNumber, parsePositiveInt, parseSeed } from './parse.js';

interface ImportCliOptions {
  out?: string;
  format: string;
  set: string;
  seed: string;
  newUsers?: string;
  categories?: string;
  maxPerCategory?: string;
  images?: string;
  skipMissingImages?: boolean;
  iqonCategories: string;
  json?: boolean;
}

export function register(data: Command): void {
  data
    .command('import')
    .description('import a catalog and its outfits (shop format: items.csv + outfits.csv or outfits.jsonl, docs/method.md §6.4) as a dataset folder')
    .argument('<folder>', 'the shop folder')
    .option('--out <dir>', 'dataset root to create (must not exist, or be empty)')
    .option('--format <name>', `source format: ${Object.keys(IMPORT_FORMATS).join(', ')}`, 'shop')
    .option('--set <name>', 'set name of the warm users; new users go to <name>-new', 'shop')
    .option('--seed <n>', 'seed of the user and outfit splits and the negatives: same seed, same folder', '0')
    .option('--new-users <fraction>', `share of the users with 3 or more outfits held out as new (cold-start) users (default ${DEFAULT_NEW_USERS})`)
    .option('--categories <a,b,c>', 'the only categories allowed, in this order in the layout (default: every category, most frequent first)')
    .option('--max-per-category <n>', `most items of one category in one outfit (default ${DEFAULT_MAX_PER_CATEGORY})`)
    .option('--images <dir>', 'pog: the folder of the downloaded item images, named <item id>.jpg|.jpeg|.png|.webp (the release lists URLs; nothing is downloaded)')
    .option('--skip-missing-images', 'iqon3000, pog: drop items whose image is missing or undecodable, and their outfits (default: an error)', false)
    .option('--iqon-categories <names>', 'iqon3000: category names, coarse (8 garment groups) or fine (one per IQON category)', 'coarse')
    .option('--json', 'print the summary as JSON')
    .action(async (folder: string, opts: ImportCliOptions) => {
      if (!opts.out) throw new UserError('data import: --out DIR is required');
      const categories = opts.categories === undefined ? undefined : parseCategories(opts.categories);
      if (opts.iqonCategories !== 'coarse' && opts.iqonCategories !== 'fine') throw new UserError(`--iqon-categories: '${opts.iqonCategories}' is not one of coarse, fine`);
      const notes: string[] = [];
      const summary = await importDataset(folder, {
        out: opts.out,
        format: opts.format,
        set: opts.set,
        seed: parseSeed(opts.seed),
        newUsers: parseNumber(opts.newUsers, '--new-users'),
        categories,
        maxPerCategory: opts.maxPerCategory === undefined ? undefined : parsePositiveInt(opts.maxPerCategory, '--max-per-category'),
        reader: { images: opts.images, missingImages: opts.skipMissingImages ? 'skip' : 'error', iqonCategories: opts.iqonCategories, note: (line) => notes.push(line) },
      });
      process.stdout.write(opts.json ? JSON.stringify({ ...summary, notes }, null, 2) + '\n' : notes.map((n) => `note: ${n}\n`).join('') + formatSummary(summary));
    });
}

function parseCategories(value: string): string[] {
  const list = value.split(',').map((s) => s.trim());
  for (const c of list) if (!CATEGORY_NAME.test(c)) throw new UserError(`--categories: '${c}' is not a category name (letters, digits, spaces, "_", "-")`);
  if (new Set(list).size !== list.length) throw new UserError(`--categories: '${value}' names a category twice`);
  return list;
}

/** The short report: items per category, users, outfits per split, the layout. */
export function formatSummary(s: ImportSummary): string {
  const l = s.layout;
  const lines = [`wrote ${s.out}`];
  lines.push(`  items: ${s.itemsPerCategory.map((c) => `${c.category} ${c.items}`).join(', ')}`);
  if (s.unusedCategories.length > 0) {
    lines.push(`  left out (category in no outfit): ${s.unusedCategories.map((c) => `${c.category} ${c.items} item${c.items === 1 ? '' : 's'}`).join(', ')}`);
  }
  lines.push(`  images: ${s.images.linked} hard-linked, ${s.images.copied} copied`);
  lines.push(`  layout: slots ${l.slots.map((c, j) => (l.required[j] ? c : `${c}?`)).join(',')} (? = optional), minItems ${l.minItems}`);
  for (const set of s.sets) {
    const p = set.positives;
    const notes = [
      set.hardNegatives ? '' : 'no hard negatives (one user)',
      set.wholeSetNegatives.length > 0 ? `negatives of ${set.wholeSetNegatives.join('/')} drawn from the whole set (split too small)` : '',
      set.fitbSkipped > 0 ? `${set.fitbSkipped} test outfits without a FITB question` : '',
    ].filter((x) => x !== '');
    lines.push(
      `  tuples_${set.set}: ${set.users} ${set.set === l.newUsers ? 'new' : 'warm'} users, outfits train/val/test ${p.train}/${p.val}/${p.test}, FITB ${set.fitbQuestions}` +
        (notes.length > 0 ? ` (${notes.join('; ')})` : ''),
    );
  }
  return lines.join('\n') + '\n';
}
