/**
 * Report tables: summary statistics over seeds, markdown and CSV rendering, and the report folder
 * writer (`report.md`, one CSV per table, one SVG per chart). Pure formatting: no training here.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/fs.js';

/** Mean ± sample standard deviation of one quantity over seeds (n = number of seeds that ran). */
export interface Summary {
  mean: number;
  /** Sample standard deviation (n − 1 denominator); 0 when n = 1. */
  std: number;
  n: number;
}

/** A table cell: text, a plain number, a summary over seeds, or missing (rendered as '—'). */
export type TableValue = string | number | Summary | null;

export interface TableColumn {
  /** Row key and CSV column stem. */
  key: string;
  /** Markdown header. */
  label: string;
  /** Decimals for numbers and summaries (default 4). */
  digits?: number;
}

export interface ReportTable {
  /** File stem of the CSV (`<id>.csv`), also the markdown anchor. */
  id: string;
  title: string;
  /** Markdown printed under the title: what the rows are, how they were made. */
  caption: string;
  columns: TableColumn[];
  rows: Array<Record<string, TableValue>>;
}

export interface ReportChart {
  /** File stem of the SVG (`<id>.svg`). */
  id: string;
  title: string;
  caption: string;
  svg: string;
}

export interface ReportSection {
  heading: string;
  /** Markdown paragraphs before the tables. */
  intro?: string;
  tables: ReportTable[];
  charts: ReportChart[];
}

/** Mean and sample standard deviation; `undefined` for an empty list. */
export function summarise(values: readonly number[]): Summary | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const variance =
    finite.length > 1 ? finite.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (finite.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), n: finite.length };
}

export function isSummary(v: TableValue): v is Summary {
  return typeof v === 'object' && v !== null && 'mean' in v;
}

function formatNumber(v: number, digits: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) >= 1000) return v.toLocaleString('en-US');
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

/** Markdown text of one cell: summaries as `mean ± std` (std only with 2+ seeds). */
export function formatValue(v: TableValue, digits = 4): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v, digits);
  return v.n > 1 ? `${v.mean.toFixed(digits)} ± ${v.std.toFixed(digits)}` : v.mean.toFixed(digits);
}

function escapeMarkdownCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function tableToMarkdown(t: ReportTable): string {
  const header = `| ${t.columns.map((c) => escapeMarkdownCell(c.label)).join(' | ')} |`;
  const rule = `|${t.columns.map(() => '---').join('|')}|`;
  const body = t.rows.map(
    (r) => `| ${t.columns.map((c) => escapeMarkdownCell(formatValue(r[c.key] ?? null, c.digits ?? 4))).join(' | ')} |`,
  );
  return [header, rule, ...body].join('\n');
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV of one table. A column that holds a summary in any row becomes three columns
 * `<key>_mean,<key>_std,<key>_n` so the numbers stay machine-readable; full precision is kept.
 */
export function tableToCsv(t: ReportTable): string {
  const summaryKeys = new Set(t.columns.filter((c) => t.rows.some((r) => isSummary(r[c.key] ?? null))).map((c) => c.key));
  const header: string[] = [];
  for (const c of t.columns) {
    if (summaryKeys.has(c.key)) header.push(`${c.key}_mean`, `${c.key}_std`, `${c.key}_n`);
    else header.push(c.key);
  }
  const lines = [header.join(',')];
  for (const r of t.rows) {
    const fields: string[] = [];
    for (const c of t.columns) {
      const v = r[c.key] ?? null;
      if (summaryKeys.has(c.key)) {
        if (isSummary(v)) fields.push(String(v.mean), String(v.std), String(v.n));
        else if (typeof v === 'number') fields.push(String(v), '', '1');
        else fields.push(csvField(v ?? ''), '', '');
      } else {
        fields.push(v === null ? '' : isSummary(v) ? String(v.mean) : csvField(String(v)));
      }
    }
    lines.push(fields.join(','));
  }
  return lines.join('\n') + '\n';
}

export interface ReportHeader {
  title: string;
  /** Markdown paragraphs under the title (command line, scale, machine). */
  preamble: string;
}

/**
 * Writes `<dir>/report.md`, `<dir>/<table>.csv` and `<dir>/<chart>.svg` (each atomically).
 * Returns the paths written, report.md first.
 */
export function writeReport(dir: string, header: ReportHeader, sections: readonly ReportSection[]): string[] {
  const written: string[] = [];
  const md: string[] = [`# ${header.title}`, '', header.preamble.trim(), ''];
  for (const s of sections) {
    md.push(`## ${s.heading}`, '');
    if (s.intro) md.push(s.intro.trim(), '');
    for (const t of s.tables) {
      md.push(`### ${t.title}`, '', t.caption.trim(), '', tableToMarkdown(t), '', `CSV: [${t.id}.csv](${t.id}.csv)`, '');
      const csvPath = join(dir, `${t.id}.csv`);
      writeFileAtomic(csvPath, tableToCsv(t));
      written.push(csvPath);
    }
    for (const c of s.charts) {
      md.push(`### ${c.title}`, '', c.caption.trim(), '', `![${c.title}](${c.id}.svg)`, '');
      const svgPath = join(dir, `${c.id}.svg`);
      writeFileAtomic(svgPath, c.svg);
      written.push(svgPath);
    }
  }
  const reportPath = join(dir, 'report.md');
  writeFileAtomic(reportPath, md.join('\n'));
  return [reportPath, ...written];
}
