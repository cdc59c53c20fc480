/**
 * The dashboard drawn from a Prometheus: every panel's targets of the shipped dashboard JSON
 * evaluated over a range, drawn by page.ts, and photographed by headless Chromium.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { chosenValues } from "./variables";
import { DASHBOARD_FILE, labelValuesVariables, panelsOf, rateIntervalSeconds, substitute } from "./dashboard";
import { drawPanel, type Range, renderPage } from "./page";
import { queryRange } from "./prometheus";
import { screenshot } from "./chromium";

export interface SnapshotOptions {
  prometheus: string;
  range: Range;
  /** Values of the dashboard's variables; a variable not given takes what Prometheus has (all of a multi-value one, else the first). */
  given: Record<string, string[]>;
  scrapeSeconds: number;
  png: string;
  html: string;
}

const UPLOT_DIST = path.join(path.dirname(require.resolve("uplot/package.json")), "dist");

/** Writes the page and its PNG; returns the panels as drawn (what each shows). */
export async function snapshot(options: SnapshotOptions) {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, "utf8"));
  const values = await chosenValues(options.prometheus, labelValuesVariables(dashboard), options.given, options.range);
  const rateInterval = rateIntervalSeconds(options.range.step, options.scrapeSeconds);
  const panels = await Promise.all(
    panelsOf(dashboard).map(async (panel) => {
      const answers = await Promise.all(
        panel.targets.map((target) => queryRange(options.prometheus, substitute(target.expr, values, rateInterval), options.range)),
      );
      return drawPanel(panel, answers, options.range);
    }),
  );
  const title = `${dashboard.title}: stack ${values.stack?.join(", ")}, bottles ${values.bottle?.join(", ")}`;
  const uplot = {
    js: fs.readFileSync(path.join(UPLOT_DIST, "uPlot.iife.min.js"), "utf8"),
    css: fs.readFileSync(path.join(UPLOT_DIST, "uPlot.min.css"), "utf8"),
  };
  fs.writeFileSync(options.html, renderPage(title, options.range, panels, uplot));
  // Two panels a row, each about 380 px high with its legend.
  screenshot(options.html, options.png, { width: 1600, height: 80 + Math.ceil(panels.length / 2) * 400 });
  return panels;
}
