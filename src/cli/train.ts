/**
 * `outfitrec train`: one training run into a run folder (method.md §4; architecture.md §4.2). Options
 * map onto the typed run config (src/config.ts); `--config FILE` supplies any field, and every
 * option given on the command line overrides the file.
 */
import type { Command } from 'commander';
import { FND_DEFAULT_ALPHA, FND_VARIANTS, METHODS, fndVariant, mergeConfig, readConfigFile } from '../config.js';
import { BACKBONE_KINDS } from '../model/config.js';
import { UserError } from '../errors.js';
import { trainRunExclusive } from '../train/exclusive.js';

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
  negatives?: string;
  threads?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a model (lpae, softmax, softmax+cl, fnd, fnd+cl) into a run folder')
    .option('--data <dir>', 'dataset root holding tuples_<set>/')
    .option('--set <name>', 'set folder: 630, 53, 519 or 32')
    .option('--method <name>', `objective: ${METHODS.join(' | ')} (default softmax)`)
    .option('--backbone <kind>', `item backbone: ${BACKBONE_KINDS.join(' | ')} (default convnet, or features with --features)`)
    .option('--width <w>', 'backbone width multiplier (teacher wide, e.g. 1; student narrow, e.g. 0.25)')
    .option('--dim <d>', 'embedding size d (docs/method.md §2.2)')
    .option('--anchors <k>', 'anchors per user K (docs/method.md §3)')
    .option('--teacher <run>', 'teacher run folder (fnd, fnd+cl)')
    .option(
      '--fnd-variant <name>',
      `FND variant (docs/method.md §4 "Variants"): ${Object.keys(FND_VARIANTS).join(' | ')}. paper = Eq. S with α > 0 (default +1), the paper's direction: ` +
        'a suspected false negative weighs MORE; inverted = α < 0 (default −1; the default variant): it weighs less, which trains the student inside a ' +
        'product of experts with the teacher; indicator = weight α (default 2) on suspected false negatives only; distill = L_T + α (default 1) · KL(teacher ‖ student)',
    )
    .option('--alpha <a>', `FND α of docs/method.md §4 Eq. S (default ${FND_DEFAULT_ALPHA}, the inverted variant: suspected false negatives weigh LESS, the opposite of the paper's α > 0)`)
    .option('--fnd-phi <source>', "FND φ per negative: teacher (default) | row-mean (control: each positive's negatives share their mean φ)")
    .requiredOption('--out <run>', 'run folder to write (or to continue with --resume)')
    .option('--epochs <n>', 'epochs (with --resume: the new total)')
    .option('--batch <n>', 'positives per step')
    .option('--lr <rate>', 'initial learning rate')
    .option('--negatives <kind>', "training negatives: random | mixed (5 random + 5 hard)")
    .option('--image-size <px>', 'side of the square item images (image backbones)')
    .option('--features <npy>', 'precomputed item features (.npy float32 matrix) for the features backbone')
    .option('--feature-names <file>', 'image name per row of --features')
    .option('--config <file>', 'JSON run config; command-line options override it')
    .option('--seed <n>', 'random seed')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default 1)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--quiet', 'no progress display')
    .action(async (opts: TrainCliOptions) => {
      const progressStream = opts.quiet ? null : process.stderr;
      if (opts.resume) {
        const given = Object.entries(opts).filter(([k, v]) => v !== undefined && !['out', 'resume', 'epochs', 'quiet'].includes(k));
        if (given.length > 0) {
          throw new UserError(`--resume continues the run as configured in ${opts.out}/config.json; only --epochs may change (got --${given.map(([k]) => k).join(', --')})`);
        }
        const result = await trainRunExclusive({ out: opts.out, resume: true, epochs: int(opts.epochs, '--epochs'), handleSigint: true, progressStream });
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
  if ((opts.features === undefined) !== (opts.featureNames === undefined)) {
    throw new UserError('--features and --feature-names go together');
  }
  return {
    data: {
      root: opts.data,
      set: opts.set,
      imageSize: int(opts.imageSize, '--image-size'),
      features: opts.features ? { npy: opts.features, names: opts.featureNames } : undefined,
    },
    model: {
      dim: int(opts.dim, '--dim'),
      anchors: int(opts.anchors, '--anchors'),
      backbone: { kind: opts.backbone, width: num(opts.width, '--width') },
    },
    method: opts.method,
    fnd: {
      teacher: opts.teacher,
      phi: opts.fndPhi,
      ...(opts.fndVariant === undefined ? { alpha: num(opts.alpha, '--alpha') } : fndVariant(opts.fndVariant, num(opts.alpha, '--alpha'))),
    },
    negatives: { kind: opts.negatives },
    optim: { lr: num(opts.lr, '--lr') },
    epochs: int(opts.epochs, '--epochs'),
    batchSize: int(opts.batch, '--batch'),
    seed: int(opts.seed, '--seed'),
    threads: int(opts.threads, '--threads'),
  };
}

function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UserError(`${flag}: '${value}' is not a number`);
  return n;
}

function int(value: string | undefined, flag: string): number | undefined {
  const n = num(value, flag);
  if (n !== undefined && !Number.isInteger(n)) throw new UserError(`${flag}: '${value}' is not an integer`);
  return n;
}
