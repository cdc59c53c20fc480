/**
 * Reads the shipped Grafana dashboard (observability/grafana/bottles.json) as Grafana would:
 * its panels' targets and its template variables, with the variables and `$__rate_interval`
 * substituted. Pure: the renderer and the dashboard's test both evaluate exactly these queries.
 */
import * as path from "node:path";

export const DASHBOARD_FILE = path.join(__dirname, "..", "..", "observability", "grafana", "bottles.json");

export interface Target {
  expr: string;
  legendFormat: string;
}

export interface Panel {
  title: string;
  unit: string;
  targets: Target[];
}

/** A template variable whose values are one label's values on the series a selector matches. */
export interface LabelValuesVariable {
  name: string;
  label: string;
  match: string;
  /** Several values at once (Grafana's multi-value variable); otherwise the first. */
  multi: boolean;
}

interface DashboardJson {
  panels: { type: string; title: string; fieldConfig?: { defaults?: { unit?: string } }; targets?: Target[] }[];
  templating: { list: { name: string; type: string; definition?: string; multi?: boolean }[] };
}

export function panelsOf(dashboard: DashboardJson): Panel[] {
  return dashboard.panels
    .filter((panel) => panel.type !== "row")
    .map((panel) => ({
      title: panel.title,
      unit: panel.fieldConfig?.defaults?.unit ?? "none",
      targets: (panel.targets ?? []).map(({ expr, legendFormat }) => ({ expr, legendFormat })),
    }));
}

const LABEL_VALUES = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/;

/** The dashboard's query variables, each a Grafana `label_values(selector, label)`. */
export function labelValuesVariables(dashboard: DashboardJson): LabelValuesVariable[] {
  return dashboard.templating.list
    .filter((variable) => variable.type === "query")
    .map((variable) => {
      const found = LABEL_VALUES.exec(variable.definition ?? "");
      if (!found) throw new Error(`variable ${variable.name}: ${JSON.stringify(variable.definition)} is not label_values(selector, label)`);
      return { name: variable.name, match: found[1]!, label: found[2]!, multi: variable.multi === true };
    });
}

/**
 * Grafana's `$__rate_interval`: four scrape intervals, or one step plus one scrape interval
 * when that is longer, so every rate window holds at least two samples.
 */
export function rateIntervalSeconds(stepSeconds: number, scrapeSeconds: number): number {
  return Math.max(4 * scrapeSeconds, stepSeconds + scrapeSeconds);
}

/**
 * The expression with `$name` (and `${name}`) replaced by the variables' values, as a regex
 * alternation when a variable has several, and `$__rate_interval` by its value in seconds.
 * A variable the expression names and `values` does not hold is an error, not an empty match.
 */
export function substitute(expr: string, values: Record<string, string[]>, rateInterval: number): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_whole, name: string) => {
    if (name === "__rate_interval") return `${rateInterval}s`;
    const chosen = values[name];
    if (chosen === undefined || chosen.length === 0) throw new Error(`no value for the dashboard variable $${name} in ${expr}`);
    return chosen.length === 1 ? chosen[0]! : `(${chosen.join("|")})`;
  });
}

/** A series' name in the legend: Grafana's `{{label}}` placeholders filled from its labels. */
export function legendName(format: string, labels: Record<string, string>): string {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_whole, name: string) => labels[name] ?? "");
}
