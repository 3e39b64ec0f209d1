/**
 * The users' routes (user-routes.ts) and the onboarding worker pool (onboard-pool.ts) over a real
 * listening server on the tiny run, with the embedded SQLite database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Recommender } from '../../src/serve/recommender.js';
import { startServer } from '../../src/serve/server.js';
import { SqliteUserStore } from '../../src/serve/store.js';
import { UserDirectory } from '../../src/serve/users.js';
import { tinyRun, type TinyRun } from './tiny-run.js';

interface Item {
  id: number;
  name: string;
  title: string;
  category: string;
}

async function listen(rec: Recommender): Promise<{ app: FastifyInstance; base: string }> {
  const app = await startServer(rec, { port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  return { app, base: `http://127.0.0.1:${address.port}` };
}

async function json(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const COLOUR = /^(black|grey|navy|brown|red|yellow|green|pink) /;

describe('users: history, delete, health', () => {
  let run: TinyRun;
  let dir: string;
  let rec: Recommender;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    run = await tinyRun();
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-users-'));
    rec = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite'), onboardWorkers: 1 });
    ({ app, base } = await listen(rec));
  });

  after(async () => {
    await app.close();
    await rec.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/health names no path on this machine', async () => {
    const health = await json(await fetch(`${base}/health`));
    assert.equal(health.status, 200);
    const text = JSON.stringify(health.body);
    assert.ok(!text.includes(run.runDir) && !text.includes(dir) && !text.includes(tmpdir()), text);
    assert.equal(health.body.run, 'run');
    assert.equal(health.body.database, 'sqlite');
    assert.equal(health.body.onboardWorkers, 1);
  });

  test("a run user's own outfits are their training outfits, with names a person can read", async () => {
    const train = rec.set.splits.train.posi;
    const user = train.users[0];
    const mine = [];
    for (let r = 0; r < train.users.length; r++) if (train.users[r] === user) mine.push(Array.from(train.items.subarray(r * train.slots, (r + 1) * train.slots)));
    const res = await json(await fetch(`${base}/users/${user}?limit=3`));
    assert.equal(res.status, 200);
    assert.equal(res.body.kind, 'run');
    assert.equal(res.body.source, 'train');
    assert.equal(res.body.total, mine.length);
    const outfits = res.body.outfits as Array<{ items: Item[] }>;
    assert.equal(outfits.length, Math.min(3, mine.length));
    assert.deepEqual(outfits.map((o) => o.items.map((i) => i.id)), mine.slice(0, 3).map((o) => o.filter((i) => i >= 0)));
    // synthetic items are named by their colour and garment, e.g. "red shirt"
    for (const item of outfits.flatMap((o) => o.items)) {
      assert.match(item.title, COLOUR);
      assert.match(item.title, item.category === 'bottom' ? /trousers$/ : item.category === 'shoe' ? /(sandals|sneakers|ankle boots)$/ : /(t-shirt|pullover|coat|shirt)$/);
    }
    assert.equal((await fetch(`${base}/users/${rec.runUsers + 1000}`)).status, 404);
    assert.equal((await fetch(`${base}/users/1?limit=0`)).status, 400);
    assert.equal((await fetch(`${base}/users/0x1`)).status, 400);
  });

  test('an onboarded user: history = onboarding outfits; delete is final (404 after, also after a restart); run users cannot be deleted', async () => {
    const o = rec.catalog.offsets;
    const outfits = [
      [o[0] + 1, o[1] + 2, o[2] + 3],
      [o[0] + 4, o[1] + 5, o[2] + 6],
    ];
    const keep = await json(await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outfits: outfits.slice(0, 1), label: 'keep' }) }));
    const gone = await json(await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outfits, label: 'gone' }) }));
    assert.equal(gone.status, 201);
    const id = gone.body.id as number;

    const history = await json(await fetch(`${base}/users/${id}`));
    assert.equal(history.body.kind, 'onboarded');
    assert.equal(history.body.label, 'gone');
    assert.deepEqual((history.body.outfits as Array<{ items: Item[] }>).map((x) => x.items.map((i) => i.id)), outfits);

    const refused = await json(await fetch(`${base}/users/0`, { method: 'DELETE' }));
    assert.equal(refused.status, 409);
    assert.match(String(refused.body.message), /user 0 is one of the run's training users .* cannot be deleted/);
    assert.equal((await json(await fetch(`${base}/users/${id + 50}`, { method: 'DELETE' }))).status, 404);

    assert.deepEqual(await json(await fetch(`${base}/users/${id}`, { method: 'DELETE' })), { status: 200, body: { deleted: id } });
    assert.equal((await fetch(`${base}/users/${id}`)).status, 404);
    assert.equal((await fetch(`${base}/users/${id}/outfits`)).status, 404);
    assert.equal((await fetch(`${base}/users/${id}/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outfits }) })).status, 404);
    const listed = (await json(await fetch(`${base}/users`))).body.onboarded as Array<{ id: number }>;
    assert.deepEqual(listed.map((u) => u.id), [keep.body.id]);

    // a restarted server on the same file
    const again = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite'), onboardWorkers: 0 });
    try {
      assert.equal(await again.findUser(id), undefined);
      assert.equal((await again.findUser(keep.body.id as number))?.label, 'keep');
      await assert.rejects(() => again.compose(id, { k: 2 }), /unknown user/);
    } finally {
      await again.close();
      await again.model.dispose();
    }
  });
});

describe('onboarding runs in worker threads', () => {
  test('the worker fit equals the in-process fit, and /health answers while a slow onboarding is in flight', async (t) => {
    const run = await tinyRun();
    // many SO steps: one fit takes long enough for /health to be asked many times meanwhile
    const coldStart = { steps: 2000 };
    const pooled = await Recommender.open(run.runDir, { data: run.root, db: ':memory:', onboardWorkers: 1, coldStart });
    const inline = await Recommender.open(run.runDir, { data: run.root, db: ':memory:', onboardWorkers: 0, coldStart: { steps: 150 } });
    const { app, base } = await listen(pooled);
    try {
      const o = pooled.catalog.offsets;
      const outfits = Array.from({ length: 20 }, (_, i) => [o[0] + i, o[1] + ((i * 3) % 7), o[2] + ((i * 5) % 11)]);

      let done = false;
      const onboarding = fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outfits }) }).then(async (r) => {
        done = true;
        return json(r);
      });
      let answeredDuring = 0;
      while (!done) {
        const h = await fetch(`${base}/health`);
        assert.equal(h.status, 200);
        await h.arrayBuffer();
        if (!done) answeredDuring++;
      }
      const created = await onboarding;
      assert.equal(created.status, 201);
      t.diagnostic(`/health answered ${answeredDuring} times during one onboarding (${(created.body.tookMs as number).toFixed(0)} ms)`);
      assert.ok(answeredDuring >= 5, `/health answered only ${answeredDuring} times while the fit ran`);

      // the same fit off and on the event loop: same seed (first user of an empty database), same anchors
      const small = outfits.slice(0, 5);
      const fast = await Recommender.open(run.runDir, { data: run.root, db: ':memory:', onboardWorkers: 1, coldStart: { steps: 150 } });
      try {
        const [viaWorker, viaLoop] = [await fast.onboard(small), await inline.onboard(small)];
        assert.equal(viaWorker.anchors.length, viaLoop.anchors.length);
        // bit for bit: the worker projects through the main thread's serving graph and table
        viaWorker.anchors.forEach((v, i) => assert.equal(v, viaLoop.anchors[i], `anchor value ${i}`));
        assert.equal(fast.onboardWorkers, 1);
        assert.equal(inline.onboardWorkers, 0);
      } finally {
        await fast.close();
        await fast.model.dispose();
      }
    } finally {
      await app.close();
      await pooled.model.dispose();
      await inline.close();
      await inline.model.dispose();
    }
  });

  test('a worker that dies during a fit fails that onboarding with a clear error and is replaced', async () => {
    const run = await tinyRun();
    const rec = await Recommender.open(run.runDir, { data: run.root, db: ':memory:', onboardWorkers: 1, coldStart: { steps: 2000 } });
    try {
      const o = rec.catalog.offsets;
      const outfits = Array.from({ length: 5 }, (_, i) => [o[0] + i, o[1] + i, o[2] + i]);
      const pool = (rec as unknown as { onboardPool: { slots: Array<{ worker: { terminate(): Promise<number> }; busy: unknown }> } }).onboardPool;
      const pending = rec.onboard(outfits);
      pending.catch(() => {});
      while (pool.slots[0].busy === null) await new Promise((resolve) => setTimeout(resolve, 5));
      await pool.slots[0].worker.terminate();
      await assert.rejects(pending, /onboarding worker stopped \(exit code \d+\) while fitting a user/);
      const next = await rec.onboard(outfits);
      assert.equal(next.id, rec.runUsers, 'nothing was stored for the failed onboarding');
      assert.equal((await rec.onboardedUsers()).length, 1);
    } finally {
      await rec.close();
      await rec.model.dispose();
    }
  });
});

describe('the users cache is bounded', () => {
  test('beyond its size the longest cached user is dropped and read again from the database; a database larger than the cache is not read whole at start', async () => {
    const shape = { runUsers: 3, anchorsPerUser: 1, dim: 2, runFingerprint: 'f' };
    const store = SqliteUserStore.open(':memory:', shape);
    try {
      const vectorOf = (a: Float32Array): Float32Array => Float32Array.from(a);
      const users = new UserDirectory(store, 3, vectorOf, 2);
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) ids.push((await users.add({ anchors: Float32Array.of(i, 1), outfits: [[0, 1, 2]], strategy: 'so' })).id);
      assert.equal(users.cached(ids[0]), undefined, 'the first one was dropped');
      assert.deepEqual(users.cachedIds(), [ids[1], ids[2]]);
      // read through again, which drops the next longest cached
      assert.deepEqual((await users.find(ids[0]))?.vector, Float32Array.of(0, 1));
      assert.deepEqual(users.cachedIds(), [ids[0], ids[2]]);
      assert.deepEqual(users.cachedRange(), { count: 2, min: ids[0], max: ids[2] });

      const fresh = new UserDirectory(store, 3, vectorOf, 2);
      await fresh.warm();
      assert.deepEqual(fresh.cachedIds(), [], '3 stored users do not fit a cache of 2: nothing read at start');
      const roomy = new UserDirectory(store, 3, vectorOf, 3);
      await roomy.warm();
      assert.deepEqual(roomy.cachedIds(), ids);
    } finally {
      await store.close();
    }
  });
});
