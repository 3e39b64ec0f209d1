/**
 * The ground truth of the synthetic benchmark (method.md §6.3): shared latent styles, users as mixtures
 * of styles, and the probability that a user creates an outfit. The generator samples positives
 * from it and the oracle scores any outfit with it, so both import this one file.
 *
 * An item is what its image shows: a Fashion-MNIST class (the shape), a palette colour (the tint),
 * plus a small item-level term `ε` that no image shows (irreducible noise).
 *
 * Style s gives an outfit o = {x_1..x_n} the energy
 *   E_s(o) = Σ_k A_s[cat_k][class_k][colour_k] + w_h · Σ_{k<l} H[colour_k][colour_l] + Σ_k ε_k
 * (affinity of the style for each item's class and colour, a colour-harmony term shared by all
 * styles, item noise), and the outfit distribution p_s(o | size) = exp(E_s(o)/T) / Z_s(size) over
 * all attribute combinations of that size (T = temperature: higher T = noisier users).
 * A user is a mixture: π_u over styles (Dirichlet), and for variable-length sets (519/32) a
 * probability of two tops. The true utility is the user's log-probability of the outfit:
 *   U(u, o) = log P_u(size) + log Σ_s π_us · p_s(o | size)        (nats)
 * Each positive is drawn by choosing a size, then a style s ~ π_u, then an outfit ∝ exp(E_s/T)
 * among the items available to the user in that split (see generate.ts).
 */
import type { Rng } from '../../rng.js';

/** Fashion-MNIST class names, index = label. */
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/**
 * Fashion-MNIST labels per outfit category, in CATEGORY_NAMES order (method.md §6.3): top = T-shirt,
 * Pullover, Coat, Shirt; bottom = Trouser; shoe = Sandal, Sneaker, Ankle boot. Dress and Bag are
 * not used: the Polyvore-U sets have only top/bottom/shoe.
 */
export const CATEGORY_CLASSES: readonly (readonly number[])[] = [
  [0, 2, 4, 6],
  [1],
  [5, 7, 9],
];

export interface PaletteColour {
  readonly name: string;
  readonly rgb: readonly [number, number, number];
  /** Neutral colours combine with anything; bright ones clash with each other (see HARMONY). */
  readonly neutral: boolean;
}

/** Tint palette. No white: images are drawn on a white background, like product photos. */
export const PALETTE: readonly PaletteColour[] = [
  { name: 'black', rgb: [30, 30, 30], neutral: true },
  { name: 'grey', rgb: [140, 140, 140], neutral: true },
  { name: 'navy', rgb: [25, 45, 125], neutral: true },
  { name: 'brown', rgb: [125, 75, 35], neutral: true },
  { name: 'red', rgb: [210, 30, 40], neutral: false },
  { name: 'yellow', rgb: [235, 185, 20], neutral: false },
  { name: 'green', rgb: [30, 145, 65], neutral: false },
  { name: 'pink', rgb: [235, 105, 170], neutral: false },
];
export const NUM_COLOURS = PALETTE.length;

/**
 * Pairwise colour harmony, the same for everyone: "one accent on a neutral base". A bright colour
 * next to a neutral is good, neutrals together are fine, the same bright twice is flat, two
 * different brights clash.
 */
export const HARMONY: readonly (readonly number[])[] = PALETTE.map((a) =>
  PALETTE.map((b) => {
    if (a.neutral && b.neutral) return 0.25;
    if (a.neutral !== b.neutral) return 0.5;
    return a === b ? 0 : -1;
  }),
);

/** The knobs of the ground truth. Defaults are calibrated (see DEFAULT_KNOBS). */
export interface SynthKnobs {
  /** Number of shared latent styles. */
  styles: number;
  /** Softmax temperature of the positives: higher = noisier users, lower oracle AUC. */
  temperature: number;
  /** Weight w_h of the colour-harmony term. */
  harmonyWeight: number;
  /** Standard deviation of the item-level noise ε (invisible in the image). */
  itemNoise: number;
  /** Standard deviation of a style's class preferences. */
  classScale: number;
  /** Standard deviation of a style's colour preferences. */
  colourScale: number;
  /** Dirichlet concentration of a user's style weights (smaller = fewer dominant styles). */
  styleConcentration: number;
  /** Mean probability of a two-top outfit in the variable-length sets (519/32). */
  twoTopShare: number;
}

/**
 * Calibrated (bench/synth.ts, seeds 1–3, default scale) so that the oracle's test AUC with the
 * files' random-mix negatives lands in 0.90–0.97 on every preset (measured 0.928–0.954) and lower,
 * but well above 0.5, with the hard negatives (0.76–0.81). See README.md in this folder.
 */
export const DEFAULT_KNOBS: SynthKnobs = {
  styles: 16,
  temperature: 0.45,
  harmonyWeight: 1,
  itemNoise: 0.3,
  classScale: 1,
  colourScale: 1,
  // Dirichlet(0.15) over 16 styles: users lean on ~3 styles (weight > 0.1; 1/Σπ² ≈ 3.4)
  styleConcentration: 0.15,
  // method.md §6.3: a third-party count of 3.58 items per 519 outfit implies ~58% two-top outfits
  twoTopShare: 0.58,
};

/** One latent style: affinity[cat][classIndex][colour] (classIndex indexes CATEGORY_CLASSES[cat]). */
export interface Style {
  readonly affinity: number[][][];
}

/** A user of one set: weights over the shared styles, and P(two tops) for variable-length sets. */
export interface SynthUser {
  readonly styleWeights: number[];
  /** Only meaningful for variable-length sets; 0 otherwise. */
  readonly twoTopProbability: number;
}

/**
 * Draws the shared styles. A style has a colour palette of its own (a base preference shared by
 * its categories plus a smaller per-category deviation) and class preferences per category.
 */
export function drawStyles(rng: Rng, knobs: SynthKnobs): Style[] {
  const styles: Style[] = [];
  for (let s = 0; s < knobs.styles; s++) {
    const base = Array.from({ length: NUM_COLOURS }, () => rng.normal());
    const affinity = CATEGORY_CLASSES.map((classes) => {
      const classPref = classes.map(() => (classes.length > 1 ? knobs.classScale * rng.normal() : 0));
      const colourPref = base.map((b) => knobs.colourScale * (0.9 * b + 0.45 * rng.normal()));
      return classPref.map((cp) => colourPref.map((col) => cp + col));
    });
    styles.push({ affinity });
  }
  return styles;
}

/** Draws a user: Dirichlet style weights and, for variable-length sets, a two-top probability. */
export function drawUser(rng: Rng, knobs: SynthKnobs, variableLength: boolean): SynthUser {
  const g = Array.from({ length: knobs.styles }, () => gamma(rng, knobs.styleConcentration));
  let total = g.reduce((a, b) => a + b, 0);
  if (!(total > 0)) {
    // every gamma draw underflowed (tiny concentration): fall back to one style
    g[rng.int(g.length)] = 1;
    total = 1;
  }
  const styleWeights = g.map((x) => x / total);
  const twoTopProbability = variableLength ? clamp(knobs.twoTopShare + 0.15 * rng.normal(), 0.1, 0.9) : 0;
  return { styleWeights, twoTopProbability };
}

/** Gamma(shape, 1) by Marsaglia–Tsang, boosted for shape < 1. */
function gamma(rng: Rng, shape: number): number {
  if (shape < 1) {
    let u = rng.next();
    while (u === 0) u = rng.next();
    return gamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v0 = 1 + c * x;
    if (v0 <= 0) continue;
    const v = v0 * v0 * v0;
    const u = rng.next();
    if (u > 0 && Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** Index of a Fashion-MNIST label inside CATEGORY_CLASSES[category], or -1. */
export function classIndexOf(category: number, fashionClass: number): number {
  return CATEGORY_CLASSES[category].indexOf(fashionClass);
}

/**
 * Colour marginal of one slot under style s: M(c) = Σ_class exp(A_s[cat][class][c] / T) · weight,
 * where `groupWeight(classIndex, colour)` is how much of each (class, colour) group is available
 * (1 for the oracle's normaliser; the pool's summed item weights when sampling).
 */
export function colourMarginal(
  style: Style,
  category: number,
  temperature: number,
  groupWeight: (classIndex: number, colour: number) => number,
): Float64Array {
  const m = new Float64Array(NUM_COLOURS);
  const aff = style.affinity[category];
  for (let k = 0; k < aff.length; k++) {
    for (let c = 0; c < NUM_COLOURS; c++) {
      const w = groupWeight(k, c);
      if (w > 0) m[c] += Math.exp(aff[k][c] / temperature) * w;
    }
  }
  return m;
}

/**
 * Unnormalised weights of every colour tuple (one colour per slot, encoded by `colourTupleOf`):
 * Π_k M_k(c_k) · exp(w_h Σ_{k<l} H(c_k, c_l) / T), NUM_COLOURS^slots entries.
 */
export function colourTupleWeights(marginals: Float64Array[], harmonyWeight: number, temperature: number): Float64Array {
  const slots = marginals.length;
  const n = NUM_COLOURS ** slots;
  const out = new Float64Array(n);
  const cols = new Int32Array(slots);
  for (let t = 0; t < n; t++) {
    colourTupleOf(t, slots, cols);
    let w = 1;
    for (let k = 0; k < slots && w > 0; k++) w *= marginals[k][cols[k]];
    if (w === 0) continue;
    let h = 0;
    for (let k = 0; k < slots; k++) for (let l = k + 1; l < slots; l++) h += HARMONY[cols[k]][cols[l]];
    out[t] = w * Math.exp((harmonyWeight * h) / temperature);
  }
  return out;
}

/** Decodes tuple index t into one colour per slot (slot k = digit k in base NUM_COLOURS). */
export function colourTupleOf(t: number, slots: number, out: Int32Array): void {
  for (let k = 0; k < slots; k++) {
    out[k] = t % NUM_COLOURS;
    t = Math.floor(t / NUM_COLOURS);
  }
}

/**
 * log Z_s(size) of every style, for slot patterns [0,1,2] (one top) and [0,0,1,2] (two tops): the
 * normaliser of p_s over all (class, colour) combinations, each group counted once.
 */
export function logNormalisers(styles: Style[], knobs: SynthKnobs): { oneTop: number[]; twoTops: number[] } {
  const one = (s: Style, pattern: number[]): number => {
    const marginals = pattern.map((cat) => colourMarginal(s, cat, knobs.temperature, () => 1));
    const w = colourTupleWeights(marginals, knobs.harmonyWeight, knobs.temperature);
    let z = 0;
    for (let i = 0; i < w.length; i++) z += w[i];
    return Math.log(z);
  };
  return {
    oneTop: styles.map((s) => one(s, [0, 1, 2])),
    twoTops: styles.map((s) => one(s, [0, 0, 1, 2])),
  };
}

/** Attributes of the items an outfit is made of, in slot order (absent slots left out). */
export interface OutfitItems {
  readonly categories: ArrayLike<number>;
  readonly classIndices: ArrayLike<number>;
  readonly colours: ArrayLike<number>;
  readonly noise: ArrayLike<number>;
  readonly count: number;
}

/**
 * The true utility U(u, o) = log P_u(size) + log Σ_s π_us p_s(o | size) in nats (see the file
 * comment). `twoTops` says whether the outfit is the two-top pattern of a variable-length set.
 */
export class UtilityModel {
  readonly logZ: { oneTop: number[]; twoTops: number[] };

  constructor(
    readonly styles: Style[],
    readonly knobs: SynthKnobs,
  ) {
    this.logZ = logNormalisers(styles, knobs);
  }

  /** Energy E_s(o) of every style, written into `out`. */
  energies(o: OutfitItems, out: Float64Array): void {
    let harmony = 0;
    let noise = 0;
    for (let k = 0; k < o.count; k++) {
      noise += o.noise[k];
      for (let l = k + 1; l < o.count; l++) harmony += HARMONY[o.colours[k]][o.colours[l]];
    }
    const shared = this.knobs.harmonyWeight * harmony + noise;
    for (let s = 0; s < this.styles.length; s++) {
      const aff = this.styles[s].affinity;
      let e = shared;
      for (let k = 0; k < o.count; k++) e += aff[o.categories[k]][o.classIndices[k]][o.colours[k]];
      out[s] = e;
    }
  }

  utility(user: SynthUser, o: OutfitItems, variableLength: boolean, scratch: Float64Array): number {
    const twoTops = variableLength && o.count === 4;
    this.energies(o, scratch);
    const logZ = twoTops ? this.logZ.twoTops : this.logZ.oneTop;
    const t = this.knobs.temperature;
    let max = -Infinity;
    for (let s = 0; s < this.styles.length; s++) {
      const w = user.styleWeights[s];
      scratch[s] = w > 0 ? Math.log(w) + scratch[s] / t - logZ[s] : -Infinity;
      if (scratch[s] > max) max = scratch[s];
    }
    let sum = 0;
    for (let s = 0; s < this.styles.length; s++) if (scratch[s] > -Infinity) sum += Math.exp(scratch[s] - max);
    let logSize = 0;
    if (variableLength) logSize = Math.log(twoTops ? user.twoTopProbability : 1 - user.twoTopProbability);
    return logSize + max + Math.log(sum);
  }
}
