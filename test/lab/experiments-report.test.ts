import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatValue,
  summarise,
  tableToCsv,
  tableToMarkdown,
  writeReport,
  type ReportTable,
} from '../../src/lab/experiments/report.js';
import { lineChartSvg } from '../../src/lab/experiments/charts.js';

test('summarise: mean and sample std (n-1), ignoring non-finite values', () => {
  const s = summarise([0.7, 0.8, 0.9, Number.NaN]);
  assert.ok(s);
  assert.equal(s.n, 3);
  assert.ok(Math.abs(s.mean - 0.8) < 1e-12);
  assert.ok(Math.abs(s.std - 0.1) < 1e-12);
  assert.deepEqual(summarise([0.5]), { mean: 0.5, std: 0, n: 1 });
  assert.equal(summarise([]), undefined);
});

test('formatValue: summaries print ± only with two or more seeds; null is a dash', () => {
  assert.equal(formatValue({ mean: 0.81234, std: 0.00456, n: 3 }), '0.8123 ± 0.0046');
  assert.equal(formatValue({ mean: 0.81234, std: 0, n: 1 }), '0.8123');
  assert.equal(formatValue(null), '—');
  assert.equal(formatValue(12345), '12,345');
  assert.equal(formatValue(0.5, 2), '0.50');
});

const table: ReportTable = {
  id: 'main',
  title: 'Main',
  caption: 'test',
  columns: [
    { key: 'method', label: 'Method' },
    { key: 'auc', label: 'AUC' },
  ],
  rows: [
    { method: 'fnd+cl', auc: { mean: 0.9, std: 0.01, n: 2 } },
    { method: 'REFERENCE, "real" data', auc: 0.8995 },
    { method: 'random', auc: null },
  ],
};

test('tableToCsv: summary columns split into mean/std/n, text quoted', () => {
  const csv = tableToCsv(table).trim().split('\n');
  assert.deepEqual(csv, [
    'method,auc_mean,auc_std,auc_n',
    'fnd+cl,0.9,0.01,2',
    '"REFERENCE, ""real"" data",0.8995,,1',
    'random,,,',
  ]);
});

test('tableToMarkdown: one row per table row, pipes escaped', () => {
  const md = tableToMarkdown({ ...table, rows: [{ method: 'a|b', auc: 0.5 }] }).split('\n');
  assert.deepEqual(md, ['| Method | AUC |', '|---|---|', '| a\\|b | 0.5000 |']);
});

test('writeReport writes report.md, the CSVs and an SVG chart with its series', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outfitrec-report-'));
  try {
    const svg = await lineChartSvg(
      [
        { x: 1, y: 0.6, series: 'lpae', panel: '630' },
        { x: 2, y: 0.7, series: 'lpae', panel: '630' },
        { x: 1, y: 0.65, series: 'fnd+cl', panel: '630', std: 0.01 },
        { x: 2, y: 0.75, series: 'fnd+cl', panel: '630', std: 0.01 },
      ],
      { title: 'curves', xTitle: 'epoch', yTitle: 'val AUC' },
    );
    assert.match(svg, /^<svg/);
    assert.match(svg, /fnd\+cl/);
    await assert.rejects(lineChartSvg([], { title: 'empty', xTitle: 'x', yTitle: 'y' }), /no points/);
    const paths = writeReport(dir, { title: 'Report', preamble: 'made by a test' }, [
      { heading: 'Main', tables: [table], charts: [{ id: 'curves', title: 'Curves', caption: 'c', svg }] },
    ]);
    assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), ['report.md', 'main.csv', 'curves.svg']);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(md, /\| fnd\+cl \| 0\.9000 ± 0\.0100 \|/);
    assert.match(md, /!\[Curves\]\(curves\.svg\)/);
    assert.equal(readFileSync(join(dir, 'curves.svg'), 'utf8'), svg);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lineChartSvg: epoch axes tick at whole epochs only', async () => {
  const points = [1, 2].flatMap((x) => [
    { x, y: 0.5 + x / 10, series: 'a' },
    { x, y: 0.55 + x / 10, series: 'b' },
  ]);
  const svg = await lineChartSvg(points, { title: 'curves', xTitle: 'epoch', yTitle: 'AUC', xIntegerTicks: true });
  // the x axis labels are the epochs 1 and 2, each once (vega's own ticks put a "2" at 1.5 too)
  const xAxis = svg.slice(svg.indexOf("X-axis titled 'epoch'"));
  const labelGroup = /role-axis-label"[^>]*>(.*?)<\/g>/.exec(xAxis);
  assert.ok(labelGroup, 'the x axis has labels');
  const labels = [...labelGroup[1].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(labels, ['1', '2']);
});
