/**
 * The HTML page that draws the dashboard's panels with uPlot (inlined, so the page needs no
 * network): one chart per panel, its series aligned on the range's steps. Pure.
 */
import { legendName, type Panel } from "./dashboard";
import type { RangeSeries } from "./prometheus";

export interface Range {
  start: number;
  end: number;
  step: number;
}

export interface DrawnPanel {
  title: string;
  unit: string;
  series: { name: string; values: (number | null)[] }[];
}

/** The range's steps, as Prometheus evaluates a range query over it. */
export function steps(range: Range): number[] {
  const times: number[] = [];
  for (let t = range.start; t <= range.end; t += range.step) times.push(t);
  return times;
}

/** A panel's answers, one per target, as named series on the range's steps (null where a series has no sample). */
export function drawPanel(panel: Panel, answers: RangeSeries[][], range: Range): DrawnPanel {
  const times = steps(range);
  const series = panel.targets.flatMap((target, i) =>
    (answers[i] ?? []).map((answer) => {
      const byTime = new Map(answer.values.map(([t, v]) => [t, Number(v)]));
      return {
        name: legendName(target.legendFormat, answer.metric),
        values: times.map((t) => {
          const value = byTime.get(t);
          return value === undefined || !Number.isFinite(value) ? null : value;
        }),
      };
    }),
  );
  return { title: panel.title, unit: panel.unit, series };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Inline script that draws every panel; reads the data from the page's JSON block. */
const DRAW = `
const { range, panels } = JSON.parse(document.getElementById("data").textContent);
const palette = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"];
const units = {
  reqps: (v) => v.toPrecision(3) + "/s",
  s: (v) => (v < 1 ? (v * 1000).toPrecision(3) + " ms" : v.toPrecision(3) + " s"),
  bytes: (v) => (v >= 1048576 ? (v / 1048576).toPrecision(3) + " MiB" : v >= 1024 ? (v / 1024).toPrecision(3) + " KiB" : v.toFixed(0) + " B"),
  none: (v) => String(+v.toPrecision(3)),
};
const xs = [];
for (let t = range.start; t <= range.end; t += range.step) xs.push(t);
panels.forEach((panel, i) => {
  const box = document.getElementById("panel-" + i);
  if (panel.series.length === 0) return;
  const format = units[panel.unit] || units.none;
  new uPlot({
    width: box.clientWidth - 16,
    height: 260,
    legend: { live: false },
    scales: { y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [{ stroke: "#ccc", grid: { stroke: "#333" } }, { stroke: "#ccc", grid: { stroke: "#333" }, size: 70, values: (u, vals) => vals.map(format) }],
    series: [{}].concat(panel.series.map((s, j) => ({ label: s.name, stroke: palette[j % palette.length], width: 1.5, spanGaps: false, points: { show: true, size: 3, fill: palette[j % palette.length] } }))),
  }, [xs].concat(panel.series.map((s) => s.values)), box.querySelector(".chart"));
});
`;

/** The whole page: a title, one box per panel (data-series: how many series it draws), uPlot and its data inline. */
export function renderPage(title: string, range: Range, panels: DrawnPanel[], uplot: { js: string; css: string }): string {
  const boxes = panels
    .map(
      (panel, i) =>
        `<section class="panel" id="panel-${i}" data-series="${panel.series.length}"><h2>${escapeHtml(panel.title)}</h2>` +
        `${panel.series.length === 0 ? '<p class="empty">no data</p>' : ""}<div class="chart"></div></section>`,
    )
    .join("\n");
  // The JSON sits in a script element: "</" would end it early.
  const data = JSON.stringify({ range, panels }).replace(/<\//g, "<\\/");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${uplot.css}
body { background: #111217; color: #ccccdc; font: 13px sans-serif; margin: 16px; }
h1 { font-size: 18px; margin: 0 0 12px; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.panel { background: #181b1f; border: 1px solid #2a2d33; padding: 8px; }
.panel h2 { font-size: 14px; margin: 0 0 6px; }
.empty { color: #e24d42; }
.u-legend { font-size: 11px; text-align: left; }
</style></head>
<body><h1>${escapeHtml(title)}</h1>
<main>
${boxes}
</main>
<script id="data" type="application/json">${data}</script>
<script>${uplot.js}</script>
<script>${DRAW}</script>
</body></html>
`;
}
