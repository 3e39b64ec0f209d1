/**
 * `outfitrec export`: the exported ONNX files, loaded in a fresh ONNX Runtime session with nothing
 * but the sidecar's description, give the run's own scores (1e-5); where Debian's python3-onnx is
 * installed, onnx.checker accepts every file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { loadFeatureMatrix } from '../../src/data/features.js';
import { UserError } from '../../src/errors.js';
import { extractFeatures } from '../../src/model/pretrained.js';
import { EXPORT_FILES, exportRun } from '../../src/serve/export.js';
import { loadRun, type LoadedRun } from '../../src/runs/load.js';
import { tinyRun, type TinyRun } from './tiny-run.js';

describe('outfitrec export (ONNX models of a run)', () => {
  let run: TinyRun;
  let loaded: LoadedRun;
  let dir: string;
  let out: string;

  before(async () => {
    run = await tinyRun();
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-export-'));
    out = join(dir, 'export');
    await exportRun(run.runDir, out, { root: run.root });
    loaded = await loadRun(run.runDir, { root: run.root, splits: ['test'] });
  });

  after(async () => {
    await loaded?.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the exported encoder and scorers reproduce the run\'s scores in a fresh session', async () => {
    const sidecar = JSON.parse(readFileSync(join(out, EXPORT_FILES.sidecar), 'utf8'));
    const inputs = loaded.inputs;
    assert.ok(inputs);
    const table = loaded.set.splits.test.nega;
    const n = Math.min(60, table.users.length);
    const slots = table.slots;
    assert.equal(sidecar.models[EXPORT_FILES.outfitScorer].inputs[1].shape[1], slots);
    const items = table.items.subarray(0, n * slots);
    const users = table.users.subarray(0, n);
    const expected = await loaded.model.scoreTable(inputs, { slots, users, items });

    // item embeddings of the distinct items, then per-slot rows (−1 = absent)
    const distinct = [...new Set(Array.from(items).filter((i) => i >= 0))];
    const rowOf = new Map(distinct.map((id, r) => [id, r]));
    const batch = inputs.gather(Int32Array.from(distinct));
    const encoder = await ort.InferenceSession.create(join(out, EXPORT_FILES.itemEncoder));
    const { embeddings } = await encoder.run({ items: new ort.Tensor('float32', batch.data, batch.dims as number[]) });
    const slotRows = BigInt64Array.from(items, (i) => BigInt(i < 0 ? -1 : (rowOf.get(i) as number)));

    const byUser = await ort.InferenceSession.create(join(out, EXPORT_FILES.outfitScorerUsers));
    const viaUsers = await byUser.run({
      item_embeddings: embeddings,
      slot_rows: new ort.Tensor('int64', slotRows, [n, slots]),
      users: new ort.Tensor('int64', BigInt64Array.from(users, (u) => BigInt(u)), [n]),
    });
    const byAnchors = await ort.InferenceSession.create(join(out, EXPORT_FILES.outfitScorer));
    const k = sidecar.anchorsPerUser as number;
    const d = sidecar.dim as number;
    const anchors = new Float32Array(n * k * d);
    users.forEach((u, r) => anchors.set(loaded.model.getUserAnchors(u), r * k * d));
    const viaAnchors = await byAnchors.run({
      item_embeddings: embeddings,
      slot_rows: new ort.Tensor('int64', slotRows, [n, slots]),
      user_anchors: new ort.Tensor('float32', anchors, [n, k, d]),
    });
    for (const [label, result] of [['users', viaUsers], ['anchors', viaAnchors]] as const) {
      const scores = result.scores.data as Float32Array;
      assert.equal(scores.length, n);
      scores.forEach((s, i) => assert.ok(Math.abs(s - expected[i]) < 1e-5, `${label} scorer, outfit ${i}: ${s} vs run ${expected[i]}`));
    }
    await Promise.all([encoder.release(), byUser.release(), byAnchors.release()]);
  });

  test("features with the exported encoder and its preprocess JSON give the run's own item embeddings", async () => {
    const features = join(dir, 'features');
    const summary = await extractFeatures({
      root: run.root,
      sets: ['630'],
      encoder: join(out, EXPORT_FILES.itemEncoder),
      preprocess: join(out, EXPORT_FILES.itemEncoderPreprocess),
      out: features,
      progressStream: null,
    });
    const m = loadFeatureMatrix(summary.npy, summary.names);
    const inputs = loaded.inputs;
    assert.ok(inputs);
    assert.deepEqual(m.names, loaded.set.catalog.names);
    assert.equal(m.dim, loaded.model.config.dim);
    // the run's own pipeline: its image cache and input normalisation, through the run's model
    const ids = Int32Array.from({ length: m.names.length }, (_, i) => i);
    const encoder = await ort.InferenceSession.create(join(out, EXPORT_FILES.itemEncoder));
    const batch = inputs.gather(ids);
    const { embeddings } = await encoder.run({ items: new ort.Tensor('float32', batch.data, batch.dims as number[]) });
    const want = embeddings.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(m.values[i] - want[i]));
    assert.ok(worst < 1e-4, `largest difference ${worst}`);
    await encoder.release();
  });

  test('onnx.checker accepts every exported model (where python3-onnx is installed)', (t) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      t.skip('python3-onnx is not installed (apt-get install python3-onnx)');
      return;
    }
    for (const file of [EXPORT_FILES.itemEncoder, EXPORT_FILES.outfitScorer, EXPORT_FILES.outfitScorerUsers]) {
      const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', join(out, file)], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    }
  });

  test('refuses a non-empty output folder', async () => {
    await assert.rejects(exportRun(run.runDir, out, { root: run.root }), (e: unknown) => e instanceof UserError && /is not empty/.test(e.message));
  });
});
