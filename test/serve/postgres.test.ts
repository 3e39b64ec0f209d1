/**
 * `serve --db postgres://…`: the users store on a throwaway PostgreSQL cluster (test/helpers/pg-cluster.ts),
 * and two replicas of the HTTP service on one database agreeing on users (docs/reliability.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { UserError } from '../../src/errors.js';
import { Recommender } from '../../src/serve/recommender.js';
import { startServer } from '../../src/serve/server.js';
import { PostgresUserStore, openUserStore, type StoreShape, type UserChange } from '../../src/serve/store.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { tinyRun } from './tiny-run.js';

const started = await startPgCluster();
const skip = 'skip' in started ? started.skip : false;
if (skip) process.stdout.write(`# ${skip}\n`);
const cluster = 'skip' in started ? null : started;
after(() => cluster?.stop());

const shape: StoreShape = { runUsers: 5, anchorsPerUser: 2, dim: 3, runFingerprint: 'abc' };
const anchors = (seed: number) => Float32Array.from({ length: 6 }, (_, i) => Math.sin(seed * 10 + i) / 3);

async function until(check: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - t0;
}

describe('PostgreSQL users store', { skip }, () => {
  const pgc = cluster as PgCluster;

  test('schema created and versioned once; ids unique across connections, never reused; another run refused', async () => {
    const url = await pgc.createDatabase('store_basics');
    // two stores opening an empty database together: one migrates, the other waits for it
    const [a, b] = await Promise.all([openUserStore(url, shape), openUserStore(url, shape)]);
    const changes: UserChange[] = [];
    b.watch((c) => changes.push(c));
    try {
      assert.deepEqual(await (a as PostgresUserStore).migrations(), [1, 2]);
      const added = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).add({ anchors: anchors(i), outfits: [[i, 7, 9]], strategy: 'so', label: `u${i}` })));
      const ids = added.map((u) => u.id).sort((x, y) => x - y);
      assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => shape.runUsers + i));
      const last = ids[ids.length - 1];
      assert.deepEqual((await b.get(last))?.anchors, added.find((u) => u.id === last)!.anchors);
      assert.equal(await a.delete(last), true);
      assert.equal(await a.delete(last), false);
      const next = await a.add({ anchors: anchors(99), outfits: [[1, 2, 3]], strategy: 'su' });
      assert.equal(next.id, last + 1, "a deleted user's id is not handed out again");
      assert.equal(await b.count(), 20);
      assert.deepEqual((await b.page(3)).map((u) => u.id), [next.id, last - 1, last - 2], 'newest first, the deleted one gone');
      assert.deepEqual((await b.page(2, last - 1)).map((u) => u.id), [last - 2, last - 3]);
      // b hears of a's delete
      await until(async () => changes.some((c) => c.kind === 'deleted' && c.id === last), 2000);
    } finally {
      await a.close();
      await b.close();
    }
    await assert.rejects(() => openUserStore(url, { ...shape, dim: 4 }), /belongs to another run or model: dim is 3, this run has 4/);
    const again = await openUserStore(url, shape);
    assert.deepEqual(await (again as PostgresUserStore).migrations(), [1, 2], 'applied once');
    assert.equal(await again.count(), 20);
    await again.close();
  });

  test('an unreachable server is one line naming the address, without its password', async () => {
    await assert.rejects(
      () => openUserStore(pgc.url('store_basics').replace('postgres@', 'postgres:secret@').replace(/host=[^&]+/, 'host=%2Fnonexistent'), shape),
      (err: Error) => err instanceof UserError && /^PostgreSQL at postgres:\/\/postgres@localhost\/store_basics/.test(err.message) && !err.message.includes('secret'),
    );
  });
});

describe('two replicas of serve on one PostgreSQL database', { skip, timeout: 120_000 }, () => {
  const pgc = cluster as PgCluster;
  const replicas: Array<{ rec: Recommender; app: FastifyInstance; base: string }> = [];
  let url: string;

  async function replica(db = url): Promise<{ rec: Recommender; app: FastifyInstance; base: string }> {
    const run = await tinyRun();
    const rec = await Recommender.open(run.runDir, { data: run.root, db, onboardWorkers: 0 });
    const app = await startServer(rec, { port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    const r = { rec, app, base: `http://127.0.0.1:${address.port}` };
    replicas.push(r);
    return r;
  }

  async function stop(r: { rec: Recommender; app: FastifyInstance }): Promise<void> {
    replicas.splice(replicas.indexOf(r as (typeof replicas)[number]), 1);
    await r.app.close();
    await r.rec.model.dispose();
  }

  before(async () => {
    url = await pgc.createDatabase('replicas');
  });

  after(async () => {
    for (const r of [...replicas]) await stop(r);
  });

  test('a user onboarded through A is served by B at once; a delete through A reaches B within 1 s and survives restarts', async (t) => {
    const a = await replica();
    const b = await replica();
    const o = a.rec.catalog.offsets;
    // B has served the run's users and cached nothing about the new one
    assert.equal((await fetch(`${b.base}/users/0/outfits?k=2`)).status, 200);

    const created = await fetch(`${a.base}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outfits: [[o[0], o[1], o[2]], [o[0] + 1, o[1] + 2, o[2] + 3]], label: 'via A' }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: number };

    // the first request to B succeeds: a miss reads through to the database
    const composed = await fetch(`${b.base}/users/${id}/outfits?k=3`);
    assert.equal(composed.status, 200);
    const fromA = (await (await fetch(`${a.base}/users/${id}/outfits?k=3`)).json()) as { outfits: unknown };
    assert.deepEqual(((await composed.json()) as { outfits: unknown }).outfits, fromA.outfits, 'same anchors, same outfits');
    const history = (await (await fetch(`${b.base}/users/${id}`)).json()) as { kind: string; label: string; outfits: Array<{ items: Array<{ id: number }> }> };
    assert.equal(history.kind, 'onboarded');
    assert.equal(history.label, 'via A');
    assert.deepEqual(history.outfits[1].items.map((i) => i.id), [o[0] + 1, o[1] + 2, o[2] + 3]);
    const listed = (await (await fetch(`${b.base}/users`)).json()) as { onboarded: Array<{ id: number }> };
    assert.deepEqual(listed.onboarded.map((u) => u.id), [id]);
    const health = (await (await fetch(`${b.base}/health`)).json()) as { onboardedUsers: number; database: string };
    assert.equal(health.onboardedUsers, 1);
    assert.equal(health.database, 'postgres');

    // B has now cached the user; a delete through A must reach it (NOTIFY), not only the database
    assert.equal((await fetch(`${a.base}/users/${id}`, { method: 'DELETE' })).status, 200);
    const ms = await until(async () => (await fetch(`${b.base}/users/${id}/outfits?k=3`)).status === 404, 1000);
    t.diagnostic(`delete seen by replica B after ${ms.toFixed(0)} ms`);
    assert.equal((await fetch(`${b.base}/users/${id}`)).status, 404);
    assert.equal((await fetch(`${b.base}/users/${id}`, { method: 'DELETE' })).status, 404);

    // a second user through B, then both replicas restart: the database is the truth
    const second = await fetch(`${b.base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outfits: [[o[0] + 2, o[1], o[2]]] }) });
    const secondId = ((await second.json()) as { id: number }).id;
    assert.equal(secondId, id + 1);
    await stop(a);
    await stop(b);
    const c = await replica();
    assert.equal((await fetch(`${c.base}/users/${id}/outfits`)).status, 404);
    assert.equal((await fetch(`${c.base}/users/${secondId}/outfits?k=2`)).status, 200);
  });

  test('a replica whose database goes away answers 503 for users, and keeps serving the run users', async () => {
    const doomed = await pgc.createDatabase('doomed');
    const r = await replica(doomed);
    assert.equal((await fetch(`${r.base}/users`)).status, 200);
    const admin = new pg.Client({ connectionString: pgc.url('postgres') });
    await admin.connect();
    try {
      await admin.query('DROP DATABASE doomed WITH (FORCE)');
    } finally {
      await admin.end();
    }
    const res = await fetch(`${r.base}/users`);
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { message: string }).message, /users database cannot be reached/);
    assert.equal((await fetch(`${r.base}/users/0/outfits?k=2`)).status, 200, 'run users need no database');
    await stop(r);
  });
});
