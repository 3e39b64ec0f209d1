/**
 * A six-category, variable-size set with layout.json (docs/method.md §6.5) through the whole
 * pipeline: `train` (1 tiny epoch, softmax+cl so that erase/replace run on it) → `eval` →
 * `coldstart` (the new users of its `newUsers` set) → serve (composition respects the slots and
 * minItems, validation speaks the set's category names, /health and /items list its categories).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Recommender } from '../../src/serve/recommender.js';
import { startServer } from '../../src/serve/server.js';
import { SHOP_CATEGORIES, writeLayoutRoot } from '../helpers/layout-set.js';
import { assertOneLineError, runCli } from '../reliability/helpers.js';

describe('train → eval → coldstart → serve on a six-category layout.json set', () => {
  let dir: string;
  let root: string;
  let runDir: string;
  let rec: Recommender;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-layout-e2e-'));
    root = join(dir, 'data');
    await writeLayoutRoot(root);
    runDir = join(dir, 'run');
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({ method: 'softmax+cl', model: { backbone: { kind: 'convnet', width: 0.125, outDim: 16 }, dim: 16, heads: 2, anchors: 4 }, epochs: 1, batchSize: 16, seed: 3 }),
    );
    const trained = await runCli(['train', '--data', root, '--set', 'shop', '--config', config, '--out', runDir, '--quiet']);
    assert.equal(trained.code, 0, trained.stderr);
  });

  after(async () => {
    if (app) await app.close();
    if (rec) await rec.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('eval scores the test split of the set', async () => {
    const r = await runCli(['eval', '--data', root, '--set', 'shop', '--run', runDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { set: string; results: Array<{ auc: number; users: number; candidates: number }> };
    assert.equal(out.set, 'shop');
    assert.equal(out.results[0].users, 10);
    assert.equal(out.results[0].candidates, 20 * 11);
    assert.ok(out.results[0].auc >= 0 && out.results[0].auc <= 1);
  });

  it('coldstart profiles the new users of the layout\'s newUsers set', async () => {
    const r = await runCli(['coldstart', '--run', runDir, '--shots', '1', '--strategy', 'sa', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { trainSet: string; coldSet: string; users: number };
    assert.deepEqual([out.trainSet, out.coldSet, out.users], ['shop', 'shop-new', 4]);
    // a set that no layout names as newUsers is refused in one line
    assertOneLineError(await runCli(['coldstart', '--run', runDir, '--shots', '1', '--set', 'nope']), /--set: 'nope' is not a new-user set .*new-user sets here: shop-new/, assert);
  });

  describe('serve', () => {
    before(async () => {
      rec = await Recommender.open(runDir, { db: join(dir, 'users.sqlite') });
      app = await startServer(rec, { port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      assert.ok(address && typeof address === 'object');
      base = `http://127.0.0.1:${address.port}`;
    });

    async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(base + path);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    it('/health and /items give the page the set\'s categories and slots', async () => {
      const health = await get('/health');
      assert.deepEqual(health.body.categories, SHOP_CATEGORIES);
      assert.deepEqual(health.body.slotCategories, [0, 1, 2, 3, 4, 5, 5]);
      assert.deepEqual(health.body.optionalSlots, [0, 1, 2, 3, 4, 5, 6]);
      assert.equal(health.body.minItems, 2);
      const items = await get('/items?category=outerwear&limit=3');
      assert.equal(items.status, 200);
      assert.equal(items.body.total, 6);
      const first = (items.body.items as Array<{ category: string; title: string }>)[0];
      assert.equal(first.category, 'outerwear');
      assert.equal(first.title, 'green outerwear no. 0', 'titles from items.json');
      const bad = await get('/items?category=hat');
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.message), /querystring\/category must be equal to one of the allowed values/);
      assert.equal((await get('/items?category=top')).status, 200, 'top is a category of this set too');
    });

    it('composes outfits that respect the slots and minItems', async () => {
      const res = await get('/users/0/outfits?k=5');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const outfits = res.body.outfits as Array<{ items: Array<{ categoryId: number; category: string }> }>;
      assert.equal(outfits.length, 5);
      for (const o of outfits) {
        assert.ok(o.items.length >= 2 && o.items.length <= 7, `outfit of ${o.items.length} items`);
        const perCategory = new Map<number, number>();
        for (const item of o.items) perCategory.set(item.categoryId, (perCategory.get(item.categoryId) ?? 0) + 1);
        for (const [c, n] of perCategory) assert.ok(n <= (c === 5 ? 2 : 1), `${n} items of ${SHOP_CATEGORIES[c]}`);
      }
      // so do the second pass and the neighbourhood rounds (optional slots, two accessory slots, minItems)
      const composer = rec.composer;
      for (const [user, search] of [[0, { passes: 2 }], [1, { passes: 2 }], [0, { expand: 2 }], [1, { expand: 2 }]] as const) {
        const two = await composer.compose(rec.userVector(user), { k: 5, ...search });
        assert.equal(two.outfits.length, 5);
        for (const o of two.outfits) {
          const items = o.items.filter((x) => x >= 0);
          assert.ok(items.length >= 2 && new Set(items).size === items.length, `outfit ${o.items}`);
          o.items.forEach((x, j) => assert.ok(x < 0 || rec.catalog.category[x] === composer.slotCategories[j], `slot ${j} holds item ${x}`));
        }
      }
      // exact search over a catalog small enough to enumerate agrees on the size rule
      const small = composer.catalog.map((ids) => ids.subarray(0, 2));
      // per category with one slot: 1 + 2 ways (empty, or one of 2); accessory (2 slots, 2 items): 1 + 2 + 1;
      // 3^5 · 4 = 972 outfits of any size, minus the empty one and the 6·2 = 12 one-item outfits
      assert.equal(composer.combinations(small), 972 - 1 - 12);
      const exhaustive = await composer.exhaustive(rec.userVector(0), { k: 3, catalog: small });
      assert.equal(exhaustive.outfitsScored, 959);
      for (const o of exhaustive.outfits) assert.ok(o.items.filter((x) => x >= 0).length >= 2);
    });

    it('validates outfits with the set\'s category names and minItems', async () => {
      const top = rec.catalog.offsets[0];
      const bag = rec.catalog.offsets[3];
      const slots = (entries: Record<number, number>): Array<number | null> => Array.from({ length: 7 }, (_, j) => entries[j] ?? null);
      const ok = await post('/users/0/rank', { outfits: [slots({ 0: top, 3: bag })] });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const wrong = await post('/users/0/rank', { outfits: [slots({ 0: bag, 3: top })] });
      assert.equal(wrong.status, 400);
      assert.match(String(wrong.body.message), /outfit 0 slot 0 \(top\): item \d+ is a bag, not a top/);
      const single = await post('/users/0/rank', { outfits: [slots({ 4: rec.catalog.offsets[4] })] });
      assert.equal(single.status, 400);
      assert.match(String(single.body.message), /outfit 0: 1 item, an outfit holds at least 2 \(top-or-null, bottom-or-null, shoe-or-null, bag-or-null, outerwear-or-null, accessory-or-null, accessory-or-null\)/);
    });
  });
});
