/**
 * SVG charts for the experiment report: a vega-lite spec compiled to vega and rendered headless
 * (`renderer: 'none'`, then `toSVG()`), so no browser or canvas is needed. Text widths are
 * vega's estimates without a canvas, which is fine for a static report.
 */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** One plotted point. `std` draws an error bar (mean ± std over seeds) when given. */
export interface ChartPoint {
  x: number;
  y: number;
  /** Line (colour) the point belongs to. */
  series: string;
  /** Small-multiple panel (e.g. the dataset), in order of first appearance; one panel when unset. */
  panel?: string;
  std?: number;
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  /** Treat x as ordinal categories (shots 1, 5; batch sizes) instead of a continuous axis. */
  xOrdinal?: boolean;
  /** Whole-number ticks on a continuous x (epochs). */
  xIntegerTicks?: boolean;
  /** Width of one panel in pixels. */
  width?: number;
  height?: number;
}

/** Renders a vega-lite spec to an SVG string. */
export async function renderVegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every whole number from the smallest to the largest x of the points. */
function integerTicks(points: readonly ChartPoint[]): number[] {
  const xs = points.map((p) => p.x);
  const lo = Math.ceil(Math.min(...xs));
  const hi = Math.floor(Math.max(...xs));
  return Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
}

/** The vega-lite spec of a multi-series line chart with optional error bars and panels. */
export function lineChartSpec(points: readonly ChartPoint[], opts: LineChartOptions): TopLevelSpec {
  const hasPanels = points.some((p) => p.panel !== undefined);
  const panelOrder = [...new Set(points.map((p) => p.panel ?? ''))];
  const hasStd = points.some((p) => p.std !== undefined && p.std > 0);
  const values = points.map((p) => ({
    x: p.x,
    y: p.y,
    series: p.series,
    panel: p.panel ?? '',
    lo: p.y - (p.std ?? 0),
    hi: p.y + (p.std ?? 0),
  }));
  const xField = opts.xOrdinal
    ? { field: 'x', type: 'ordinal' as const, title: opts.xTitle, axis: { labelAngle: 0 } }
    : {
        field: 'x',
        type: 'quantitative' as const,
        title: opts.xTitle,
        scale: { zero: false },
        // explicit tick values: with two epochs vega's tickMinStep still placed a tick at 1.5 (labelled "2")
        ...(opts.xIntegerTicks ? { axis: { values: integerTicks(points), format: 'd' } } : {}),
      };
  const yField = { field: 'y', type: 'quantitative' as const, title: opts.yTitle, scale: { zero: false } };
  const color = { field: 'series', type: 'nominal' as const, title: null };
  const layers: unknown[] = [
    { mark: { type: 'line', point: true }, encoding: { x: xField, y: yField, color } },
  ];
  if (hasStd) {
    layers.push({
      mark: { type: 'errorbar', ticks: true },
      encoding: {
        x: xField,
        y: { field: 'lo', type: 'quantitative', title: opts.yTitle, scale: { zero: false } },
        y2: { field: 'hi' },
        color,
      },
    });
  }
  const inner = {
    width: opts.width ?? (hasPanels ? 260 : 420),
    height: opts.height ?? 220,
    layer: layers,
  };
  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title,
    data: { values },
    config: { font: 'sans-serif', legend: { orient: 'right', labelLimit: 320 } },
  };
  const spec = hasPanels
    ? { ...base, facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panelOrder } }, spec: inner, resolve: { scale: { y: 'independent' } } }
    : { ...base, ...inner };
  return spec as TopLevelSpec;
}

/** A line chart as SVG text. Throws on an empty point list: an empty chart hides a bug. */
export async function lineChartSvg(points: readonly ChartPoint[], opts: LineChartOptions): Promise<string> {
  if (points.length === 0) throw new Error(`chart '${opts.title}': no points to plot`);
  return renderVegaLiteSvg(lineChartSpec(points, opts));
}
