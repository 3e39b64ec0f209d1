/**
 * Users and their positive outfits (method.md §6.3). Each user splits the set's item pool into three
 * disjoint parts (train / val / test) by a per-user hash, so no item appears in two splits of the
 * same user (FHN: "no item overlap between the training and test sets for each user"), while other
 * users remain free to use it anywhere. A positive is drawn exactly from the user's model
 * (model.ts) restricted to the items of that split:
 *   size ~ P_u(size); style s ~ π_u; colours of the slots ~ Π_k M_k(c_k) · exp(w_h ΣH / T);
 *   class | colour ∝ exp(A_s/T) · (available weight); item | (class, colour) ∝ exp(ε / T).
 */
import type { Rng } from '../../rng.js';
import { SPLITS, type OutfitTable, type SplitName } from '../types.js';
import {
  CATEGORY_CLASSES,
  colourMarginal,
  colourTupleOf,
  colourTupleWeights,
  drawUser,
  type Style,
  type SynthKnobs,
  type SynthUser,
} from './model.js';
import { NUM_GROUPS, groupOf, type ItemPool } from './pool.js';

export interface SetUsers {
  readonly users: SynthUser[];
  /** Positives per user, per split. */
  readonly counts: Record<SplitName, Int32Array>;
  /** Per-user salt of the item partition hash. */
  readonly salts: Uint32Array;
}

/**
 * Draws the users of a set. Outfit counts per user vary around the set's means with a user-level
 * activity factor (log-normal, σ = 0.25, mean 1), at least one outfit per split.
 */
export function drawSetUsers(
  rng: Rng,
  knobs: SynthKnobs,
  numUsers: number,
  perUser: { train: number; val: number; test: number },
  variableLength: boolean,
): SetUsers {
  const users: SynthUser[] = [];
  const counts = { train: new Int32Array(numUsers), val: new Int32Array(numUsers), test: new Int32Array(numUsers) };
  const salts = new Uint32Array(numUsers);
  for (let u = 0; u < numUsers; u++) {
    users.push(drawUser(rng, knobs, variableLength));
    const activity = Math.exp(0.25 * rng.normal() - 0.03125);
    for (const split of SPLITS) counts[split][u] = Math.max(1, Math.round(perUser[split] * activity));
    salts[u] = rng.nextU32();
  }
  return { users, counts, salts };
}

/** A well-mixed 32-bit hash of (salt, i). */
export function mix32(salt: number, i: number): number {
  let h = (salt ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Draws before giving up on finding a new outfit for a user (only a far too small pool gets there). */
const MAX_TRIES = 10000;

/**
 * Samples every user's positives of every split. Item ids in the result are pool ids; rows are
 * grouped by user in increasing order. Variable-length rows are [top, top | -1, bottom, shoe].
 */
export function samplePositives(
  rng: Rng,
  pool: ItemPool,
  styles: Style[],
  knobs: SynthKnobs,
  setUsers: SetUsers,
  variableLength: boolean,
): Record<SplitName, OutfitTable> {
  const slots = variableLength ? 4 : 3;
  const T = knobs.temperature;
  const itemWeight = Float64Array.from(pool.noise, (e) => Math.exp(e / T));
  // exp(A_s[cat][class][colour] / T), reused for every class draw
  const expAffinity = styles.map((s) => s.affinity.map((byClass) => byClass.map((byColour) => byColour.map((a) => Math.exp(a / T)))));
  const rows = { train: { users: [] as number[], items: [] as number[] }, val: { users: [] as number[], items: [] as number[] }, test: { users: [] as number[], items: [] as number[] } };

  const splitOf = new Uint8Array(pool.size);
  const order = new Int32Array(pool.size);
  const cumWeight = new Float64Array(pool.size);
  const bucketStart = new Int32Array(3 * NUM_GROUPS + 1);
  const bucketTotal = new Float64Array(3 * NUM_GROUPS);
  const colours = new Int32Array(4);
  const picked = new Int32Array(4);

  for (let u = 0; u < setUsers.users.length; u++) {
    const user = setUsers.users[u];
    const userRng = rng.fork(`user-${u}`);
    const n = [setUsers.counts.train[u], setUsers.counts.val[u], setUsers.counts.test[u]];
    const total = n[0] + n[1] + n[2];
    // Partition the pool for this user in proportion to its split sizes.
    const cut1 = n[0] / total;
    const cut2 = (n[0] + n[1]) / total;
    const salt = setUsers.salts[u];
    bucketStart.fill(0);
    for (let i = 0; i < pool.size; i++) {
      const r = mix32(salt, i) / 4294967296;
      const s = r < cut1 ? 0 : r < cut2 ? 1 : 2;
      splitOf[i] = s;
      bucketStart[s * NUM_GROUPS + pool.group[i] + 1]++;
    }
    for (let b = 0; b < 3 * NUM_GROUPS; b++) bucketStart[b + 1] += bucketStart[b];
    const fill = bucketStart.slice(0, 3 * NUM_GROUPS);
    for (let i = 0; i < pool.size; i++) order[fill[splitOf[i] * NUM_GROUPS + pool.group[i]]++] = i;
    for (let b = 0; b < 3 * NUM_GROUPS; b++) {
      let acc = 0;
      for (let p = bucketStart[b]; p < bucketStart[b + 1]; p++) {
        acc += itemWeight[order[p]];
        cumWeight[p] = acc;
      }
      bucketTotal[b] = acc;
    }

    const tupleCdfs = new Map<number, Float64Array>();
    const tupleCdf = (split: number, style: number, twoTops: boolean): Float64Array => {
      const key = (split * styles.length + style) * 2 + (twoTops ? 1 : 0);
      let cdf = tupleCdfs.get(key);
      if (!cdf) {
        const pattern = twoTops ? [0, 0, 1, 2] : [0, 1, 2];
        const marginals = pattern.map((cat) =>
          colourMarginal(styles[style], cat, T, (k, c) => bucketTotal[split * NUM_GROUPS + groupOf(cat, k, c)]),
        );
        cdf = colourTupleWeights(marginals, knobs.harmonyWeight, T);
        for (let t = 1; t < cdf.length; t++) cdf[t] += cdf[t - 1];
        if (!(cdf[cdf.length - 1] > 0)) throw new Error(`internal: user ${u} has no items for split ${SPLITS[split]}`);
        tupleCdfs.set(key, cdf);
      }
      return cdf;
    };
    const pickItem = (bucket: number): number => {
      const lo0 = bucketStart[bucket];
      const target = userRng.next() * bucketTotal[bucket];
      let lo = lo0;
      let hi = bucketStart[bucket + 1] - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumWeight[mid] > target) hi = mid;
        else lo = mid + 1;
      }
      return order[lo];
    };

    for (let split = 0; split < 3; split++) {
      const out = rows[SPLITS[split]];
      const seen = new Set<string>();
      for (let k = 0; k < n[split]; k++) {
        let tries = 0;
        for (;;) {
          if (++tries > MAX_TRIES) {
            throw new Error(`internal: could not draw a new ${SPLITS[split]} outfit for user ${u} after ${MAX_TRIES} tries (item pool too small)`);
          }
          const twoTops = variableLength && userRng.next() < user.twoTopProbability;
          const style = userRng.categorical(user.styleWeights);
          const cdf = tupleCdf(split, style, twoTops);
          const t = searchCdf(cdf, userRng.next() * cdf[cdf.length - 1]);
          const pattern = twoTops ? [0, 0, 1, 2] : [0, 1, 2];
          colourTupleOf(t, pattern.length, colours);
          for (let slot = 0; slot < pattern.length; slot++) {
            const cat = pattern[slot];
            const c = colours[slot];
            const classWeights = CATEGORY_CLASSES[cat].map(
              (_, cls) => expAffinity[style][cat][cls][c] * bucketTotal[split * NUM_GROUPS + groupOf(cat, cls, c)],
            );
            const cls = userRng.categorical(classWeights);
            picked[slot] = pickItem(split * NUM_GROUPS + groupOf(cat, cls, c));
          }
          // An outfit is a set of distinct items; a user does not make the same outfit twice.
          if (twoTops && picked[0] === picked[1]) continue;
          const key = twoTops ? [picked[0], picked[1]].sort((a, b) => a - b).join(',') + `,${picked[2]},${picked[3]}` : `${picked[0]},${picked[1]},${picked[2]}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.users.push(u);
          if (!variableLength) out.items.push(picked[0], picked[1], picked[2]);
          else if (twoTops) out.items.push(picked[0], picked[1], picked[2], picked[3]);
          else out.items.push(picked[0], -1, picked[1], picked[2]);
          break;
        }
      }
    }
  }
  const table = (r: { users: number[]; items: number[] }): OutfitTable => ({ slots, users: Int32Array.from(r.users), items: Int32Array.from(r.items) });
  return { train: table(rows.train), val: table(rows.val), test: table(rows.test) };
}

/** First index whose cumulative weight exceeds `target`. */
function searchCdf(cdf: Float64Array, target: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
