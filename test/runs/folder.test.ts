import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/model/checkpoint.js';
import {
  checkpointEpoch,
  commitEpoch,
  readMetrics,
  readState,
  recoverRunFolder,
  resolveWeightsFile,
  RUN_FILES,
  stagedPath,
  type EpochRecord,
  type TrainState,
  writeMetrics,
} from '../../src/runs/folder.js';
import { writeJsonAtomic } from '../../src/util/fs.js';

function record(epoch: number, auc: number): EpochRecord {
  return { epoch, step: epoch * 10, loss: { total: 1 / epoch, main: 1 / epoch }, val: { auc, ndcg: auc / 2 }, lr: 0.01, seconds: 1, steps: 10 };
}

function state(epoch: number, bestEpoch: number, auc: number): TrainState {
  return {
    epoch,
    step: epoch * 10,
    schedule: { lr: 0.01, best: auc, badEpochs: 0, cooldownLeft: 0, reductions: 0 },
    best: { epoch: bestEpoch, val: { auc, ndcg: auc / 2 }, file: RUN_FILES.best },
    epochsWithoutImprovement: epoch - bestEpoch,
    finished: false,
    stoppedEarly: false,
    seed: 0,
  };
}

/** A stand-in checkpoint: one tensor holding the epoch, tagged like the trainer tags its files. */
function writeCheckpoint(path: string, epoch: number): void {
  writeSafetensors(path, { w: { dtype: 'F32', shape: [1], data: Float32Array.of(epoch) } }, { epoch: String(epoch) });
}

function stageAll(epoch: number) {
  return (paths: { weights: string; optimizer: string; best: string | null }): void => {
    writeCheckpoint(paths.weights, epoch);
    writeCheckpoint(paths.optimizer, epoch);
    if (paths.best) writeCheckpoint(paths.best, epoch);
  };
}

describe('run folder: two-phase epoch commit (architecture.md §4.2)', () => {
  it('commits weights, optimizer, best, metrics and state together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-runfolder-'));
    commitEpoch(dir, state(1, 1, 0.6), [record(1, 0.6)], stageAll(1));
    commitEpoch(dir, state(2, 1, 0.6), [record(1, 0.6), record(2, 0.55)], stageAll(2));
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.weights)), 2);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.optimizer)), 2);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.best)), 1);
    assert.equal(readMetrics(dir).length, 2);
    assert.equal(readState(dir)?.epoch, 2);
    assert.ok(!existsSync(stagedPath(dir, RUN_FILES.weights)));
  });

  it('a crash before the state is written leaves the previous checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-runfolder-'));
    commitEpoch(dir, state(1, 1, 0.6), [record(1, 0.6)], stageAll(1));
    // epoch 2 improved: staged files and metrics written, then killed before state.json
    stageAll(2)({
      weights: stagedPath(dir, RUN_FILES.weights),
      optimizer: stagedPath(dir, RUN_FILES.optimizer),
      best: stagedPath(dir, RUN_FILES.best),
    });
    writeFileSync(join(dir, `${RUN_FILES.state}.123.456.tmp`), '{"epoch": 2, "ste');
    const recovered = recoverRunFolder(dir);
    assert.equal(recovered?.epoch, 1);
    assert.ok(!existsSync(join(dir, `${RUN_FILES.state}.123.456.tmp`)), 'half-written temp files are removed');
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.weights)), 1);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.best)), 1);
    assert.ok(!existsSync(stagedPath(dir, RUN_FILES.weights)));
    assert.ok(!existsSync(stagedPath(dir, RUN_FILES.best)));
  });

  it('a crash after the state is written rolls the epoch forward and trims metrics', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-runfolder-'));
    commitEpoch(dir, state(1, 1, 0.6), [record(1, 0.6)], stageAll(1));
    stageAll(2)({
      weights: stagedPath(dir, RUN_FILES.weights),
      optimizer: stagedPath(dir, RUN_FILES.optimizer),
      best: stagedPath(dir, RUN_FILES.best),
    });
    writeJsonAtomic(join(dir, RUN_FILES.state), state(2, 2, 0.7));
    // before recovery, a reader already sees the committed epoch's weights
    assert.equal(resolveWeightsFile(dir, 'best').epoch, 2);
    assert.equal(resolveWeightsFile(dir, 'latest').epoch, 2);
    recoverRunFolder(dir);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.weights)), 2);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.optimizer)), 2);
    assert.equal(checkpointEpoch(join(dir, RUN_FILES.best)), 2);
    assert.ok(!existsSync(stagedPath(dir, RUN_FILES.weights)));
  });

  it('metrics lines past the committed epoch are dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-runfolder-'));
    commitEpoch(dir, state(1, 1, 0.6), [record(1, 0.6)], stageAll(1));
    // killed after writing epoch 2's metrics line, before its state.json
    writeMetrics(dir, [record(1, 0.6), record(2, 0.5)]);
    recoverRunFolder(dir);
    assert.deepEqual(
      readMetrics(dir).map((r) => r.epoch),
      [1],
    );
  });
});
