// Small SVG charts for the benchmark results: a latency CDF and grouped bars. People would
// rather look than read tables; these are written next to the JSON and linked from README.

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 60, right: 20, top: 36, bottom: 48 };
const LEGEND_TOP = 8;
const LEGEND_ROW = 16;
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(14 ${HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function axes(xMax: number, yMax: number, yTicks: (y: number) => string): string[] {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const out = [
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = MARGIN.top + plotH - (i / 4) * plotH;
    const x = MARGIN.left + (i / 4) * plotW;
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end">${yTicks((i / 4) * yMax)}</text>`,
    );
    if (xMax > 0) {
      out.push(
        `<text x="${x}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${+((i / 4) * xMax).toPrecision(3)}</text>`,
      );
    }
  }
  return out;
}

function legend(names: readonly string[]): string[] {
  return names.map(
    (name, i) =>
      `<rect x="${MARGIN.left + 10}" y="${MARGIN.top + LEGEND_TOP + i * LEGEND_ROW}" width="10" height="10" fill="${COLOURS[i % COLOURS.length]}"/>` +
      `<text x="${MARGIN.left + 26}" y="${MARGIN.top + LEGEND_TOP + 9 + i * LEGEND_ROW}">${escape(name)}</text>`,
  );
}

/** Cumulative distribution of latencies (ms), one line per series, x cut at `xMaxMs`. */
export function latencyCdf(title: string, series: readonly Series[], xMaxMs: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xMax = niceMax(xMaxMs);
  const lines = series.map((s, i) => {
    const path = s.points
      .filter(([x]) => x <= xMax)
      .map(
        ([x, y]) =>
          `${(MARGIN.left + (x / xMax) * plotW).toFixed(1)},${(MARGIN.top + plotH - y * plotH).toFixed(1)}`,
      )
      .join(' ');
    return `<polyline fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="2" points="${path}"/>`;
  });
  return frame(title, 'commit latency (ms)', 'fraction of commits', [
    ...axes(xMax, 1, (y) => y.toFixed(2)),
    ...lines,
    ...legend(series.map((s) => s.name)),
  ]);
}

/** A vertical mark on a time series: at time `x` (s), drawn in series `series`'s colour. */
export interface Mark {
  readonly x: number;
  readonly series: number;
}

/** Values over time (x in seconds), one line per series, with dashed vertical marks (events
 * such as checkpoints); the y axis from 0 to the largest value. */
export function timeSeries(
  title: string,
  yLabel: string,
  series: readonly Series[],
  marks: readonly Mark[],
): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(...all.map(([x]) => x), ...marks.map((m) => m.x)));
  const yMax = niceMax(Math.max(...all.map(([, y]) => y)));
  const px = (x: number): string => (MARGIN.left + (x / xMax) * plotW).toFixed(1);
  const py = (y: number): string => (MARGIN.top + plotH - (y / yMax) * plotH).toFixed(1);
  const lines = series.map((s, i) => {
    const path = s.points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ');
    return `<polyline fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="1.5" points="${path}"/>`;
  });
  const marked = marks.map(
    (m) =>
      `<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="${COLOURS[m.series % COLOURS.length]}" stroke-dasharray="4 3"/>`,
  );
  return frame(title, 'time since the writers started (s)', yLabel, [
    ...axes(xMax, yMax, (y) => String(Math.round(y))),
    ...marked,
    ...lines,
    ...legend(series.map((s) => s.name)),
  ]);
}

/** Sorted latencies → CDF points, thinned to at most `pointsMax`. */
export function cdfPoints(sortedMs: readonly number[], pointsMax = 400): [number, number][] {
  const step = Math.max(1, Math.floor(sortedMs.length / pointsMax));
  const points: [number, number][] = [];
  for (let i = 0; i < sortedMs.length; i += step)
    points.push([sortedMs[i], (i + 1) / sortedMs.length]);
  if (sortedMs.length > 0) points.push([sortedMs[sortedMs.length - 1], 1]);
  return points;
}

/** 10000 → "10k", 1000000 → "1M": a count as a short axis label. */
export const countLabel = (n: number): string =>
  n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);

/** A bar's value as printed over it: whole numbers from 10 up, two significant digits below. */
const barLabel = (value: number): string =>
  value >= 10 ? String(Math.round(value)) : String(Number(value.toPrecision(2)));

/** Grouped bars: one group per category (e.g. client count), one bar per series. */
export function groupedBars(
  title: string,
  yLabel: string,
  categories: readonly string[],
  series: readonly { name: string; values: readonly number[] }[],
): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  // Headroom above the tallest bar for the legend, which sits in the plot's top left corner.
  const legendH = LEGEND_TOP + series.length * LEGEND_ROW + 8;
  const yMax = niceMax((Math.max(...series.flatMap((s) => s.values)) * plotH) / (plotH - legendH));
  const groupW = plotW / categories.length;
  const barW = (groupW * 0.7) / series.length;
  const bars: string[] = [];
  categories.forEach((category, c) => {
    const x0 = MARGIN.left + c * groupW + groupW * 0.15;
    bars.push(
      `<text x="${MARGIN.left + (c + 0.5) * groupW}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${escape(category)}</text>`,
    );
    series.forEach((s, i) => {
      const value = s.values[c] ?? 0;
      const h = (value / yMax) * plotH;
      const x = x0 + i * barW;
      bars.push(
        `<rect x="${x.toFixed(1)}" y="${(MARGIN.top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLOURS[i % COLOURS.length]}"/>`,
        `<text x="${(x + barW / 2).toFixed(1)}" y="${(MARGIN.top + plotH - h - 4).toFixed(1)}" text-anchor="middle" font-size="10">${barLabel(value)}</text>`,
      );
    });
  });
  return frame(title, '', yLabel, [
    ...axes(0, yMax, (y) => String(Math.round(y))),
    ...bars,
    ...legend(series.map((s) => s.name)),
  ]);
}
