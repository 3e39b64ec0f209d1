import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import {
  loadNamedTensors,
  loadWeights,
  readSafetensors,
  saveNamedTensors,
  saveWeights,
  writeSafetensors,
} from '../../src/model/checkpoint.js';
import { defaultModelConfig, type ModelConfigInput } from '../../src/model/config.js';
import { imageInputSource } from '../../src/model/inputs.js';
import { OutfitModel } from '../../src/model/outfit-model.js';

function tinyModel(seed: number, over: Partial<ModelConfigInput> = {}): OutfitModel {
  const cfg = defaultModelConfig({
    backbone: { kind: 'convnet', width: 0.125, outDim: 16, imageSize: 28 },
    dim: 8,
    heads: 2,
    anchors: 4,
    sharedAnchors: true,
    numUsers: 3,
    ...over,
  });
  return OutfitModel.create(cfg, new Rng(seed));
}

function weightsOf(model: OutfitModel): Map<string, Float32Array> {
  return new Map(model.namedParams().map((p) => [p.name, p.data.slice()]));
}

describe('safetensors weights (architecture.md §4.2)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'outfitrec-ckpt-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('save then load into a differently seeded model restores every weight exactly', () => {
    const a = tinyModel(1);
    const b = tinyModel(2);
    const path = join(dir, 'weights.safetensors');
    saveWeights(path, a, { epoch: '3' });
    const meta = loadWeights(path, b);
    assert.equal(meta.epoch, '3');
    assert.equal(meta.format, 'outfitrec');
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    assert.deepEqual([...wb.keys()], [...wa.keys()]);
    for (const [name, values] of wa) assert.deepEqual(wb.get(name), values, name);
    // shapes come from the model, not the file: a loaded table keeps the model's own shapes
    assert.deepEqual(b.namedParams().map((p) => p.shape), a.namedParams().map((p) => p.shape));
  });

  test('a loaded model scores exactly like the saved one (inference reads the loaded arrays)', async () => {
    const a = tinyModel(1);
    const b = tinyModel(2);
    const rng = new Rng(5);
    const inputs = imageInputSource({ n: 4, height: 28, width: 28, channels: 3, pixels: Uint8Array.from({ length: 4 * 28 * 28 * 3 }, () => rng.int(256)) });
    const table = { slots: 3, users: Int32Array.from([0, 2]), items: Int32Array.from([0, 1, 2, 3, -1, 1]) };
    const scoresA = await a.scoreTable(inputs, table);
    // b's inference graph is compiled before the load: it must still see the new weights
    const before = await b.scoreTable(inputs, table);
    assert.notDeepEqual(before, scoresA);
    const path = join(dir, 'scores.safetensors');
    saveWeights(path, a);
    loadWeights(path, b);
    assert.deepEqual(await b.scoreTable(inputs, table), scoresA);
    await a.dispose();
    await b.dispose();
  });

  test('file layout: u64 LE header length, space-padded JSON to 8-byte alignment, contiguous data', () => {
    const path = join(dir, 'layout.safetensors');
    writeSafetensors(
      path,
      { b: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, a: { dtype: 'I32', shape: [3], data: Int32Array.from([7, -8, 9]) } },
      { note: 'x' },
    );
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    assert.deepEqual(header.__metadata__, { note: 'x' });
    assert.deepEqual(header.b, { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    assert.deepEqual(header.a, { dtype: 'I32', shape: [3], data_offsets: [16, 28] });
    assert.equal(bytes.length, 8 + n + 28);
    assert.equal(bytes.readFloatLE(8 + n + 4), 2);
    assert.equal(bytes.readInt32LE(8 + n + 16 + 4), -8);
    const back = readSafetensors(path);
    assert.deepEqual(Array.from(back.tensors.get('a')!.data), [7, -8, 9]);
    assert.ok(back.tensors.get('b')!.data instanceof Float32Array);
  });

  test('named tensors (optimizer state) round-trip', () => {
    const path = join(dir, 'optimizer.safetensors');
    saveNamedTensors(
      path,
      [
        { name: 'adam.m.x', shape: [1, 2], data: Float32Array.from([1.5, -2]) },
        { name: 'step', shape: [1], data: Int32Array.from([12]) },
      ],
      { lr: '0.001' },
    );
    const loaded = loadNamedTensors(path);
    assert.equal(loaded.metadata.lr, '0.001');
    assert.deepEqual(
      loaded.tensors.map((t) => [t.name, t.dtype, t.shape, Array.from(t.data)]),
      [
        ['adam.m.x', 'F32', [1, 2], [1.5, -2]],
        ['step', 'I32', [1], [12]],
      ],
    );
    assert.ok(loaded.tensors[0].data instanceof Float32Array);
    assert.ok(loaded.tensors[1].data instanceof Int32Array);
    assert.throws(
      () => saveNamedTensors(path, [{ name: 'a', shape: [1], data: new Float32Array(1) }, { name: 'a', shape: [1], data: new Float32Array(1) }]),
      /saveNamedTensors: duplicate name 'a'/,
    );
    assert.throws(() => saveNamedTensors(path, [{ name: 'a', shape: [3], data: new Float32Array(2) }]), /tensor 'a' has 2 values for shape \[3\]/);
  });

  test('corrupted files raise DataError naming the file', () => {
    const model = tinyModel(1);
    const good = join(dir, 'good.safetensors');
    saveWeights(good, model);
    const bytes = readFileSync(good);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
    assert.throws(() => loadWeights(truncated, model), (e: unknown) => e instanceof DataError && e.file === truncated && /truncated/.test(e.message));
    const garbage = join(dir, 'garbage.safetensors');
    const broken = Buffer.from(bytes);
    broken.write('#', 8);
    writeFileSync(garbage, broken);
    assert.throws(() => loadWeights(garbage, model), (e: unknown) => e instanceof DataError && /header is not JSON/.test(e.message));
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, Buffer.from([1, 2, 3]));
    assert.throws(() => readSafetensors(tiny), DataError);
    assert.throws(() => readSafetensors(join(dir, 'absent.safetensors')), /cannot read weights: ENOENT/);
  });

  test('a file that does not fit the model names the tensors and changes nothing', () => {
    const source = tinyModel(1);
    const path = join(dir, 'users3.safetensors');
    saveWeights(path, source);
    const moreUsers = tinyModel(2, { numUsers: 4 });
    const before = weightsOf(moreUsers);
    assert.throws(
      () => loadWeights(path, moreUsers),
      (e: unknown) => e instanceof DataError && /'anchors.user' has shape \[3,2,8\] in the file but \[4,2,8\] in the model/.test(e.message),
    );
    for (const [name, values] of weightsOf(moreUsers)) assert.deepEqual(values, before.get(name), `${name} changed`);
    const noShared = tinyModel(3, { sharedAnchors: false });
    assert.throws(
      () => loadWeights(path, noShared),
      (e: unknown) => e instanceof DataError && /tensors the model does not have: anchors.shared/.test(e.message) && /anchors.user/.test(e.message),
    );
    const otherBackbone = tinyModel(4, { backbone: { kind: 'features', width: 0, inputDim: 16, outDim: 16 } });
    assert.throws(() => loadWeights(path, otherBackbone), /tensors the model does not have: backbone.conv1.weight, backbone.conv1.bias/);
  });
});
