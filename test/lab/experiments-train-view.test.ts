import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { generateSynthetic } from '../../src/data/synth/index.js';
import { MIN_POSITIVES_PER_USER, trainingRoot } from '../../src/lab/experiments/train-view.js';

test('training view: a seeded share of each user\'s training positives with their negatives, the rest linked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-train-view-'));
  try {
    const root = join(dir, 'data');
    await generateSynthetic({ preset: 'tiny', out: root, log: () => {} });
    assert.equal(trainingRoot(root, join(dir, 'views'), 1, 0), root, 'fraction 1 trains on the root itself');
    const view = trainingRoot(root, join(dir, 'views'), 0.25, 7);
    assert.equal(trainingRoot(root, join(dir, 'views'), 0.25, 7), view, 'a built view is reused');
    assert.ok(!existsSync(join(view, 'oracle')), 'the oracle (flags aligned with the original files) is not linked');
    assert.ok(lstatSync(join(view, 'tuples_53')).isSymbolicLink(), 'cold sets are linked whole');
    assert.ok(lstatSync(join(view, 'tuples_630', 'tuples_test_posi')).isSymbolicLink());

    for (const name of ['630', '519']) {
      const full = loadPolyvoreSet(root, name);
      const sub = loadPolyvoreSet(view, name);
      assert.equal(sub.numUsers, full.numUsers);
      assert.deepEqual(sub.catalog.names, full.catalog.names);
      assert.deepEqual(sub.splits.test.posi.items, full.splits.test.posi.items);
      const fullPosi = full.splits.train.posi;
      const subPosi = sub.splits.train.posi;
      for (let u = 0; u < full.numUsers; u++) {
        const n = fullPosi.users.filter((x) => x === u).length;
        const k = subPosi.users.filter((x) => x === u).length;
        assert.equal(k, Math.min(n, Math.max(MIN_POSITIVES_PER_USER, Math.ceil(0.25 * n))), `set ${name} user ${u}`);
      }
      // each kept positive brings its own 10 random-mix and 10 hard negatives, in order
      const posiLines = readFileSync(join(root, `tuples_${name}`, 'tuples_train_posi'), 'utf8').trim().split('\n').slice(1);
      const keptLines = readFileSync(join(view, `tuples_${name}`, 'tuples_train_posi'), 'utf8').trim().split('\n').slice(1);
      for (const file of ['tuples_train_nega', 'tuples_train_nega_hard']) {
        const fullNega = readFileSync(join(root, `tuples_${name}`, file), 'utf8').trim().split('\n').slice(1);
        const subNega = readFileSync(join(view, `tuples_${name}`, file), 'utf8').trim().split('\n').slice(1);
        assert.equal(subNega.length, keptLines.length * 10);
        let from = 0;
        keptLines.forEach((line, i) => {
          const r = posiLines.indexOf(line, from);
          assert.ok(r >= 0, 'kept positives stay in file order');
          from = r + 1;
          assert.deepEqual(subNega.slice(i * 10, i * 10 + 10), fullNega.slice(r * 10, r * 10 + 10));
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
