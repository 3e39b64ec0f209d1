/**
 * `outfitrec demo` at its smallest (8 users, 1 epoch, no student-alone run): the table explains
 * each column, carries a bootstrap interval around every AUC, and ends with the next commands.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runDemo } from '../../src/lab/demo.js';

describe('demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-demo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the table, what each column means, the noise level and what to run next', { timeout: 300_000 }, async () => {
    const out = join(dir, 'demo');
    const r = await runDemo({ out, users: 8, outfitScale: 1, epochs: 1, studentAlone: false, log: () => {}, progressStream: null });
    assert.equal(r.interrupted, false);
    assert.deepEqual(
      r.rows.map((row) => row.name.split(' ')[0]),
      ['oracle', 'teacher', 'student', 'random'],
    );
    for (const row of r.rows) {
      const ci = row.aucInterval;
      assert.ok(ci && ci.low <= row.report.auc && row.report.auc <= ci.high, `${row.name}: ${row.report.auc} in [${ci?.low}, ${ci?.high}]`);
      assert.ok(r.table.includes(`${row.report.auc.toFixed(4)}  ${ci.low.toFixed(4)}–${ci.high.toFixed(4)}`), `${row.name}'s AUC and interval in the table`);
    }
    for (const column of ['AUC ', 'AUC 95% CI', 'NDCG', 'FITB', 'params', 'oracle']) {
      assert.match(r.table, new RegExp(`^  ${column.trim().replace('%', '%')} +\\S`, 'm'), `a line explains ${column}`);
    }
    const next = r.table.slice(r.table.indexOf('\nnext:\n'));
    for (const command of ['serve', 'compare', 'experiment']) assert.match(next, new RegExp(`^  outfitrec ${command} `, 'm'));
    assert.doesNotMatch(next, /--row alone=/, 'no student-alone row when it was not trained');
  });
});
