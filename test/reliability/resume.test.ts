/**
 * Reliability, exact resume (issue 16 item 2; docs/reliability.md "Exact resume"): every source of
 * randomness in training derives from (seed, epoch, step) — batches, negatives, CL views, dropout
 * masks — and the optimizer's moments, step count and schedule are saved with each epoch, so a
 * run stopped after epoch 1 and resumed equals the uninterrupted run: the same metrics and the
 * same weights, with dropout and CL on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { saveNamedTensors } from '../../src/model/checkpoint.js';
import { trainRun } from '../../src/train/trainer.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';
import { scratchDir } from './helpers.js';

const CONFIG = {
  method: 'softmax+cl',
  model: { backbone: { kind: 'convnet', width: 0.25, outDim: 16 }, dim: 16, heads: 2, anchors: 4, dropout: 0.3 },
  batchSize: 32,
  seed: 11,
};

function metricsWithoutTimes(dir: string): unknown[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      delete record.seconds;
      return record;
    });
}

describe('reliability: exact resume', () => {
  let run: TinyRun;
  before(async () => {
    run = await tinyRun();
  });

  it('stop after epoch 1 + resume to 2 equals 2 epochs uninterrupted (dropout and CL on)', async () => {
    const quiet = { log: () => {}, progressStream: null };
    const data = { root: run.root, set: '630' };
    const whole = join(scratchDir('resume-whole'), 'run');
    await trainRun({ config: { ...CONFIG, data, epochs: 2 }, out: whole, ...quiet });
    const split = join(scratchDir('resume-split'), 'run');
    await trainRun({ config: { ...CONFIG, data, epochs: 1 }, out: split, ...quiet });
    await trainRun({ out: split, resume: true, epochs: 2, ...quiet });
    assert.deepEqual(metricsWithoutTimes(split), metricsWithoutTimes(whole));
    for (const file of ['weights.safetensors', 'optimizer.safetensors']) {
      assert.ok(readFileSync(join(split, file)).equals(readFileSync(join(whole, file))), `${file} differs between the resumed and the uninterrupted run`);
    }
  });

  it("a run folder of the first engine (tfjs optimizer state) is refused by --resume with a clear message", async () => {
    const quiet = { log: () => {}, progressStream: null };
    const dir = join(scratchDir('resume-tfjs'), 'run');
    await trainRun({ config: { ...CONFIG, method: 'softmax', data: { root: run.root, set: '630' }, epochs: 1 }, out: dir, ...quiet });
    // what 0.1 wrote: tfjs slot tensors named by position, no engine format
    saveNamedTensors(join(dir, 'optimizer.safetensors'), [{ name: 'optimizer.000000', shape: [1], data: Float32Array.of(1) }], { epoch: '1', optimizer: 'adam', slotNames: '["iter"]' });
    await assert.rejects(trainRun({ out: dir, resume: true, epochs: 2, ...quiet }), (e: unknown) => e instanceof UserError && /tfjs engine of outfitrec 0\.1/.test(e.message));
  });
});
