/**
 * Where one uncached composition spends its time: a V8 CPU profile (main thread, where ONNX
 * Runtime runs too) of --n compositions after a warm-up, as self time per function.
 *
 *   node --import tsx bench/profile-compose.ts --run RUN [--data DIR] [--set NAME] [--n 200] [--k 10] [--exact]
 *
 * Frames with line -1 are native code: ONNX Runtime's session runs and usearch's search (V8 may
 * label them "(anon)" or with a native addon's function name).
 */
import { Session } from 'node:inspector/promises';
import { Recommender } from '../src/serve/recommender.js';
import { arg, requiredArg } from './args.js';

const runDir = requiredArg('run', 'node --import tsx bench/profile-compose.ts --run RUN [--data DIR] [--set NAME] [--n 200] [--k 10] [--exact]');
const n = Number(arg('n') ?? 200);
const k = Number(arg('k') ?? 10);
const rec = await Recommender.open(runDir, { data: arg('data'), set: arg('set'), db: ':memory:', composeCacheSize: 0, retrieval: process.argv.includes('--exact') ? 'exact' : 'ann' });
for (let u = 0; u < 10; u++) await rec.compose(u % rec.runUsers, { k });

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
const started = performance.now();
for (let i = 0; i < n; i++) await rec.compose(i % rec.runUsers, { k });
const wallMs = performance.now() - started;
const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<string, number>();
profile.samples.forEach((id, i) => {
  const { callFrame } = byId.get(id)!;
  const key = `${callFrame.functionName || '(anon)'} ${callFrame.url.split('/').slice(-2).join('/')}:${callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
process.stdout.write(`${n} compositions, ${(wallMs / n).toFixed(2)} ms each (wall)\n`);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`${((100 * us) / total).toFixed(1)}%  ${key}\n`);
rec.close();
await rec.model.dispose();
