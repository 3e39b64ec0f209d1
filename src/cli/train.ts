/**
 * `outfitrec train`: one training run into a run folder (method.md §4; architecture.md §4.2). Options
 * map onto the typed run config (src/config.ts); `--config FILE` supplies any field, and every
 * option given on the command line overrides the file.
 */
import { Option, type Command } from 'commander';
import { FND_VARIANTS, METHODS, fndVariant, mergeConfig, parseRunConfig, readConfigFile, resolveModelConfig } from '../config.js';
import { BACKBONE_KINDS } from '../model/config.js';
import { UserError } from '../errors.js';
import { trainRunExclusive } from '../train/exclusive.js';
import { parseNumber } from './parse.js';

interface TrainCliOptions {
  data?: string;
  set?: string;
  method?: string;
  backbone?: string;
  width?: string;
  dim?: string;
  anchors?: string;
  teacher?: string;
  alpha?: string;
  fndPhi?: string;
  fndVariant?: string;
  out: string;
  epochs?: string;
  batch?: string;
  lr?: string;
  config?: string;
  seed?: string;
  resume?: boolean;
  features?: string;
  featureNames?: string;
  imageSize?: string;
  trainNegatives?: string;
  /** Deprecated spelling of trainNegatives. */
  negatives?: string;
  threads?: string;
  quiet?: boolean;
}

export function register(command: Command): void {
  // the defaults a run gets for what neither the command line nor --config sets (src/config.ts)
  const d = parseRunConfig({ data: { root: '.', set: '630' } });
  const m = resolveModelConfig(d, { numUsers: 1 });
  const dflt = (v: unknown): string => ` (default: ${String(v)})`;
  command
    .option('--data <dir>', 'dataset root holding tuples_<set>/ (required, here or in --config)')
    .option('--set <name>', 'set folder tuples_<name>/: 630 | 53 | 519 | 32, or an imported set such as shop (required, here or in --config)')
    .option('--method <name>', `objective: ${METHODS.join(' | ')}${dflt(d.method)}`)
    .option('--backbone <kind>', `item backbone: ${BACKBONE_KINDS.join(' | ')} (default: convnet, or features with --features)`)
    .option('--width <w>', `backbone width multiplier (teacher wide, e.g. 1; student narrow, e.g. 0.25)${dflt(m.backbone.width)}`)
    .option('--dim <d>', `embedding size d (docs/method.md §2.2)${dflt(m.dim)}`)
    .option('--anchors <k>', `anchors per user K (docs/method.md §3)${dflt(m.anchors)}`)
    .option('--teacher <run>', 'teacher run folder (required by fnd, fnd+cl)')
    .option(
      '--fnd-variant <name>',
      `FND variant (docs/method.md §4 "Variants"): ${Object.keys(FND_VARIANTS).join(' | ')}. paper = Eq. S with α > 0 (default +1), the paper's direction: ` +
        'a suspected false negative weighs MORE; inverted = α < 0 (default −1; the default variant): it weighs less, which trains the student inside a ' +
        'product of experts with the teacher; indicator = weight α (default 2) on suspected false negatives only; distill = L_T + α (default 1) · KL(teacher ‖ student)',
    )
    .option('--alpha <a>', `FND α of docs/method.md §4 Eq. S; negative: suspected false negatives weigh LESS, the opposite of the paper's α > 0${dflt(d.fnd.alpha)}`)
    .option('--fnd-phi <source>', `FND φ per negative: teacher | row-mean (control: each positive's negatives share their mean φ)${dflt(d.fnd.phi)}`)
    .requiredOption('--out <run>', 'run folder to write (or to continue with --resume)')
    .option('--epochs <n>', `epochs (with --resume: the new total)${dflt(d.epochs)}`)
    .option('--batch <n>', `positives per step${dflt(d.batchSize)}`)
    .option('--lr <rate>', `initial learning rate${dflt(d.optim.lr)}`)
    .option('--train-negatives <kind>', `training negatives: random | mixed (5 random + 5 hard)${dflt(d.negatives.kind)}`)
    .addOption(new Option('--negatives <kind>', 'deprecated spelling of --train-negatives').hideHelp())
    .option('--image-size <px>', 'side of the square item images (image backbones) (default: 14 for convnet, 291 for alexnet)')
    .option('--features <npy>', 'precomputed item features (.npy float32 matrix) for the features backbone')
    .option('--feature-names <file>', 'image name per row of --features (default: --features with .npy replaced by .names, as outfitrec features writes them)')
    .option('--config <file>', 'JSON run config; command-line options override it')
    .option('--seed <n>', `random seed${dflt(d.seed)}`)
    .option('--threads <n>', `ONNX Runtime intra-op threads${dflt(d.threads)}`)
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--quiet', 'no progress display')
    .action(async (opts: TrainCliOptions) => {
      if (opts.negatives !== undefined) {
        // eval's --negatives picks evaluation candidates (file | hard | random): the two meant different things
        process.stderr.write("outfitrec: train --negatives is deprecated: use --train-negatives (eval's --negatives picks the evaluation candidates)\n");
        if (opts.trainNegatives !== undefined && opts.trainNegatives !== opts.negatives) throw new UserError('--negatives and --train-negatives disagree: give only --train-negatives');
        opts.trainNegatives = opts.negatives;
        delete opts.negatives;
      }
      const progressStream = opts.quiet ? null : process.stderr;
      if (opts.resume) {
        const given = Object.entries(opts).filter(([k, v]) => v !== undefined && !['out', 'resume', 'epochs', 'quiet'].includes(k));
        if (given.length > 0) {
          throw new UserError(`--resume continues the run as configured in ${opts.out}/config.json; only --epochs may change (got --${given.map(([k]) => k).join(', --')})`);
        }
        const result = await trainRunExclusive({ out: opts.out, resume: true, epochs: parseNumber(opts.epochs, '--epochs', true), handleSigint: true, progressStream });
        if (result.interrupted) process.exitCode = 130;
        return;
      }
      const fromFile = opts.config ? readConfigFile(opts.config) : {};
      const result = await trainRunExclusive({ out: opts.out, config: mergeConfig(fromFile, cliOverrides(opts)), handleSigint: true, progressStream });
      if (result.interrupted) process.exitCode = 130;
    });
}

/** The run-config fields the command line sets (undefined = not given, the file or default decides). */
export function cliOverrides(opts: TrainCliOptions): Record<string, unknown> {
  if (opts.features === undefined && opts.featureNames !== undefined) throw new UserError('--feature-names needs --features');
  // `outfitrec features --out P` writes P.npy + P.names: --features P.npy alone finds the names
  const featureNames = opts.featureNames ?? opts.features?.replace(/(\.npy)?$/, '.names');
  return {
    data: {
      root: opts.data,
      set: opts.set,
      imageSize: parseNumber(opts.imageSize, '--image-size', true),
      features: opts.features ? { npy: opts.features, names: featureNames } : undefined,
    },
    model: {
      dim: parseNumber(opts.dim, '--dim', true),
      anchors: parseNumber(opts.anchors, '--anchors', true),
      backbone: { kind: opts.backbone, width: parseNumber(opts.width, '--width') },
    },
    method: opts.method,
    fnd: {
      teacher: opts.teacher,
      phi: opts.fndPhi,
      ...(opts.fndVariant === undefined ? { alpha: parseNumber(opts.alpha, '--alpha') } : fndVariant(opts.fndVariant, parseNumber(opts.alpha, '--alpha'))),
    },
    negatives: { kind: opts.trainNegatives },
    optim: { lr: parseNumber(opts.lr, '--lr') },
    epochs: parseNumber(opts.epochs, '--epochs', true),
    batchSize: parseNumber(opts.batch, '--batch', true),
    seed: parseNumber(opts.seed, '--seed', true),
    threads: parseNumber(opts.threads, '--threads', true),
  };
}
