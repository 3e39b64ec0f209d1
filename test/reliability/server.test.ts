/**
 * Reliability, the server (issue 16 items 9 and 11, the parts outside the recommender;
 * docs/reliability.md "The server's limits"): strict schemas without type coercion, /health
 * without paths, the optional API key, the per-client rate limit, and user lists read from the
 * database so servers sharing one see each other's users.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Recommender } from '../../src/serve/recommender.js';
import { buildServer } from '../../src/serve/server.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';
import { scratchDir } from './helpers.js';

describe('reliability: the HTTP service rejects instead of coercing', () => {
  let run: TinyRun;
  let dir: string;
  let rec: Recommender;
  let app: FastifyInstance;
  const apps: FastifyInstance[] = [];
  const recs: Recommender[] = [];

  before(async () => {
    run = await tinyRun();
    dir = scratchDir('server');
    rec = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    recs.push(rec);
    app = buildServer(rec);
    apps.push(app);
  });

  after(async () => {
    for (const a of apps) await a.close();
    for (const r of recs) {
      await r.close();
      await r.model.dispose();
    }
  });

  const get = async (a: FastifyInstance, url: string, headers: Record<string, string> = {}) => {
    const res = await a.inject({ method: 'GET', url, headers });
    return { status: res.statusCode, body: res.headers['content-type']?.toString().includes('json') ? (res.json() as Record<string, unknown>) : {} };
  };

  it('a boolean in an outfit is refused, not ranked as item 1', async () => {
    const res = await app.inject({ method: 'POST', url: '/users/0/rank', payload: { outfits: [[true, 127, 213]] } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /body\/outfits\/0\/0 must be integer,string,null/);
    const label = await app.inject({ method: 'POST', url: '/users', payload: { outfits: [[0, 1, 2]], label: 5 } });
    assert.equal(label.statusCode, 400);
    assert.match(label.json().message, /body\/label must be string/);
  });

  it('user ids in the path must be plain decimals: " 1", "0x10", "01", "1e1", "+1" are 400 naming params/id', async () => {
    for (const id of ['%201', '0x10', '01', '1e1', '%2B1', '1%20', '-1']) {
      const r = await get(app, `/users/${id}/outfits`);
      assert.equal(r.status, 400, `/users/${id}/outfits`);
      assert.match(String(r.body.message), /^params\/id must be integer/);
    }
    assert.equal((await get(app, '/users/1/outfits?k=2')).status, 200);
    assert.equal((await get(app, '/users/0/outfits')).status, 200);
  });

  it('query integers are as strict: k=" 5", k=0x5, limit=1e1 are 400 naming the field', async () => {
    assert.match(String((await get(app, '/users/1/outfits?k=%205')).body.message), /^querystring\/k must be integer/);
    assert.match(String((await get(app, '/users/1/outfits?k=0x5')).body.message), /^querystring\/k must be integer/);
    assert.match(String((await get(app, '/items?category=top&limit=1e1')).body.message), /^querystring\/limit must be integer/);
    assert.equal((await get(app, '/items?category=top&limit=10&offset=0')).status, 200);
  });

  it('/health names no absolute path', async () => {
    const r = await get(app, '/health');
    assert.equal(r.status, 200);
    const text = JSON.stringify(r.body);
    assert.ok(!text.includes(run.runDir) && !text.includes(run.root) && !/"\//.test(text), text);
    assert.equal(r.body.run, 'run');
  });

  it('with an API key, every route but /health and the page needs it (x-api-key or Bearer)', async () => {
    assert.throws(() => buildServer(rec, { apiKey: 'short' }), /at least 8 characters/);
    const key = 'k3y-for-tests-0123';
    const locked = buildServer(rec, { apiKey: key });
    apps.push(locked);
    for (const open of ['/health', '/', '/app.js', '/style.css']) assert.equal((await get(locked, open)).status, 200, open);
    const none = await get(locked, '/users');
    assert.equal(none.status, 401);
    assert.match(String(none.body.message), /API key is required/);
    assert.equal((await get(locked, '/users', { 'x-api-key': 'wrong-key-0123456' })).status, 401);
    assert.equal((await get(locked, '/users', { 'x-api-key': key })).status, 200);
    assert.equal((await get(locked, '/users/1/outfits', { authorization: `Bearer ${key}` })).status, 200);
    assert.equal((await get(locked, '/items/0/image')).status, 401);
    const post = await locked.inject({ method: 'POST', url: '/users', payload: { outfits: [[0, 1, 2]] } });
    assert.equal(post.statusCode, 401, 'nothing is onboarded without the key');
  });

  it('a per-client rate limit answers 429 past its budget, naming it', async () => {
    const limited = buildServer(rec, { rateLimit: 3 });
    apps.push(limited);
    for (let i = 0; i < 3; i++) assert.equal((await get(limited, '/users')).status, 200);
    const over = await get(limited, '/users/1/outfits');
    assert.equal(over.status, 429);
    assert.match(String(over.body.message), /at most 3 requests per minute per client/);
    assert.equal((await get(limited, '/app.js')).status, 200, "the page's static files are not counted");
    const other = await limited.inject({ method: 'GET', url: '/users', remoteAddress: '10.0.0.2' });
    assert.equal(other.statusCode, 200, 'another client has its own budget');
  });

  it('two servers on one database list the same users, read from the database', async () => {
    const other = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    recs.push(other);
    const otherApp = buildServer(other);
    apps.push(otherApp);
    const before = (await get(otherApp, '/users')).body.onboarded as unknown[];
    const { offsets } = rec.catalog;
    const created = await app.inject({ method: 'POST', url: '/users', payload: { outfits: [[offsets[0], offsets[1], offsets[2]]], label: 'from A' } });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;
    const listed = (await get(otherApp, '/users')).body.onboarded as Array<{ id: number; label: string }>;
    assert.equal(listed.length, before.length + 1);
    assert.deepEqual(listed[0], { ...listed[0], id, label: 'from A' }, 'newest first');
    assert.equal((await get(otherApp, '/health')).body.onboardedUsers, before.length + 1);
  });
});
