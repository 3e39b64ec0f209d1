/**
 * Few-shot training subsets for cold users (method.md §5): N ∈ {1, 5} training positives
 * per new user, drawn with a fixed seed from `tuples_<set>/tuples_train_posi`.
 *
 * Selection rule (stable): the generator gives each user 0..numUsers-1, in order, one 32-bit seed; that seed
 * shuffles the user's training rows (in file order), and the first N of the shuffle are kept. So each user's
 * choice depends only on the seed and the user's own rows, and for one seed the 1-shot subset is contained
 * in the 5-shot subset. Users with fewer than N training positives keep all of them.
 */
import { Rng } from '../rng.js';
import type { PolyvoreSet } from './types.js';

export interface ColdUserShots {
  /** Row indices into `splits.train.posi`, ascending. */
  rows: Int32Array;
  /** Rows kept per user (index = user id), `min(shots, user's training positives)`. */
  perUser: Int32Array;
}

export function coldUserShots(set: PolyvoreSet, shots: number, rng: Rng): ColdUserShots {
  if (!Number.isInteger(shots) || shots < 1) throw new RangeError(`coldUserShots: shots must be a positive integer, got ${shots}`);
  const users = set.splits.train.posi.users;
  let numUsers = set.numUsers;
  for (let r = 0; r < users.length; r++) if (users[r] >= numUsers) numUsers = users[r] + 1;
  const rowsOfUser: number[][] = Array.from({ length: numUsers }, () => []);
  for (let r = 0; r < users.length; r++) rowsOfUser[users[r]].push(r);
  const kept: number[] = [];
  const perUser = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) {
    const userRng = new Rng(rng.nextU32());
    const chosen = userRng.shuffle(rowsOfUser[u]).slice(0, shots);
    perUser[u] = chosen.length;
    kept.push(...chosen);
  }
  return { rows: Int32Array.from(kept).sort(), perUser };
}
