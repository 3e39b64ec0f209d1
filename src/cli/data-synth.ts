/** `outfitrec data synth`: writes a synthetic Polyvore-U root with its oracle (method.md §6.3). Logic: src/data/synth/. */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../data/synth/fashion-mnist.js';
import { generateSynthetic, type ImageChoice, type SynthReport } from '../data/synth/generate.js';
import { DEFAULT_KNOBS, type SynthKnobs } from '../data/synth/model.js';
import { DEFAULT_USER_SCALE, PRESETS } from '../data/synth/presets.js';
import { DEFAULT_SHOP_KNOBS } from '../data/synth/shop-model.js';
import { SHOP_DEFAULT_USERS, generateShop, type ShopReport } from '../data/synth/shop.js';
import { parseNumber } from './parse.js';

interface SynthCliOptions {
  preset?: string;
  out?: string;
  seed: string;
  users?: string;
  scale?: string;
  outfitScale?: string;
  images: string;
  fashionMnist?: string;
  temperature?: string;
  harmony?: string;
  itemNoise?: string;
  json?: boolean;
}

export function register(data: Command): void {
  const shopLine = `  ${'shop'.padEnd(8)} an example shop in the shop format (items.csv, outfits.jsonl, images/; docs/method.md §6.4) for \`data import\`: ${SHOP_DEFAULT_USERS} users by default, temperature ${DEFAULT_SHOP_KNOBS.temperature}`;
  const presets = [...PRESETS.map((p) => `  ${p.name.padEnd(8)} ${p.description}`), shopLine].join('\n');
  data
    .command('synth')
    .description('write a synthetic Polyvore-U benchmark (docs/method.md §6.1 layout), or an example shop (--preset shop), with its ground-truth oracle')
    .option('--preset <name>', `one of:\n${presets}`)
    .option('--out <dir>', 'dataset root to write (several presets may share one root when seed and knobs agree)')
    .option('--seed <n>', 'random seed: same seed and options give byte-identical files', '1')
    .option('--users <n>', "users of the preset's first set (the others follow at the same factor); at most 4 × the real set's users (2,520 for syn-630, syn-all, tiny)")
    .option('--scale <f>', `user-count factor against the real sets, 1 = real size (default: ${DEFAULT_USER_SCALE.toFixed(4)} = 100/630)`)
    .option('--outfit-scale <f>', 'multiplies the per-user outfit counts (default: 1 = the real per-user means)')
    .option('--images <source>', 'item pictures: auto (Fashion-MNIST when found, else drawn), fashion-mnist, procedural', 'auto')
    .option('--fashion-mnist <dir>', `folder of the Fashion-MNIST IDX .gz files (default: ${DEFAULT_FASHION_MNIST_DIR})`)
    .option('--temperature <t>', `noise of the users' choices; higher = harder (default: ${DEFAULT_KNOBS.temperature})`)
    .option('--harmony <w>', `weight of the colour-harmony term (default: ${DEFAULT_KNOBS.harmonyWeight})`)
    .option('--item-noise <s>', `std of the invisible item-level utility (default: ${DEFAULT_KNOBS.itemNoise})`)
    .option('--json', 'print the report as JSON')
    .action(async (opts: SynthCliOptions) => {
      if (!opts.preset) throw new UserError(`data synth: --preset NAME is required (${PRESETS.map((p) => p.name).join(', ')})`);
      if (!opts.out) throw new UserError('data synth: --out DIR is required');
      if (opts.preset === 'shop') return synthShop(opts);
      const knobs: Partial<SynthKnobs> = {};
      const temperature = parseNumber(opts.temperature, '--temperature');
      const harmony = parseNumber(opts.harmony, '--harmony');
      const itemNoise = parseNumber(opts.itemNoise, '--item-noise');
      if (temperature !== undefined) knobs.temperature = temperature;
      if (harmony !== undefined) knobs.harmonyWeight = harmony;
      if (itemNoise !== undefined) knobs.itemNoise = itemNoise;
      const quiet = opts.json === true;
      const report = await generateSynthetic({
        preset: opts.preset,
        out: opts.out,
        seed: parseNumber(opts.seed, '--seed', true),
        users: parseNumber(opts.users, '--users', true),
        scale: parseNumber(opts.scale, '--scale'),
        outfitScale: parseNumber(opts.outfitScale, '--outfit-scale'),
        images: opts.images as ImageChoice,
        fashionMnistDir: opts.fashionMnist,
        knobs,
        log: quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });
}

/** `--preset shop` (src/data/synth/shop.ts): only --seed, --users, --temperature and --item-noise apply. */
async function synthShop(opts: SynthCliOptions): Promise<void> {
  const unused = [
    ['--scale', opts.scale],
    ['--outfit-scale', opts.outfitScale],
    ['--fashion-mnist', opts.fashionMnist],
    ['--harmony', opts.harmony],
    ['--images', opts.images === 'auto' ? undefined : opts.images],
  ].filter(([, v]) => v !== undefined);
  if (unused.length > 0) throw new UserError(`data synth --preset shop: ${unused.map(([k]) => k).join(', ')} not used by the shop preset (it takes --seed, --users, --temperature, --item-noise)`);
  const temperature = parseNumber(opts.temperature, '--temperature');
  const itemNoise = parseNumber(opts.itemNoise, '--item-noise');
  const report = await generateShop({
    out: opts.out!,
    seed: parseNumber(opts.seed, '--seed', true),
    users: parseNumber(opts.users, '--users', true),
    knobs: { ...(temperature !== undefined && { temperature }), ...(itemNoise !== undefined && { itemNoise }) },
    log: opts.json === true ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatShopReport(report));
}

function formatShopReport(r: ShopReport): string {
  const sizes = Object.entries(r.sizes)
    .map(([n, k]) => `${n}: ${k}`)
    .join(', ');
  const categories = Object.entries(r.itemsPerCategory)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  return [
    `wrote ${r.root} (shop preset, seed ${r.seed}) in ${r.seconds.toFixed(1)} s`,
    `  ${r.users} users, ${r.outfits} outfits (items per outfit ${sizes}), ${r.items} items (${categories})`,
    `  the truth (oracle/) scores ${(100 * r.oracleAccuracy).toFixed(1)}% of the outfits above a random mix of the same categories`,
    `  next: outfitrec data import ${r.root} --out <dataset>`,
  ].join('\n') + '\n';
}

function formatReport(r: SynthReport): string {
  const lines = [
    `wrote ${r.root} (preset ${r.preset}, seed ${r.seed}, ${r.imageSource} pictures, temperature ${r.knobs.temperature}) in ${r.seconds.toFixed(1)} s`,
    `  images: ${r.images.referenced} pictures, ${r.images.written} new PNGs (${r.images.seconds.toFixed(1)} s)`,
  ];
  for (const s of r.sets) {
    const fn = s.falseNegativeShare.test;
    lines.push(
      `  tuples_${s.set}: ${s.users} users, positives ${s.positives.train}/${s.positives.val}/${s.positives.test}, ` +
        `items ${s.catalog.join('/')}, FITB ${s.fitbQuestions}, oracle false negatives in test: ${(100 * fn.nega).toFixed(1)}% random, ${(100 * fn.negaHard).toFixed(1)}% hard`,
    );
  }
  const sets = r.sets.map((s) => s.set);
  lines.push(`  oracle scores: outfitrec eval --data ${r.root} --set ${sets[0]} --oracle --random`);
  return lines.join('\n') + '\n';
}
