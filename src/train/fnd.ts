/**
 * False Negative Distillation, the teacher's side (method.md §4 Eq. S):
 *
 * - the teacher is a finished run folder (config.json + best weights), loaded once and frozen;
 * - its item embeddings are computed ONCE per run for every training item (ItemEmbeddingCache),
 *   never per step;
 * - r̂_u, the user's radius, comes from the teacher's distances d^T = −s^T over u's training
 *   positives (mean or max), computed once; or, with `sample`, it is the current positive's
 *   teacher distance;
 * - per step the teacher scores only the M sampled negatives (no full ranking, no gradient) and
 *   φ_j = r̂_u − d^T(u, o⁻_j).
 */
import type { TrainingBatch } from '../data/batches.js';
import type { PolyvoreSet } from '../data/types.js';
import { UserError } from '../errors.js';
import type { ItemInputSource } from '../model/inputs.js';
import { ItemEmbeddingCache } from './item-cache.js';
import { loadRun, buildItemInputs, type LoadedRun } from '../runs/load.js';

export type RadiusMode = 'mean' | 'max' | 'sample';

export interface TeacherSummary {
  dir: string;
  /** Teacher's validation AUC at its best epoch, when recorded. */
  bestValAuc: number | null;
  bestEpoch: number | null;
  /** Mean of r̂_u over users (mean/max modes). */
  meanRadius: number | null;
}

export class FndTeacher {
  private constructor(
    private readonly run: LoadedRun,
    private readonly cache: ItemEmbeddingCache,
    private readonly mode: RadiusMode,
    /** r̂_u per user (mean/max modes); empty for `sample`. */
    readonly radius: Float32Array,
  ) {}

  /**
   * Loads the teacher run for the student's set. `studentInputs` are reused when the teacher reads
   * the same kind of inputs (same backbone input and image size / feature files).
   */
  static async load(
    teacherDir: string,
    set: PolyvoreSet,
    mode: RadiusMode,
    student: { inputs: ItemInputSource; sameInputs: (teacher: LoadedRun) => boolean },
  ): Promise<FndTeacher> {
    const run = await loadRun(teacherDir, { weights: 'best', loadedSet: set, root: set.root, set: set.set, inputs: false });
    if (run.config.data.set !== set.set) {
      await run.model.dispose();
      throw new UserError(`teacher ${teacherDir} was trained on set ${run.config.data.set}, the student trains on ${set.set}`);
    }
    const inputs = student.sameInputs(run) ? student.inputs : await buildItemInputs(run.config, set);
    const train = set.splits.train.posi;
    // every item a training negative can hold: random mixes come from the train pool, hard
    // negatives are other users' train positives (method.md §6.2)
    const cache = await ItemEmbeddingCache.build(run.model, inputs, ItemEmbeddingCache.itemsOf(train));
    let radius: Float32Array = new Float32Array(0);
    if (mode !== 'sample') {
      const scores = await cache.scoreTable(train);
      radius = userRadius(train.users, scores, set.numUsers, mode);
    }
    return new FndTeacher(run, cache, mode, radius);
  }

  /**
   * The teacher's view of a batch: φ [B·M] (row-major: negative j of positive b at b·M + j),
   * φ = r̂_u − d^T(u, o⁻_j) = r̂_u + s^T(u, o⁻_j); the teacher's scores of the negatives [B·M]; and,
   * with `positives`, of the positives [B] (the `distill` form needs them).
   */
  async view(batch: TrainingBatch, opts: { positives?: boolean } = {}): Promise<{ phi: Float32Array; negScores: Float32Array; posScores: Float32Array | null }> {
    const b = batch.users.length;
    const m = batch.negatives.users.length / b;
    const negScores = await this.cache.scoreTable(batch.negatives);
    const posScores = this.mode === 'sample' || opts.positives ? await this.cache.scoreTable(batch.positives) : null;
    const radius = this.mode === 'sample' ? Float32Array.from(posScores!, (s) => -s) : Float32Array.from(batch.users, (u) => this.radius[u]);
    return { phi: falseNegativeness(radius, negScores, m), negScores, posScores };
  }

  /** φ [B·M] for a batch (see view). */
  async falseNegativeness(batch: TrainingBatch): Promise<Float32Array> {
    return (await this.view(batch)).phi;
  }

  summary(): TeacherSummary {
    let meanRadius: number | null = null;
    if (this.radius.length > 0) {
      let sum = 0;
      let n = 0;
      for (const r of this.radius) {
        if (!Number.isFinite(r)) continue;
        sum += r;
        n++;
      }
      meanRadius = n > 0 ? sum / n : null;
    }
    return {
      dir: this.run.dir,
      bestValAuc: this.run.best?.val.auc ?? null,
      bestEpoch: this.run.best?.epoch ?? null,
      meanRadius,
    };
  }

  async dispose(): Promise<void> {
    await this.run.model.dispose();
  }
}

/**
 * φ_j = r̂ − d^T(u, o⁻_j) = r̂ + s^T(u, o⁻_j) (method.md §4 Eq. S), per negative: `radius` [B] is
 * each positive's r̂ (its user's, or its own teacher distance for `sample`), `negScores` [B·M] the
 * teacher's scores of its M negatives. φ > 0: the teacher places the negative inside the radius, a
 * suspected false negative.
 */
export function falseNegativeness(radius: Float32Array, negScores: Float32Array, m: number): Float32Array {
  if (negScores.length !== radius.length * m) throw new Error(`falseNegativeness: ${negScores.length} scores are not ${radius.length} rows of ${m}`);
  const phi = new Float32Array(negScores.length);
  for (let i = 0; i < radius.length; i++) for (let j = 0; j < m; j++) phi[i * m + j] = radius[i] + negScores[i * m + j];
  return phi;
}

/**
 * The `row-mean` control of Eq. S: every negative of a positive gets the mean φ of that positive's
 * M negatives, in place. The loss then shifts all of a row's negatives by the same amount, as a
 * margin would, with none of the teacher's per-negative judgement: what FND gains over this
 * control is what the teacher's view of individual false negatives is worth.
 */
export function averagePhiRows(phi: Float32Array, m: number): Float32Array {
  if (m < 1 || phi.length % m !== 0) throw new Error(`averagePhiRows: ${phi.length} values are not rows of ${m}`);
  for (let start = 0; start < phi.length; start += m) {
    let sum = 0;
    for (let j = 0; j < m; j++) sum += phi[start + j];
    phi.fill(sum / m, start, start + m);
  }
  return phi;
}

/**
 * r̂_u = mean (or max) over u's training positives of d^T = −s^T (method.md §4). A user without
 * training positives gets NaN, which would poison the loss, so that is an error.
 */
export function userRadius(users: Int32Array, teacherScores: Float32Array, numUsers: number, mode: 'mean' | 'max'): Float32Array {
  const acc = new Float64Array(numUsers).fill(mode === 'max' ? -Infinity : 0);
  const count = new Int32Array(numUsers);
  for (let r = 0; r < users.length; r++) {
    const u = users[r];
    const d = -teacherScores[r];
    if (mode === 'max') acc[u] = Math.max(acc[u], d);
    else acc[u] += d;
    count[u]++;
  }
  const out = new Float32Array(numUsers);
  for (let u = 0; u < numUsers; u++) out[u] = count[u] === 0 ? NaN : mode === 'max' ? acc[u] : acc[u] / count[u];
  return out;
}
