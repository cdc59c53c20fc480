/**
 * Every key the program writes into a gate's document, and what the reach diff makes of it.
 * The reach reads the keys it understands by name; these tables make that reading fail closed:
 * a key they do not list (a new route option, a new pipelock setting) is unknown. The reach
 * diff refuses a working tree whose plan has one (reach.ts unknownToReach), and counts any
 * change to one in an older plan as widening rather than missing it. The contract test renders
 * every route feature and every example stack and requires that nothing is unknown, so a new
 * option is decided here, with the renderer, before it ships. A route's keys are the route
 * contract's (components/config/route-contract.ts).
 */
import { type ReachRule, ROUTE_YAML_KEYS } from "../../components/index";

/**
 * What the reach makes of a key:
 * - `read`: read into the reach and diffed there, by meaning;
 * - `compared`: not interpreted; any change of its value counts as widening;
 * - `ignored: <why>`: says nothing about what the agent can reach (a path, a name, a copy of a
 *   value read elsewhere);
 * - a nested table: the same, key by key, for an object's keys.
 */
export type KeyRule = "read" | "compared" | `ignored: ${string}` | KeyTable;
export interface KeyTable {
  readonly [key: string]: KeyRule;
}

/** One route of routes.yaml: the route contract's keys (components/config/route-contract.ts). */
export const ROUTE_KEYS: KeyTable = keyTableOf(ROUTE_YAML_KEYS);

/** Dotted keys with their reach rules as a nested table: a key read by its keys is the table of them. */
export function keyTableOf(keys: ReadonlyMap<string, ReachRule>): KeyTable {
  const table: Record<string, KeyRule> = {};
  for (const [path, rule] of keys) {
    if (rule === "its keys") continue;
    const names = path.split(".");
    let at = table;
    for (const name of names.slice(0, -1)) {
      at[name] ??= {};
      at = at[name] as Record<string, KeyRule>;
    }
    at[names.at(-1)!] = "reads" in rule ? "read" : `ignored: ${rule.ignored}`;
  }
  return table;
}

/** routes.yaml around its routes (each route: ROUTE_KEYS). */
export const ROUTES_DOCUMENT_KEYS: KeyTable = {
  version: "compared",
  audit: "read",
  allow_hint: "ignored: the command a refusal names for a human",
  requests_per_minute: "read",
  bulk_lane: {
    scan_headers: "ignored: pipelock.yaml's sensitive_headers, made by the same function, read there",
    answer_scan_bytes: "read",
  },
  passthrough: "ignored: pipelock.yaml's tls_interception.passthrough_domains, read there",
  // Each source's keys: credential-reach.ts CREDENTIAL_KEYS.
  credentials: "read",
  routes: "read",
};

/** pipelock.yaml and pipelock-bulk.yaml (the same settings; the bulk one adds its scan API). */
export const PIPELOCK_DOCUMENT_KEYS: KeyTable = {
  version: "compared",
  mode: "compared",
  enforce: "compared",
  default_agent_identity: "ignored: the bottle's name, in pipelock's log lines",
  api_allowlist: "ignored: the routes' hosts and the credential sources' mint hosts, diffed as routes and credentials",
  trusted_domains: "read",
  internal: "compared",
  ssrf: { ip_allowlist: "read" },
  explain_blocks: "read",
  fetch_proxy: {
    listen: "ignored: the port the egress proxy connects to",
    monitoring: { max_requests_per_minute: "ignored: a multiple of the bottle's rate limit, diffed as it" },
  },
  forward_proxy: {
    enabled: "compared",
    sni_verification: "compared",
    max_tunnel_seconds: "ignored: how long a tunnel may stay open, not where it goes",
    idle_timeout_seconds: "ignored: how long an idle tunnel stays open, not where it goes",
  },
  tls_interception: {
    enabled: "compared",
    ca_cert: "ignored: where the bottle's CA is mounted",
    ca_key: "ignored: where the bottle's CA is mounted",
    passthrough_domains: "read",
    max_response_bytes: "read",
  },
  dlp: { include_defaults: "compared", scan_env: "compared", patterns: "read" },
  seed_phrase_detection: { enabled: "read", min_words: "read" },
  response_scanning: { enabled: "read", action: "read" },
  request_body_scanning: {
    enabled: "compared",
    action: "compared",
    max_body_bytes: "ignored: the bottle's body limit, diffed as it",
    scan_headers: "compared",
    header_mode: "compared",
    sensitive_headers: "read",
  },
  logging: "ignored: where pipelock writes its decisions",
  metrics_listen: "ignored: where pipelock serves its metrics, to the operator's scraper (the agent reaches no pipelock)",
  scan_api: {
    listen: "ignored: the port the egress proxy's scans go to",
    auth: "ignored: the name of the scan API's one client (its boundary is the network)",
    rate_limit: "ignored: made from the bottle's rate limit, diffed as it",
    max_body_bytes: "ignored: made from answer_scan_bytes (routes.yaml), read there",
    field_limits: "ignored: made from answer_scan_bytes (routes.yaml), read there",
    timeouts: "ignored: how long a scan may take",
    kinds: {
      url: "compared",
      dlp: "compared",
      prompt_injection: "ignored: on when answers are scanned (answer_scan_bytes), read there",
      tool_call: "compared",
    },
  },
};

/** Every key a table lists, dotted (`bulk_lane.scan_headers`), a nested table's own key too. */
export function keyPaths(table: KeyTable, at = ""): string[] {
  return Object.entries(table).flatMap(([key, rule]) => [
    `${at}${key}`,
    ...(typeof rule === "object" ? keyPaths(rule, `${at}${key}.`) : []),
  ]);
}

/** What of a document the reach does not interpret: its `compared` values and its unknown keys. */
export interface UnjudgedKeys {
  /** Dotted key path -> the value as JSON (an unknown key's whole value). */
  values: Record<string, string>;
  /** The dotted paths of keys no table lists. */
  unknown: string[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Walks `document` against `table`; `at` prefixes the paths (e.g. `routes[github.com].`). */
export function unjudgedKeys(document: unknown, table: KeyTable, at = ""): UnjudgedKeys {
  const found: UnjudgedKeys = { values: {}, unknown: [] };
  if (!isObject(document)) return found;
  for (const [key, value] of Object.entries(document)) {
    // Own keys only: a document key named like an Object method ("constructor") is unknown.
    const rule = Object.hasOwn(table, key) ? table[key] : undefined;
    const path = `${at}${key}`;
    if (rule === undefined || rule === "compared") {
      found.values[path] = JSON.stringify(value);
      if (rule === undefined) found.unknown.push(path);
    } else if (typeof rule === "object") {
      const inner = unjudgedKeys(value, rule, `${path}.`);
      Object.assign(found.values, inner.values);
      found.unknown.push(...inner.unknown);
    }
  }
  return found;
}
