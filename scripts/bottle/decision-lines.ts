/**
 * The decision line (docs/decision-log.md): one schema for what both gates write, and the one
 * reader of each gate's raw log line. Pure: a log line in, a typed line out. `logs --json`
 * prints these; `blocked` reads its refusals from them.
 */
import { record } from "../plan/parsed-values";
import { GATES, type Gate } from "./deployed";
import type { LogLine } from "./inspect";

/** What a gate did with a request: let it through, refused it, let it through in audit mode, or let it through with a finding. */
export const DECISIONS = ["allow", "deny", "audit-allow", "warn"] as const;
export type Decision = (typeof DECISIONS)[number];

/** Where a line came from: the engine's time (RFC 3339, UTC) and the gate whose log it is in. */
interface Origin {
  time: string;
  log: Gate;
}

/** A request (or a tunnel, method CONNECT) and what one gate decided about it. */
export interface DecisionLine extends Origin {
  kind: "decision";
  /** The gate that decided: the egress proxy records pipelock's refusals it passed on as pipelock's. */
  gate: Gate;
  decision: Decision;
  /** The gate's stable reason: the egress proxy's reason, or pipelock's scanner (its event for a tunnel or a finding). */
  reason: string;
  /** pipelock's own words (never a matched value: its DLP names the pattern only). */
  detail?: string;
  host?: string;
  port?: number;
  method?: string;
  /** Without the query (pipelock: `/[redacted]` where a content scanner fired). */
  path?: string;
  /** The egress proxy's route (its index in routes.yaml) and the name of the token it injected, never its value. */
  route?: number;
  token?: string;
  /** The egress proxy's lane for an allowed request: `inspect`, or `bulk/<kind>`. */
  lane?: string;
  /** The HTTP status pipelock saw from the upstream (its forwarded requests). */
  status?: number;
  /** pipelock's event name, as it wrote it. */
  event?: string;
}

/** A gate re-read its live configuration: the same line for both gates. */
export interface ReloadLine extends Origin {
  kind: "reload";
  result: "ok" | "rejected";
  detail: string;
  /** The sha256 of the document now in force (absent when rejected). */
  config_hash?: string;
}

/** Anything else a gate writes (start-up banners, mitmproxy's connection lines, pipelock's errors), as it is. */
export interface MessageLine extends Origin {
  kind: "message";
  text: string;
}

export type GateLine = DecisionLine | ReloadLine | MessageLine;

const isGate = (value: unknown): value is Gate => GATES.includes(value as Gate);
const isDecision = (value: unknown): value is Decision => DECISIONS.includes(value as Decision);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

/** Keys whose value is undefined left out, so a line's JSON has only the fields its gate filled. */
function defined<T extends object>(line: T): T {
  return Object.fromEntries(Object.entries(line).filter(([, value]) => value !== undefined)) as T;
}

/** The JSON object a line carries (after any prefix), or undefined. */
function jsonOf(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf("{");
  if (start === -1) return undefined;
  try {
    const value: unknown = JSON.parse(text.slice(start));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? record(value) : undefined;
  } catch {
    return undefined;
  }
}

/** A line of a gate's log (`LogLine`: the engine's time, the gate, the text) in the schema. */
export function gateLine(line: LogLine): GateLine {
  const origin = { time: line.time, log: line.gate };
  const json = jsonOf(line.text);
  const read = json === undefined ? undefined : line.gate === "egress-proxy" ? egressProxyLine(json, origin) : pipelockLine(json, origin);
  return read ?? { ...origin, kind: "message", text: line.text };
}

function reloadLine(json: Record<string, unknown>, origin: Origin): ReloadLine {
  return defined({
    ...origin,
    kind: "reload" as const,
    result: json.status === "success" ? ("ok" as const) : ("rejected" as const),
    detail: str(json.detail) ?? "",
    config_hash: str(json.config_hash),
  });
}

/** The egress proxy's decision log (decision_log.py): its decision lines and its reload lines. */
function egressProxyLine(json: Record<string, unknown>, origin: Origin): GateLine | undefined {
  if (json.event === "config_reload") return reloadLine(json, origin);
  if (!isDecision(json.decision)) return undefined;
  const reason = str(json.reason) ?? "";
  return defined({
    ...origin,
    kind: "decision" as const,
    gate: isGate(json.by) ? json.by : origin.log,
    decision: json.decision,
    // An audit-mode line's reason is what would have refused it ("audit: path not allowed").
    reason: json.decision === "audit-allow" ? reason.replace(/^audit: /, "") : reason,
    host: str(json.host),
    port: num(json.port),
    method: str(json.method),
    path: str(json.path),
    route: num(json.route),
    token: str(json.token),
    lane: str(json.lane),
    status: num(json.status),
  });
}

/**
 * pipelock's events (its audit logger), as decisions: a refusal, a request or tunnel let
 * through, a finding it only logged. Its other events (startup, shutdown, error, tunnel_close,
 * ...) are messages.
 */
function pipelockDecision(json: Record<string, unknown>): { decision: Decision; reason: string; detail?: string } | undefined {
  const scanner = str(json.scanner);
  const words = str(json.reason);
  const patterns = Array.isArray(json.patterns) ? json.patterns.map(String).join(", ") : undefined;
  switch (json.event) {
    case "blocked":
    case "ws_blocked":
      return { decision: "deny", reason: scanner ?? String(json.event), detail: words };
    case "allowed":
    case "forward_http":
    case "tunnel_open":
      return { decision: "allow", reason: String(json.event) };
    case "anomaly":
      // pipelock logs each tunnel it intercepts as an informational anomaly (score 0): the tunnel was let through.
      if (scanner === "tls_intercept") return { decision: "allow", reason: "tls_intercept" };
      return { decision: "warn", reason: scanner ?? "anomaly", detail: words };
    case "response_scan":
    case "body_dlp":
    case "header_dlp":
    case "dlp_warn":
      return { decision: "warn", reason: String(json.event), detail: patterns ?? words };
    default:
      return undefined;
  }
}

/** pipelock's JSON log: its decisions and its reload line; host, port and path from its url or target. */
function pipelockLine(json: Record<string, unknown>, origin: Origin): GateLine | undefined {
  if (json.event === "config_reload") return reloadLine(json, origin);
  const decided = pipelockDecision(json);
  if (decided === undefined) return undefined;
  return defined({
    ...origin,
    kind: "decision" as const,
    gate: origin.log,
    ...decided,
    ...where(str(json.url) ?? str(json.target) ?? ""),
    method: str(json.method),
    status: num(json.status_code),
    event: str(json.event),
  });
}

/** Host, port and path of pipelock's `url` (http[s]://host[:port]/path, the scheme's port if none) or `target` (host:port). */
function where(urlOrTarget: string): { host?: string; port?: number; path?: string } {
  if (urlOrTarget === "") return {};
  const target = /^\[?([^\]/]+?)\]?:(\d+)$/.exec(urlOrTarget);
  if (target) return { host: target[1]!, port: Number(target[2]) };
  try {
    const url = new URL(urlOrTarget);
    const port = url.port !== "" ? Number(url.port) : SCHEME_PORTS[url.protocol];
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      ...(port !== undefined && { port }),
      ...(url.pathname !== "/" && { path: url.pathname }),
    };
  } catch {
    return { host: urlOrTarget };
  }
}

const SCHEME_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443 };

/**
 * The bottle's own probes, not the agent's traffic: the egress proxy's health check (its
 * decision line, and mitmproxy's connection lines for it, which come from loopback: the agent
 * is never there) and the self-test's requests for names that can never exist (RFC 6761).
 * `logs` hides them unless `--all`; `blocked` never counts them.
 */
export function isProbe(line: GateLine): boolean {
  if (line.log !== "egress-proxy") return false;
  if (line.kind === "decision") return line.reason === "healthcheck" || (line.host ?? "").endsWith(".invalid");
  return line.kind === "message" && LOOPBACK_CONNECTION.test(line.text);
}

/** mitmproxy's line for a client connecting or leaving, from loopback (`[15:10:01.765][127.0.0.1:39114] client connect`). */
const LOOPBACK_CONNECTION = /^\[[\d:.]+\]\[(?:127\.0\.0\.1|::1):\d+\] client (?:connect|disconnect)$/;
