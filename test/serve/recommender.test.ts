import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadImageCache } from '../../src/data/images.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { imageInputSource } from '../../src/model/inputs.js';
import { OutfitModel } from '../../src/model/outfit-model.js';
import { Rng } from '../../src/rng.js';
import { distinctStageOrders, measureComposeRecall, outfitKey } from '../../src/serve/compose.js';
import { Recommender, UnknownItemError, UnknownUserError } from '../../src/serve/recommender.js';
import { tinyRun, type TinyRun } from './tiny-run.js';

describe('Recommender on a trained tiny run (set 630)', () => {
  let run: TinyRun;
  let dir: string;
  let rec: Recommender;
  const top = (i: number) => rec.catalog.offsets[0] + i;
  const bottom = (i: number) => rec.catalog.offsets[1] + i;
  const shoe = (i: number) => rec.catalog.offsets[2] + i;

  before(async () => {
    run = await tinyRun();
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-recommender-'));
    rec = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
  });

  after(async () => {
    await rec.close();
    await rec.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('scores are the model\'s own scores (method.md §3), for ids and image names alike', async () => {
    const outfits = [
      [top(0), bottom(0), shoe(0)],
      [top(3), bottom(5), shoe(7)],
      [rec.catalog.names[top(9)], bottom(2), rec.catalog.names[shoe(4)].replace(/\.png$/, '')],
    ];
    const ours = await rec.scoreOutfits(2, outfits);
    const table = rec.outfitTable(outfits);
    const theirs = await rec.model.scoreTable(rec.inputs, { ...table, users: new Int32Array(3).fill(2) });
    assert.equal(table.items[6], top(9));
    assert.equal(table.items[8], shoe(4));
    assert.equal(ours.length, 3);
    ours.forEach((s, i) => assert.ok(Math.abs(s - theirs[i]) < 1e-4, `outfit ${i}: ${s} vs ${theirs[i]}`));
  });

  test('rankCandidates sorts by score and keeps the request positions', async () => {
    const outfits = Array.from({ length: 12 }, (_, i) => [top(i), bottom(i), shoe(i)]);
    const scores = await rec.scoreOutfits(1, outfits);
    const ranked = await rec.rankCandidates(1, outfits);
    assert.equal(ranked.length, 12);
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].score >= ranked[i].score);
    for (const r of ranked) {
      assert.equal(r.score, scores[r.index]);
      assert.deepEqual(r.items, outfits[r.index]);
    }
    assert.deepEqual(await rec.rankCandidates(1, outfits, 3), ranked.slice(0, 3));
  });

  test('compose returns k distinct complete outfits, best first, with their full-model scores', async () => {
    const result = await rec.compose(0, { k: 8 });
    assert.equal(result.outfits.length, 8);
    assert.equal(new Set(result.outfits.map((o) => outfitKey(o.items))).size, 8);
    for (const o of result.outfits) {
      assert.deepEqual(o.items.map((i) => rec.catalog.category[i]), [0, 1, 2]);
    }
    for (let i = 1; i < 8; i++) assert.ok(result.outfits[i - 1].score >= result.outfits[i].score);
    const rescored = await rec.scoreOutfits(0, result.outfits.map((o) => o.items));
    result.outfits.forEach((o, i) => assert.ok(Math.abs(o.score - rescored[i]) < 1e-4));
  });

  test('compositions asked at once take turns, first asked first served, and come back as each would alone', async () => {
    // a catalog option bypasses the compose cache, so every call below really composes
    const opts = { k: 5, maxShared: 3, catalog: rec.composer.catalog };
    const alone: Array<Awaited<ReturnType<Recommender['compose']>>> = [];
    for (let u = 0; u < 4; u++) alone.push(await rec.compose(u, opts));
    const events: string[] = [];
    const composer = rec.composer;
    const original = composer.compose.bind(composer);
    composer.compose = async (vector, o) => {
      const u = alone.findIndex((_, i) => rec.userVector(i) === vector);
      events.push(`start ${u}`);
      const r = await original(vector, o);
      events.push(`end ${u}`);
      return r;
    };
    try {
      const together = await Promise.all([0, 1, 2, 3].map((u) => rec.compose(u, opts)));
      together.forEach((r, u) => assert.deepEqual(r.outfits, alone[u].outfits));
      assert.deepEqual(events, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    } finally {
      composer.compose = original;
    }
  });

  test('fixed items are in every composed outfit; excluded items in none', async () => {
    const fixed = [bottom(4)];
    const best = (await rec.compose(3, { k: 5 })).outfits[0].items;
    const exclude = [best[0], best[2]];
    const result = await rec.compose(3, { k: 10, fixed, exclude });
    assert.equal(result.outfits.length, 10);
    for (const o of result.outfits) {
      assert.equal(o.items[1], bottom(4));
      assert.ok(!o.items.includes(best[0]) && !o.items.includes(best[2]));
    }
    // names work too, and a full outfit pinned gives exactly that outfit
    const pinned = await rec.compose(3, { k: 3, fixed: [rec.catalog.names[top(1)], bottom(1), shoe(1)] });
    assert.deepEqual(pinned.outfits.map((o) => o.items), [[top(1), bottom(1), shoe(1)]]);
  });

  test('search recall against the exhaustive top-k is reported; exact when nothing is pruned', async () => {
    const catalog = [0, 1, 2].map((c) => Int32Array.from({ length: 9 }, (_, i) => rec.catalog.offsets[c] + i));
    const users = [0, 1, 2, 3].map((u) => rec.userVector(u));
    const pruned = await measureComposeRecall(rec.composer, users, { k: 5, catalog, retrieve: 4, beam: 5 });
    assert.ok(pruned.recall >= 0 && pruned.recall <= 1);
    assert.equal(pruned.combinations, 9 ** 3);
    assert.equal(pruned.exhaustiveScored, 9 ** 3);
    assert.ok(pruned.searchScored < pruned.exhaustiveScored);
    assert.ok(pruned.speedup > 0 && Number.isFinite(pruned.speedup));
    // retrieving every item and keeping every partial outfit is an exhaustive search in disguise
    const full = await measureComposeRecall(rec.composer, users, { k: 5, catalog, retrieve: 9, beam: 81 });
    assert.equal(full.recall, 1);
    assert.ok(Math.abs(full.scoreGap) < 1e-5);
    // so is it when partial outfits are judged with average items in their empty slots: those
    // only steer the search, every returned score is the outfit's own
    const mean = await rec.composer.withCatalog(catalog, 'mean');
    assert.equal(mean.completion, 'mean');
    const meanFull = await measureComposeRecall(mean, users, { k: 5, catalog, retrieve: 9, beam: 81 });
    assert.equal(meanFull.recall, 1);
    assert.ok(Math.abs(meanFull.scoreGap) < 1e-5);
    // and its first-order scores are those of the item with two average items, not of the item alone
    const alone = rec.composer.firstOrderScores(users[0], catalog[0]);
    const withMeans = mean.firstOrderScores(users[0], catalog[0]);
    assert.ok(Array.from(alone).some((x, i) => Math.abs(x - withMeans[i]) > 1e-3));
    // with a fixed item both searches keep it in every outfit
    const fixed = [catalog[2][3]];
    for (const v of users) {
      for (const o of (await rec.composer.compose(v, { k: 5, catalog, fixed })).outfits) assert.equal(o.items[2], fixed[0]);
      for (const o of (await rec.composer.exhaustive(v, { k: 5, catalog, fixed })).outfits) assert.equal(o.items[2], fixed[0]);
    }
  });

  test('the stage order is chosen at start by recall against exhaustive scoring, the layout order first among the candidates', async () => {
    const c = rec.stageOrderCalibration;
    assert.ok(c !== null);
    assert.deepEqual(c.tried.map((t) => t.order), [[0, 1, 2], [0, 2, 1], [1, 2, 0]]);
    assert.equal(c.users, Math.min(12, rec.runUsers));
    const best = Math.max(...c.tried.map((t) => t.recall));
    // the first candidate with the best recall is the one in use
    assert.deepEqual(c.order, c.tried.find((t) => t.recall === best)!.order);
    assert.deepEqual([...rec.composer.stages], c.order);
    // calibrating again measures the same candidates from the layout's order, whatever the order now
    const again = await rec.composer.calibrateStageOrder([0, 1].map((u) => rec.userVector(u)), { itemsPerCategory: 12, maxCombinations: 500 });
    assert.ok(again !== null);
    assert.deepEqual(again.tried.map((t) => t.order), [[0, 1, 2], [0, 2, 1], [1, 2, 0]]);
    for (const t of again.tried) assert.ok(t.recall >= 0 && t.recall <= 1);
    // the sample shrinks until it can be scored exhaustively within the bound: 7³ = 343 ≤ 500 < 8³
    assert.equal(again.itemsPerCategory, 7);
    assert.equal(await rec.composer.calibrateStageOrder([]), null);
    // no sample fits: 1 item per category still makes 1 outfit, more than a bound of 0
    assert.equal(await rec.composer.calibrateStageOrder([rec.userVector(0)], { maxCombinations: 0 }), null);
    assert.throws(() => rec.composer.setStageOrder([0, 0, 1]), /required slots 0, 1, 2 once each, got 0, 0, 1/);
    // a sub-catalog composer (bench/serve.ts's recall) searches in the same order
    const sub = await rec.composer.withCatalog(rec.composer.catalog.map((ids) => ids.slice(0, 5)));
    assert.deepEqual([...sub.stages], [...rec.composer.stages]);
    // stageOrder 'layout' measures nothing and keeps the layout's order
    const plain = await Recommender.open(run.runDir, { data: run.root, db: ':memory:', stageOrder: 'layout', onboardWorkers: 0 });
    try {
      assert.equal(plain.stageOrderCalibration, null);
      assert.deepEqual([...plain.composer.stages], [0, 1, 2]);
    } finally {
      await plain.close();
      await plain.model.dispose();
    }
  });

  test('distinctStageOrders: every order, without those that only swap the first two slots', () => {
    assert.deepEqual(distinctStageOrders([0, 1, 2]), [[0, 1, 2], [0, 2, 1], [1, 2, 0]]);
    assert.deepEqual(distinctStageOrders([2, 3]), [[2, 3]]);
    const four = distinctStageOrders([0, 1, 2, 3]);
    assert.equal(four.length, 12);
    assert.deepEqual(four[0], [0, 1, 2, 3]);
    assert.equal(new Set(four.map((o) => `${[...o.slice(0, 2)].sort().join('+')}|${o.slice(2).join(',')}`)).size, 12);
  });

  test('onboarding stores the user; a restart, or another process on the same file, serves the same user with the same scores', async () => {
    const other = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    const outfits = [
      [top(0), bottom(1), shoe(2)],
      [top(4), bottom(5), shoe(6)],
      [top(7), bottom(8), shoe(9)],
    ];
    const user = await rec.onboard(outfits, { label: 'test user' });
    assert.equal(user.id, rec.runUsers);
    assert.equal(user.strategy, 'so');
    assert.ok(rec.hasUser(user.id));
    const probe = Array.from({ length: 6 }, (_, i) => [top(10 + i), bottom(10 + i), shoe(10 + i)]);
    const before = await rec.scoreOutfits(user.id, probe);
    // the stored anchors give the model's own score once the model holds them
    const slot = rec.model.addUsers(1, new Rng(1));
    rec.model.setUserAnchors(slot, user.anchors);
    const modelScores = await rec.model.scoreTable(rec.inputs, { ...rec.outfitTable(probe), users: new Int32Array(6).fill(slot) });
    assert.equal(before.length, 6);
    before.forEach((s, i) => assert.ok(Math.abs(s - modelScores[i]) < 1e-4));

    // a server started before the user existed finds it in the shared database
    assert.deepEqual(await other.scoreOutfits(user.id, probe), before);
    await other.close();
    await other.model.dispose();

    const su = await rec.onboard(outfits.slice(0, 1), { strategy: 'su' });
    assert.equal(su.id, rec.runUsers + 1);

    const reopened = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    try {
      // newest first
      assert.deepEqual((await reopened.onboardedUsers()).map((u) => [u.id, u.strategy, u.label]), [
        [rec.runUsers + 1, 'su', null],
        [rec.runUsers, 'so', 'test user'],
      ]);
      assert.deepEqual(await reopened.scoreOutfits(user.id, probe), before);
    } finally {
      await reopened.close();
      await reopened.model.dispose();
    }
  });

  test('bad requests are UserErrors that name the outfit, slot and problem', async () => {
    await assert.rejects(() => rec.scoreOutfits(999, [[top(0), bottom(0), shoe(0)]]), (e) => e instanceof UnknownUserError && /unknown user 999/.test(e.message));
    assert.throws(() => rec.outfitTable([[top(0), top(1), shoe(0)]]), /outfit 0 slot 1 \(bottom\): item \d+ is a top, not a bottom/);
    assert.throws(() => rec.outfitTable([[top(0), bottom(0)]]), /outfit 0: expected 3 slots \(top, bottom, shoe\), got 2/);
    assert.throws(() => rec.outfitTable([[top(0), bottom(0), 'no-such-image']]), /outfit 0 slot 2 \(shoe\): unknown item "no-such-image"/);
    assert.throws(() => rec.outfitTable([[top(0), null, shoe(0)]]), /slot 1 \(bottom\): this slot is required/);
    assert.throws(() => rec.outfitTable([[top(0), bottom(0), shoe(0)], [top(0), bottom(0), 99999]]), /outfit 1 slot 2/);
    await assert.rejects(() => rec.compose(0, { k: 0 }), /k must be an integer in 1\.\.50/);
    await assert.rejects(() => rec.compose(0, { k: 5, fixed: [top(0), top(1)] }), /too many fixed top items: an outfit holds 1/);
    await assert.rejects(() => rec.compose(0, { k: 5, fixed: [top(0)], exclude: [top(0)] }), /both fixed and excluded/);
    await assert.rejects(() => rec.onboard([]), /at least one outfit/);
    assert.throws(() => rec.requireItem('nope'), UnknownItemError);
  });

  test('a request keeps the onboarded user it read: a cache reset during the read or the search is no 404', async () => {
    const user = await rec.onboard([[top(1), bottom(2), shoe(3)]], { label: 'raced' });
    // what PostgreSQL's listener does when it (re)connects, or NOTIFY on another replica's change
    const directory = (rec as unknown as { users: { onChange(c: { kind: 'reset' }): void } }).users;
    const reset = () => directory.onChange({ kind: 'reset' });
    const store = rec.store as { get(id: number): Promise<unknown> };
    const get = store.get.bind(store);
    store.get = async (id: number) => {
      const found = await get(id);
      reset(); // the read raced with a reset: its result is not cached
      return found;
    };
    try {
      reset();
      const composed = await rec.compose(user.id, { k: 3, explain: true });
      assert.equal(composed.outfits.length, 3);
      assert.ok(composed.outfits.every((o) => o.explanation !== undefined));
      reset();
      const outfits = Array.from({ length: 4 }, (_, i) => [top(i), bottom(i), shoe(i)]);
      const ranked = await rec.rankCandidates(user.id, outfits, 2, { explain: true });
      assert.equal(ranked.length, 2);
      reset();
      assert.equal((await rec.scoreOutfits(user.id, outfits)).length, 4);
    } finally {
      store.get = get;
    }
    await rec.deleteUser(user.id);
    await assert.rejects(() => rec.compose(user.id, { k: 3 }), UnknownUserError);
  });
});

describe('compose on a variable-length set (519: one or two tops)', () => {
  test('a second top is optional, pairs of tops are unordered, and the search is exact when nothing is pruned', async () => {
    const run = await tinyRun();
    const set = loadPolyvoreSet(run.root, '519');
    const inputs = imageInputSource(await loadImageCache(set, 28));
    // an untrained model is enough to check the search itself
    const model = OutfitModel.create(
      { backbone: { kind: 'convnet', width: 0.25, outDim: 16, imageSize: 28 }, dim: 16, heads: 2, anchors: 4, numUsers: set.numUsers, dropout: 0 },
      new Rng(3),
    );
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-recommender-519-'));
    const rec = await Recommender.fromParts({ model, inputs, set, runFingerprint: 'untrained-519' }, { db: join(dir, 'users.sqlite') });
    try {
      assert.deepEqual(rec.optionalSlots, [false, true, false, false]);
      // the optional second top is filled last whatever order the required slots were given
      assert.equal(rec.composer.stages[3], 1);
      assert.deepEqual([...rec.composer.stages].sort(), [0, 1, 2, 3]);
      const catalog = [0, 1, 2].map((c) => Int32Array.from({ length: c === 0 ? 6 : 4 }, (_, i) => set.catalog.offsets[c] + i));
      // 6 single tops + 15 pairs, × 4 bottoms × 4 shoes
      assert.equal(rec.composer.combinations(catalog), 21 * 16);
      const users = [0, 1, 2].map((u) => rec.userVector(u));
      const full = await measureComposeRecall(rec.composer, users, { k: 6, catalog, retrieve: 6, beam: 400 });
      assert.equal(full.exhaustiveScored, 21 * 16);
      assert.equal(full.recall, 1);
      // 519's rules: each set once, a top, an optional second top (another one), a bottom, a shoe
      const assertLayout = (outfits: ReadonlyArray<{ items: number[] }>, count: number): void => {
        assert.equal(new Set(outfits.map((o) => outfitKey(o.items))).size, count);
        for (const o of outfits) {
          assert.equal(set.catalog.category[o.items[0]], 0);
          assert.ok(o.items[1] === -1 || (set.catalog.category[o.items[1]] === 0 && o.items[1] !== o.items[0]));
          assert.deepEqual([set.catalog.category[o.items[2]], set.catalog.category[o.items[3]]], [1, 2]);
        }
      };
      assertLayout((await rec.compose(0, { k: 20 })).outfits, 20);
      // an outfit may come with one top or two (null = the empty second-top slot)
      const scores = await rec.scoreOutfits(1, [
        [set.catalog.offsets[0], null, set.catalog.offsets[1], set.catalog.offsets[2]],
        [set.catalog.offsets[0], set.catalog.offsets[0] + 1, set.catalog.offsets[1], set.catalog.offsets[2]],
      ]);
      assert.equal(scores.length, 2);
      assert.ok(scores.every(Number.isFinite));
      // two fixed tops fill both top slots
      for (const o of (await rec.compose(2, { k: 4, fixed: [set.catalog.offsets[0] + 2, set.catalog.offsets[0] + 3] })).outfits) {
        assert.deepEqual(o.items.slice(0, 2), [set.catalog.offsets[0] + 2, set.catalog.offsets[0] + 3]);
      }
      // the second pass keeps the layout's rules: each set once, an optional second top, fixed items
      for (const user of [0, 1, 2]) {
        const v = rec.userVector(user);
        const one = await rec.composer.compose(v, { k: 20, maxShared: 4 });
        const two = await rec.composer.compose(v, { k: 20, maxShared: 4, passes: 2 });
        assertLayout(two.outfits, 20);
        assert.ok(two.outfits[0].score >= one.outfits[0].score - 1e-6);
        const fixed = [set.catalog.offsets[0] + 2, set.catalog.offsets[0] + 3];
        for (const o of (await rec.composer.compose(v, { k: 4, fixed, passes: 2 })).outfits) assert.deepEqual(o.items.slice(0, 2), fixed);
        // so do the neighbourhood rounds, which also empty or fill the optional second top
        const rounds = await rec.composer.compose(v, { k: 20, maxShared: 4, expand: 2 });
        assertLayout(rounds.outfits, 20);
        assert.ok(rounds.outfits[0].score >= one.outfits[0].score - 1e-6);
        const pinnedTop = [set.catalog.offsets[0] + 2];
        for (const o of (await rec.composer.compose(v, { k: 4, fixed: pinnedTop, expand: 2 })).outfits) assert.equal(o.items[0], pinnedTop[0]);
      }
    } finally {
      await rec.close();
      await model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
