import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Recommender } from '../../src/serve/recommender.js';
import { startServer } from '../../src/serve/server.js';
import { tinyRun } from './tiny-run.js';

interface ItemJson {
  id: number;
  name: string;
  category: string;
  categoryId: number;
}

describe('HTTP service over a real listening server (tiny run, set 630)', () => {
  let dir: string;
  let rec: Recommender;
  let app: FastifyInstance;
  let base: string;
  let offsets: number[];
  let names: string[];
  const top = (i: number) => offsets[0] + i;
  const bottom = (i: number) => offsets[1] + i;
  const shoe = (i: number) => offsets[2] + i;

  before(async () => {
    const run = await tinyRun();
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-server-'));
    rec = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    offsets = rec.catalog.offsets;
    names = rec.catalog.names;
    app = await startServer(rec, { port: 0, host: '127.0.0.1' }, { bodyLimit: 32 * 1024, requestTimeout: 1000 });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
  });

  after(async () => {
    await app.close(); // closes the recommender too
    await rec.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function get(path: string): Promise<{ status: number; body: Record<string, unknown>; type: string | null }> {
    const res = await fetch(base + path);
    const type = res.headers.get('content-type');
    return { status: res.status, body: type?.includes('json') ? ((await res.json()) as Record<string, unknown>) : {}, type };
  }

  async function post(path: string, body: unknown, raw?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** A 4xx whose message matches `pattern`. */
  function assertRejected(res: { status: number; body: Record<string, unknown> }, status: number, pattern: RegExp): void {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.match(String(res.body.message), pattern);
  }

  test('health, users and the web page', async () => {
    const health = await get('/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.set, '630');
    assert.deepEqual(health.body.slotCategories, [0, 1, 2]);
    assert.deepEqual(health.body.categories, ['top', 'bottom', 'shoe']);
    assert.equal(health.body.referenceOutfits, 65536, 'what the calibrated scores are measured against');
    const users = await get('/users');
    assert.equal(users.body.runUsers, rec.runUsers);
    const page = await fetch(base + '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    const script = await fetch(base + '/app.js');
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await get('/nope')).status, 404);
  });

  test('GET /users/:id/outfits composes k outfits with item details and scores', async () => {
    const res = await get('/users/1/outfits?k=4');
    assert.equal(res.status, 200);
    const outfits = res.body.outfits as Array<{ score: number; items: ItemJson[] }>;
    assert.equal(outfits.length, 4);
    for (const o of outfits) {
      assert.deepEqual(o.items.map((i) => i.category), ['top', 'bottom', 'shoe']);
      assert.equal(o.items[0].name, names[o.items[0].id]);
    }
    for (let i = 1; i < 4; i++) assert.ok(outfits[i - 1].score >= outfits[i].score);
    const defaultK = await get('/users/1/outfits');
    assert.equal((defaultK.body.outfits as unknown[]).length, 10);
    // fixed (by id or name) and exclude
    const fixed = await get(`/users/1/outfits?k=5&fixed=${bottom(2)},${encodeURIComponent(names[shoe(3)])}&exclude=${top(0)}`);
    assert.equal(fixed.status, 200);
    for (const o of fixed.body.outfits as Array<{ items: ItemJson[] }>) {
      assert.deepEqual([o.items[1].id, o.items[2].id], [bottom(2), shoe(3)]);
      assert.notEqual(o.items[0].id, top(0));
    }
  });

  test('compose: unknown user, k out of range, bad ids and unknown parameters are 4xx naming the problem', async () => {
    assertRejected(await get('/users/999/outfits'), 404, /unknown user 999/);
    assertRejected(await get('/users/abc/outfits'), 400, /params\/id must be integer/);
    // no coercion: a signed id is not a plain decimal, so it stays a string (test/reliability/server.test.ts)
    assertRejected(await get('/users/-1/outfits'), 400, /params\/id must be integer/);
    assertRejected(await get('/users/0/outfits?k=0'), 400, /querystring\/k must be >= 1/);
    assertRejected(await get('/users/0/outfits?k=51'), 400, /querystring\/k must be <= 50/);
    assertRejected(await get('/users/0/outfits?k=ten'), 400, /querystring\/k must be integer/);
    assertRejected(await get('/users/0/outfits?kk=3'), 400, /querystring must NOT have additional properties/);
    assertRejected(await get('/users/0/outfits?fixed=nosuchitem'), 400, /fixed: unknown item "nosuchitem"/);
    assertRejected(await get(`/users/0/outfits?fixed=${top(0)},${top(1)}`), 400, /too many fixed top items/);
    assertRejected(await get(`/users/0/outfits?fixed=${top(0)}&exclude=${top(0)}`), 400, /both fixed and excluded/);
  });

  test('composition and ranking options: maxShared, exact, explain, percentiles; bad values are 400s naming the field', async () => {
    const res = await get('/users/3/outfits?k=6&explain=1&exact=1');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const outfits = res.body.outfits as Array<{ score: number; percentile: number; oneIn: number | null; style: { anchor: number; cosine: number }; items: Array<ItemJson & { contribution: number }> }>;
    assert.equal(outfits.length, 6);
    for (const o of outfits) {
      assert.ok(o.percentile >= 0 && o.percentile <= 100);
      assert.ok(o.oneIn === null ? o.percentile === 100 : o.oneIn >= 1, `1 in ${o.oneIn}`);
      assert.ok(Number.isInteger(o.style.anchor) && typeof o.style.cosine === 'number');
      assert.equal(o.items.length, 3);
      for (const item of o.items) assert.equal(typeof item.contribution, 'number');
    }
    const ids = outfits.map((o) => o.items.map((i) => i.id));
    for (let i = 0; i < ids.length; i++) for (let j = 0; j < i; j++) assert.ok(ids[i].filter((x) => ids[j].includes(x)).length <= 1);
    const plain = await get('/users/3/outfits?k=6&maxShared=3');
    const plainOutfits = plain.body.outfits as Array<{ score: number; items: ItemJson[]; style?: unknown }>;
    assert.equal(plainOutfits[0].style, undefined);
    assert.ok(plainOutfits[0].score >= outfits[0].score - 1e-6);
    const ranked = await post('/users/3/rank?explain=1', { outfits: ids.slice(0, 2) });
    assert.equal(ranked.status, 200, JSON.stringify(ranked.body));
    for (const r of ranked.body.ranked as Array<{ percentile: number; style: { anchor: number }; items: Array<{ contribution: number }> }>) {
      assert.ok(r.percentile >= 0 && r.style.anchor >= 0 && r.items.every((i) => typeof i.contribution === 'number'));
    }
    assertRejected(await get('/users/3/outfits?explain=2'), 400, /querystring\/explain must be equal to one of the allowed values/);
    assertRejected(await get('/users/3/outfits?exact=true'), 400, /querystring\/exact must be integer/);
    assertRejected(await get('/users/3/outfits?maxShared=9'), 400, /querystring\/maxShared must be <= 8/);
    assertRejected(await post('/users/3/rank?explain=yes', { outfits: ids.slice(0, 1) }), 400, /querystring\/explain must be integer/);
  });

  test('POST /users/:id/rank ranks outfits given by id or image name', async () => {
    const outfits = [
      [top(0), bottom(0), shoe(0)],
      [names[top(1)], names[bottom(1)], names[shoe(1)]],
      [top(2), bottom(2), shoe(2)],
    ];
    const res = await post('/users/2/rank', { outfits });
    assert.equal(res.status, 200);
    const ranked = res.body.ranked as Array<{ index: number; score: number; items: ItemJson[] }>;
    assert.deepEqual(ranked.map((r) => r.index).sort(), [0, 1, 2]);
    for (let i = 1; i < 3; i++) assert.ok(ranked[i - 1].score >= ranked[i].score);
    const expected = await rec.scoreOutfits(2, outfits);
    for (const r of ranked) assert.ok(Math.abs(r.score - expected[r.index]) < 1e-5);
    assert.deepEqual(ranked.find((r) => r.index === 1)!.items.map((i) => i.id), [top(1), bottom(1), shoe(1)]);
    const topOne = await post('/users/2/rank', { outfits, k: 1 });
    assert.equal((topOne.body.ranked as unknown[]).length, 1);
  });

  test('rank: wrong category in a slot, unknown item, bad shapes, unknown keys, bad JSON and oversized bodies are 4xx', async () => {
    const good = [top(0), bottom(0), shoe(0)];
    assertRejected(await post('/users/0/rank', { outfits: [good, [top(0), top(1), shoe(0)]] }), 400, /outfit 1 slot 1 \(bottom\): item \d+ is a top, not a bottom/);
    assertRejected(await post('/users/0/rank', { outfits: [[top(0), bottom(0), 'not-an-image']] }), 400, /outfit 0 slot 2 \(shoe\): unknown item "not-an-image"/);
    assertRejected(await post('/users/0/rank', { outfits: [[top(0), bottom(0), 123456]] }), 400, /outfit 0 slot 2 \(shoe\): unknown item 123456/);
    assertRejected(await post('/users/0/rank', { outfits: [[top(0), bottom(0)]] }), 400, /outfit 0: expected 3 slots/);
    assertRejected(await post('/users/0/rank', { outfits: [[top(0), null, shoe(0)]] }), 400, /slot 1 \(bottom\): this slot is required/);
    assertRejected(await post('/users/0/rank', { outfits: [] }), 400, /body\/outfits must NOT have fewer than 1 items/);
    assertRejected(await post('/users/0/rank', {}), 400, /body must have required property 'outfits'/);
    assertRejected(await post('/users/0/rank', { outfits: [good], extra: 1 }), 400, /body must NOT have additional properties/);
    // 1.5 is neither an item id nor an image name: refused by the schema, not coerced to "1.5"
    assertRejected(await post('/users/0/rank', { outfits: [[1.5, bottom(0), shoe(0)]] }), 400, /body\/outfits\/0\/0 must be integer,string,null/);
    assertRejected(await post('/users/0/rank', { outfits: [good], k: 0 }), 400, /body\/k must be >= 1/);
    assertRejected(await post('/users/0/rank', null, '{"outfits": [[1, 2'), 400, /JSON/);
    assertRejected(await post('/users/77/rank', { outfits: [good] }), 404, /unknown user 77/);
    const many = Array.from({ length: 1001 }, () => good);
    assertRejected(await post('/users/0/rank', { outfits: many }), 400, /body\/outfits must NOT have more than 1000 items/);
    const wide = Array.from({ length: 300 }, () => good);
    const tooLarge = await post('/users/0/rank', { outfits: wide, pad: 'x'.repeat(40_000) });
    assertRejected(tooLarge, 413, /too large/);
    assert.equal(tooLarge.body.error, 'Payload Too Large');
  });

  test('POST /users onboards a user who then gets recommendations; bad onboarding is 400', async () => {
    const outfits = [
      [top(3), bottom(3), shoe(3)],
      [top(5), bottom(6), shoe(7)],
    ];
    const created = await post('/users', { outfits, label: 'from the test' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as number;
    assert.ok(id >= rec.runUsers);
    assert.equal(created.body.strategy, 'so');
    const recs = await get(`/users/${id}/outfits?k=3`);
    assert.equal(recs.status, 200);
    assert.equal((recs.body.outfits as unknown[]).length, 3);
    const listed = (await get('/users')).body.onboarded as Array<{ id: number; label: string; outfits: number }>;
    assert.ok(listed.some((u) => u.id === id && u.label === 'from the test' && u.outfits === 2));
    const sa = await post('/users', { outfits: outfits.slice(0, 1), strategy: 'sa' });
    assert.equal(sa.status, 201);
    assert.equal(sa.body.strategy, 'sa');

    // the list is paged, newest first; `next` is the `before` of the following page
    const first = await get('/users?limit=1');
    assert.equal(first.status, 200);
    assert.deepEqual((first.body.onboarded as Array<{ id: number }>).map((u) => u.id), [sa.body.id]);
    assert.equal(first.body.next, sa.body.id);
    assert.equal(first.body.onboardedTotal, (await get('/health')).body.onboardedUsers);
    const second = await get(`/users?limit=1&before=${first.body.next as number}`);
    assert.deepEqual((second.body.onboarded as Array<{ id: number; label: string }>).map((u) => [u.id, u.label]), [[id, 'from the test']]);
    assert.equal(second.body.next, null, 'a full last page says that nothing follows');
    assert.equal((await get('/users?limit=2')).body.next, null);
    assertRejected(await get('/users?limit=0'), 400, /querystring\/limit must be >= 1/);
    assertRejected(await get('/users?before=x'), 400, /querystring\/before must be integer/);

    // the fit is seeded by the outfits: the same outfits again give the same anchors, not a count-dependent draw
    const again = await post('/users', { outfits, label: 'the same outfits' });
    assert.equal(again.status, 201);
    assert.deepEqual((await rec.findUser(again.body.id as number))!.anchors, (await rec.findUser(id))!.anchors);
    const other = await post('/users', { outfits: [outfits[1], outfits[0]] });
    assert.notDeepEqual((await rec.findUser(other.body.id as number))!.anchors, (await rec.findUser(id))!.anchors);

    assertRejected(await post('/users', { outfits, strategy: 'xx' }), 400, /body\/strategy must be equal to one of the allowed values/);
    assertRejected(await post('/users', { outfits: [] }), 400, /body\/outfits must NOT have fewer than 1 items/);
    assertRejected(await post('/users', { outfits: Array.from({ length: 51 }, () => outfits[0]) }), 400, /body\/outfits must NOT have more than 50 items/);
    assertRejected(await post('/users', { outfits: [[shoe(0), bottom(0), top(0)]] }), 400, /outfit 0 slot 0 \(top\): item \d+ is a shoe, not a top/);
    assertRejected(await post('/users', { outfits: [[top(0), bottom(0), shoe(0)]], label: 'x'.repeat(101) }), 400, /body\/label must NOT have more than 100 characters/);
  });

  test('items: paged lists per category and image bytes by id or name', async () => {
    const list = await get('/items?category=bottom&limit=5&offset=2');
    assert.equal(list.status, 200);
    const items = list.body.items as ItemJson[];
    assert.deepEqual(items.map((i) => i.id), [2, 3, 4, 5, 6].map(bottom));
    assert.equal(list.body.total, rec.catalog.counts[1]);
    assertRejected(await get('/items?category=hat'), 400, /querystring\/category must be equal to one of the allowed values: "top", "bottom", "shoe"$/);
    assertRejected(await get('/items?category=top&limit=501'), 400, /querystring\/limit must be <= 500/);
    assertRejected(await get('/items'), 400, /querystring must have required property 'category'/);

    const image = await fetch(`${base}/items/${shoe(1)}/image`);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/png');
    const bytes = new Uint8Array(await image.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const byName = await fetch(`${base}/items/${encodeURIComponent(names[shoe(1)])}/image`);
    assert.deepEqual(new Uint8Array(await byName.arrayBuffer()), bytes);
    assertRejected(await get('/items/999999/image'), 404, /unknown item 999999/);
    assertRejected(await get('/items/nonsense/image'), 404, /unknown item "nonsense"/);
  });

  test('many concurrent requests (composing, ranking, onboarding) all succeed and nothing is lost', async () => {
    const before = (await rec.onboardedUsers()).length;
    const requests: Array<Promise<number>> = [];
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) requests.push(post('/users', { outfits: [[top(i), bottom(i), shoe(i)]] }).then((r) => r.status));
      else if (i % 3 === 1) requests.push(get(`/users/${i % rec.runUsers}/outfits?k=${1 + (i % 7)}`).then((r) => r.status));
      else requests.push(post(`/users/${i % rec.runUsers}/rank`, { outfits: [[top(i), bottom(i), shoe(i)], [top(1), bottom(1), shoe(1)]] }).then((r) => r.status));
    }
    const statuses = await Promise.all(requests);
    assert.deepEqual(statuses.filter((s) => s >= 300), []);
    const after = await rec.onboardedUsers();
    assert.equal(after.length, before + 10);
    assert.equal(new Set(after.map((u) => u.id)).size, after.length);
    assert.equal(await rec.store.count(), after.length);
  });

  test('a client that never finishes its request is cut off, and the server keeps answering', async () => {
    const started = Date.now();
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write('POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"outf');
      });
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('the server never closed the stalled connection')), 8000).unref();
    });
    assert.match(closed, /^HTTP\/1\.1 408/);
    assert.ok(Date.now() - started < 8000);
    assert.equal((await get('/health')).status, 200);
  });
});
