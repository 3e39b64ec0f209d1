/**
 * Load-time benchmark of the Polyvore-U reader (src/data/polyvore.ts). Writes, in a temp folder,
 * a full-size Polyvore-630-shaped set of random valid tuple files (method.md §6.1:
 * 630 users, 127,326 / 12,565 / 23,054 positives, 10 random and 10 hard
 * negatives per positive, a FITB file, realistic image-list sizes; no images), then times
 * `loadPolyvoreSet(..., { requireImages: false })` and prints JSON.
 *
 *   node --import tsx bench/load.ts [--repeats 3] [--keep]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolyvoreSet } from '../src/data/polyvore.js';
import { NEGATIVES_PER_POSITIVE, SPLITS, type SplitName } from '../src/data/types.js';
import { Rng } from '../src/rng.js';
import { writeFileAtomic } from '../src/util/fs.js';

const USERS = 630;
const POSITIVES: Record<SplitName, number> = { train: 127_326, val: 12_565, test: 23_054 };
/** Image-list lengths of the right order (FHN indices in tuples_630 run to about 70k per category). */
const ITEMS = { top: 72_000, bottom: 57_000, shoe: 66_000 };
const FITB_QUESTIONS = 3_000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function hexName(rng: Rng): string {
  let s = '';
  for (let k = 0; k < 5; k++) s += rng.nextU32().toString(16).padStart(8, '0');
  return `${s}.jpg`;
}

/** Joins lines in chunks so a 1.27M-row file does not become one giant array of strings. */
function writeLines(path: string, header: string, count: number, line: (i: number) => string): void {
  const parts: Buffer[] = [Buffer.from(header + '\n')];
  let chunk: string[] = [];
  for (let i = 0; i < count; i++) {
    chunk.push(line(i));
    if (chunk.length === 65_536) {
      parts.push(Buffer.from(chunk.join('\n') + '\n'));
      chunk = [];
    }
  }
  if (chunk.length > 0) parts.push(Buffer.from(chunk.join('\n') + '\n'));
  writeFileAtomic(path, parts);
}

function generate(root: string, rng: Rng): number {
  const dir = join(root, 'tuples_630');
  for (const [cat, n] of Object.entries(ITEMS)) writeLines(join(dir, `image_list_${cat}`), hexName(rng), n - 1, () => hexName(rng));
  const outfit = (): string => `${rng.int(ITEMS.top)},${rng.int(ITEMS.bottom)},${rng.int(ITEMS.shoe)}`;
  const header = 'user,top,bottom,shoe';
  for (const split of SPLITS) {
    const n = POSITIVES[split];
    // Users in blocks, as in the FHN files; every user has positives in every split.
    const users = Int32Array.from({ length: n }, (_, i) => Math.floor((i * USERS) / n));
    writeLines(join(dir, `tuples_${split}_posi`), header, n, (i) => `${users[i]},${outfit()}`);
    for (const kind of ['nega', 'nega_hard']) {
      writeLines(join(dir, `tuples_${split}_${kind}`), header, n * NEGATIVES_PER_POSITIVE, (r) => `${users[Math.floor(r / NEGATIVES_PER_POSITIVE)]},${outfit()}`);
    }
  }
  writeLines(join(dir, 'fill_in_blank_test'), Array(4).fill(header).join(','), FITB_QUESTIONS, () => {
    const u = rng.int(USERS);
    return [0, 1, 2, 3].map(() => `${u},${outfit()}`).join(',');
  });
  let bytes = 0;
  for (const split of SPLITS) for (const kind of ['posi', 'nega', 'nega_hard']) bytes += statSync(join(dir, `tuples_${split}_${kind}`)).size;
  return bytes;
}

const repeats = Number(arg('repeats') ?? 3);
const root = mkdtempSync(join(tmpdir(), 'outfitrec-bench-load-'));
try {
  const t0 = performance.now();
  const csvBytes = generate(root, new Rng(630));
  const generateSeconds = (performance.now() - t0) / 1000;
  const seconds: number[] = [];
  let summary: Record<string, unknown> = {};
  for (let k = 0; k < repeats; k++) {
    const t = performance.now();
    const set = loadPolyvoreSet(root, '630', { requireImages: false });
    seconds.push((performance.now() - t) / 1000);
    summary = {
      users: set.numUsers,
      items: set.catalog.names.length,
      trainPositives: set.splits.train.posi.users.length,
      trainNegatives: set.splits.train.nega.users.length,
      trainHardNegatives: set.splits.train.negaHard?.users.length ?? 0,
      fitbOutfits: set.fitb?.users.length ?? 0,
    };
  }
  seconds.sort((a, b) => a - b);
  console.log(
    JSON.stringify(
      {
        bench: 'load',
        set: '630-shaped, random valid rows, no images',
        csvMegabytes: +(csvBytes / 1e6).toFixed(1),
        generateSeconds: +generateSeconds.toFixed(2),
        loadSeconds: seconds.map((s) => +s.toFixed(3)),
        loadSecondsMin: +seconds[0].toFixed(3),
        heapUsedMegabytes: +(process.memoryUsage().heapUsed / 1e6).toFixed(1),
        ...summary,
      },
      null,
      2,
    ),
  );
} finally {
  if (process.argv.includes('--keep')) console.error(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
