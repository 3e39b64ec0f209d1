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

let main;
if (existsSync(built) && (!existsSync(sources) || statSync(built).mtimeMs >= newest(sources))) {
  ({ main } = await import(built));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
await main(process.argv);
