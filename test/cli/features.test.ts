/**
 * `outfitrec features` (docs/method.md §2.4) with an encoder the test builds itself: a 3×3
 * convolution (known weights, zero padding) and a global average pool. The rows of the written
 * .npy equal the same arithmetic done here on sharp's resize of each image; a 1-epoch
 * frozen-feature `train` runs on them; malformed preprocessing JSON and an encoder that does not
 * match it give one line, exit 1 and no output files.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadFeatureMatrix } from '../../src/data/features.js';
import { findImageDir, resolveImagePaths } from '../../src/data/polyvore.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { Graph } from '../../src/engine/graph.js';
import { toOnnx } from '../../src/engine/onnx.js';
import { assertOneLineError, fixtureCopy, runCli, scratchDir } from '../reliability/helpers.js';

const H = 6;
const W = 5;
const F = 4;
/** Known weights [F, 3, 3, 3] and bias [F]: small distinct values, both signs. */
const WEIGHTS = Float32Array.from({ length: F * 27 }, (_, i) => (((i * 7) % 11) - 5) / 10);
const BIAS = Float32Array.from([0.1, -0.2, 0.3, 0]);
const MEAN = [0.48, 0.46, 0.41];
const STD = [0.27, 0.26, 0.28];

/** conv(3×3, pad 1) + global average pool; NHWC input is transposed to NCHW inside the graph. */
function encoderBytes(layout: 'NCHW' | 'NHWC', opts: { height?: number } = {}): Uint8Array {
  const h = opts.height ?? H;
  const g = new Graph('float32');
  const x = g.input('pixels', layout === 'NCHW' ? ['n', 3, h, W] : ['n', h, W, 3]);
  const nchw = layout === 'NCHW' ? x : g.transpose(x, [0, 3, 1, 2]);
  const y = g.conv(nchw, g.constant(WEIGHTS, [F, 3, 3, 3]), g.constant(BIAS, [F]), { strides: [1, 1], pads: [1, 1, 1, 1] });
  g.output(g.reduceMean(y, [2, 3]), 'features');
  return toOnnx(g, { name: 'test-encoder' });
}

/** The same arithmetic on an image file: cover-resize to H×W, (v/255 − mean)/std, conv, mean. */
async function expectedRow(path: string): Promise<number[]> {
  const { data } = await sharp(path).flatten({ background: '#ffffff' }).toColourspace('srgb').resize(W, H, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  const x = (c: number, r: number, col: number): number => (r < 0 || r >= H || col < 0 || col >= W ? 0 : (data[(r * W + col) * 3 + c] / 255 - MEAN[c]) / STD[c]);
  const row: number[] = [];
  for (let o = 0; o < F; o++) {
    let sum = 0;
    for (let r = 0; r < H; r++) {
      for (let col = 0; col < W; col++) {
        let v = BIAS[o];
        for (let c = 0; c < 3; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) v += WEIGHTS[((o * 3 + c) * 3 + i) * 3 + j] * x(c, r + i - 1, col + j - 1);
        sum += v;
      }
    }
    row.push(sum / (H * W));
  }
  return row;
}

describe('outfitrec features: a pretrained ONNX encoder over the catalog images', () => {
  let root: string;
  let dir: string;
  const file = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const preprocessJson = (layout: 'NCHW' | 'NHWC', extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ size: [H, W], mean: MEAN, std: STD, layout, ...extra });

  before(() => {
    root = fixtureCopy('features');
    dir = scratchDir('features');
    file('nchw.onnx', encoderBytes('NCHW'));
    file('nhwc.onnx', encoderBytes('NHWC'));
    file('nchw.json', preprocessJson('NCHW'));
    file('nhwc.json', preprocessJson('NHWC', { resize: 'cover', scale: 1 / 255, input: 'pixels', output: 'features' }));
  });

  it('writes one row per distinct catalog image, equal to the arithmetic done here (both layouts)', async () => {
    const s630 = loadPolyvoreSet(root, '630', { splits: [] });
    const s519 = loadPolyvoreSet(root, '519', { splits: [] });
    const allNames = [...new Set([...s630.catalog.names, ...s519.catalog.names])];
    const imageDir = findImageDir(root);
    assert.ok(imageDir);
    const paths = new Map<string, string>();
    for (const s of [s630, s519]) resolveImagePaths(s.catalog, imageDir).paths.forEach((p, id) => paths.set(s.catalog.names[id], p as string));

    for (const layout of ['NCHW', 'NHWC'] as const) {
      const out = join(dir, `all-${layout}`);
      // batch 3 over 15 + images: several batches, a short last one
      const r = await runCli(['features', '--data', root, '--encoder', join(dir, `${layout.toLowerCase()}.onnx`), '--preprocess', join(dir, `${layout.toLowerCase()}.json`), '--out', out, '--batch', '3', '--quiet']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /train on them: outfitrec train --data .* --features .*all-N[A-Z]+\.npy/);
      const m = loadFeatureMatrix(`${out}.npy`, `${out}.names`);
      assert.equal(m.dim, F);
      assert.deepEqual([...m.names].sort(), [...allNames].sort());
      assert.equal(allNames.length % 3 === 0, false, 'the last batch is short');
      for (let i = 0; i < m.names.length; i++) {
        const want = await expectedRow(paths.get(m.names[i]) as string);
        for (let k = 0; k < F; k++) {
          const got = m.values[i * F + k];
          assert.ok(Math.abs(got - want[k]) < 1e-4, `${layout} ${m.names[i]} feature ${k}: ${got} vs ${want[k]}`);
        }
      }
    }
  });

  it('one set, then a 1-epoch frozen-feature train on the result with --features alone', async () => {
    const out = join(dir, 'set630');
    const r = await runCli(['features', '--data', root, '--set', '630', '--encoder', join(dir, 'nchw.onnx'), '--preprocess', join(dir, 'nchw.json'), '--out', `${out}.npy`, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const m = loadFeatureMatrix(`${out}.npy`, `${out}.names`);
    assert.deepEqual(m.names, loadPolyvoreSet(root, '630', { splits: [] }).catalog.names);
    const run = join(dir, 'run');
    const t = await runCli(['train', '--data', root, '--set', '630', '--features', `${out}.npy`, '--method', 'softmax', '--epochs', '1', '--batch', '2', '--out', run, '--quiet']);
    assert.equal(t.code, 0, t.stderr);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    assert.equal(config.model.backbone.kind, 'features');
    assert.equal(config.model.backbone.inputDim, F);
    assert.equal(config.data.features.names, `${out}.names`);
    assert.ok(existsSync(join(run, 'best.safetensors')));
  });

  it('a missing image: one line naming its image list and line, nothing written', async () => {
    const broken = fixtureCopy('features-missing-image');
    rmSync(join(broken, 'images', '16x16', 'shoe_b.jpg'));
    const out = join(dir, 'missing-image');
    const r = await runCli(['features', '--data', broken, '--set', '630', '--encoder', join(dir, 'nchw.onnx'), '--preprocess', join(dir, 'nchw.json'), '--out', out, '--quiet']);
    assertOneLineError(r, /tuples_630\/image_list_shoe:2: image "shoe_b.jpg" not found/, assert);
    assert.equal(existsSync(`${out}.npy`), false);
  });

  const bad: Array<{ label: string; preprocess: string; encoder?: () => string; error: RegExp }> = [
    { label: 'JSON that does not parse', preprocess: '{"size": 6,', error: /bad-0\.json: not valid JSON/ },
    { label: 'a mean of two numbers', preprocess: JSON.stringify({ size: 6, mean: [0.5, 0.5], std: STD, layout: 'NCHW' }), error: /bad-1\.json: field 'mean': expected \[r, g, b\]/ },
    { label: 'a zero std', preprocess: JSON.stringify({ size: 6, mean: MEAN, std: [0.2, 0, 0.2], layout: 'NCHW' }), error: /bad-2\.json: field 'std': every standard deviation must be > 0/ },
    { label: 'no layout', preprocess: JSON.stringify({ size: [H, W], mean: MEAN, std: STD }), error: /bad-3\.json: field 'layout': required/ },
    { label: 'an unknown field', preprocess: preprocessJson('NCHW', { crop: 3 }), error: /bad-4\.json: unknown field 'crop'/ },
    { label: 'a size of 0', preprocess: preprocessJson('NCHW', { size: [0, W] }), error: /bad-5\.json: field 'size\[0\]': Too small/ },
    { label: 'an input the encoder lacks', preprocess: preprocessJson('NCHW', { input: 'image' }), error: /bad-6\.json: field 'input': the encoder .*nchw\.onnx has no input 'image' \(its inputs: 'pixels'\)/ },
    {
      label: 'a size the encoder does not take',
      preprocess: preprocessJson('NCHW', { size: 8 }),
      error: /nchw\.onnx: input 'pixels' has shape \[n, 3, 6, 5\], but .*bad-7\.json describes \[N, 3, 8, 8\] \(size \[8, 8\], layout NCHW\)$/,
    },
    { label: 'the other layout', preprocess: preprocessJson('NHWC'), error: /nchw\.onnx: input 'pixels' has shape \[n, 3, 6, 5\], .* \(layout NCHW would match\)$/ },
    { label: 'a file that is not ONNX', preprocess: preprocessJson('NCHW'), encoder: () => file('not-onnx.onnx', 'not a protobuf model\n'), error: /not-onnx\.onnx: not a model ONNX Runtime can load/ },
    { label: 'a folder for the encoder', preprocess: preprocessJson('NCHW'), encoder: () => dir, error: /features-\w+: is a directory, expected a file \(EISDIR/ },
  ];
  bad.forEach((c, i) => {
    it(`${c.label}: one line, exit 1, nothing written`, async () => {
      const preprocess = file(`bad-${i}.json`, c.preprocess);
      const encoder = c.encoder ? c.encoder() : join(dir, 'nchw.onnx');
      const out = join(dir, `bad-out-${i}`);
      const r = await runCli(['features', '--data', root, '--encoder', encoder, '--preprocess', preprocess, '--out', out, '--quiet']);
      assertOneLineError(r, c.error, assert);
      assert.equal(existsSync(`${out}.npy`) || existsSync(`${out}.names`), false);
    });
  });
});
