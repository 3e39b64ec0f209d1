/**
 * End to end on a small synthetic set (method.md §6.3): train a softmax teacher, distill an fnd+cl
 * student from it, evaluate the student with `outfitrec eval --run` from its run folder alone,
 * and kill a training process (SIGKILL) after its first checkpoint, then finish it with --resume.
 *
 * The set is syn-630 shrunk to 16 users × ~40 training outfits: one folder, ~900 items, written in
 * about 2 s, yet large enough for the loss to fall within a few epochs. The teacher/student use
 * precomputed features (pooled pixels of the item images) so the learning part takes seconds; the
 * kill-and-resume run uses the convnet on the images themselves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFeatureMatrix } from '../../src/data/features.js';
import { loadImageCache } from '../../src/data/images.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { generateSynthetic } from '../../src/data/synth/index.js';
import { UserError } from '../../src/errors.js';
import { readMetrics, readState, RUN_FILES } from '../../src/runs/folder.js';
import { trainRun, type TrainResult } from '../../src/train/trainer.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO, 'bin', 'outfitrec.js');
const RUN_FILE_NAMES = [RUN_FILES.config, RUN_FILES.weights, RUN_FILES.best, RUN_FILES.bestPointer, RUN_FILES.optimizer, RUN_FILES.state, RUN_FILES.metrics];

let work: string;
let root: string;
let features: { npy: string; names: string };

/** 4×4-pooled RGB of each 28 px item image: a fixed 147-d feature per item. */
async function writePooledPixelFeatures(dataRoot: string): Promise<{ npy: string; names: string }> {
  const set = loadPolyvoreSet(dataRoot, '630');
  const cache = await loadImageCache(set, 28);
  const dim = 7 * 7 * 3;
  const values = new Float32Array(cache.n * dim);
  for (let i = 0; i < cache.n; i++) {
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 7; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) sum += cache.pixels[((i * 28 + y * 4 + dy) * 28 + x * 4 + dx) * 3 + c];
          values[i * dim + (y * 7 + x) * 3 + c] = (sum / 16 / 255 - 0.5) * 4;
        }
      }
    }
  }
  const out = { npy: join(dataRoot, 'pooled.npy'), names: join(dataRoot, 'pooled.names') };
  writeFeatureMatrix(out.npy, out.names, { dim, names: set.catalog.names, values });
  return out;
}

const smallModel = { dim: 32, heads: 2, anchors: 8, dropout: 0 };

describe('train → distill → eval (end to end)', () => {
  let teacher: TrainResult;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'outfitrec-e2e-'));
    root = join(work, 'data');
    await generateSynthetic({ preset: 'syn-630', out: root, users: 16, outfitScale: 0.2, seed: 3, log: () => {} });
    features = await writePooledPixelFeatures(root);
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('trains a softmax teacher whose loss falls and whose val AUC beats random', async () => {
    teacher = await trainRun({
      out: join(work, 'teacher'),
      config: {
        data: { root, set: '630', features },
        model: { ...smallModel, backbone: { width: 1, outDim: 32 } },
        method: 'softmax',
        epochs: 8,
        batchSize: 32,
        seed: 1,
        backend: 'wasm',
      },
      log: () => {},
      progressStream: null,
    });
    for (const f of RUN_FILE_NAMES) assert.ok(existsSync(join(teacher.dir, f)), `${f} is in the run folder`);
    const metrics = readMetrics(teacher.dir);
    assert.deepEqual(
      metrics.map((m) => m.epoch),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    const first = metrics[0].loss.total;
    const last = metrics[metrics.length - 1].loss.total;
    assert.ok(last < first - 0.1, `training loss should fall: epoch 1 ${first}, epoch 8 ${last}`);
    assert.ok(teacher.state.best && teacher.state.best.val.auc > 0.6, `best val AUC ${teacher.state.best?.val.auc} should beat random (~0.5)`);
    assert.ok(teacher.state.finished && !teacher.interrupted);
  });

  it('distills a narrow fnd+cl student from the teacher', async () => {
    const student = await trainRun({
      out: join(work, 'student'),
      config: {
        data: { root, set: '630', features },
        model: { ...smallModel, backbone: { width: 0.25, outDim: 32 } },
        method: 'fnd+cl',
        fnd: { teacher: teacher.dir },
        epochs: 4,
        batchSize: 32,
        seed: 2,
        backend: 'wasm',
      },
      log: () => {},
      progressStream: null,
    });
    const metrics = readMetrics(student.dir) as Array<ReturnType<typeof readMetrics>[number] & { fnd?: { falseNegativeShare: number } }>;
    assert.equal(metrics.length, 4);
    for (const m of metrics) {
      assert.ok(m.loss.cl !== undefined && Number.isFinite(m.loss.cl), 'the CL part of the loss is recorded');
      const share = m.fnd?.falseNegativeShare;
      assert.ok(share !== undefined && share > 0 && share < 1, `share of negatives inside the teacher radius: ${share}`);
    }
    assert.ok(student.params.backbone < teacher.params.backbone, 'the student backbone is narrower');
    const config = JSON.parse(readFileSync(join(student.dir, RUN_FILES.config), 'utf8'));
    assert.equal(config.fnd.teacher, teacher.dir);
    assert.equal(config.model.numUsers, 16);
  });

  it('evaluates the student from its run folder alone (outfitrec eval --run), oracle beside it', () => {
    const res = spawnSync(process.execPath, [CLI, 'eval', '--run', join(work, 'student'), '--data', root, '--set', '630', '--split', 'test', '--random', '--json'], {
      encoding: 'utf8',
    });
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { results: Array<{ scorer: string; auc: number; ndcg: number }> };
    const names = out.results.map((r) => r.scorer);
    assert.deepEqual(names, ['oracle', `run ${join(work, 'student')}`, 'random']);
    for (const r of out.results) assert.ok(r.auc > 0 && r.auc < 1 && r.ndcg > 0 && r.ndcg <= 1);
    assert.ok(out.results[0].auc > out.results[2].auc, 'the oracle beats random');

    // several runs: one row each, each the figure it gets alone (not only the last --run's)
    const both = spawnSync(
      process.execPath,
      [CLI, 'eval', '--run', teacher.dir, '--run', join(work, 'student'), '--scorer', 'count', '--scorer', 'oracle-noiseless', '--data', root, '--set', '630', '--json'],
      { encoding: 'utf8' },
    );
    assert.equal(both.status, 0, both.stderr);
    const rows = (JSON.parse(both.stdout) as { results: Array<{ scorer: string; auc: number }> }).results;
    assert.deepEqual(
      rows.map((r) => r.scorer),
      ['oracle-noiseless', 'count', `run ${teacher.dir}`, `run ${join(work, 'student')}`],
    );
    assert.equal(rows[3].auc, out.results[1].auc, 'the student row is the student alone');
    assert.notEqual(rows[2].auc, rows[3].auc, 'the teacher row is the teacher, not the student again');
    for (const r of rows.slice(0, 2)) assert.ok(r.auc > 0.5 && r.auc <= 1, `${r.scorer}: AUC ${r.auc}`);
    const twice = spawnSync(process.execPath, [CLI, 'eval', '--run', teacher.dir, '--run', teacher.dir, '--data', root, '--set', '630'], { encoding: 'utf8' });
    assert.equal(twice.status, 1);
    assert.match(twice.stderr, /a --run folder is given twice/);
    const unknown = spawnSync(process.execPath, [CLI, 'eval', '--scorer', 'ceiling', '--data', root, '--set', '630'], { encoding: 'utf8' });
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /--scorer: 'ceiling' is not one of oracle, oracle-noiseless, count/);
  });

  it('a diverging run stops with an error naming the epoch and step', async () => {
    await assert.rejects(
      trainRun({
        out: join(work, 'diverged'),
        config: {
          data: { root, set: '630', features },
          model: { ...smallModel, backbone: { width: 1, outDim: 32 } },
          optim: { kind: 'sgd', lr: 1e30, clip: { mode: 'none' } },
          epochs: 1,
          batchSize: 32,
          backend: 'wasm',
        },
        log: () => {},
        progressStream: null,
      }),
      (err: Error) => err instanceof UserError && /diverged: the loss is (NaN|-?Infinity) at epoch 1, step \d+/.test(err.message),
    );
    assert.ok(!existsSync(join(work, 'diverged', RUN_FILES.weights)), 'no checkpoint of diverged weights');
  });

  it('a training process killed after its first checkpoint resumes and finishes', async () => {
    const out = join(work, 'killed');
    const cfgFile = join(work, 'killed.json');
    // the convnet on 14 px images: each epoch takes long enough to kill the process mid-run
    writeFileSync(
      cfgFile,
      JSON.stringify({ model: { ...smallModel, backbone: { kind: 'convnet', width: 0.25, outDim: 32 } }, data: { imageSize: 14 }, batchSize: 32 }),
    );
    const epochs = 2;
    const args = [CLI, 'train', '--data', root, '--set', '630', '--config', cfgFile, '--out', out, '--epochs', String(epochs), '--seed', '4', '--quiet'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let killedAt: number | null = null;
    for (let t = 0; t < 1200; t++) {
      const state = existsSync(join(out, RUN_FILES.state)) ? readState(out) : null;
      if (state && state.epoch >= 1) {
        child.kill('SIGKILL');
        killedAt = state.epoch;
        break;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const code = await exited;
    assert.notEqual(killedAt, null, `the child never wrote a checkpoint (exit ${code}): ${stderr}`);
    assert.ok((killedAt as number) < epochs, 'killed before the end of training');

    const resumed = spawnSync(process.execPath, [CLI, 'train', '--out', out, '--resume', '--quiet'], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    const state = readState(out);
    assert.ok(state?.finished, 'finished after resuming');
    assert.equal(state?.epoch, epochs);
    const metrics = readMetrics(out);
    assert.deepEqual(
      metrics.map((m) => m.epoch),
      [1, 2],
    );
    for (let i = 1; i < metrics.length; i++) assert.ok(metrics[i].step > metrics[i - 1].step, 'steps keep counting across the resume');
    for (const f of RUN_FILE_NAMES) assert.ok(existsSync(join(out, f)), `${f} is in the run folder`);
    assert.ok(!existsSync(join(out, 'weights.next.safetensors')), 'no staged file is left behind');
  });
});
