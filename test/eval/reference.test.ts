/**
 * The count reference scorer (method.md §6.3 "Reference rows") against a hand computation on an
 * in-memory set: per user, the add-one-smoothed log-share of each item's (category, class, colour)
 * group among the user's training items of that category, summed over the outfit's items.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ITEM_GROUP_OFFSETS, ITEM_GROUPS } from '../../src/data/synth/oracle.js';
import { countScorer } from '../../src/eval/reference.js';
import { makeSet, tableOf } from '../helpers/make-set.js';

describe('count scorer (method.md §6.3)', () => {
  it('scores an outfit by the user\'s smoothed group shares in their training outfits, by hand', async () => {
    // items: tops 0..2, bottoms 3..4, shoes 5..6; groups chosen by hand
    const groups = Int32Array.of(
      ITEM_GROUP_OFFSETS[0] + 0, // top 0: group a
      ITEM_GROUP_OFFSETS[0] + 0, // top 1: group a too (another picture, same class and colour)
      ITEM_GROUP_OFFSETS[0] + 9, // top 2: group b
      ITEM_GROUP_OFFSETS[1] + 3, // bottom 3
      ITEM_GROUP_OFFSETS[1] + 4, // bottom 4
      ITEM_GROUP_OFFSETS[2] + 0, // shoe 5
      ITEM_GROUP_OFFSETS[2] + 1, // shoe 6
    );
    const set = makeSet({
      numUsers: 2,
      counts: [3, 2, 2],
      splits: {
        train: {
          posi: [
            [0, 0, 3, 5],
            [0, 1, 3, 5],
            [0, 2, 4, 5],
            [1, 2, 4, 6],
          ],
        },
      },
    });
    const groupsIn = [ITEM_GROUP_OFFSETS[1] - ITEM_GROUP_OFFSETS[0], ITEM_GROUP_OFFSETS[2] - ITEM_GROUP_OFFSETS[1], ITEM_GROUPS - ITEM_GROUP_OFFSETS[2]];
    const score = countScorer(set, groups);
    const got = await score(tableOf(3, [[0, 1, 4, 6], [1, 1, 4, 6]]));
    // user 0: tops a,a,b → a 2 of 3; bottoms 3,3,4 → bottom 4 1 of 3; shoes 5,5,5 → shoe 6 0 of 3
    const user0 = Math.log(3 / (3 + groupsIn[0])) + Math.log(2 / (3 + groupsIn[1])) + Math.log(1 / (3 + groupsIn[2]));
    // user 1: one outfit (2, 4, 6): top group a unseen, bottom 4 and shoe 6 seen once
    const user1 = Math.log(1 / (1 + groupsIn[0])) + Math.log(2 / (1 + groupsIn[1])) + Math.log(2 / (1 + groupsIn[2]));
    assert.ok(Math.abs(got[0] - user0) < 1e-6, `user 0: ${got[0]} vs ${user0}`);
    assert.ok(Math.abs(got[1] - user1) < 1e-6, `user 1: ${got[1]} vs ${user1}`);
    // the same outfit scores higher for the user whose history holds its groups
    const mine = await score(tableOf(3, [[0, 0, 3, 5], [1, 0, 3, 5]]));
    assert.ok(mine[0] > mine[1], 'user 0 made outfits of these groups, user 1 did not');
  });
});
