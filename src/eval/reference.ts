/**
 * Reference scorers of a synthetic root (method.md §6.3 "Reference rows"): rows that need no
 * training, printed beside the models so that a model's figure can be read against what the data
 * allows and what a scorer that learns nothing reaches.
 *
 * - `oracle`: the generator's true utility U, invisible item noise ε included;
 * - `oracle-noiseless`: U without ε, i.e. from what the pictures show alone;
 * - `count`: no learning at all: per user, how often each (category, class, colour) group appears
 *   in the user's training positives; an outfit scores the sum over its items of the log of the
 *   add-one-smoothed share of the item's group among the user's items of that category.
 *
 * None of them is a ceiling: a scorer can see through ε, and against hard negatives (other users'
 * positives) U, a generative log-likelihood, is not the best discriminator.
 */
import type { Oracle } from '../data/synth/oracle.js';
import { ITEM_GROUP_OFFSETS, ITEM_GROUPS, loadOracle } from '../data/synth/oracle.js';
import type { OutfitTable, PolyvoreSet } from '../data/types.js';
import { UserError } from '../errors.js';
import type { OutfitScorer } from './evaluate.js';

export const REFERENCE_SCORERS = ['oracle', 'oracle-noiseless', 'count'] as const;
export type ReferenceScorer = (typeof REFERENCE_SCORERS)[number];

/** How each reference scorer is labelled in tables. */
export const REFERENCE_LABELS: Record<ReferenceScorer, string> = {
  oracle: 'oracle (true utility; reference)',
  'oracle-noiseless': 'oracle without item noise ε (reference)',
  count: 'count scorer (no learning; reference)',
};

/** The oracle of `set.root`, or a UserError naming the scorer that needs it. */
export function requireOracle(set: PolyvoreSet, scorer: string): Oracle {
  const oracle = loadOracle(set.root);
  if (!oracle) throw new UserError(`${set.root}: no synthetic oracle here (the ${scorer} scorer needs a dataset written by 'outfitrec data synth')`);
  return oracle;
}

/** A reference scorer on `set` (which must hold the train split for `count`). */
export function referenceScorer(kind: ReferenceScorer, set: PolyvoreSet, oracle: Oracle): OutfitScorer {
  switch (kind) {
    case 'oracle':
      return (table) => oracle.utility(set, table);
    case 'oracle-noiseless':
      return (table) => oracle.utility(set, table, { noise: false });
    case 'count':
      return countScorer(set, oracle.itemGroups(set));
  }
}

/**
 * The count scorer: s(u, o) = Σ_{x ∈ o} log((c_u[g(x)] + 1) / (n_u[cat(x)] + G_cat(x))), where
 * c_u[g] counts the items of group g in u's training positives, n_u[c] their items of category c,
 * and G_c the groups of category c (a naive-Bayes log-likelihood of the outfit's visible
 * attributes under the user's history, add-one smoothed). `groups` is the group of each global
 * item id (Oracle.itemGroups).
 */
export function countScorer(set: PolyvoreSet, groups: Int32Array): OutfitScorer {
  const train = set.splits.train.posi;
  if (train.users.length === 0) throw new UserError(`set ${set.set}: the count scorer needs the training positives, and the train split is empty or not loaded`);
  const numUsers = set.numUsers;
  const counts = new Float64Array(numUsers * ITEM_GROUPS);
  // the groups' own categories (the oracle's, one block of ITEM_GROUP_OFFSETS each), not a fixed three (method.md §6.5)
  const numCategories = ITEM_GROUP_OFFSETS.length;
  const perCategory = new Float64Array(numUsers * numCategories);
  const categoryOf = (g: number): number => {
    let c = 0;
    while (c + 1 < ITEM_GROUP_OFFSETS.length && g >= ITEM_GROUP_OFFSETS[c + 1]) c++;
    return c;
  };
  const groupCategory = Int32Array.from({ length: ITEM_GROUPS }, (_, g) => categoryOf(g));
  const groupsIn = Int32Array.from(ITEM_GROUP_OFFSETS, (start, c) => (c + 1 < ITEM_GROUP_OFFSETS.length ? ITEM_GROUP_OFFSETS[c + 1] : ITEM_GROUPS) - start);
  const { slots } = train;
  for (let r = 0; r < train.users.length; r++) {
    const u = train.users[r];
    for (let j = 0; j < slots; j++) {
      const id = train.items[r * slots + j];
      if (id < 0) continue;
      const g = groups[id];
      counts[u * ITEM_GROUPS + g]++;
      perCategory[u * numCategories + groupCategory[g]]++;
    }
  }
  return (table: OutfitTable) => {
    const out = new Float32Array(table.users.length);
    for (let r = 0; r < table.users.length; r++) {
      const u = table.users[r];
      let s = 0;
      for (let j = 0; j < table.slots; j++) {
        const id = table.items[r * table.slots + j];
        if (id < 0) continue;
        const g = groups[id];
        const c = groupCategory[g];
        s += Math.log((counts[u * ITEM_GROUPS + g] + 1) / (perCategory[u * numCategories + c] + groupsIn[c]));
      }
      out[r] = s;
    }
    return out;
  };
}
