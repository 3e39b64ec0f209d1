/**
 * Synthetic benchmark generator: time per preset and the oracle's difficulty (method.md §6.3, §7).
 * For each preset it generates a fresh root in a temp folder, then scores the files' test (and
 * val) candidates with the oracle and with seeded uniform random scores, with the random-mix
 * negatives (`tuples_<split>_nega`) and the hard ones (`tuples_<split>_nega_hard`).
 *
 *   node --import tsx bench/synth.ts [--presets syn-630,syn-53,syn-519,syn-32] [--seeds 1]
 *        [--users N] [--images auto|fashion-mnist|procedural] [--no-images] [--keep]
 *
 * Prints one JSON line per (preset, seed) and a table. Timings: `build` = sampling everything in
 * memory, `images` = rendering + PNG encoding + files, `write` = the rest (CSV, oracle files).
 * `--no-images` skips the PNGs (e.g. to time a real-scale `--users 630` set's tuple files alone).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolyvoreSet } from '../src/data/polyvore.js';
import { generateSynthetic, type ImageChoice } from '../src/data/synth/generate.js';
import { loadOracle } from '../src/data/synth/oracle.js';
import type { OutfitTable, SplitName } from '../src/data/types.js';
import { evaluateRanking, fitbAccuracy } from '../src/eval/metrics.js';
import { Rng } from '../src/rng.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const presets = (arg('presets') ?? 'syn-630,syn-53,syn-519,syn-32').split(',');
const seeds = (arg('seeds') ?? '1').split(',').map(Number);
const users = arg('users') === undefined ? undefined : Number(arg('users'));
const images = (arg('images') ?? 'auto') as ImageChoice;
const keep = process.argv.includes('--keep');
const writeImages = !process.argv.includes('--no-images');

interface Scores {
  auc: number;
  ndcg: number;
}

function rank(posi: OutfitTable, neg: OutfitTable, up: ArrayLike<number>, un: ArrayLike<number>): Scores {
  const n = posi.users.length;
  const u = new Int32Array(n + neg.users.length);
  u.set(posi.users);
  u.set(neg.users, n);
  const s = new Float64Array(u.length);
  for (let i = 0; i < n; i++) s[i] = up[i];
  for (let i = 0; i < un.length; i++) s[n + i] = un[i];
  const labels = new Uint8Array(u.length).fill(1, 0, n);
  const r = evaluateRanking(u, s, labels);
  return { auc: r.auc, ndcg: r.ndcg };
}

const rows: string[][] = [];
for (const preset of presets) {
  for (const seed of seeds) {
    const out = mkdtempSync(join(tmpdir(), `outfitrec-bench-synth-${preset}-`));
    const report = await generateSynthetic({ preset, out, seed, users, images, writeImages, warn: (l) => process.stderr.write(`${l}\n`) });
    const oracle = loadOracle(out)!;
    const build = report.sets.reduce((a, s) => a + s.seconds, 0);
    for (const s of report.sets) {
      const set = loadPolyvoreSet(out, s.set, { splits: ['val', 'test'] });
      const result: Record<string, unknown> = {
        preset,
        seed,
        set: s.set,
        users: s.users,
        positives: s.positives,
        catalog: s.catalog,
        seconds: { total: report.seconds, build, images: report.images.seconds, write: report.seconds - build - report.images.seconds },
        pictures: report.images.referenced,
      };
      for (const split of ['val', 'test'] as SplitName[]) {
        const { posi, nega, negaHard } = set.splits[split];
        const up = oracle.utility(set, posi);
        const rng = new Rng(seed).fork(`random-${split}`);
        const rand = (t: OutfitTable): Float64Array => Float64Array.from(t.users, () => rng.next());
        const rp = rand(posi);
        result[split] = {
          oracleRandom: rank(posi, nega, up, oracle.utility(set, nega)),
          oracleHard: rank(posi, negaHard!, up, oracle.utility(set, negaHard!)),
          randomRandom: rank(posi, nega, rp, rand(nega)),
          randomHard: rank(posi, negaHard!, rp, rand(negaHard!)),
          falseNegativeShare: s.falseNegativeShare[split],
          ...(split === 'test' && set.fitb ? { oracleFitb: fitbAccuracy(oracle.utility(set, set.fitb)) } : {}),
        };
      }
      process.stdout.write(JSON.stringify(result) + '\n');
      const t = result.test as Record<string, Scores | number>;
      const f = (x: Scores | number): string => (typeof x === 'number' ? x.toFixed(4) : `${x.auc.toFixed(4)} / ${x.ndcg.toFixed(4)}`);
      rows.push([
        preset,
        String(seed),
        s.set,
        String(s.users),
        `${s.positives.train}/${s.positives.val}/${s.positives.test}`,
        f(t.oracleRandom),
        f(t.oracleHard),
        f(t.randomRandom),
        f(t.oracleFitb),
        report.seconds.toFixed(1),
        report.images.seconds.toFixed(1),
      ]);
    }
    if (!keep) rmSync(out, { recursive: true, force: true });
    else process.stderr.write(`kept ${out}\n`);
  }
}
const header = ['preset', 'seed', 'set', 'users', 'train/val/test', 'oracle AUC/NDCG (random neg)', 'oracle AUC/NDCG (hard neg)', 'random scorer AUC/NDCG', 'oracle FITB', 'total s', 'images s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]): string => r.map((x, i) => x.padEnd(widths[i])).join('  ');
process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n');
