import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRunConfig, resolveModelConfig } from '../../src/config.js';
import { generateSynthetic } from '../../src/data/synth/index.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { closeColdStart, openColdStart, runColdStart } from '../../src/lab/experiments/cold-users.js';
import { saveWeights } from '../../src/model/checkpoint.js';
import { OutfitModel } from '../../src/model/outfit-model.js';
import { Rng } from '../../src/rng.js';
import { writeJsonAtomic } from '../../src/util/fs.js';

// An untrained run folder is enough to pin the plumbing: items of 53 reach the 630 model by image,
// the new users get their own anchors, and the full 53 test split is evaluated.
test('cold start: a 630 run profiles the 53 users with so/su/sa and evaluates their full test split', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-coldstart-'));
  try {
    const root = join(dir, 'data');
    await generateSynthetic({ preset: 'tiny', out: root, log: () => {} });
    const cfg = parseRunConfig({
      data: { root, set: '630' },
      method: 'softmax',
      model: { backbone: { kind: 'convnet', width: 0.25, outDim: 16 }, dim: 16, heads: 2, anchors: 4 },
    });
    const warm = loadPolyvoreSet(root, '630', { splits: ['train'] });
    const model = OutfitModel.create(resolveModelConfig(cfg, { numUsers: warm.numUsers }), new Rng(cfg.seed).fork('model'));
    const runDir = join(dir, 'run');
    writeJsonAtomic(join(runDir, 'config.json'), { ...cfg, model: model.config });
    saveWeights(join(runDir, 'weights.safetensors'), model, { epoch: '1' });
    await model.dispose();

    const ctx = await openColdStart(runDir);
    try {
      assert.equal(ctx.coldSet.set, '53');
      assert.equal(ctx.firstColdUser, warm.numUsers);
      assert.equal(ctx.warmUsers.length, warm.numUsers);
      const cold = ctx.coldSet;
      for (const strategy of ['so', 'su', 'sa'] as const) {
        const r = await runColdStart(ctx, { shots: 1, strategy, seed: 3, steps: 5 });
        assert.equal(r.users, cold.numUsers);
        assert.equal(r.outfitsUsed, cold.numUsers);
        assert.equal(r.report.set, '53');
        assert.equal(r.report.split, 'test');
        assert.equal(r.report.candidates, cold.splits.test.posi.users.length * 11);
        assert.equal(r.report.users, cold.numUsers);
        assert.ok(r.report.auc >= 0 && r.report.auc <= 1);
        assert.ok(r.fitSeconds.max >= r.fitSeconds.median && r.fitSeconds.total > 0);
        assert.equal(r.fitting, strategy === 'so' ? 'Eq. T' : 'search', 'a softmax run is fitted with Eq. T');
        if (strategy === 'su') {
          // SU copies a warm user's anchors verbatim
          const copied = ctx.run.model.getUserAnchors(ctx.firstColdUser);
          const matches = [...ctx.warmUsers].some((u) => ctx.run.model.getUserAnchors(u).every((v, i) => v === copied[i]));
          assert.ok(matches, 'SU anchors are one warm user\'s anchors');
        }
      }
      const five = await runColdStart(ctx, { shots: 5, strategy: 'sa', seed: 3 });
      assert.equal(five.outfitsUsed, cold.numUsers * 5);
    } finally {
      await closeColdStart(ctx);
    }
    // the same weights as an lpae run: SO fits with LPAE's own pairwise loss and regulariser
    writeJsonAtomic(join(runDir, 'config.json'), { ...cfg, method: 'lpae', model: model.config });
    const lpae = await openColdStart(runDir);
    try {
      const r = await runColdStart(lpae, { shots: 5, strategy: 'so', seed: 3, steps: 5 });
      assert.equal(r.fitting, 'pairwise + 0.01·L_reg');
      assert.ok(r.report.auc >= 0 && r.report.auc <= 1);
    } finally {
      await closeColdStart(lpae);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
