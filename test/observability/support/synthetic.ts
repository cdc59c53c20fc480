/**
 * An hour of what Prometheus would have scraped from two bottles' gates (stack "dev", bottles
 * "coder" and "reviewer"), as OpenMetrics for `promtool tsdb create-blocks-from openmetrics`:
 * every metric the dashboard reads, named as the egress proxy's exporter (the shared contract)
 * and pipelock 2.3.0 (internal/metrics) name them, with the labels the scrape configs add.
 */

export const STACK = "dev";
export const BOTTLES = ["coder", "reviewer"] as const;
const GATES = ["egress-proxy", "pipelock", "pipelock-bulk"] as const;
const STEP = 15;

type Labels = Record<string, string>;
interface Window {
  start: number;
  end: number;
}

const labelText = (labels: Labels) =>
  `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;

function series(name: string, labels: Labels, window: Window, value: (elapsed: number) => number | undefined): string[] {
  const lines: string[] = [];
  for (let t = window.start; t <= window.end; t += STEP) {
    const v = value(t - window.start);
    if (v !== undefined) lines.push(`${name}${labelText(labels)} ${v} ${t}`);
  }
  return lines;
}

const target = (bottle: string, gate: (typeof GATES)[number]): Labels => ({
  job: "bot-bottle",
  instance: `172.20.${BOTTLES.indexOf(bottle as (typeof BOTTLES)[number])}.${GATES.indexOf(gate) + 2}:${gate === "egress-proxy" ? 9464 : 9465}`,
  stack: STACK,
  bottle,
  gate,
});

/** A counter growing at `perSecond` from `from` seconds into the window (absent before: labelled counters appear at their first count). */
const counter =
  (perSecond: number, from = 0) =>
  (elapsed: number) =>
    elapsed < from ? undefined : Math.floor(1 + perSecond * (elapsed - from));

/** Histogram series: observations at `perSecond`, spread over the buckets by `share` (cumulative fractions per bucket bound). */
function histogram(name: string, labels: Labels, window: Window, perSecond: number, share: [number, number][]): string[] {
  const count = (elapsed: number) => perSecond * elapsed;
  const mean = share.reduce((sum, [bound], i) => sum + bound * (share[i]![1] - (share[i - 1]?.[1] ?? 0)), 0);
  return [
    ...share.flatMap(([bound, fraction]) =>
      series(`${name}_bucket`, { ...labels, le: String(bound) }, window, (e) => Math.floor(count(e) * fraction)),
    ),
    ...series(`${name}_bucket`, { ...labels, le: "+Inf" }, window, (e) => Math.floor(count(e))),
    ...series(`${name}_count`, labels, window, (e) => Math.floor(count(e))),
    ...series(`${name}_sum`, labels, window, (e) => count(e) * mean),
  ];
}

const SECONDS: [number, number][] = [
  [0.005, 0.3],
  [0.01, 0.6],
  [0.05, 0.85],
  [0.1, 0.95],
  [0.5, 0.99],
];
const BYTES: [number, number][] = [
  [1024, 0.4],
  [16384, 0.7],
  [262144, 0.9],
  [4194304, 0.99],
];

export function syntheticOpenMetrics(window: Window): string {
  const families: [string, string, string[]][] = [];
  const family = (name: string, type: string, lines: string[]) => families.push([name, type, lines]);
  const each = (make: (bottle: string, scale: number) => string[]) => BOTTLES.flatMap((bottle, i) => make(bottle, i + 1));
  family(
    "up",
    "gauge",
    each((bottle) =>
      GATES.flatMap((gate) =>
        series("up", target(bottle, gate), window, (e) => (gate === "pipelock-bulk" && e > 1800 && e < 2100 ? 0 : 1)),
      ),
    ),
  );
  const decisions: [string, string, string, string, string, number][] = [
    ["allow", "egress-proxy", "route", "api.github.com", "GET", 2],
    ["allow", "egress-proxy", "route", "github.com", "POST", 0.5],
    ["deny", "egress-proxy", "no route", "(no route)", "CONNECT", 0.1],
    ["deny", "pipelock", "dlp", "api.github.com", "POST", 0.01],
    ["deny", "pipelock-bulk", "allowlist", "github.com", "GET", 0.02],
    ["audit-allow", "egress-proxy", "no route", "(no route)", "GET", 0.05],
  ];
  family(
    "bot_bottle_egress_requests",
    "counter",
    each((bottle, scale) =>
      decisions.flatMap(([decision, gate, reason, host, method, rate]) =>
        series(
          "bot_bottle_egress_requests_total",
          { ...target(bottle, "egress-proxy"), gate, decision, reason, host, method },
          window,
          counter(rate * scale),
        ),
      ),
    ),
  );
  family(
    "bot_bottle_egress_credentials_injected",
    "counter",
    each((bottle, scale) =>
      series(
        "bot_bottle_egress_credentials_injected_total",
        { ...target(bottle, "egress-proxy"), token: "github" },
        window,
        counter(1.5 * scale),
      ),
    ),
  );
  family(
    "bot_bottle_egress_hook_seconds",
    "histogram",
    each((bottle, scale) => histogram("bot_bottle_egress_hook_seconds", target(bottle, "egress-proxy"), window, 2.5 * scale, SECONDS)),
  );
  for (const [name, share] of [
    ["bot_bottle_egress_chain_seconds", SECONDS.map(([b, f]): [number, number] => [b * 10, f])],
    ["bot_bottle_egress_request_body_bytes", BYTES],
    ["bot_bottle_egress_response_body_bytes", BYTES],
  ] as const) {
    family(
      name,
      "histogram",
      each((bottle, scale) =>
        ["inspect", "bulk"].flatMap((lane) => histogram(name, { ...target(bottle, "egress-proxy"), lane }, window, scale, [...share])),
      ),
    );
  }
  family(
    "bot_bottle_egress_reloads",
    "counter",
    each((bottle) => [
      ...series("bot_bottle_egress_reloads_total", { ...target(bottle, "egress-proxy"), result: "ok" }, window, (e) =>
        e < 1800 ? undefined : 1,
      ),
      ...series("bot_bottle_egress_reloads_total", { ...target(bottle, "egress-proxy"), result: "rejected" }, window, (e) =>
        e < 2700 ? undefined : 1,
      ),
    ]),
  );
  family(
    "bot_bottle_egress_config_info",
    "gauge",
    each((bottle) => [
      ...series("bot_bottle_egress_config_info", { ...target(bottle, "egress-proxy"), sha256: "1f3a".padEnd(64, "0") }, window, (e) =>
        e < 1800 ? 1 : undefined,
      ),
      ...series("bot_bottle_egress_config_info", { ...target(bottle, "egress-proxy"), sha256: "9c0d".padEnd(64, "0") }, window, (e) =>
        e < 1800 ? undefined : 1,
      ),
    ]),
  );
  // pipelock's DLP blocks, from some minutes into the hour on.
  const dlpCounters: [string, (typeof GATES)[number], Labels, number, number][] = [
    ["pipelock_tls_request_blocked", "pipelock", { reason: "body_dlp" }, 0.01, 600],
    ["pipelock_scanner_hits", "pipelock", { scanner: "dlp", agent: "_default" }, 0.005, 1200],
    ["pipelock_scan_api_findings", "pipelock-bulk", { kind: "dlp", scanner: "dlp", severity: "critical" }, 0.002, 2400],
  ];
  for (const [name, gate, labels, rate, from] of dlpCounters) {
    family(
      name,
      "counter",
      each((bottle, scale) => series(`${name}_total`, { ...target(bottle, gate), ...labels }, window, counter(rate * scale, from))),
    );
  }
  const text = families.map(([name, type, lines]) => [`# TYPE ${name} ${type}`, ...lines].join("\n")).join("\n");
  return `${text}\n# EOF\n`;
}
