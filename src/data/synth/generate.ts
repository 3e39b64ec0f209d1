/**
 * `outfitrec data synth`: writes a synthetic Polyvore-U root (method.md §6.3) in the exact §6.1 layout,
 * with its ground truth under `<root>/oracle/` (oracle.ts).
 *
 *   <root>/images/28x28/<name>.png                  items (names listed without extension)
 *   <root>/tuples_<set>/image_list_{top,bottom,shoe}
 *   <root>/tuples_<set>/tuples_{train,val,test}_{posi,nega,nega_hard}
 *   <root>/tuples_<set>/fill_in_blank_test
 *   <root>/oracle/...
 *
 * Everything random flows from the seed through labelled forks of fresh generators
 * (`new Rng(seed).fork('users-630')`, ...), so a set comes out the same whether it is written alone
 * or with others, and the same seed and options give byte-identical files. Several presets may be
 * written into one root when they use the same seed, picture source and knobs (the styles, and so
 * the 53/32 users' tastes, are shared); anything else is refused.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/fs.js';
import { CATEGORY_NAMES, NEGATIVES_PER_POSITIVE, SPLITS, isVariableLength, slotCategoriesFor, type OutfitTable, type SplitName } from '../types.js';
import { fillInTheBlank, hardNegatives, otherSplitItems, randomNegatives, splitPools } from './candidates.js';
import { DEFAULT_FASHION_MNIST_DIR, hasFashionMnist, loadFashionMnist } from './fashion-mnist.js';
import { IMAGE_SIDE, fashionMnistSource, proceduralSource, writeItemImages, type ItemPicture, type PictureSource } from './images.js';
import { CATEGORY_CLASSES, DEFAULT_KNOBS, HARMONY, PALETTE, UtilityModel, drawStyles, type Style, type SynthKnobs } from './model.js';
import {
  ITEMS_TSV_HEADER,
  ORACLE_FORMAT,
  ORACLE_VERSION,
  falseNegativeFlagsPath,
  oracleJsonPath,
  oracleSetDir,
  readOracleFile,
  type OracleFile,
  type UsersFile,
} from './oracle.js';
import { GROUPS_PER_CATEGORY, drawItemPool, type ItemPool } from './pool.js';
import { drawSetUsers, samplePositives, type SetUsers } from './positives.js';
import { findPreset, planPreset, type SetPlan } from './presets.js';

export type ImageChoice = 'auto' | 'fashion-mnist' | 'procedural';

export interface SynthOptions {
  /** Preset name (presets.ts): syn-630, syn-53, syn-519, syn-32, syn-all, tiny. */
  preset: string;
  /** Dataset root to write. */
  out: string;
  /** Default 1. */
  seed?: number;
  /** Users of the preset's first set; the others follow (presets.ts). */
  users?: number;
  /** User-count factor against the real sets (1 = real size); default 100/630. */
  scale?: number;
  /** Multiplies the per-user outfit means (default 1 = the real ones). */
  outfitScale?: number;
  /** Item pictures: Fashion-MNIST when found ('auto', default), required, or drawn. */
  images?: ImageChoice;
  /** Folder of the Fashion-MNIST IDX files; default /usr/share/datasets/fashion-mnist. */
  fashionMnistDir?: string;
  /** Overrides of the ground-truth knobs (model.ts DEFAULT_KNOBS). */
  knobs?: Partial<SynthKnobs>;
  /**
   * Default true. False skips the PNGs (the tuple files still name them): for timing the tuple
   * files alone, or oracle-only studies that never look at pictures.
   */
  writeImages?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Warnings (default: stderr). */
  warn?: (line: string) => void;
}

export interface SetReport {
  set: string;
  users: number;
  positives: Record<SplitName, number>;
  /** Distinct items per category (top, bottom, shoe) in each split's positives. */
  splitItems: Record<SplitName, number[]>;
  /** Image-list lengths (top, bottom, shoe). */
  catalog: number[];
  /** Share of positives with two tops (variable-length sets). */
  twoTopShare?: number;
  fitbQuestions: number;
  /** Share of negative rows flagged as false negatives by the oracle. */
  falseNegativeShare: Record<SplitName, { nega: number; negaHard: number }>;
  seconds: number;
}

export interface SynthReport {
  root: string;
  preset: string;
  seed: number;
  imageSource: PictureSource['kind'];
  knobs: SynthKnobs;
  sets: SetReport[];
  /** Distinct pictures referenced by the sets written now, and how many PNGs were new. */
  images: { referenced: number; written: number; seconds: number };
  seconds: number;
}

/** One set, built in memory before anything is written. */
interface BuiltSet {
  plan: SetPlan;
  variableLength: boolean;
  slotCategories: number[];
  setUsers: SetUsers;
  /** Catalog: names per category in image-list order, with their pool ids. */
  names: string[][];
  poolIds: Int32Array[];
  /** First global id of each category. */
  offsets: number[];
  pool: ItemPool;
  splits: Record<SplitName, { posi: OutfitTable; nega: OutfitTable; negaHard: OutfitTable; fnNega: Uint8Array; fnHard: Uint8Array }>;
  fitb: OutfitTable;
  report: SetReport;
}

/** The checks every preset shares (the shop preset too): `out` given, the seed (default 1) a u32. */
export function checkOutAndSeed(opts: { out: string; seed?: number }): number {
  if (!opts.out) throw new UserError('data synth: --out DIR is required');
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UserError(`--seed must be an integer in 0..4294967295, got ${seed}`);
  return seed;
}

function validateOptions(opts: SynthOptions): { seed: number; knobs: SynthKnobs; images: ImageChoice } {
  const seed = checkOutAndSeed(opts);
  if (opts.users !== undefined && !(Number.isInteger(opts.users) && opts.users >= 2)) throw new UserError(`--users must be an integer >= 2 (hard negatives need another user), got ${opts.users}`);
  if (opts.scale !== undefined && !(opts.scale > 0 && opts.scale <= 4)) throw new UserError(`--scale must be in (0, 4], got ${opts.scale}`);
  if (opts.outfitScale !== undefined && !(opts.outfitScale > 0 && opts.outfitScale <= 4)) throw new UserError(`--outfit-scale must be in (0, 4], got ${opts.outfitScale}`);
  const images = opts.images ?? 'auto';
  if (!['auto', 'fashion-mnist', 'procedural'].includes(images)) throw new UserError(`--images must be auto, fashion-mnist or procedural, got '${images}'`);
  const knobs = { ...DEFAULT_KNOBS, ...opts.knobs };
  const positive: (keyof SynthKnobs)[] = ['temperature', 'styleConcentration'];
  for (const k of positive) if (!(knobs[k] > 0)) throw new UserError(`${k} must be > 0, got ${knobs[k]}`);
  for (const k of ['itemNoise', 'classScale', 'colourScale'] as const) if (!(knobs[k] >= 0)) throw new UserError(`${k} must be >= 0, got ${knobs[k]}`);
  if (!Number.isFinite(knobs.harmonyWeight)) throw new UserError(`harmonyWeight must be a number, got ${knobs.harmonyWeight}`);
  if (!(Number.isInteger(knobs.styles) && knobs.styles >= 1)) throw new UserError(`styles must be an integer >= 1, got ${knobs.styles}`);
  if (!(knobs.twoTopShare >= 0 && knobs.twoTopShare <= 1)) throw new UserError(`twoTopShare must be in [0, 1], got ${knobs.twoTopShare}`);
  return { seed, knobs, images };
}

/**
 * Picks the picture source; a missing Fashion-MNIST is an error only when asked for explicitly,
 * otherwise a warning the caller prints once the rest of the input has passed its checks.
 */
function resolvePictureSource(images: ImageChoice, dir: string | undefined): { source: PictureSource; warning?: string } {
  if (images === 'procedural') return { source: proceduralSource() };
  const where = dir ?? DEFAULT_FASHION_MNIST_DIR;
  if (hasFashionMnist(where)) return { source: fashionMnistSource(loadFashionMnist(where)) };
  const expected = 'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz';
  if (images === 'fashion-mnist' || dir !== undefined) {
    throw new UserError(`Fashion-MNIST not found in ${where} (expected ${expected}; Debian package dataset-fashion-mnist)`);
  }
  return {
    source: proceduralSource(),
    warning:
      `warning: Fashion-MNIST not found in ${where}; drawing procedural item pictures instead. ` +
      `Install the Debian package dataset-fashion-mnist or pass --fashion-mnist DIR for the real pictures.`,
  };
}

/** Refuses roots that hold something this run must not overwrite or cannot be consistent with. */
function checkRoot(out: string, expected: Pick<OracleFile, 'seed' | 'imageSource' | 'knobs'>, sets: string[]): void {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`--out ${out} is a file, not a folder`);
  const existing = existsSync(out) ? readOracleFile(out) : undefined;
  if (!existing) {
    for (const set of sets) {
      if (existsSync(join(out, `tuples_${set}`))) {
        throw new UserError(`${join(out, `tuples_${set}`)} exists and ${out} has no synthetic oracle: refusing to overwrite a dataset this generator did not write`);
      }
    }
    return;
  }
  const differences: string[] = [];
  if (existing.version !== ORACLE_VERSION) differences.push(`benchmark version ${existing.version} vs ${ORACLE_VERSION}`);
  if (existing.seed !== expected.seed) differences.push(`seed ${existing.seed} vs ${expected.seed}`);
  if (existing.imageSource !== expected.imageSource) differences.push(`pictures ${existing.imageSource} vs ${expected.imageSource}`);
  if (JSON.stringify(existing.knobs) !== JSON.stringify(expected.knobs)) {
    differences.push(`knobs ${JSON.stringify(existing.knobs)} vs ${JSON.stringify(expected.knobs)}`);
  }
  if (differences.length > 0) {
    throw new UserError(
      `${out} already holds a synthetic benchmark made with other settings (${differences.join('; ')}): sets in one root must share the ground truth. Use the same settings or another --out.`,
    );
  }
}

export async function generateSynthetic(opts: SynthOptions): Promise<SynthReport> {
  const started = performance.now();
  const { seed, knobs, images } = validateOptions(opts);
  const preset = findPreset(opts.preset);
  const plans = planPreset(preset, { users: opts.users, scale: opts.scale, outfitScale: opts.outfitScale });
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { source, warning } = resolvePictureSource(images, opts.fashionMnistDir);
  checkRoot(opts.out, { seed, imageSource: source.kind, knobs }, plans.map((p) => p.shape.set));
  // bad input is one message alone: the warning only once the run goes ahead
  if (warning) warn(warning);

  const styles = drawStyles(new Rng(seed).fork('styles'), knobs);
  const model = new UtilityModel(styles, knobs);
  const built: BuiltSet[] = [];
  for (const plan of plans) {
    const t0 = performance.now();
    const b = buildSet(plan, seed, knobs, styles, model, source);
    b.report.seconds = (performance.now() - t0) / 1000;
    log(describeSet(b.report));
    built.push(b);
  }

  // Pictures first (the slow part), then the tuples, then the oracle: a root with tuples_<set>
  // always has its images, and an oracle.json only appears once everything it describes exists.
  const t0 = performance.now();
  const pictures = new Map<string, ItemPicture>();
  for (const b of built) {
    for (let c = 0; c < b.names.length; c++) {
      for (let i = 0; i < b.names[c].length; i++) pictures.set(b.names[c][i], b.pool.pictures[b.poolIds[c][i]]);
    }
  }
  const imageDir = join(opts.out, 'images', `${IMAGE_SIDE}x${IMAGE_SIDE}`);
  let lastReport = 0;
  const written = opts.writeImages === false ? 0 : await writeItemImages(
    imageDir,
    source,
    [...pictures].map(([name, picture]) => ({ name, picture })),
    (done, total) => {
      const now = performance.now();
      if (now - lastReport > 2000 || done === total) {
        lastReport = now;
        log(`images: ${done}/${total} new pictures written`);
      }
    },
  );
  const imageSeconds = (performance.now() - t0) / 1000;

  for (const b of built) {
    writeSetFiles(opts.out, b);
    writeSetOracle(opts.out, b, source);
  }
  const oracleFile: OracleFile = {
    format: ORACLE_FORMAT,
    version: ORACLE_VERSION,
    description:
      'Ground truth of an outfitrec synthetic benchmark. utility(u, o) = log P_u(size) + log sum_s pi_us exp(E_s(o)/T - logZ_s(size)), ' +
      'E_s(o) = sum_k styles[s][cat_k][class_k][colour_k] + harmonyWeight * sum_{k<l} harmony[colour_k][colour_l] + sum_k noise_k (src/data/synth/model.ts).',
    seed,
    imageSource: source.kind,
    knobs,
    palette: PALETTE.map((p) => ({ name: p.name, rgb: [...p.rgb] as [number, number, number], neutral: p.neutral })),
    categoryClasses: CATEGORY_CLASSES.map((c) => [...c]),
    harmony: HARMONY.map((row) => [...row]),
    styles: styles.map((s) => s.affinity),
  };
  writeJsonAtomic(oracleJsonPath(opts.out), oracleFile);

  return {
    root: opts.out,
    preset: preset.name,
    seed,
    imageSource: source.kind,
    knobs,
    sets: built.map((b) => b.report),
    images: { referenced: pictures.size, written, seconds: imageSeconds },
    seconds: (performance.now() - started) / 1000,
  };
}

function describeSet(r: SetReport): string {
  const two = r.twoTopShare === undefined ? '' : `, ${(100 * r.twoTopShare).toFixed(1)}% two-top outfits`;
  return (
    `tuples_${r.set}: ${r.users} users, positives train/val/test ${r.positives.train}/${r.positives.val}/${r.positives.test}${two}; ` +
    `items (top/bottom/shoe) ${r.catalog.join('/')}, train ${r.splitItems.train.join('/')}, test ${r.splitItems.test.join('/')} (${r.seconds.toFixed(1)} s)`
  );
}

/** Pool items per category: `poolPerDraw` × the slots the set's positives will fill, with a floor. */
function poolCounts(plan: SetPlan, setUsers: SetUsers, variableLength: boolean): number[] {
  let outfits = 0;
  let tops = 0;
  for (let u = 0; u < setUsers.users.length; u++) {
    const n = setUsers.counts.train[u] + setUsers.counts.val[u] + setUsers.counts.test[u];
    outfits += n;
    tops += n * (1 + (variableLength ? setUsers.users[u].twoTopProbability : 0));
  }
  const draws = [tops, outfits, outfits];
  // A floor of 8 items per (class, colour) group keeps small sets (tiny, few users) samplable.
  return draws.map((d, c) => Math.max(8 * GROUPS_PER_CATEGORY[c], Math.ceil(plan.shape.poolPerDraw[c] * d)));
}

function buildSet(plan: SetPlan, seed: number, knobs: SynthKnobs, styles: Style[], model: UtilityModel, source: PictureSource): BuiltSet {
  const set = plan.shape.set;
  const variableLength = isVariableLength(set);
  const slotCategories = slotCategoriesFor(set);
  const slots = slotCategories.length;
  const setUsers = drawSetUsers(new Rng(seed).fork(`users-${set}`), knobs, plan.users, plan.perUser, variableLength);
  const pool = drawItemPool(new Rng(seed).fork(`items-${set}`), source, poolCounts(plan, setUsers, variableLength), seed, knobs.itemNoise);
  const posPool = samplePositives(new Rng(seed).fork(`positives-${set}`), pool, styles, knobs, setUsers, variableLength);

  // Catalog: the items some positive uses, per category, ordered by name (a hash: no order leaks).
  const used = new Uint8Array(pool.size);
  for (const split of SPLITS) for (const id of posPool[split].items) if (id >= 0) used[id] = 1;
  const poolIds: Int32Array[] = [];
  const names: string[][] = [];
  for (let c = 0; c < CATEGORY_NAMES.length; c++) {
    const ids: number[] = [];
    for (let i = pool.offsets[c]; i < pool.offsets[c] + pool.counts[c]; i++) if (used[i]) ids.push(i);
    ids.sort((a, b) => (pool.names[a] < pool.names[b] ? -1 : pool.names[a] > pool.names[b] ? 1 : 0));
    poolIds.push(Int32Array.from(ids));
    names.push(ids.map((i) => pool.names[i]));
  }
  const offsets = [0, names[0].length, names[0].length + names[1].length];
  const globalOf = new Int32Array(pool.size).fill(-1);
  for (let c = 0; c < poolIds.length; c++) poolIds[c].forEach((p, i) => (globalOf[p] = offsets[c] + i));
  const toGlobal = (t: OutfitTable): OutfitTable => ({ slots: t.slots, users: t.users, items: t.items.map((p) => (p < 0 ? -1 : globalOf[p])) });

  // Attributes by global id, for the oracle utilities of the false-negative flags.
  const totalItems = offsets[2] + names[2].length;
  const attr = { category: new Int32Array(totalItems), classIndex: new Int32Array(totalItems), colour: new Int32Array(totalItems), noise: new Float64Array(totalItems) };
  for (let c = 0; c < poolIds.length; c++) {
    poolIds[c].forEach((p, i) => {
      const g = offsets[c] + i;
      attr.category[g] = pool.category[p];
      attr.classIndex[g] = pool.classIndex[p];
      attr.colour[g] = pool.colour[p];
      attr.noise[g] = pool.noise[p];
    });
  }
  const utilities = (t: OutfitTable): Float64Array => {
    const out = new Float64Array(t.users.length);
    const o = { categories: new Int32Array(slots), classIndices: new Int32Array(slots), colours: new Int32Array(slots), noise: new Float64Array(slots), count: 0 };
    const scratch = new Float64Array(styles.length);
    for (let r = 0; r < t.users.length; r++) {
      let count = 0;
      for (let j = 0; j < slots; j++) {
        const g = t.items[r * slots + j];
        if (g < 0) continue;
        o.categories[count] = attr.category[g];
        o.classIndices[count] = attr.classIndex[g];
        o.colours[count] = attr.colour[g];
        o.noise[count] = attr.noise[g];
        count++;
      }
      o.count = count;
      out[r] = model.utility(setUsers.users[t.users[r]], o, variableLength, scratch);
    }
    return out;
  };

  const splits = {} as BuiltSet['splits'];
  const splitItems = {} as Record<SplitName, number[]>;
  const falseNegativeShare = {} as SetReport['falseNegativeShare'];
  const positives = { train: toGlobal(posPool.train), val: toGlobal(posPool.val), test: toGlobal(posPool.test) };
  for (const split of SPLITS) {
    const posi = positives[split];
    const pools = splitPools(posi, slotCategories, CATEGORY_NAMES.length);
    splitItems[split] = pools.map((p) => p.length);
    // no candidate holds one of its user's items of another split, as no positive does (method.md §6.3)
    const own = otherSplitItems(split, positives, plan.users);
    const nega = randomNegatives(new Rng(seed).fork(`nega-${set}-${split}`), posi, pools, slotCategories, NEGATIVES_PER_POSITIVE, own);
    const negaHard = hardNegatives(new Rng(seed).fork(`nega_hard-${set}-${split}`), posi, NEGATIVES_PER_POSITIVE, own);
    const medians = userMedians(posi.users, utilities(posi), plan.users);
    const fnNega = flagAboveMedian(nega.users, utilities(nega), medians);
    const fnHard = flagAboveMedian(negaHard.users, utilities(negaHard), medians);
    splits[split] = { posi, nega, negaHard, fnNega, fnHard };
    falseNegativeShare[split] = { nega: mean(fnNega), negaHard: mean(fnHard) };
  }
  const testPools = splitPools(splits.test.posi, slotCategories, CATEGORY_NAMES.length);
  const fitb = fillInTheBlank(new Rng(seed).fork(`fitb-${set}`), splits.test.posi, testPools, slotCategories, 4, otherSplitItems('test', positives, plan.users));

  let twoTopShare: number | undefined;
  if (variableLength) {
    let two = 0;
    let all = 0;
    for (const split of SPLITS) {
      const t = splits[split].posi;
      for (let r = 0; r < t.users.length; r++) {
        all++;
        if (t.items[r * slots + 1] !== -1) two++;
      }
    }
    twoTopShare = two / all;
  }
  const report: SetReport = {
    set,
    users: plan.users,
    positives: { train: splits.train.posi.users.length, val: splits.val.posi.users.length, test: splits.test.posi.users.length },
    splitItems,
    catalog: names.map((n) => n.length),
    ...(twoTopShare === undefined ? {} : { twoTopShare }),
    fitbQuestions: fitb.users.length / 4,
    falseNegativeShare,
    seconds: 0,
  };
  return { plan, variableLength, slotCategories, setUsers, names, poolIds, offsets, pool, splits, fitb, report };
}

function mean(flags: Uint8Array): number {
  let s = 0;
  for (const f of flags) s += f;
  return flags.length > 0 ? s / flags.length : 0;
}

/** Median utility of each user's positives (the mean of the two middle values for an even count). */
function userMedians(users: Int32Array, utility: Float64Array, numUsers: number): Float64Array {
  const byUser: number[][] = Array.from({ length: numUsers }, () => []);
  for (let r = 0; r < users.length; r++) byUser[users[r]].push(utility[r]);
  return Float64Array.from(byUser, (v) => {
    if (v.length === 0) return Infinity;
    v.sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
  });
}

/** 1 where the negative's utility is above its user's median positive utility: a false negative. */
function flagAboveMedian(users: Int32Array, utility: Float64Array, medians: Float64Array): Uint8Array {
  const flags = new Uint8Array(users.length);
  for (let r = 0; r < users.length; r++) flags[r] = utility[r] > medians[users[r]] ? 1 : 0;
  return flags;
}

/** CSV text of a table in chunks: per-category indices (global id − category offset), -1 kept. */
function tableCsv(t: OutfitTable, header: string, slotCategories: number[], offsets: number[], perLine: number): Buffer[] {
  const chunks: Buffer[] = [Buffer.from(`${header}\n`)];
  const rows = t.users.length;
  const slots = t.slots;
  const CHUNK = 50000;
  for (let start = 0; start < rows; start += CHUNK * perLine) {
    const lines: string[] = [];
    for (let r = start; r < Math.min(rows, start + CHUNK * perLine); r += perLine) {
      const fields: number[] = [];
      for (let k = 0; k < perLine; k++) {
        fields.push(t.users[r + k]);
        for (let j = 0; j < slots; j++) {
          const g = t.items[(r + k) * slots + j];
          fields.push(g < 0 ? -1 : g - offsets[slotCategories[j]]);
        }
      }
      lines.push(fields.join(','));
    }
    chunks.push(Buffer.from(lines.join('\n') + '\n'));
  }
  return chunks;
}

function writeSetFiles(root: string, b: BuiltSet): void {
  const dir = join(root, `tuples_${b.plan.shape.set}`);
  for (let c = 0; c < CATEGORY_NAMES.length; c++) {
    writeFileAtomic(join(dir, `image_list_${CATEGORY_NAMES[c]}`), b.names[c].map((n) => `${n}\n`).join(''));
  }
  // FHN headers: pandas column names, so "top" twice for variable-length rows.
  const header = ['user', ...b.slotCategories.map((c) => CATEGORY_NAMES[c])].join(',');
  for (const split of SPLITS) {
    const s = b.splits[split];
    writeFileAtomic(join(dir, `tuples_${split}_posi`), tableCsv(s.posi, header, b.slotCategories, b.offsets, 1));
    writeFileAtomic(join(dir, `tuples_${split}_nega`), tableCsv(s.nega, header, b.slotCategories, b.offsets, 1));
    writeFileAtomic(join(dir, `tuples_${split}_nega_hard`), tableCsv(s.negaHard, header, b.slotCategories, b.offsets, 1));
  }
  writeFileAtomic(join(dir, 'fill_in_blank_test'), tableCsv(b.fitb, Array(4).fill(header).join(','), b.slotCategories, b.offsets, 4));
}

function writeSetOracle(root: string, b: BuiltSet, source: PictureSource): void {
  const set = b.plan.shape.set;
  const dir = oracleSetDir(root, set);
  const users: UsersFile = {
    set,
    variableLength: b.variableLength,
    users: b.setUsers.users.map((u) => ({ styleWeights: u.styleWeights, twoTopProbability: u.twoTopProbability })),
  };
  writeJsonAtomic(join(dir, 'users.json'), users);
  const lines = [ITEMS_TSV_HEADER];
  for (let c = 0; c < CATEGORY_NAMES.length; c++) {
    b.poolIds[c].forEach((p, i) => {
      const pic = b.pool.pictures[p];
      lines.push([b.names[c][i], CATEGORY_NAMES[c], pic.fashionClass, pic.colour, b.pool.noise[p], source.pictureId(pic.fashionClass, pic.picture), pic.mirrored ? 1 : 0].join('\t'));
    });
  }
  writeFileAtomic(join(dir, 'items.tsv'), lines.join('\n') + '\n');
  for (const split of SPLITS) {
    const s = b.splits[split];
    writeFileAtomic(falseNegativeFlagsPath(root, set, split, 'nega'), flagsText(s.fnNega));
    writeFileAtomic(falseNegativeFlagsPath(root, set, split, 'nega_hard'), flagsText(s.fnHard));
  }
}

function flagsText(flags: Uint8Array): Buffer {
  const buf = Buffer.alloc(flags.length * 2);
  for (let i = 0; i < flags.length; i++) {
    buf[2 * i] = 48 + flags[i];
    buf[2 * i + 1] = 10;
  }
  return buf;
}
