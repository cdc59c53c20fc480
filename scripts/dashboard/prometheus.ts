/** The two calls of Prometheus's HTTP API the dashboard needs: a range query and a label's values. */

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

interface ApiAnswer<T> {
  status: "success" | "error";
  data: T;
  error?: string;
}

async function api<T>(base: string, route: string, params: [string, string][]): Promise<T> {
  const url = new URL(route, base.endsWith("/") ? base : `${base}/`);
  for (const [key, value] of params) url.searchParams.append(key, value);
  const answer = await fetch(url);
  const body = (await answer.json()) as ApiAnswer<T>;
  if (body.status !== "success") throw new Error(`Prometheus ${url.pathname} refused ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

export async function queryRange(base: string, expr: string, range: { start: number; end: number; step: number }): Promise<RangeSeries[]> {
  const data = await api<{ resultType: string; result: RangeSeries[] }>(base, "api/v1/query_range", [
    ["query", expr],
    ["start", String(range.start)],
    ["end", String(range.end)],
    ["step", String(range.step)],
  ]);
  return data.result;
}

/** What Grafana asks for `label_values(match, label)`. */
export async function labelValues(base: string, label: string, match: string, range: { start: number; end: number }): Promise<string[]> {
  return api<string[]>(base, `api/v1/label/${encodeURIComponent(label)}/values`, [
    ["match[]", match],
    ["start", String(range.start)],
    ["end", String(range.end)],
  ]);
}
