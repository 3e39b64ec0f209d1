#!/usr/bin/env node
// Entry point of the `outfitrec` command. An installed package has only the compiled dist/ and
// runs it with plain node. A checkout runs dist/ when `npm run build` made it after the last change
// to src/ (fast start), and otherwise the TypeScript sources through tsx, so an edit is never
// hidden behind a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/cli/main.js`;
const sources = `${root}src`;

/** Newest modification time of the files under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * V8 flags of a server: an old generation of 128 MB before the first full collection. A server's
 * JavaScript heap is small (about 20 MB live; the model and tables are typed arrays outside it),
 * and V8 otherwise kept its limit so close that it ran a full collection about every 45
 * compositions (docs/architecture.md §6). Heap flags can only be given when node starts (not in
 * NODE_OPTIONS, not by v8.setFlagsFromString), so `serve` runs in a child node that has them;
 * `serve --processes N` forks its processes from that child, with the same flags.
 */
const SERVE_V8_FLAGS = ['--initial-old-space-size=128'];

if (process.argv[2] === 'serve' && process.env.OUTFITREC_SERVE_NODE !== '1') {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...process.execArgv, ...SERVE_V8_FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, OUTFITREC_SERVE_NODE: '1' },
    // its own process group: a terminal's Ctrl-C reaches it once, through us, not twice
    detached: true,
  });
  // signals go to the server, which stops gracefully; its exit is ours
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1)));
} else {
  // (node:cluster's processes inherit the variable, and keep their own channel to their primary)
  if (process.env.OUTFITREC_SERVE_NODE === '1' && !(await import('node:cluster')).default.isWorker) {
    // the server of a `serve` above: if that process dies (even by SIGKILL), the channel closes and
    // the server goes too, so that killing `outfitrec serve` never leaves a server behind
    process.on('disconnect', () => process.exit(1));
    // the channel alone does not keep the server running once it has stopped
    process.channel?.unref();
  }
  await run();
}

async function run() {
  let main;
  if (existsSync(built) && (!existsSync(sources) || statSync(built).mtimeMs >= newest(sources))) {
    ({ main } = await import(built));
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import('../src/cli/main.ts'));
  }
  await main(process.argv);
}
