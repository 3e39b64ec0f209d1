/**
 * `serve --processes N` (src/serve/cluster.ts, architecture.md §6): N server processes on one port,
 * users shared through the SQLite file, a killed process replaced, one message when start-up fails,
 * and SIGTERM stopping them all.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tinyRun } from './tiny-run.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'outfitrec.js');

/** A child's output so far, and a promise for the first time it matches `pattern`. */
function watchOutput(child: ChildProcess): { text: () => string; until: (pattern: RegExp, ms: number) => Promise<RegExpExecArray> } {
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  return {
    text: () => out,
    until: (pattern, ms) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms; output so far:\n${out}`)), ms);
        const check = (): void => {
          const m = pattern.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else waiters.push(check);
        };
        check();
      }),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A request on a new connection (the primary hands each connection to the next process). */
async function get(url: string): Promise<Response> {
  return fetch(url, { headers: { connection: 'close' } });
}

describe('serve --processes 2', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-cluster-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('two processes serve one port and share onboarded users; a killed one is replaced; SIGTERM stops all', async () => {
    const run = await tinyRun();
    const child = spawn(process.execPath, [CLI, 'serve', '--run', run.runDir, '--data', run.root, '--port', '0', '--processes', '2', '--db', join(dir, 'users.sqlite'), '--rate-limit', '0', '--passes', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const output = watchOutput(child);
    try {
      const m = await output.until(/2 server processes \(pids (\d+), (\d+)\)[^\n]*\nlistening on (http:\/\/\S+?)\/?\n/, 120_000);
      const pids = [Number(m[1]), Number(m[2])];
      const url = m[3];
      assert.equal(output.text().match(/listening on/g)?.length, 1, 'one banner for both processes');
      assert.match(output.text(), /composition: exact retrieval, two passes, /, 'the banner names the retrieval and the passes');

      // a user onboarded through whichever process took the connection is served by both
      const o = ((await (await get(`${url}/health`)).json()) as { categories: string[] }).categories;
      assert.deepEqual(o, ['top', 'bottom', 'shoe']);
      const items = await Promise.all(['top', 'bottom', 'shoe'].map(async (c) => ((await (await get(`${url}/items?category=${c}&limit=2`)).json()) as { items: Array<{ id: number }> }).items.map((i) => i.id)));
      const created = await fetch(`${url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ outfits: [[items[0][0], items[1][0], items[2][0]]] }),
      });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: number };
      for (let i = 0; i < 6; i++) assert.equal((await get(`${url}/users/${id}/outfits?k=2`)).status, 200, `request ${i}`);

      // one process killed: the other keeps serving, and a replacement starts
      process.kill(pids[0], 'SIGKILL');
      const [, replacement] = await output.until(new RegExp(`process ${pids[0]} exited \\(SIGKILL\\); started process (\\d+)`), 30_000);
      for (let i = 0; i < 4; i++) assert.equal((await get(`${url}/users/${id}/outfits?k=2`)).status, 200, `after the kill, request ${i}`);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      for (const pid of [pids[1], Number(replacement)]) assert.equal(alive(pid), false, `process ${pid} stopped with the service`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a start-up failure is one message and exit 1', async () => {
    const run = await tinyRun();
    const child = spawn(process.execPath, [CLI, 'serve', '--run', run.runDir, '--data', join(dir, 'nowhere'), '--port', '0', '--processes', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^outfitrec: .*nowhere/);
  });
});
