/**
 * Reliability, the right people (issue 16 item 10; docs/reliability.md "What is validated"):
 * `eval`, `serve` and `coldstart` refuse a run on a set it was not trained on, even when the
 * user counts agree (the tiny preset's 630 and 519 both have 8 users: the old check let a 630
 * run score the 519 users).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Recommender } from '../../src/serve/recommender.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { tinyRun, type TinyRun } from '../serve/tiny-run.js';
import { assertOneLineError, runCli, scratchDir } from './helpers.js';

describe('reliability: a run only scores the users of its training set', () => {
  let run: TinyRun;
  before(async () => {
    run = await tinyRun();
  });

  it('the tiny 630 and 519 sets have the same user count (what the old check compared)', () => {
    assert.equal(loadPolyvoreSet(run.root, '630').numUsers, loadPolyvoreSet(run.root, '519').numUsers);
  });

  it('eval --run <630 run> --set 519 is refused', async () => {
    const r = await runCli(['eval', '--run', run.runDir, '--data', run.root, '--set', '519']);
    assertOneLineError(r, /trained on set 630 \(8 users\), but .*tuples_519 is set 519 with 8 users; a run scores only the users of the set it was trained on/, assert);
  });

  it('serve --set 519 with a 630 run is refused', async () => {
    await assert.rejects(
      Recommender.open(run.runDir, { data: run.root, set: '519', db: join(scratchDir('serve-set'), 'users.sqlite') }),
      /trained on set 630 \(8 users\), but .*tuples_519 is set 519/,
    );
  });

  it('coldstart with the new users of the other pairing (32 belongs to 519) is refused', async () => {
    const r = await runCli(['coldstart', '--run', run.runDir, '--data', run.root, '--set', '32', '--shots', '1']);
    assertOneLineError(r, /--set 32: its new users go with a model trained on 519, but .* was trained on 630 \(use --set 53\)/, assert);
  });

  it('the matching set still loads', async () => {
    const rec = await Recommender.open(run.runDir, { data: run.root, db: join(scratchDir('serve-ok'), 'users.sqlite') });
    try {
      assert.equal(rec.describe().set, '630');
    } finally {
      await rec.close();
      await rec.model.dispose();
    }
  });
});
