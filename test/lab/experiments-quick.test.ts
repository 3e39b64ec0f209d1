/**
 * `experiment all --quick` on the tiny preset: every table and chart of the report exists with the
 * expected rows, a second invocation trains nothing, and a grid interrupted mid-cell resumes that
 * cell from its last epoch. This is the slowest test of the suite (the whole quick grid trains),
 * so it runs the grid once and checks everything on that one output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPERIMENT_NAMES, cellKey, makeCell, planGrid } from '../../src/lab/experiments/grid.js';
import { runExperiments } from '../../src/lab/experiments/runner.js';
import { readMetrics, readState } from '../../src/runs/folder.js';

/** Data rows of a CSV written by tableToCsv (quoted fields may hold commas and doubled quotes). */
function csvRows(path: string): string[][] {
  const rows = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  return rows.map((line) => {
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted && ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = !quoted;
      } else if (ch === ',' && !quoted) {
        fields.push(field);
        field = '';
      } else {
        field += ch;
      }
    }
    fields.push(field);
    return fields;
  });
}

test('experiment all --quick on the tiny preset: report, resume, interrupted cell', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-experiment-'));
  const lines: string[] = [];
  const log = (line: string): void => {
    lines.push(line);
  };
  try {
    const data = join(dir, 'data');
    const out = join(dir, 'grid');
    const first = await runExperiments(EXPERIMENT_NAMES, { data, out, quick: true, presetScale: 'tiny', log });
    assert.equal(first.interrupted, false);
    assert.equal(first.cells.total, 27);
    assert.equal(first.cells.trained, 27);
    assert.ok(existsSync(join(data, 'tuples_32')), 'the tiny preset was synthesised into --data');

    const report = readFileSync(join(out, 'report.md'), 'utf8');
    for (const heading of ['Main comparison', 'Cold users', 'Hard negatives', 'False-negative analysis', 'Ablation: α', 'Ablation: augmentations', 'Ablation: backbone size', 'Ablation: batch size', 'Efficiency']) {
      assert.match(report, new RegExp(`^## ${heading}`, 'm'), `report has the section ${heading}`);
    }
    // main: per set the three reference scorers, random, six methods and the labelled published row
    const main = csvRows(join(out, 'main.csv'));
    for (const set of ['630', '519']) {
      const methods = main.filter((r) => r[0] === set).map((r) => r[1]);
      assert.equal(methods.length, 11, `11 rows for set ${set}`);
      for (const m of ['oracle (true utility; reference)', 'oracle without item noise ε (reference)', 'count scorer (no learning; reference)', 'random scores', 'lpae (pairwise, wide)', 'softmax teacher (wide)', 'student alone (softmax, narrow)', 'fnd (student)', 'softmax+cl (student)', 'fnd+cl (student)']) {
        assert.ok(methods.includes(m), `main table, set ${set}: row ${m}`);
      }
      assert.ok(methods.some((m) => m.startsWith('REFERENCE')), `main table, set ${set}: the reference row`);
    }
    assert.match(report, /\| 630 \| REFERENCE — LPAE on real Polyvore-U \(published; not comparable\) \| 0\.8995 \| 0\.8145 \|/);
    // every trained row has a real AUC
    for (const r of main.filter((row) => !row[1].startsWith('REFERENCE'))) {
      const auc = Number(r[2]);
      assert.ok(auc >= 0 && auc <= 1, `AUC of ${r[0]} ${r[1]} is ${r[2]}`);
    }
    // cold users: 2 new-user sets × (3 reference scorers + random + 2 models × 3 strategies × 2 shot counts)
    assert.equal(csvRows(join(out, 'coldstart.csv')).length, 2 * (4 + 2 * 3 * 2));
    assert.equal(csvRows(join(out, 'hardneg.csv')).length, 4 + 6 * 2);
    assert.equal(csvRows(join(out, 'fn-flags.csv')).length, 2 * 2 * 6);
    assert.equal(csvRows(join(out, 'fn-gain.csv')).length, 2);
    const alpha = csvRows(join(out, 'ablation-alpha.csv'));
    assert.deepEqual(alpha.map((r) => r[0]), ['student alone (softmax)', '-1', '-0.5', '0', '1']);
    // α = 0 is Eq. T exactly (method.md §4) and draws the same batches: the same model as the student alone
    assert.equal(alpha[3][1], alpha[0][1], `α=0 AUC ${alpha[3][1]} vs student alone ${alpha[0][1]}`);
    assert.equal(csvRows(join(out, 'ablation-augment.csv')).length, 5);
    assert.equal(csvRows(join(out, 'ablation-size.csv')).length, 2 * 2);
    assert.equal(csvRows(join(out, 'ablation-batch.csv')).length, 2);
    const efficiency = csvRows(join(out, 'efficiency.csv'));
    assert.equal(efficiency.length, 2);
    assert.ok(Number(efficiency[0][1]) > Number(efficiency[1][1]), 'the teacher backbone is larger than the student\'s');
    for (const chart of ['learning-curves', 'coldstart-shots', 'fn-flags-threshold', 'ablation-alpha', 'ablation-size', 'ablation-batch']) {
      const svg = readFileSync(join(out, `${chart}.svg`), 'utf8');
      assert.match(svg, /^<svg[^>]*>/, `${chart}.svg is an SVG`);
      assert.match(report, new RegExp(`\\(${chart}\\.svg\\)`), `report links ${chart}.svg`);
    }
    assert.match(readFileSync(join(out, 'learning-curves.svg'), 'utf8'), /fnd\+cl \(student\)/);

    // a second invocation finds every cell done
    const again = await runExperiments(['main', 'alpha'], { data, out, quick: true, log });
    assert.equal(again.cells.trained, 0);
    assert.equal(again.cells.reused, again.cells.total);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Efficiency/, 'sections of earlier runs stay in the report');

    // interrupted after the first epoch of a cell, the grid resumes that cell at epoch 2
    const plan = planGrid({ quick: true });
    const cell = makeCell(plan, { set: '630', method: 'softmax', width: 0.125, seed: 0 });
    const key = cellKey(cell);
    rmSync(join(out, 'runs', key), { recursive: true });
    rmSync(join(out, 'results', `${key}.json`));
    const controller = new AbortController();
    const stopAfterFirstEpoch = (line: string): void => {
      if (line.includes('epoch 1/2')) controller.abort();
    };
    const stopped = await runExperiments(['size'], { data, out, quick: true, log: stopAfterFirstEpoch, signal: controller.signal });
    assert.equal(stopped.interrupted, true);
    const state = readState(join(out, 'runs', key));
    assert.ok(state && state.epoch === 1 && !state.finished, 'the run folder holds epoch 1 only');
    const resumed = await runExperiments(['size'], { data, out, quick: true, log });
    assert.equal(resumed.cells.trained, 1);
    assert.deepEqual(readMetrics(join(out, 'runs', key)).map((m) => m.epoch), [1, 2]);
  } catch (err) {
    process.stderr.write(lines.slice(-40).join('\n') + '\n');
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
