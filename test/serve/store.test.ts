import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteUserStore, openUserStore, type StoreShape, type UserChange } from '../../src/serve/store.js';

const shape: StoreShape = { runUsers: 5, anchorsPerUser: 2, dim: 3, runFingerprint: 'abc' };

function anchors(seed: number): Float32Array {
  return Float32Array.from({ length: 6 }, (_, i) => Math.sin(seed * 10 + i) / 3);
}

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-store-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'users survive a restart with identical anchors, outfits and ids after the run users',
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    const store = await openUserStore(path, shape);
    const a = await store.add({ anchors: anchors(1), outfits: [[1, 7, 9]], strategy: 'so', label: 'alice' });
    const b = await store.add({ anchors: anchors(2), outfits: [[2, 8, 10], [3, 8, 11]], strategy: 'sa' });
    assert.equal(a.id, 5);
    assert.equal(b.id, 6);
    await store.close();

    const again = SqliteUserStore.open(path, shape);
    assert.deepEqual(again.migrations(), [1, 2, 3]);
    assert.equal(await again.count(), 2);
    const users = await again.all();
    assert.deepEqual(users.map((u) => u.id), [5, 6]);
    assert.deepEqual(users[0].anchors, anchors(1));
    assert.deepEqual(users[1].outfits, [[2, 8, 10], [3, 8, 11]]);
    assert.equal(users[0].label, 'alice');
    assert.equal(users[1].strategy, 'sa');
    assert.ok(!Number.isNaN(Date.parse(users[0].createdAt)));
    assert.deepEqual((await again.get(6))?.anchors, anchors(2));
    assert.equal(await again.get(99), undefined);
    // a deleted user's id is never handed out again
    assert.equal(await again.delete(6), true);
    assert.equal(await again.delete(6), false);
    assert.equal(await again.count(), 1, 'a failed delete leaves the count alone');
    assert.equal((await again.add({ anchors: anchors(3), outfits: [[1, 2, 3]], strategy: 'su' })).id, 7);
    await again.close();
    const third = SqliteUserStore.open(path, shape);
    assert.deepEqual((await third.all()).map((u) => u.id), [5, 7]);
    assert.deepEqual(third.migrations(), [1, 2, 3], 'a migration is applied once');
    assert.equal(await third.count(), 2);
    await third.close();

    const raw = new Database(path, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  }),
);

test(
  'a database made for another run or model shape is refused with a message naming the difference',
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    await SqliteUserStore.open(path, shape).close();
    assert.throws(() => SqliteUserStore.open(path, { ...shape, dim: 4 }), /dim is 3, this run has 4.*--db/);
    assert.throws(() => SqliteUserStore.open(path, { ...shape, runFingerprint: 'zzz' }), /runFingerprint is abc, this run has zzz/);
    // a file migrated by a newer outfitrec is refused, not half-understood
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (99, ?)').run(new Date().toISOString());
    raw.close();
    assert.throws(() => SqliteUserStore.open(path, shape), /schema version 99, this outfitrec knows up to 3: it was made by a newer version/);
  }),
);

test(
  'bad anchors are refused before anything is written',
  withDir(async (dir) => {
    const store = SqliteUserStore.open(join(dir, 'users.sqlite'), shape);
    await assert.rejects(() => store.add({ anchors: new Float32Array(5), outfits: [], strategy: 'so' }), /expected K\*d = 6/);
    await assert.rejects(() => store.add({ anchors: Float32Array.of(0, 0, 0, 0, 0, NaN), outfits: [], strategy: 'so' }), /not finite/);
    assert.equal(await store.count(), 0);
    await store.close();
  }),
);

test(
  'two processes adding users to one file at the same time get distinct ids and lose nothing',
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    await SqliteUserStore.open(path, shape).close();
    const perProcess = 150;
    const startAt = Date.now() + 2500;
    // each child opens its own connection and inserts as fast as it can
    const script = `
      import { SqliteUserStore } from ${JSON.stringify(new URL('../../src/serve/store.ts', import.meta.url).pathname)};
      const store = SqliteUserStore.open(process.argv[1], JSON.parse(process.argv[2]));
      // both children start inserting at the same moment, so their transactions overlap
      while (Date.now() < ${startAt}) {}
      const ids = [];
      for (let i = 0; i < ${perProcess}; i++) ids.push((await store.add({ anchors: new Float32Array(6).fill(i / 100), outfits: [[i, i + 1, i + 2]], strategy: 'so' })).id);
      await store.close();
      process.stdout.write(JSON.stringify(ids));
    `;
    const run = () =>
      new Promise<number[]>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, path, JSON.stringify(shape)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const [first, second] = await Promise.all([run(), run()]);
    const all = [...first, ...second].sort((a, b) => a - b);
    assert.equal(new Set(all).size, 2 * perProcess, 'no id handed out twice');
    assert.deepEqual(all, Array.from({ length: 2 * perProcess }, (_, i) => shape.runUsers + i));
    const store = SqliteUserStore.open(path, shape);
    assert.equal(await store.count(), 2 * perProcess);
    assert.ok((await store.all()).every((u) => u.anchors.length === 6 && u.outfits.length === 1));
    await store.close();
  }),
);

test(
  "another connection's deletions are noticed (data_version polling, then the deletion log); this connection's own insert is not",
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    const a = SqliteUserStore.open(path, shape);
    const b = SqliteUserStore.open(path, shape, { pollMs: 20 });
    const seen: string[] = [];
    b.watch((change) => seen.push(change.kind));
    try {
      const user = await b.add({ anchors: anchors(1), outfits: [[1, 2, 3]], strategy: 'so' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(seen, [], 'its own insert is no news');
      assert.equal(await a.delete(user.id), true);
      const t0 = Date.now();
      while (seen.length === 0 && Date.now() - t0 < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen, ['deleted']);
    } finally {
      await a.close();
      await b.close();
    }
  }),
);

test(
  "a deletion by another connection is reported by id, even when this connection commits before the next poll",
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    const a = SqliteUserStore.open(path, shape);
    // a long poll: b's own insert lands between a's delete and b's next look at the file
    const b = SqliteUserStore.open(path, shape, { pollMs: 300 });
    const seen: UserChange[] = [];
    b.watch((change) => seen.push(change));
    try {
      const first = await a.add({ anchors: anchors(1), outfits: [[1, 2, 3]], strategy: 'so' });
      const second = await a.add({ anchors: anchors(2), outfits: [[1, 2, 4]], strategy: 'so' });
      const t0 = Date.now();
      while (Date.now() - t0 < 600) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(seen.length, 0, 'users added elsewhere need no news: a miss reads through');
      assert.equal(await a.delete(first.id), true);
      await b.add({ anchors: anchors(3), outfits: [[1, 2, 5]], strategy: 'so' });
      assert.equal(await b.delete(second.id), true);
      const t1 = Date.now();
      while (seen.length < 2 && Date.now() - t1 < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(
        seen.filter((c) => c.kind === 'deleted' && c.id === first.id),
        [{ kind: 'deleted', id: first.id }],
        "the other connection's delete is not swallowed by this connection's own commit",
      );
      assert.ok(seen.every((c) => c.kind === 'deleted'), 'no reset of the whole cache');
    } finally {
      await a.close();
      await b.close();
    }
  }),
);

test(
  'a database of schema 1 gets the user counter from its rows, then keeps it; listing is paged, newest first, without anchors',
  withDir(async (dir) => {
    const path = join(dir, 'users.sqlite');
    // a file as the first release wrote it: schema 1, three users, no counter
    const raw = new Database(path);
    raw.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT;
      INSERT INTO schema_migrations VALUES (1, '2026-11-01T00:00:00Z');
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE users (id INTEGER PRIMARY KEY, anchors BLOB NOT NULL, outfits TEXT NOT NULL, strategy TEXT NOT NULL, label TEXT, created_at TEXT NOT NULL) STRICT;`);
    const meta = raw.prepare('INSERT INTO meta VALUES (?, ?)');
    for (const [k, v] of Object.entries({ runUsers: '5', anchorsPerUser: '2', dim: '3', runFingerprint: 'abc', next_user_id: '8' })) meta.run(k, v);
    const row = raw.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)');
    for (const id of [5, 6, 7]) row.run(id, Buffer.from(anchors(id).buffer), JSON.stringify(Array.from({ length: id - 4 }, () => [1, 2, 3])), 'so', `u${id}`, '2026-11-01T00:00:00Z');
    raw.close();

    const store = SqliteUserStore.open(path, shape);
    try {
      assert.deepEqual(store.migrations(), [1, 2, 3]);
      assert.equal(await store.count(), 3, 'the counter starts from the rows already there');
      await store.add({ anchors: anchors(8), outfits: [[4, 5, 6]], strategy: 'sa', label: 'new' });
      assert.equal(await store.count(), 4);
      assert.equal(await store.delete(6), true);
      assert.equal(await store.count(), 3);

      assert.deepEqual(await store.page(2), [
        { id: 8, label: 'new', strategy: 'sa', outfits: 1, createdAt: (await store.get(8))!.createdAt },
        { id: 7, label: 'u7', strategy: 'so', outfits: 3, createdAt: '2026-11-01T00:00:00Z' },
      ]);
      assert.deepEqual((await store.page(2, 7)).map((u) => u.id), [5], 'the next page starts below the last id seen');
      assert.deepEqual(await store.page(10, 5), []);
    } finally {
      await store.close();
    }
  }),
);
