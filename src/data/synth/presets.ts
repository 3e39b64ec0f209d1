/**
 * Shapes of the synthetic sets (method.md §6.3), mirroring the per-user statistics of the Polyvore-U
 * sets (method.md §6.1) and scaled down in user count only.
 */
import { UserError } from '../../errors.js';

/** The per-user shape of one synthetic set folder. */
export interface SetShape {
  /** Folder name: tuples_<set>. */
  readonly set: '630' | '53' | '519' | '32';
  /** Users of the real set (the reference for --scale). */
  readonly realUsers: number;
  /** Mean positives per user per split (real: train / val / test outfits ÷ users). */
  readonly perUser: { readonly train: number; readonly val: number; readonly test: number };
  /**
   * Items in the set's pool per drawn slot, per category. Calibrated so that the distinct items per
   * outfit in the train split come out near the real ones (630 train: 0.52 tops, 0.35 bottoms, 0.38
   * shoes per outfit; 519: 0.71 / 0.50 / 0.55).
   */
  readonly poolPerDraw: readonly [number, number, number];
}

/**
 * Real per-user means (method.md §6.1): 630 has 127,326 / 12,565 / 23,054 outfits for
 * 630 users; 53 has 10,712 train and 1,944 test for 53 users (val not published; KZ thesis: ~20);
 * 519 has 83,416 / 8,736 / 14,654 for 519 users; 32 has 5,133 train and 898 test for 32 users.
 */
export const SET_SHAPES: Record<SetShape['set'], SetShape> = {
  '630': { set: '630', realUsers: 630, perUser: { train: 202.1, val: 19.9, test: 36.6 }, poolPerDraw: [0.95, 0.4, 0.46] },
  '53': { set: '53', realUsers: 53, perUser: { train: 202.1, val: 19.9, test: 36.7 }, poolPerDraw: [0.95, 0.4, 0.46] },
  '519': { set: '519', realUsers: 519, perUser: { train: 160.7, val: 16.8, test: 28.2 }, poolPerDraw: [0.72, 0.8, 0.9] },
  '32': { set: '32', realUsers: 32, perUser: { train: 160.4, val: 16.8, test: 28.1 }, poolPerDraw: [0.72, 0.8, 0.9] },
};

/**
 * Default user-count factor: syn-630 gets 100 users (630 × 100/630), which trains on 2 CPU cores in
 * minutes. Per-user outfit counts stay at the real ones.
 */
export const DEFAULT_USER_SCALE = 100 / 630;

/** No set gets fewer users than this at a scaled default (the cold sets 53/32 would get 8 and 5). */
export const MIN_SCALED_USERS = 10;

export interface PresetSet {
  readonly shape: SetShape;
  /** Users at the default scale. */
  readonly defaultUsers: number;
  /** Per-user outfit means actually used (the tiny preset shrinks them). */
  readonly perUser: { readonly train: number; readonly val: number; readonly test: number };
}

export interface Preset {
  readonly name: string;
  readonly description: string;
  /** Sets written, in order; the first is the one `--users` sets. */
  readonly sets: readonly PresetSet[];
  /** Whether --scale applies (the tiny preset has fixed user counts). */
  readonly scalable: boolean;
}

function scaled(set: SetShape['set']): PresetSet {
  const shape = SET_SHAPES[set];
  return { shape, defaultUsers: usersAtScale(shape, DEFAULT_USER_SCALE), perUser: shape.perUser };
}

function usersAtScale(shape: SetShape, scale: number): number {
  return Math.max(Math.min(MIN_SCALED_USERS, shape.realUsers), Math.round(shape.realUsers * scale));
}

/** A tiny set for tests: few users, few outfits per user, generated in about a second. */
function tiny(set: SetShape['set'], users: number): PresetSet {
  return { shape: SET_SHAPES[set], defaultUsers: users, perUser: { train: 20, val: 4, test: 8 } };
}

export const PRESETS: readonly Preset[] = [
  { name: 'syn-630', description: 'shaped like Polyvore-630 (one top, bottom, shoe): tuples_630', sets: [scaled('630')], scalable: true },
  { name: 'syn-53', description: 'new users shaped like Polyvore-53: tuples_53', sets: [scaled('53')], scalable: true },
  { name: 'syn-519', description: 'shaped like Polyvore-519 (one or two tops): tuples_519', sets: [scaled('519')], scalable: true },
  { name: 'syn-32', description: 'new users shaped like Polyvore-32: tuples_32', sets: [scaled('32')], scalable: true },
  {
    name: 'syn-all',
    description: 'all four: tuples_630 + tuples_53 and tuples_519 + tuples_32 in one root',
    sets: [scaled('630'), scaled('53'), scaled('519'), scaled('32')],
    scalable: true,
  },
  {
    name: 'tiny',
    description: 'for tests: 8 + 4 users (630/53) and 8 + 4 users (519/32), ~30 outfits per user',
    sets: [tiny('630', 8), tiny('53', 4), tiny('519', 8), tiny('32', 4)],
    scalable: false,
  },
];

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name);
}

export function findPreset(name: string): Preset {
  const preset = PRESETS.find((p) => p.name === name);
  if (!preset) throw new UserError(`unknown preset '${name}' (known: ${presetNames().join(', ')})`);
  return preset;
}

/** Largest user-count factor against the real sets (`--scale`), and so the bound of `--users`. */
export const MAX_SYNTH_SCALE = 4;

/**
 * Most users `--users` may give a preset's first set: MAX_SYNTH_SCALE × its real user count
 * (syn-630 and tiny: 2,520; syn-519: 2,076; syn-53: 212; syn-32: 128), which the generator
 * writes in minutes within a few hundred MB; far larger counts would exhaust the heap.
 */
export function maxSynthUsers(preset: Preset): number {
  return MAX_SYNTH_SCALE * preset.sets[0].shape.realUsers;
}

/** A set to generate, with its final user count and per-user outfit means. */
export interface SetPlan {
  readonly shape: SetShape;
  readonly users: number;
  readonly perUser: { readonly train: number; readonly val: number; readonly test: number };
}

/**
 * User counts of a preset's sets. `users` fixes the first set's count; the others follow at the
 * same factor against the real sets (tiny: in proportion to its fixed counts); `scale` is the factor against the real sets (1 = real size);
 * `outfitScale` multiplies the per-user outfit means. Smallest set: 2 users (hard negatives need
 * another user).
 */
export function planPreset(preset: Preset, opts: { users?: number; scale?: number; outfitScale?: number }): SetPlan[] {
  if (opts.users !== undefined && opts.scale !== undefined) throw new UserError('--users and --scale both given: use one');
  if (opts.scale !== undefined && !preset.scalable) throw new UserError(`--scale does not apply to preset '${preset.name}' (its user counts are fixed; use --users)`);
  const outfitScale = opts.outfitScale ?? 1;
  const first = preset.sets[0];
  const maxUsers = maxSynthUsers(preset);
  if (opts.users !== undefined && opts.users > maxUsers) {
    throw new UserError(
      `--users ${opts.users} is more than preset '${preset.name}' allows: at most ${maxUsers} (${MAX_SYNTH_SCALE} × the ${first.shape.realUsers} users of the real ${first.shape.set}, as --scale ${MAX_SYNTH_SCALE})`,
    );
  }
  return preset.sets.map((s) => {
    let users = s.defaultUsers;
    if (opts.users !== undefined) {
      // scalable presets: the other sets follow at the same factor against the real sets
      if (s === first) users = opts.users;
      else if (preset.scalable) users = usersAtScale(s.shape, opts.users / first.shape.realUsers);
      else users = Math.round((s.defaultUsers * opts.users) / first.defaultUsers);
    } else if (opts.scale !== undefined) {
      users = usersAtScale(s.shape, opts.scale);
    }
    const perUser = { train: s.perUser.train * outfitScale, val: s.perUser.val * outfitScale, test: s.perUser.test * outfitScale };
    return { shape: s.shape, users: Math.max(2, users), perUser };
  });
}
