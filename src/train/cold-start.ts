/**
 * Cold (new) users (method.md §5): anchors for a user the model never saw,
 * from a few of their outfits, with every trained weight frozen.
 *
 * - `so` (LPAE "learning by optimisation"): fresh anchors U(±sqrt(3/d)) optimised with Adam on the
 *   user's outfits against sampled random-mix negatives, with the objective the model was trained
 *   with (soFitting): softmax (method.md §4 Eq. T) for the softmax family, LPAE's pairwise loss
 *   plus its anchor regulariser for `lpae`. Only the anchors move, so the outfits' projected
 *   embeddings ĥ are computed ONCE (one backbone + Set Transformer pass) and each step is a few
 *   [n, d]·[d] products in plain JS: fitting one user from 5 outfits takes a fraction of a second.
 * - `su` (user search): copy the anchors of the existing user whose score on the new outfits is
 *   highest (mean over the outfits).
 * - `sa` (anchor search): take the existing anchors nearest (cosine) to the new outfits' projected
 *   embeddings, round-robin over the outfits so that each outfit is represented.
 *
 * Anchors here are a user's OWN anchors, [Ku, d] row-major (K, or K/2 with LPAE-g whose shared
 * anchors stay frozen), the layout of `OutfitModel.getUserAnchors / setUserAnchors`.
 */
import type { ItemPools } from '../data/augment.js';
import type { OutfitTable } from '../data/types.js';
import { UserError } from '../errors.js';
import { logDetDivergenceWithGradient } from '../model/anchors.js';
import type { ItemInputSource } from '../model/inputs.js';
import { packOutfitItems, type OutfitModel } from '../model/outfit-model.js';
import { l2NormalizeRows, rowNorms } from '../model/scoring.js';
import type { Rng } from '../rng.js';

export { logDetDivergenceWithGradient };

export const COLD_START_STRATEGIES = ['so', 'su', 'sa'] as const;
export type ColdStartStrategy = (typeof COLD_START_STRATEGIES)[number];

/** A new user's outfits: a table (its `users` column is ignored) or lists of global item ids. */
export type NewUserOutfits = OutfitTable | ReadonlyArray<ReadonlyArray<number>>;

export interface ColdStartOptions {
  /** 'so' (default), 'su' or 'sa' (method.md §5). */
  strategy?: ColdStartStrategy;
  /** Randomness of the SO initialisation and negative draws. */
  rng: Rng;
  /** Items per category that random-mix negatives are drawn from (method.md §6.2); required by SO. */
  pools?: ItemPools;
  /** SO: Adam steps (default 150). */
  steps?: number;
  /** SO: Adam learning rate (default 0.02; anchors start at |a| ≈ sqrt(3/d)·sqrt(d/3) = 1). */
  lr?: number;
  /** SO: M, negatives per positive in each step's softmax (method.md §4: 10). */
  negatives?: number;
  /**
   * SO: random-mix negatives drawn (and embedded) once per positive; each step uses M of them.
   * Default 8·M, so steps see fresh combinations without a backbone pass per step.
   */
  negativePool?: number;
  /**
   * SO: weight of LPAE's anchor regulariser L_reg (method.md §3); needs Ku ≤ d. Default 0: the objective
   * is Eq. T alone, as the softmax-family trainer uses it (L_reg belongs to the `lpae` objective,
   * where 0.01 is LPAE's weight). It costs a K×K Cholesky per step, most of an SO fit's time.
   */
  regWeight?: number;
  /**
   * SO: the loss over the user's outfits (method.md §5): 'softmax' (Eq. T, default) or 'pairwise'
   * (LPAE's: every positive against every negative of the user's outfits, softplus of the
   * difference). soFitting picks the one a run was trained with.
   */
  objective?: SoObjective;
  /** SU/SA: the existing users searched (default: all users the model had before any cold users were added). */
  candidateUsers?: Int32Array;
  /**
   * ĥ rows [n·d] of outfits (n·slots global ids, -1 = absent). Default: the model on `inputs`
   * (backbone included). A server that already holds every item's embedding passes a cheaper one.
   */
  projectOutfits?: (items: Int32Array, slots: number) => Float32Array | Promise<Float32Array>;
}

export type SoObjective = 'softmax' | 'pairwise';

/**
 * How SO fits a new user for a model trained with `method` (method.md §5): with the model's own
 * objective, so that "new users" rows compare models each fitted the way it was trained: LPAE's
 * pairwise loss plus `regWeight`·L_reg (0.01, LPAE's) for `lpae`, Eq. T alone for the others.
 */
export function soFitting(config: { method: string; regWeight: number }): { objective: SoObjective; regWeight: number; label: string } {
  if (config.method === 'lpae') return { objective: 'pairwise', regWeight: config.regWeight, label: `pairwise + ${config.regWeight}·L_reg` };
  return { objective: 'softmax', regWeight: 0, label: 'Eq. T' };
}

export const COLD_START_DEFAULTS = {
  strategy: 'so' as ColdStartStrategy,
  steps: 150,
  lr: 0.02,
  negatives: 10,
  negativePoolFactor: 8,
  regWeight: 0,
};

/** Anchors [Ku·d] for one new user (method.md §5). */
export async function fitAnchorsForNewUser(model: OutfitModel, inputs: ItemInputSource, outfits: NewUserOutfits, opts: ColdStartOptions): Promise<Float32Array> {
  return (await fitAnchorsForNewUsers(model, inputs, [outfits], opts))[0];
}

/**
 * Anchors for many new users at once (the cold-start experiment fits all 53 / 32 users): every
 * user's outfits and negatives are embedded in shared batches, and SO optimises all users' anchors
 * together. Their losses are summed and share no parameter, so this is the same as fitting each
 * user alone (Adam is per-coordinate).
 */
export async function fitAnchorsForNewUsers(
  model: OutfitModel,
  inputs: ItemInputSource,
  outfitsPerUser: ReadonlyArray<NewUserOutfits>,
  opts: ColdStartOptions,
): Promise<Float32Array[]> {
  const strategy = opts.strategy ?? COLD_START_DEFAULTS.strategy;
  if (!COLD_START_STRATEGIES.includes(strategy)) {
    throw new UserError(`cold-start strategy must be one of ${COLD_START_STRATEGIES.join(', ')}, got '${strategy}'`);
  }
  if (outfitsPerUser.length === 0) return [];
  const tables = outfitsPerUser.map((o, i) => toTable(o, i, inputs.count));
  switch (strategy) {
    case 'so':
      return fitByOptimisation(model, inputs, tables, opts);
    case 'su':
      return fitByUserSearch(model, inputs, tables, opts);
    case 'sa':
      return fitByAnchorSearch(model, inputs, tables, opts);
  }
}

/** Adds the fitted users to the model (ids first..first+n-1, returned) and writes their anchors. */
export function addFittedUsers(model: OutfitModel, anchors: readonly Float32Array[], rng: Rng): number {
  if (anchors.length === 0) return model.config.numUsers;
  const first = model.addUsers(anchors.length, rng);
  anchors.forEach((a, i) => model.setUserAnchors(first + i, a));
  return first;
}

// ---- shared pieces ----------------------------------------------------------------------------

/** Outfits as a table of global ids; item lists are padded with -1 to the longest (an outfit is a set). */
function toTable(outfits: NewUserOutfits, userIndex: number, itemCount: number): OutfitTable {
  let table: OutfitTable;
  if (isTable(outfits)) {
    table = outfits;
  } else {
    const slots = Math.max(0, ...outfits.map((o) => o.length));
    const items = new Int32Array(outfits.length * slots).fill(-1);
    outfits.forEach((o, r) => o.forEach((item, j) => (items[r * slots + j] = item)));
    table = { slots, users: new Int32Array(outfits.length), items };
  }
  const n = table.users.length;
  if (n === 0) throw new UserError(`new user ${userIndex}: no outfits to fit anchors from`);
  for (let r = 0; r < n; r++) {
    let present = 0;
    for (let j = 0; j < table.slots; j++) {
      const item = table.items[r * table.slots + j];
      if (item === -1) continue;
      if (!(Number.isInteger(item) && item >= 0 && item < itemCount)) {
        throw new UserError(`new user ${userIndex}, outfit ${r}: item ${item} is outside the ${itemCount} items`);
      }
      present++;
    }
    if (present === 0) throw new UserError(`new user ${userIndex}, outfit ${r}: no items`);
  }
  return table;
}

function isTable(o: NewUserOutfits): o is OutfitTable {
  return (o as OutfitTable).items instanceof Int32Array;
}

/** ĥ = normalise(W_t z) of every row of `items` (n·slots, -1 = absent): [n · d]. */
export async function projectedOutfitEmbeddings(model: OutfitModel, inputs: ItemInputSource, items: Int32Array, slots: number): Promise<Float32Array> {
  const packed = packOutfitItems(items, slots);
  return model.projectEmbedded(await model.embedItems(inputs, packed.itemIds), packed.slotIndex, packed.slots);
}

/** ĥ rows of outfits through `opts.projectOutfits`, or the model on `inputs`. */
async function outfitHats(model: OutfitModel, inputs: ItemInputSource, items: Int32Array, slots: number, opts: ColdStartOptions): Promise<Float32Array> {
  const hats = opts.projectOutfits ? await opts.projectOutfits(items, slots) : await projectedOutfitEmbeddings(model, inputs, items, slots);
  if (hats.length !== (items.length / slots) * model.config.dim) throw new Error(`projectOutfits returned ${hats.length} values for ${items.length / slots} outfits`);
  return hats;
}

// ---- SO ---------------------------------------------------------------------------------------

async function fitByOptimisation(model: OutfitModel, inputs: ItemInputSource, tables: OutfitTable[], opts: ColdStartOptions): Promise<Float32Array[]> {
  const steps = opts.steps ?? COLD_START_DEFAULTS.steps;
  const lr = opts.lr ?? COLD_START_DEFAULTS.lr;
  const m = opts.negatives ?? COLD_START_DEFAULTS.negatives;
  const poolPer = opts.negativePool ?? COLD_START_DEFAULTS.negativePoolFactor * m;
  const regWeight = opts.regWeight ?? COLD_START_DEFAULTS.regWeight;
  const objective = opts.objective ?? 'softmax';
  if (objective !== 'softmax' && objective !== 'pairwise') throw new UserError(`cold-start objective must be softmax or pairwise, got '${objective as string}'`);
  if (!(Number.isInteger(steps) && steps >= 0)) throw new UserError(`cold-start steps must be a non-negative integer, got ${steps}`);
  if (!(lr > 0)) throw new UserError(`cold-start lr must be > 0, got ${lr}`);
  if (!(Number.isInteger(m) && m >= 1)) throw new UserError(`cold-start negatives must be a positive integer, got ${m}`);
  if (!(Number.isInteger(poolPer) && poolPer >= m)) throw new UserError(`cold-start negativePool must be an integer >= negatives (${m}), got ${poolPer}`);
  if (!opts.pools) throw new UserError('cold-start strategy so needs item pools to draw random-mix negatives from');
  const pools = opts.pools;

  const users = tables.length;
  const ku = model.anchors.userK;
  const d = model.config.dim;
  if (regWeight > 0 && ku > d) throw new UserError(`the anchor regulariser needs K_user (${ku}) <= dim (${d}); set regWeight 0`);
  const rng = opts.rng;

  // one table holding, per user, the positives then poolPer negatives per positive; uniform width
  const slots = Math.max(...tables.map((t) => t.slots));
  const rowsPerUser = tables.map((t) => t.users.length * (1 + poolPer));
  const totalRows = rowsPerUser.reduce((a, b) => a + b, 0);
  const items = new Int32Array(totalRows * slots).fill(-1);
  const posIndex: number[] = []; // row of each positive, user-major
  const posUser: number[] = [];
  const negPoolStart: number[] = []; // first pool row of each positive
  let row = 0;
  tables.forEach((t, u) => {
    const userRng = rng.fork(`cold-user-${u}`);
    const own = new Set<string>();
    for (let r = 0; r < t.users.length; r++) own.add(outfitKey(t.items, r * t.slots, t.slots));
    for (let r = 0; r < t.users.length; r++) {
      for (let j = 0; j < t.slots; j++) items[row * slots + j] = t.items[r * t.slots + j];
      posIndex.push(row);
      posUser.push(u);
      row++;
    }
    for (let r = 0; r < t.users.length; r++) {
      negPoolStart.push(row);
      for (let q = 0; q < poolPer; q++, row++) drawRandomMix(t, r, pools, own, userRng, items, row * slots);
    }
  });

  const hats = Float64Array.from(await outfitHats(model, inputs, items, slots, opts));
  const problem: AnchorProblem = {
    dim: d,
    anchorsPerUser: ku,
    users,
    hats,
    posRows: Int32Array.from(posIndex),
    posUsers: Int32Array.from(posUser),
    shared: Float64Array.from(model.anchors.sharedSum()),
    divisor: model.scoreDivisor,
    regWeight,
    objective,
  };
  const anchors = new Float64Array(users * ku * d);
  const limit = Math.sqrt(3 / d); // method.md §3 anchor initialisation
  for (let i = 0; i < anchors.length; i++) anchors[i] = rng.uniform(-limit, limit);
  const adam = new AdamState(anchors.length, lr);
  const work = new AnchorWork(problem, m);
  const nPos = posIndex.length;
  const negRows = new Int32Array(nPos * m);
  const pick = new Int32Array(poolPer);
  for (let step = 0; step < steps; step++) {
    // M distinct pool entries per positive (partial Fisher–Yates over the pool)
    for (let p = 0; p < nPos; p++) {
      for (let i = 0; i < poolPer; i++) pick[i] = i;
      for (let i = 0; i < m; i++) {
        const j = i + rng.int(poolPer - i);
        const tmp = pick[i];
        pick[i] = pick[j];
        pick[j] = tmp;
        negRows[p * m + i] = negPoolStart[p] + pick[i];
      }
    }
    const { grad } = anchorLossAndGradient(problem, anchors, negRows, m, work);
    adam.step(anchors, grad);
  }
  return Array.from({ length: users }, (_, u) => Float32Array.from(anchors.subarray(u * ku * d, (u + 1) * ku * d)));
}

/**
 * The SO objective over frozen projected outfit embeddings (everything but the anchors fixed).
 * Plain Float64 JS: each step is a few hundred thousand multiply-adds, far below what one tfjs
 * kernel launch per op would cost on tensors this small.
 */
export interface AnchorProblem {
  dim: number;
  anchorsPerUser: number;
  users: number;
  /** ĥ of every outfit row (positives and negative pool), [rows, d]. */
  hats: Float64Array;
  /** Row of each positive in `hats`. */
  posRows: Int32Array;
  /** New user (0..users-1) of each positive. */
  posUsers: Int32Array;
  /** Σ â over the frozen shared anchors (LPAE-g), zeros otherwise: [d]. */
  shared: Float64Array;
  /** Score divisor (method.md §3 reduction and temperature). */
  divisor: number;
  /** Weight of L_reg (method.md §3). */
  regWeight: number;
  /** Eq. T per positive (default), or LPAE's pairwise loss over each user's positive × negative pairs. */
  objective?: SoObjective;
}

/**
 * Σ_u [ mean over u's positives of Eq. T (method.md §4) + regWeight · (tr G_u − log det G_u) (method.md §3) ]
 * and its gradient w.r.t. the anchors [users, Ku, d]. `negRows[p·m + j]` is negative j of positive p.
 * Score s(u, o) = ĥ_o · (Σ_k a_uk/|a_uk| + shared) / divisor.
 */
export function anchorLossAndGradient(
  problem: AnchorProblem,
  anchors: Float64Array,
  negRows: Int32Array,
  m: number,
  work: AnchorWork = new AnchorWork(problem, m),
): { loss: number; grad: Float64Array } {
  const { dim: d, anchorsPerUser: ku, users, shared, regWeight } = problem;
  const { norms, vectors, gradVectors, grad, positivesOf } = work;
  // ‖a_uk‖ for the gradient of a/‖a‖ below
  rowNorms(anchors, d, users * ku, 0, norms);
  for (let u = 0; u < users; u++) {
    for (let t = 0; t < d; t++) vectors[u * d + t] = shared[t];
    // Σ_k a_k/|a_k| with the norms above: addNormalizedRows' arithmetic (bit for bit) without
    // computing the norms twice
    for (let k = 0; k < ku; k++) {
      const base = (u * ku + k) * d;
      const inv = 1 / norms[u * ku + k];
      for (let t = 0; t < d; t++) vectors[u * d + t] += anchors[base + t] * inv;
    }
  }

  let loss = 0;
  gradVectors.fill(0);
  if (problem.objective === 'pairwise') {
    loss += pairwiseAnchorLoss(problem, vectors, negRows, m, positivesOf, gradVectors);
  } else {
    loss += softmaxAnchorLoss(problem, vectors, negRows, m, positivesOf, gradVectors, work);
  }

  for (let u = 0; u < users; u++) {
    // v = Σ_k a_k/|a_k|: ∂/∂a_k = (g − (g·â_k) â_k) / |a_k|
    for (let k = 0; k < ku; k++) {
      const base = (u * ku + k) * d;
      const norm = norms[u * ku + k];
      let dot = 0;
      for (let t = 0; t < d; t++) dot += gradVectors[u * d + t] * anchors[base + t];
      dot /= norm;
      for (let t = 0; t < d; t++) grad[base + t] = (gradVectors[u * d + t] - (dot * anchors[base + t]) / norm) / norm;
    }
    if (regWeight > 0) {
      const block = anchors.subarray(u * ku * d, (u + 1) * ku * d);
      const reg = logDetDivergenceWithGradient(block, ku, d);
      loss += regWeight * reg.value;
      for (let i = 0; i < ku * d; i++) grad[u * ku * d + i] += regWeight * reg.grad[i];
    }
  }
  return { loss, grad };
}

/**
 * The buffers one SO step needs, allocated once per fit: a fit is 150 steps of a few thousand
 * multiply-adds each, where fresh arrays per step cost as much as the arithmetic. `grad` is
 * overwritten by every `anchorLossAndGradient` call that is given this work area.
 */
export class AnchorWork {
  readonly norms: Float64Array;
  readonly vectors: Float64Array;
  readonly gradVectors: Float64Array;
  readonly grad: Float64Array;
  /** Positives per user (constant over a fit). */
  readonly positivesOf: Float64Array;
  /** Per positive of the softmax: its row and its M negatives' rows, their logits and exp(logit − max). */
  readonly rows: Int32Array;
  readonly logits: Float64Array;
  readonly exps: Float64Array;
  constructor(problem: AnchorProblem, m: number) {
    const { dim: d, anchorsPerUser: ku, users, posUsers } = problem;
    this.norms = new Float64Array(users * ku);
    this.vectors = new Float64Array(users * d);
    this.gradVectors = new Float64Array(users * d);
    this.grad = new Float64Array(users * ku * d);
    this.positivesOf = new Float64Array(users);
    for (let p = 0; p < posUsers.length; p++) this.positivesOf[posUsers[p]]++;
    this.rows = new Int32Array(1 + m);
    this.logits = new Float64Array(1 + m);
    this.exps = new Float64Array(1 + m);
  }
}

/** Σ_u mean over u's positives of Eq. T; adds ∂L/∂v_u into `gradVectors`. */
function softmaxAnchorLoss(
  problem: AnchorProblem,
  vectors: Float64Array,
  negRows: Int32Array,
  m: number,
  positivesOf: Float64Array,
  gradVectors: Float64Array,
  work: AnchorWork,
): number {
  const { dim: d, hats, posRows, posUsers, divisor } = problem;
  const nPos = posRows.length;
  const { rows, logits, exps } = work;
  let loss = 0;
  for (let p = 0; p < nPos; p++) {
    const u = posUsers[p];
    const vo = u * d;
    rows[0] = posRows[p];
    for (let j = 0; j < m; j++) rows[1 + j] = negRows[p * m + j];
    // s_i = ĥ_i·v/divisor, four rows per sweep: four independent sums, each in the order of t
    // (the same bits as one row at a time, without waiting on one chain of additions)
    let i = 0;
    for (; i + 3 <= m; i += 4) {
      const h0 = rows[i] * d;
      const h1 = rows[i + 1] * d;
      const h2 = rows[i + 2] * d;
      const h3 = rows[i + 3] * d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let t = 0; t < d; t++) {
        const x = vectors[vo + t];
        s0 += hats[h0 + t] * x;
        s1 += hats[h1 + t] * x;
        s2 += hats[h2 + t] * x;
        s3 += hats[h3 + t] * x;
      }
      logits[i] = s0 / divisor;
      logits[i + 1] = s1 / divisor;
      logits[i + 2] = s2 / divisor;
      logits[i + 3] = s3 / divisor;
    }
    for (; i <= m; i++) {
      const ho = rows[i] * d;
      let s = 0;
      for (let t = 0; t < d; t++) s += hats[ho + t] * vectors[vo + t];
      logits[i] = s / divisor;
    }
    let max = -Infinity;
    for (let r = 0; r <= m; r++) if (logits[r] > max) max = logits[r];
    let z = 0;
    for (let i = 0; i <= m; i++) {
      const e = Math.exp(logits[i] - max);
      exps[i] = e;
      z += e;
    }
    const weight = 1 / positivesOf[u];
    loss += weight * (max + Math.log(z) - logits[0]);
    // ∂L/∂s_i = softmax_i − [i = positive]; s_i = ĥ_i·v/divisor
    for (let r = 0; r <= m; r++) exps[r] = (weight * (exps[r] / z - (r === 0 ? 1 : 0))) / divisor;
    // gradVectors[t] += g_r·ĥ_r[t] for r in order, four rows per sweep (same additions, same order)
    let r = 0;
    for (; r + 3 <= m; r += 4) {
      const h0 = rows[r] * d;
      const h1 = rows[r + 1] * d;
      const h2 = rows[r + 2] * d;
      const h3 = rows[r + 3] * d;
      const g0 = exps[r];
      const g1 = exps[r + 1];
      const g2 = exps[r + 2];
      const g3 = exps[r + 3];
      for (let t = 0; t < d; t++) {
        let acc = gradVectors[vo + t];
        acc += g0 * hats[h0 + t];
        acc += g1 * hats[h1 + t];
        acc += g2 * hats[h2 + t];
        acc += g3 * hats[h3 + t];
        gradVectors[vo + t] = acc;
      }
    }
    for (; r <= m; r++) {
      const g = exps[r];
      const ho = rows[r] * d;
      for (let t = 0; t < d; t++) gradVectors[vo + t] += g * hats[ho + t];
    }
  }

  return loss;
}

/** Score of hats row `row` for a user vector at `vectors[u·d]`. */
function rowScore(hats: Float64Array, row: number, vectors: Float64Array, u: number, d: number, divisor: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += hats[row * d + t] * vectors[u * d + t];
  return s / divisor;
}

/**
 * Σ_u LPAE's pairwise loss (method.md §4 "Pairwise") over u's outfits: the mean over every positive
 * of u × every negative of u's positives of softplus(s⁻ − s⁺); adds ∂L/∂v_u into `gradVectors`.
 */
function pairwiseAnchorLoss(problem: AnchorProblem, vectors: Float64Array, negRows: Int32Array, m: number, positivesOf: Float64Array, gradVectors: Float64Array): number {
  const { dim: d, hats, posRows, posUsers, divisor, users } = problem;
  const nPos = posRows.length;
  const byUser: number[][] = Array.from({ length: users }, () => []);
  for (let p = 0; p < nPos; p++) byUser[posUsers[p]].push(p);
  let loss = 0;
  for (let u = 0; u < users; u++) {
    const ps = byUser[u];
    if (ps.length === 0) continue;
    const negs: number[] = [];
    for (const p of ps) for (let j = 0; j < m; j++) negs.push(negRows[p * m + j]);
    const sPos = ps.map((p) => rowScore(hats, posRows[p], vectors, u, d, divisor));
    const sNeg = negs.map((r) => rowScore(hats, r, vectors, u, d, divisor));
    const weight = 1 / (positivesOf[u] * negs.length);
    const gPos = new Float64Array(ps.length);
    const gNeg = new Float64Array(negs.length);
    for (let a = 0; a < ps.length; a++) {
      for (let b = 0; b < negs.length; b++) {
        const x = sNeg[b] - sPos[a];
        loss += weight * (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
        const sig = weight / (1 + Math.exp(-x)); // d softplus(x)/dx
        gPos[a] -= sig;
        gNeg[b] += sig;
      }
    }
    for (let a = 0; a < ps.length; a++) for (let t = 0; t < d; t++) gradVectors[u * d + t] += (gPos[a] / divisor) * hats[posRows[ps[a]] * d + t];
    for (let b = 0; b < negs.length; b++) for (let t = 0; t < d; t++) gradVectors[u * d + t] += (gNeg[b] / divisor) * hats[negs[b] * d + t];
  }
  return loss;
}

/** Adam (Kingma & Ba) over one flat parameter vector, tfjs's defaults (β1 0.9, β2 0.999, ε 1e-7). */
class AdamState {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;
  constructor(
    size: number,
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-7,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  step(params: Float64Array, grad: Float64Array): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    const { m, v, beta1, beta2, lr, eps } = this;
    const b1 = 1 - beta1;
    const b2 = 1 - beta2;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i];
      const mi = beta1 * m[i] + b1 * g;
      const vi = beta2 * v[i] + b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] -= (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }
}

/**
 * A type-aware random mix for positive `r` of `t` (method.md §6.2): each present item replaced by a
 * uniform item of its category from the pools, no item twice, never a copy of the user's outfits.
 */
function drawRandomMix(t: OutfitTable, r: number, pools: ItemPools, own: Set<string>, rng: Rng, out: Int32Array, at: number): void {
  for (let attempt = 0; attempt < 1000; attempt++) {
    for (let j = 0; j < t.slots; j++) {
      const item = t.items[r * t.slots + j];
      if (item < 0) {
        out[at + j] = -1;
        continue;
      }
      const pool = pools.byCategory[pools.categoryOf[item]];
      if (!pool || pool.length === 0) throw new UserError(`no items of category ${pools.categoryOf[item]} to draw negatives from`);
      out[at + j] = pool[rng.int(pool.length)];
    }
    if (!hasRepeat(out, at, t.slots) && !own.has(outfitKey(out, at, t.slots))) return;
  }
  throw new UserError('the item pools are too small to draw a random-mix negative that is not one of the user\'s outfits');
}

function hasRepeat(items: Int32Array, at: number, slots: number): boolean {
  for (let a = 0; a < slots; a++) {
    if (items[at + a] < 0) continue;
    for (let b = a + 1; b < slots; b++) if (items[at + a] === items[at + b]) return true;
  }
  return false;
}

/** Order-free key of one outfit (an outfit is a set, method.md §1). */
function outfitKey(items: Int32Array, at: number, slots: number): string {
  const present: number[] = [];
  for (let j = 0; j < slots; j++) if (items[at + j] >= 0) present.push(items[at + j]);
  return present.sort((a, b) => a - b).join(',');
}

// ---- SU / SA ------------------------------------------------------------------------------------

function candidateUsersOf(model: OutfitModel, opts: ColdStartOptions): Int32Array {
  const users = opts.candidateUsers ?? Int32Array.from({ length: model.config.numUsers }, (_, i) => i);
  if (users.length === 0) throw new UserError('cold-start user/anchor search needs at least one existing user');
  return users;
}

/** Projected embeddings of each new user's outfits: one pass for all users. */
async function newUserHats(model: OutfitModel, inputs: ItemInputSource, tables: OutfitTable[], opts: ColdStartOptions): Promise<{ hats: Float32Array[]; d: number }> {
  const slots = Math.max(...tables.map((t) => t.slots));
  const total = tables.reduce((a, t) => a + t.users.length, 0);
  const items = new Int32Array(total * slots).fill(-1);
  let row = 0;
  for (const t of tables) {
    for (let r = 0; r < t.users.length; r++, row++) {
      for (let j = 0; j < t.slots; j++) items[row * slots + j] = t.items[r * t.slots + j];
    }
  }
  const all = await outfitHats(model, inputs, items, slots, opts);
  const d = model.config.dim;
  const hats: Float32Array[] = [];
  row = 0;
  for (const t of tables) {
    hats.push(all.slice(row * d, (row + t.users.length) * d));
    row += t.users.length;
  }
  return { hats, d };
}

async function fitByUserSearch(model: OutfitModel, inputs: ItemInputSource, tables: OutfitTable[], opts: ColdStartOptions): Promise<Float32Array[]> {
  const candidates = candidateUsersOf(model, opts);
  const { hats, d } = await newUserHats(model, inputs, tables, opts);
  const vectors = model.userVectors(candidates);
  return hats.map((h) => {
    const n = h.length / d;
    // mean score over the outfits; the divisor is common to all users, so it cannot change the argmax
    let best = -Infinity;
    let bestUser = candidates[0];
    for (let c = 0; c < candidates.length; c++) {
      let s = 0;
      for (let r = 0; r < n; r++) for (let t = 0; t < d; t++) s += h[r * d + t] * vectors[c * d + t];
      if (s > best) {
        best = s;
        bestUser = candidates[c];
      }
    }
    return model.getUserAnchors(bestUser);
  });
}

async function fitByAnchorSearch(model: OutfitModel, inputs: ItemInputSource, tables: OutfitTable[], opts: ColdStartOptions): Promise<Float32Array[]> {
  const candidates = candidateUsersOf(model, opts);
  const ku = model.anchors.userK;
  const { hats, d } = await newUserHats(model, inputs, tables, opts);
  // every candidate anchor, raw and normalised: [C·Ku, d]
  const raw = new Float32Array(candidates.length * ku * d);
  candidates.forEach((u, i) => raw.set(model.getUserAnchors(u), i * ku * d));
  const total = candidates.length * ku;
  const unit = l2NormalizeRows(raw, d);
  return hats.map((h) => {
    const n = h.length / d;
    // per outfit, all anchors by decreasing cos(ĥ_o, â) (ĥ is already unit length)
    const orders: Int32Array[] = [];
    for (let r = 0; r < n; r++) {
      const sims = new Float32Array(total);
      for (let a = 0; a < total; a++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += h[r * d + t] * unit[a * d + t];
        sims[a] = s;
      }
      orders.push(Int32Array.from({ length: total }, (_, i) => i).sort((x, y) => sims[y] - sims[x]));
    }
    // round-robin over the outfits: outfit 0's nearest, outfit 1's nearest, ..., then second nearest, ...
    const taken = new Set<number>();
    const chosen: number[] = [];
    for (let rank = 0; chosen.length < ku && rank < total; rank++) {
      for (let r = 0; r < n && chosen.length < ku; r++) {
        const a = orders[r][rank];
        if (!taken.has(a)) {
          taken.add(a);
          chosen.push(a);
        }
      }
    }
    const out = new Float32Array(ku * d);
    chosen.forEach((a, i) => out.set(raw.subarray(a * d, (a + 1) * d), i * d));
    return out;
  });
}
