/**
 * The one typed configuration of a training run (architecture.md §4.1: one config object per run,
 * typed and validated, saved next to the checkpoint). Unknown keys are errors naming the key. A run's
 * `config.json` holds the RESOLVED config: the model part completed from the data (users, feature
 * size, image size), so `eval` and `serve` rebuild the model from the run folder alone.
 *
 * Defaults are the synthetic benchmark's (method.md §6.3, Fashion-MNIST items at 28 px) on 2 CPU cores:
 * Adam at 2e-3 learns the Set Transformer in a few epochs where LPAE's SGD 0.1 needs ~100.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SET_NAME_PATTERN } from './data/layout.js';
import { ConfigError, UserError } from './errors.js';
import { ModelConfigSchema, parseModelConfig, type BackboneKind, type ModelConfig } from './model/config.js';

export const METHODS = ['lpae', 'softmax', 'softmax+cl', 'fnd', 'fnd+cl'] as const;
export type Method = (typeof METHODS)[number];

/** Methods whose student is distilled from a teacher run (method.md §4 Eq. S). */
export function usesTeacher(method: Method): boolean {
  return method === 'fnd' || method === 'fnd+cl';
}

/** Methods that add λ·L_CL (method.md §4 "Total"). */
export function usesContrastive(method: Method): boolean {
  return method === 'softmax+cl' || method === 'fnd+cl';
}

const DataConfigSchema = z.strictObject({
  /** Dataset root: holds `images/` and the `tuples_<set>/` folders (method.md §6.1). */
  root: z.string().min(1),
  /**
   * Which `tuples_<set>/` folder: a Polyvore-U name (630, 53, 519, 32) or any `[A-Za-z0-9_-]+` folder,
   * e.g. `shop` (method.md §6.5); the loader checks that the folder exists and lists those that do.
   */
  set: z.string().regex(SET_NAME_PATTERN, 'a set name is letters, digits, "_" or "-" (the folder tuples_<set>/ of the dataset root)'),
  /**
   * Side of the square item images fed to image backbones. Default by backbone: `convnet` 14 px
   * (the synthetic 28 px items halved: class and colour survive, and a step costs ~4× less, which
   * is what makes the syn-630 benchmark trainable on 2 cores); `alexnet` 291 px (the FHN release
   * size, fed whole as FHN's code does, method.md §2.1).
   */
  imageSize: z.number().int().min(8).max(1024).optional(),
  /** Precomputed item features for the `features` backbone (method.md §6.1: `.npy` + names list). */
  features: z.strictObject({ npy: z.string().min(1), names: z.string().min(1) }).optional(),
});

const NegativesConfigSchema = z.strictObject({
  /** M, training negatives per positive (method.md §4: 10; `lpae` uses 1, LPAE's own setting, when left at default). */
  perPositive: z.number().int().min(1).optional(),
  /** 'random' = type-aware random mixes; 'mixed' = the hard-negative setting, 5 random + 5 hard (method.md §6.2). */
  kind: z.enum(['random', 'mixed']).default('random'),
});

/** Default of optim.anchorUpdate (the bench uses it too, so it measures what training does). */
export const ANCHOR_UPDATE_DEFAULT = 'dense';

/** Default α of Eq. S; why it is negative: the `alpha` field's comment below. */
export const FND_DEFAULT_ALPHA = -1;

/**
 * Named FND variants (method.md §4 "Variants"), each a form and a default α; `train --fnd-variant`
 * sets `fnd.form` and `fnd.alpha` from them (an explicit --alpha overrides the α, within the
 * variant's sign).
 * - `paper`: Eq. S in the paper's direction, α > 0: a suspected false negative gets MORE softmax share.
 * - `inverted`: Eq. S with α < 0, this project's default: it gets LESS share; equivalent to training
 *   the student inside a product of experts with the teacher (method.md §4 "What FND computes").
 * - `indicator`: only negatives with φ > 0 are weighted, by α (default 2: penalised twice as hard,
 *   the paper's direction without touching the other negatives; α = 0 drops them).
 * - `distill`: no shift; L_T + α·KL(teacher ‖ student) over the positive and its negatives.
 */
export const FND_VARIANTS = {
  paper: { form: 'shift', alpha: 1, sign: 1 },
  inverted: { form: 'shift', alpha: FND_DEFAULT_ALPHA, sign: -1 },
  indicator: { form: 'indicator', alpha: 2, sign: 0 },
  distill: { form: 'distill', alpha: 1, sign: 0 },
} as const;
export type FndVariant = keyof typeof FND_VARIANTS;

/** `fnd.form` and `fnd.alpha` of a named variant; `alpha` (when given) must keep the variant's sign. */
export function fndVariant(name: string, alpha: number | undefined): { form: 'shift' | 'indicator' | 'distill'; alpha: number } {
  if (!Object.hasOwn(FND_VARIANTS, name)) throw new ConfigError('fnd.variant', `'${name}' is not one of ${Object.keys(FND_VARIANTS).join(', ')}`);
  const v = FND_VARIANTS[name as FndVariant];
  const a = alpha ?? v.alpha;
  if (v.sign > 0 && !(a > 0)) throw new ConfigError('fnd.alpha', `the paper's direction is alpha > 0, got ${a}`);
  if (v.sign < 0 && !(a < 0)) throw new ConfigError('fnd.alpha', `the inverted variant is alpha < 0, got ${a}`);
  return { form: v.form, alpha: a };
}

const FndConfigSchema = z.strictObject({
  /** Run folder of the trained, frozen teacher (its own config.json + best weights). */
  teacher: z.string().min(1).optional(),
  /**
   * α of Eq. S, in score units (the score is a sum of K cosines by default). The paper's mechanism
   * is α > 0: suspected false negatives (inside the user's radius) get a larger share (method.md §4).
   * α < 0 inverts it: it raises the share of the negatives the teacher places outside the radius
   * and lowers that of the ones inside, a variant rather than the paper's method. Default −1, chosen on validation AUC (docs/results.md §2): on syn-630 (convnet
   * width 0.5 teacher, width 0.125 student, 4 epochs) the fnd student reached 0.8500 at α = −1,
   * 0.8124 at −0.5 and 0.6329 at +0.5, against 0.8303 for the same student alone. A positive α
   * stalls learning because the teacher's φ of a random negative is mostly negative (8 % of them
   * have φ > 0), so their exp-terms shrink towards zero.
   */
  alpha: z.number().default(FND_DEFAULT_ALPHA),
  /** r̂_u: mean or max teacher distance over u's training positives, or the current positive's. */
  radius: z.enum(['mean', 'max', 'sample']).default('mean'),
  /**
   * 'shift' = Eq. S (α > 0 the paper's direction, α < 0 the inverted variant); 'indicator' = weight
   * α on φ>0 exp-terms; 'distill' = L_T + α·KL(teacher ‖ student) over each positive and its
   * negatives, the student's logits left unshifted (objectives.ts, method.md §4 "Variants").
   */
  form: z.enum(['shift', 'indicator', 'distill']).default('shift'),
  /**
   * 'teacher' = each negative's own φ (FND); 'row-mean' = a control: every negative of a positive
   * gets the mean φ of its row, the same average shift without the teacher's per-negative view.
   */
  phi: z.enum(['teacher', 'row-mean']).default('teacher'),
});

const ClConfigSchema = z.strictObject({
  /** λ of L = L_main + λ·L_CL. */
  lambda: z.number().min(0).default(0.1),
  /** τ of the InfoNCE similarity. */
  tau: z.number().positive().default(0.2),
  /**
   * Views (method.md §4): 'both' = v1 erase, v2 replace (the paper); 'erase' / 'replace' = both views
   * from the same augmentation, drawn independently; 'none' = v1 = v2 = the un-augmented outfit
   * (the ablation's "no augmentation" row: CL then only pushes negatives apart).
   */
  augment: z.enum(['both', 'erase', 'replace', 'none']).default('both'),
  /** Also use the other samples' views of the batch as negatives. */
  inBatch: z.boolean().default(false),
});

const ScheduleConfigSchema = z.strictObject({
  /** Reduce-on-plateau on validation AUC (method.md §4 "Training loop"): multiply lr by `factor`... */
  factor: z.number().gt(0).lt(1).default(0.5),
  /** ...after this many epochs without improvement... */
  patience: z.number().int().min(0).default(2),
  /** ...then ignore this many epochs. */
  cooldown: z.number().int().min(0).default(0),
  /** Relative AUC gain that counts as an improvement. */
  threshold: z.number().min(0).default(1e-4),
  minLr: z.number().min(0).default(1e-6),
});

const ClipConfigSchema = z.strictObject({
  /**
   * 'value': each gradient entry clipped to [-max, max] (LPAE: 0.5); 'norm': all gradients scaled
   * together so their global L2 norm is at most `max`; 'none'.
   */
  mode: z.enum(['value', 'norm', 'none']).default('norm'),
  max: z.number().positive().default(5),
});

const OptimConfigSchema = z.strictObject({
  /** 'adam' or momentum 'sgd' (LPAE: sgd lr 0.1, momentum 0.9, weight decay 1e-6). */
  kind: z.enum(['adam', 'sgd']).default('adam'),
  lr: z.number().positive().default(2e-3),
  /** SGD momentum (ignored by Adam). */
  momentum: z.number().min(0).lt(1).default(0.9),
  /** L2 decay added to every gradient (coupled, as PyTorch SGD/Adam `weight_decay`). */
  weightDecay: z.number().min(0).default(0),
  clip: ClipConfigSchema.prefault({}),
  schedule: ScheduleConfigSchema.prefault({}),
  /**
   * How the per-user anchor table is updated: 'dense' = every row at every step, absent users with
   * a zero gradient (their moments keep moving them), as a dense optimizer over the whole table;
   * 'lazy' = only the rows of the step's users, their moments included (PyTorch's SparseAdam),
   * O(batch) instead of O(users) per step. Default dense: on syn-630 lazy updates lost 0.052 test
   * AUC for LPAE and 0.026 for the student alone (docs/results.md §2).
   */
  anchorUpdate: z.enum(['lazy', 'dense']).default(ANCHOR_UPDATE_DEFAULT),
});

const EarlyStoppingSchema = z.strictObject({
  /** Stop after this many epochs without a better validation AUC; 0 = never stop early. */
  patience: z.number().int().min(0).default(6),
});

export const RunConfigSchema = z.strictObject({
  data: DataConfigSchema,
  /** The model (src/model/config.ts). Completed from the data before training; see resolveModelConfig. */
  model: z.record(z.string(), z.unknown()).default({}),
  method: z.enum(METHODS).default('softmax'),
  negatives: NegativesConfigSchema.prefault({}),
  fnd: FndConfigSchema.prefault({}),
  cl: ClConfigSchema.prefault({}),
  /** Weight of LPAE's anchor regulariser L_reg in the `lpae` objective (method.md §4: 0.01). */
  regWeight: z.number().min(0).default(0.01),
  optim: OptimConfigSchema.prefault({}),
  epochs: z.number().int().min(1).default(20),
  /** Positives per step (each with its M negatives and, with CL, 2 + 2M views). */
  batchSize: z.number().int().min(1).default(64),
  earlyStopping: EarlyStoppingSchema.prefault({}),
  /** Validation candidates: the fixed negatives file, hard negatives, or fresh random mixes (method.md §7). */
  evalNegatives: z.enum(['file', 'hard', 'random']).default('file'),
  seed: z.number().int().min(0).default(0),
  /**
   * The first engine's backend (tfjs: auto | wasm | cpu). Accepted so that run folders written by
   * outfitrec 0.1 still load; ignored: every run now uses ONNX Runtime.
   */
  backend: z.enum(['auto', 'wasm', 'cpu']).optional(),
  /** ONNX Runtime intra-op threads per session (1 is fastest per core on 2-core machines; bench/). */
  threads: z.number().int().min(1).max(64).default(1),
});

type ParsedRunConfig = z.output<typeof RunConfigSchema>;
type ResolvedData = Omit<ParsedRunConfig['data'], 'imageSize'> & { imageSize: number };

/** A validated run configuration. `model` is the resolved model config once the data is known. */
export type RunConfig = Omit<ParsedRunConfig, 'model' | 'negatives' | 'data'> & {
  data: ResolvedData;
  model: ModelConfig;
  negatives: { perPositive: number; kind: 'random' | 'mixed' };
};

/** A validated configuration whose model part still lacks what the data supplies. */
export type UnresolvedRunConfig = Omit<ParsedRunConfig, 'negatives' | 'data'> & {
  data: ResolvedData;
  negatives: { perPositive: number; kind: 'random' | 'mixed' };
};

/**
 * Model sizes for the synthetic benchmark on 2 cores (method.md §3 allows a smaller K on small data):
 * d = 64 halves the Set Transformer's cost against 128, and K = 16 anchors per user suffice for
 * ~200 positives per user. Any model field given in the config wins.
 */
export const RUN_MODEL_DEFAULTS = { dim: 64, anchors: 16 } as const;

const REQUIRED_HINTS: Record<string, string> = {
  'data.root': ' (--data DIR)',
  'data.set': ' (--set NAME)',
};

/** Field path of a zod issue, with the unknown key(s) appended for `unrecognized_keys`. */
function issueField(issue: z.core.$ZodIssue, prefix: string[] = []): string {
  const keys = issue.code === 'unrecognized_keys' ? [(issue as { keys: string[] }).keys.join(',')] : [];
  return [...prefix, ...issue.path.map(String), ...keys].join('.') || '(root)';
}

/**
 * Validates a raw run config (file JSON merged with CLI options): unknown keys and bad values are
 * ConfigErrors naming the field. The model part is checked for unknown keys and bad values too,
 * with the data-derived fields stood in for.
 */
export function parseRunConfig(raw: unknown): UnresolvedRunConfig {
  const result = RunConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const message =
      issue.code === 'unrecognized_keys'
        ? 'unknown key'
        : issue.code === 'invalid_type' && / received undefined$/.test(issue.message)
          ? `required${REQUIRED_HINTS[issueField(issue)] ?? ''}`
          : issue.message;
    throw new ConfigError(issueField(issue), message);
  }
  const cfg = result.data;
  // LPAE's own sampling is 1 negative per positive; every other method 10 (method.md §4)
  const perPositive = cfg.negatives.perPositive ?? (cfg.method === 'lpae' ? 1 : 10);
  const kind = (cfg.model as { backbone?: { kind?: BackboneKind } }).backbone?.kind ?? (cfg.data.features ? 'features' : 'convnet');
  const imageSize = cfg.data.imageSize ?? (kind === 'alexnet' ? 291 : 14);
  const out: UnresolvedRunConfig = { ...cfg, data: { ...cfg.data, imageSize }, negatives: { ...cfg.negatives, perPositive } };
  if (usesTeacher(cfg.method) && !cfg.fnd.teacher) {
    throw new ConfigError('fnd.teacher', `method '${cfg.method}' distills from a teacher run: give --teacher RUN`);
  }
  if (cfg.negatives.kind === 'mixed' && perPositive < 2) {
    throw new ConfigError('negatives.perPositive', `'mixed' negatives need at least 2 per positive (random + hard), got ${perPositive}`);
  }
  if (cfg.fnd.form === 'indicator' && cfg.fnd.alpha < 0) {
    throw new ConfigError('fnd.alpha', `the indicator form weights exp-terms, so alpha must be >= 0, got ${cfg.fnd.alpha}`);
  }
  if (cfg.fnd.form === 'distill' && cfg.fnd.alpha < 0) {
    throw new ConfigError('fnd.alpha', `the distill form weights a KL divergence, so alpha must be >= 0, got ${cfg.fnd.alpha}`);
  }
  if (cfg.fnd.form === 'distill' && cfg.fnd.phi !== 'teacher') {
    throw new ConfigError('fnd.phi', "the distill form uses the teacher's scores, not φ: 'row-mean' does not apply");
  }
  // early check of the model part, so a typo fails before any data is read; the feature size
  // stands in as outDim so an identity `features` backbone (width 0) passes
  const outDim = (cfg.model as { backbone?: { outDim?: unknown } }).backbone?.outDim;
  resolveModelConfig(out, { numUsers: 1, featureDim: typeof outDim === 'number' ? outDim : 512 });
  return out;
}

/**
 * Completes the model config from the data: numUsers, the feature size (`features` backbone) and
 * the image size (image backbones). Values the user set explicitly win and are checked.
 */
export function resolveModelConfig(cfg: UnresolvedRunConfig, data: { numUsers: number; featureDim?: number }): ModelConfig {
  const raw = cfg.model as Record<string, unknown>;
  const backbone = (typeof raw.backbone === 'object' && raw.backbone !== null ? raw.backbone : {}) as Record<string, unknown>;
  const kind = backboneKindOf(cfg);
  const filledBackbone: Record<string, unknown> = { ...backbone, kind };
  if (kind === 'features' && filledBackbone.inputDim === undefined && data.featureDim !== undefined) filledBackbone.inputDim = data.featureDim;
  if (kind !== 'features' && filledBackbone.imageSize === undefined) filledBackbone.imageSize = cfg.data.imageSize;
  return parseModelConfig(
    { ...RUN_MODEL_DEFAULTS, ...raw, numUsers: raw.numUsers ?? data.numUsers, backbone: filledBackbone },
    'model',
  );
}

/** The backbone kind a config asks for: explicit, else `features` when feature files are given, else `convnet`. */
export function backboneKindOf(cfg: UnresolvedRunConfig | RunConfig): BackboneKind {
  const raw = cfg.model as { backbone?: { kind?: BackboneKind } };
  return raw.backbone?.kind ?? (cfg.data.features ? 'features' : 'convnet');
}

/** A run config whose model is already resolved (a run folder's config.json). */
export function parseResolvedRunConfig(raw: unknown, file: string): RunConfig {
  try {
    const cfg = parseRunConfig(raw);
    const model = parseModelConfig(cfg.model, 'model');
    return { ...cfg, model };
  } catch (err) {
    if (err instanceof ConfigError) throw new UserError(`${file}: ${err.message}`);
    throw err;
  }
}

/** Reads a JSON config file (`--config FILE`). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UserError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError(`config file ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Deep merge of plain objects: `override` wins; arrays and scalars replace; undefined is skipped. */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const current = out[key];
    // nested objects merge key by key; undefined leaves (options not given) never land in the result
    if (isPlainObject(value)) out[key] = mergeConfig(isPlainObject(current) ? current : {}, value);
    else out[key] = value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * JSON Schema (draft 2020-12) of a run config file as a user writes it (`outfitrec config schema`),
 * generated from the zod schemas above in input mode, so fields with defaults are optional. The
 * `model` part is src/model/config.ts's schema without `numUsers`, which training takes from the data.
 */
export function runConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RunConfigSchema, { io: 'input' }) as { properties: Record<string, unknown> } & Record<string, unknown>;
  const model = z.toJSONSchema(ModelConfigSchema, { io: 'input' }) as { properties: Record<string, unknown>; required?: string[] } & Record<string, unknown>;
  delete model.$schema;
  delete model.properties.numUsers;
  model.required = (model.required ?? []).filter((k) => k !== 'numUsers');
  model.description = "the model (src/model/config.ts); numUsers and the backbone's input sizes come from the data";
  // the defaults a run applies where they differ from the bare model schema's (resolveModelConfig)
  const props = model.properties as Record<string, Record<string, unknown>>;
  for (const [key, value] of Object.entries(RUN_MODEL_DEFAULTS)) props[key] = { ...props[key], default: value };
  const backbone = props.backbone as { properties?: Record<string, Record<string, unknown>> };
  if (backbone.properties?.kind) {
    delete backbone.properties.kind.default;
    backbone.properties.kind.description = 'default: convnet, or features when data.features is given';
  }
  schema.properties.model = model;
  return { title: 'outfitrec run config', ...schema };
}
