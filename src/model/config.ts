/**
 * Model configuration (architecture.md §4.1: one config object per run, typed and validated; unknown
 * keys are errors). Saved in a run folder's config.json, so `eval` and `serve` rebuild the model from it.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';

export const BACKBONE_KINDS = ['features', 'convnet', 'alexnet'] as const;
export type BackboneKind = (typeof BACKBONE_KINDS)[number];

export const BackboneConfigSchema = z
  .strictObject({
    /** method.md §2.1: precomputed vectors, a small CNN for 28–64 px images, or AlexNet-shaped. */
    kind: z.enum(BACKBONE_KINDS).default('features'),
    /**
     * Width multiplier, 1 = full. `convnet`: channels 32w/64w/128w. `alexnet`: fc6 width 4096w
     * (1 = AlexNet-large, 0.25 = AlexNet-small per method.md §2.1). `features`: hidden layer of
     * round(w·outDim) units; 0 = identity (the frozen vector is the feature, LPAE's own setup).
     */
    width: z.number().min(0).default(1),
    /** F, the item feature size the backbone emits. */
    outDim: z.number().int().positive().default(512),
    /** Size of a precomputed feature vector (`features` only). */
    inputDim: z.number().int().positive().optional(),
    /** Side of the square input images (`convnet`/`alexnet`); the networks themselves accept any size. */
    imageSize: z.number().int().positive().optional(),
  })
  .superRefine((b, ctx) => {
    if (b.kind === 'features') {
      if (b.inputDim === undefined) {
        ctx.addIssue({ code: 'custom', path: ['inputDim'], message: 'required when kind is "features"' });
      } else if (b.width === 0 && b.inputDim !== b.outDim) {
        ctx.addIssue({
          code: 'custom',
          path: ['outDim'],
          message: `width 0 (identity) needs outDim = inputDim (${b.inputDim}), got ${b.outDim}`,
        });
      }
    } else if (b.width <= 0) {
      ctx.addIssue({ code: 'custom', path: ['width'], message: `must be > 0 for kind "${b.kind}"` });
    }
  });

export const ModelConfigSchema = z
  .strictObject({
    backbone: BackboneConfigSchema.prefault({}),
    /** d, the item/outfit embedding size (method.md §2.2). */
    dim: z.number().int().positive().default(128),
    /** Attention heads; d must be a multiple of it (method.md §2.3). */
    heads: z.number().int().positive().default(4),
    /** Dropout rate of the item embedding (method.md §2.2). */
    dropout: z.number().min(0).lt(1).default(0.2),
    /** K, anchors per user (method.md §3). With sharedAnchors, K/2 are the user's own and K/2 shared. */
    anchors: z.number().int().positive().default(64),
    /** LPAE-g: half of the K anchors are shared by all users (method.md §3). */
    sharedAnchors: z.boolean().default(false),
    /**
     * How the K cosines are reduced (method.md §3): 'sum' is LPAE's code (τ_s = 1/K), 'mean' the paper's
     * text; the result is then divided by scoreTemperature.
     */
    scoreReduction: z.enum(['sum', 'mean']).default('sum'),
    /** s = reduce_k cos(h_o, a_uk) / scoreTemperature; 1 with 'sum' is the method.md §3 default. */
    scoreTemperature: z.number().positive().default(1),
    /** Users 0..numUsers-1 of the dataset folder the model is trained on. */
    numUsers: z.number().int().positive(),
  })
  .superRefine((c, ctx) => {
    if (c.dim % c.heads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['heads'], message: `dim ${c.dim} must be a multiple of heads ${c.heads}` });
    }
    if (c.sharedAnchors && (c.anchors < 2 || c.anchors % 2 !== 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['anchors'],
        message: `sharedAnchors splits K in two halves, so K must be even and >= 2, got ${c.anchors}`,
      });
    }
  });

export type ModelConfig = z.output<typeof ModelConfigSchema>;
export type ModelConfigInput = z.input<typeof ModelConfigSchema>;
export type BackboneConfig = z.output<typeof BackboneConfigSchema>;

/**
 * Validates a raw config (e.g. the `model` part of a run's config.json) and fills the defaults.
 * Throws ConfigError naming the first bad field, prefixed with `fieldPrefix`.
 */
export function parseModelConfig(raw: unknown, fieldPrefix = 'model'): ModelConfig {
  const result = ModelConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const keys = issue.code === 'unrecognized_keys' ? `.${(issue as { keys: string[] }).keys.join(',')}` : '';
  const field = [fieldPrefix, ...issue.path.map(String)].filter((s) => s !== '').join('.') + keys;
  throw new ConfigError(field, issue.message);
}

/** The defaults of every field not given (numUsers has none and must be given). */
export function defaultModelConfig(partial: ModelConfigInput): ModelConfig {
  return parseModelConfig(partial);
}

/** Anchors that belong to each user alone (K, or K/2 with LPAE-g). */
export function userAnchorCount(cfg: ModelConfig): number {
  return cfg.sharedAnchors ? cfg.anchors / 2 : cfg.anchors;
}

/** Anchors shared by all users (0, or K/2 with LPAE-g). */
export function sharedAnchorCount(cfg: ModelConfig): number {
  return cfg.sharedAnchors ? cfg.anchors / 2 : 0;
}
