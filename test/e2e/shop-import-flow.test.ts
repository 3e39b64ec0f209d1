/**
 * The README's shop flow from the command line (docs/method.md §6.3 shop preset, §6.4 import, §6.5
 * layout): `data synth --preset shop` → `data import` → `data check` (images in the flat
 * `images/` folder the importer writes) → `train` (1 tiny epoch on the pixels) → `eval` → serve
 * composes outfits whose items carry the shop's titles and categories.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Recommender } from '../../src/serve/recommender.js';
import { runCli } from '../reliability/helpers.js';

describe('shop flow: synth → import → check → train → eval → serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-shop-flow-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs end to end on an imported example shop', async () => {
    const shop = join(dir, 'my-shop');
    const data = join(dir, 'data');
    const synth = await runCli(['data', 'synth', '--preset', 'shop', '--out', shop, '--users', '30', '--seed', '2']);
    assert.equal(synth.code, 0, synth.stderr);
    const unimported = await runCli(['data', 'check', shop]);
    assert.equal(unimported.code, 1);
    assert.match(unimported.stderr, /a shop folder: `outfitrec data import .*my-shop --out DIR`/);
    const imported = await runCli(['data', 'import', shop, '--out', data, '--json']);
    assert.equal(imported.code, 0, imported.stderr);
    const layout = JSON.parse(readFileSync(join(data, 'tuples_shop', 'layout.json'), 'utf8')) as { categories: string[]; newUsers: string };
    assert.ok(layout.categories.length >= 6, layout.categories.join(','));
    assert.equal(layout.newUsers, 'shop-new');

    const check = await runCli(['data', 'check', data]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /tuples_shop: ok: .*images ok: \d+ decoded/);

    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ method: 'softmax', model: { backbone: { kind: 'convnet', width: 0.125, outDim: 16 }, dim: 16, heads: 2, anchors: 4 }, epochs: 1, batchSize: 32, seed: 1 }));
    const run = join(dir, 'run');
    const trained = await runCli(['train', '--data', data, '--set', 'shop', '--config', config, '--out', run, '--quiet']);
    assert.equal(trained.code, 0, trained.stderr);
    const evaluated = await runCli(['eval', '--data', data, '--set', 'shop', '--run', run, '--json']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const auc = (JSON.parse(evaluated.stdout) as { results: Array<{ auc: number }> }).results[0].auc;
    assert.ok(auc >= 0 && auc <= 1, `AUC ${auc}`);

    const rec = await Recommender.open(run, { db: ':memory:', onboardWorkers: 0 });
    try {
      const composed = await rec.compose(0, { k: 3 });
      assert.equal(composed.outfits.length, 3);
      const names = readFileSync(join(shop, 'items.csv'), 'utf8');
      for (const o of composed.outfits) {
        assert.ok(o.items.filter((i) => i >= 0).length >= 2, JSON.stringify(o.items));
        for (const id of o.items.filter((i) => i >= 0)) {
          const info = rec.itemInfo(id);
          assert.ok(layout.categories.includes(info.category), info.category);
          // a title with quotes is written in the CSV with each quote doubled
          assert.ok(names.includes(info.title.replaceAll('"', '""')), `title "${info.title}" from items.csv`);
        }
      }
    } finally {
      await rec.close();
      await rec.model.dispose();
    }
  });
});
