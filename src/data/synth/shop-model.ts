/**
 * The ground truth of the example shop (`data synth --preset shop`, method.md §6.3 "Shop preset"):
 * a catalog of items with visible attributes (category, type, colour, pattern), shared latent
 * styles, and users as mixtures of styles with their own outfit shapes. The generator (shop.ts)
 * samples every outfit from it, and `ShopTruth.utility` gives the exact log-probability that a
 * user makes a given outfit, so a model trained on the imported data can be compared with it.
 *
 * An item x has an affinity under style s, the sum of a type, a colour and a pattern term:
 *   a_s(x) = C_s[cat][type] + K_s[cat][colour] + P_s[pattern]
 * (the colour terms share a per-style base palette across categories, so a style's outfits are
 * colour-coherent), plus an item term ε_x ~ N(0, σ²) that no picture shows.
 * Within a style, each slot of category c picks an item of the catalog with probability
 *   q_s(x) = exp((a_s(x) + ε_x)/T) / Σ_{x' of category c} exp((a_s(x') + ε_x')/T)
 * A user has style weights π_u (Dirichlet) and a shape distribution: dress or top+bottom, a bag or
 * not, outerwear or not, 0–2 accessories (independent choices). An outfit is drawn as shape, then
 * s ~ π_u, then one item per slot from q_s (two accessories: distinct, drawn again on a repeat).
 * The true utility is the log-probability of the outfit as a set (nats):
 *   U(u, o) = log P_u(shape(o)) + log Σ_s π_us Π_{slots} q_s(x_k)   (two accessories a, b: the
 *   second is drawn again while it equals the first, so the pair term is the exact probability of
 *   the unordered pair, q_s(a) q_s(b) (1/(1 − q_s(a)) + 1/(1 − q_s(b))))
 * An outfit of no shape the truth can make (two tops, a dress with trousers, no shoe) has U = −∞.
 * There is no pairwise colour-harmony term (unlike the Polyvore-like presets, model.ts): with one
 * the normaliser over 7-slot outfits would not be a product, and the exact U above would be lost.
 */
import type { Rng } from '../../rng.js';
import { DEFAULT_KNOBS, NUM_COLOURS, drawUser } from './model.js';

/** One item type: its name in titles, and how its picture is drawn (a Fashion-MNIST class silhouette of images.ts, or a shop shape of shop-images.ts). */
export interface ShopType {
  readonly name: string;
  readonly draw: { readonly fashionClass: number } | { readonly shape: string };
}

export interface ShopCategory {
  readonly name: string;
  readonly types: readonly ShopType[];
  /** Catalog items of this category per user (200 users → ~1,500 items in all). */
  readonly itemsPerUser: number;
}

const fm = (name: string, fashionClass: number): ShopType => ({ name, draw: { fashionClass } });
const shape = (name: string): ShopType => ({ name, draw: { shape: name } });

/** The categories, in this order everywhere (truth file, reports). */
export const SHOP_CATEGORIES: readonly ShopCategory[] = [
  { name: 'top', types: [fm('t-shirt', 0), fm('pullover', 2), fm('shirt', 6)], itemsPerUser: 1.5 },
  { name: 'bottom', types: [fm('trousers', 1), shape('skirt'), shape('shorts')], itemsPerUser: 1.2 },
  { name: 'dress', types: [shape('mini dress'), shape('maxi dress')], itemsPerUser: 0.6 },
  { name: 'shoe', types: [fm('sandals', 5), fm('sneakers', 7), fm('ankle boots', 9)], itemsPerUser: 1.2 },
  { name: 'bag', types: [shape('handbag'), shape('backpack'), shape('tote bag')], itemsPerUser: 0.75 },
  { name: 'outerwear', types: [fm('coat', 4), shape('jacket')], itemsPerUser: 0.75 },
  { name: 'accessory', types: [shape('hat'), shape('scarf'), shape('belt'), shape('sunglasses')], itemsPerUser: 1.5 },
];
export const CAT = { top: 0, bottom: 1, dress: 2, shoe: 3, bag: 4, outerwear: 5, accessory: 6 } as const;

/** Patterns, and their share of the catalog. */
export const PATTERNS = ['plain', 'striped', 'dotted', 'checked'] as const;
export const PATTERN_SHARES = [0.55, 0.15, 0.15, 0.15] as const;

export interface ShopKnobs {
  styles: number;
  /** Softmax temperature of the item choices: higher = noisier users. */
  temperature: number;
  /** Standard deviation of the item term ε (invisible in the picture). */
  itemNoise: number;
  /** Standard deviations of a style's type, colour and pattern terms. */
  typeScale: number;
  colourScale: number;
  patternScale: number;
  /** Dirichlet concentration of a user's style weights. */
  styleConcentration: number;
}

export const DEFAULT_SHOP_KNOBS: ShopKnobs = {
  styles: 16,
  temperature: 0.8,
  itemNoise: 0.3,
  typeScale: 1,
  colourScale: 1,
  patternScale: 0.8,
  styleConcentration: 0.15,
};

/** Style s: typePref[cat][type], colourPref[cat][colour], patternPref[pattern]. */
export interface ShopStyle {
  readonly typePref: number[][];
  readonly colourPref: number[][];
  readonly patternPref: number[];
}

/** A user's taste: style weights and the probabilities of the outfit shape's parts. */
export interface ShopUser {
  readonly id: string;
  readonly styleWeights: number[];
  /** P(dress instead of top + bottom), P(bag), P(outerwear). */
  readonly dress: number;
  readonly bag: number;
  readonly outerwear: number;
  /** P(0, 1, 2 accessories). */
  readonly accessories: [number, number, number];
}

/** What an item is made of (the catalog row of the truth). */
export interface ShopItem {
  readonly id: string;
  readonly category: number;
  /** Index into SHOP_CATEGORIES[category].types. */
  readonly type: number;
  readonly colour: number;
  readonly pattern: number;
  /** ε. */
  readonly noise: number;
  /** Picture index of the drawing (varies the proportions). */
  readonly picture: number;
}

export function drawShopStyles(rng: Rng, knobs: ShopKnobs): ShopStyle[] {
  const styles: ShopStyle[] = [];
  for (let s = 0; s < knobs.styles; s++) {
    const base = Array.from({ length: NUM_COLOURS }, () => rng.normal());
    const typePref = SHOP_CATEGORIES.map((c) => c.types.map(() => (c.types.length > 1 ? knobs.typeScale * rng.normal() : 0)));
    const colourPref = SHOP_CATEGORIES.map(() => base.map((b) => knobs.colourScale * (0.9 * b + 0.45 * rng.normal())));
    const patternPref = PATTERNS.map(() => knobs.patternScale * rng.normal());
    styles.push({ typePref, colourPref, patternPref });
  }
  return styles;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** A user: Dirichlet style weights (model.ts drawUser) and jittered shape probabilities. */
export function drawShopUser(rng: Rng, knobs: ShopKnobs, id: string): ShopUser {
  const { styleWeights } = drawUser(rng, { ...DEFAULT_KNOBS, styles: knobs.styles, styleConcentration: knobs.styleConcentration }, false);
  const dress = clamp(0.15 + 0.12 * rng.normal(), 0.02, 0.6);
  const bag = clamp(0.55 + 0.2 * rng.normal(), 0.05, 0.95);
  const outerwear = clamp(0.35 + 0.2 * rng.normal(), 0.05, 0.95);
  // accessories ~ Binomial(2, m/2) with a per-user mean m in [0.1, 1.9]
  const half = clamp(0.7 + 0.4 * rng.normal(), 0.1, 1.9) / 2;
  const accessories: [number, number, number] = [(1 - half) ** 2, 2 * half * (1 - half), half ** 2];
  return { id, styleWeights, dress, bag, outerwear, accessories };
}

/** An outfit's shape: which optional parts it has. */
export interface ShopShape {
  dress: boolean;
  bag: boolean;
  outerwear: boolean;
  accessories: 0 | 1 | 2;
}

export function drawShape(rng: Rng, u: ShopUser): ShopShape {
  return {
    dress: rng.next() < u.dress,
    bag: rng.next() < u.bag,
    outerwear: rng.next() < u.outerwear,
    accessories: rng.categorical(u.accessories) as 0 | 1 | 2,
  };
}

/** The slot categories of a shape, in category order. */
export function slotsOf(s: ShopShape): number[] {
  const slots: number[] = s.dress ? [CAT.dress, CAT.shoe] : [CAT.top, CAT.bottom, CAT.shoe];
  if (s.bag) slots.push(CAT.bag);
  if (s.outerwear) slots.push(CAT.outerwear);
  for (let a = 0; a < s.accessories; a++) slots.push(CAT.accessory);
  return slots.sort((a, b) => a - b);
}

/** The shape of an outfit given its items' categories, or undefined when the truth cannot make it. */
export function shapeOf(categories: readonly number[]): ShopShape | undefined {
  const n = new Array<number>(SHOP_CATEGORIES.length).fill(0);
  for (const c of categories) n[c]++;
  const dress = n[CAT.dress] === 1 && n[CAT.top] === 0 && n[CAT.bottom] === 0;
  const separates = n[CAT.dress] === 0 && n[CAT.top] === 1 && n[CAT.bottom] === 1;
  if (!(dress || separates) || n[CAT.shoe] !== 1 || n[CAT.bag] > 1 || n[CAT.outerwear] > 1 || n[CAT.accessory] > 2) return undefined;
  return { dress, bag: n[CAT.bag] === 1, outerwear: n[CAT.outerwear] === 1, accessories: n[CAT.accessory] as 0 | 1 | 2 };
}

function logShapeProbability(u: ShopUser, s: ShopShape): number {
  return (
    Math.log(s.dress ? u.dress : 1 - u.dress) +
    Math.log(s.bag ? u.bag : 1 - u.bag) +
    Math.log(s.outerwear ? u.outerwear : 1 - u.outerwear) +
    Math.log(u.accessories[s.accessories])
  );
}

/**
 * The truth with its per-style item probabilities precomputed: samples outfits (the generator)
 * and scores them (the oracle). Item and user arguments are indices into `items` and `users`.
 */
export class ShopTruth {
  /** log q_s(x), styles × items. */
  private readonly logQ: Float64Array;
  /** Per style and category: the cumulative q_s over the category's items (sampling). */
  private readonly cdf: Float64Array[][];
  /** Per category: its item indices, in catalog order. */
  readonly itemsOf: Int32Array[];
  private readonly scratch: Float64Array;

  constructor(
    readonly knobs: ShopKnobs,
    readonly styles: readonly ShopStyle[],
    readonly users: readonly ShopUser[],
    readonly items: readonly ShopItem[],
  ) {
    const S = styles.length;
    const N = items.length;
    this.itemsOf = SHOP_CATEGORIES.map((_, c) => Int32Array.from(items.flatMap((it, i) => (it.category === c ? [i] : []))));
    this.logQ = new Float64Array(S * N);
    this.cdf = [];
    this.scratch = new Float64Array(S);
    for (let s = 0; s < S; s++) {
      const st = styles[s];
      const perCategory: Float64Array[] = [];
      for (let c = 0; c < SHOP_CATEGORIES.length; c++) {
        const ids = this.itemsOf[c];
        const logits = Array.from(ids, (i) => {
          const it = items[i];
          return (st.typePref[c][it.type] + st.colourPref[c][it.colour] + st.patternPref[it.pattern] + it.noise) / knobs.temperature;
        });
        const max = Math.max(...logits);
        let z = 0;
        for (const l of logits) z += Math.exp(l - max);
        const logZ = max + Math.log(z);
        const cdf = new Float64Array(ids.length);
        let acc = 0;
        ids.forEach((i, k) => {
          const lq = logits[k] - logZ;
          this.logQ[s * N + i] = lq;
          const q = Math.exp(lq);
          acc += q;
          cdf[k] = acc;
        });
        perCategory.push(cdf);
      }
      this.cdf.push(perCategory);
    }
  }

  /** One outfit of user u: shape, style, then an item per slot (item indices, category order). */
  sampleOutfit(rng: Rng, u: number): number[] {
    const user = this.users[u];
    const slots = slotsOf(drawShape(rng, user));
    const s = rng.categorical(user.styleWeights);
    const out: number[] = [];
    for (const c of slots) {
      let item: number;
      do item = this.draw(rng, s, c);
      while (out.includes(item));
      out.push(item);
    }
    return out;
  }

  private draw(rng: Rng, s: number, c: number): number {
    const cdf = this.cdf[s][c];
    const r = rng.next() * cdf[cdf.length - 1];
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return this.itemsOf[c][lo];
  }

  /** U(u, o) in nats (see the file comment); −∞ for an outfit the truth cannot make. */
  utility(u: number, outfit: readonly number[]): number {
    const shape = shapeOf(outfit.map((i) => this.items[i].category));
    if (!shape || new Set(outfit).size !== outfit.length) return -Infinity;
    const user = this.users[u];
    const N = this.items.length;
    let max = -Infinity;
    for (let s = 0; s < this.styles.length; s++) {
      const w = user.styleWeights[s];
      let l = w > 0 ? Math.log(w) : -Infinity;
      const pair: number[] = [];
      for (const i of outfit) {
        l += this.logQ[s * N + i];
        if (this.items[i].category === CAT.accessory) pair.push(Math.exp(this.logQ[s * N + i]));
      }
      if (pair.length === 2) l += Math.log(1 / (1 - pair[0]) + 1 / (1 - pair[1]));
      this.scratch[s] = l;
      if (l > max) max = l;
    }
    if (max === -Infinity) return -Infinity;
    let sum = 0;
    for (let s = 0; s < this.styles.length; s++) sum += Math.exp(this.scratch[s] - max);
    return logShapeProbability(user, shape) + max + Math.log(sum);
  }
}
