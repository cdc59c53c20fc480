import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { BottleSpec } from "../config";
import { injectedHeaders, mintHosts, tokenHosts } from "../config";
import { answerScanBytes } from "./lanes";

/** Where pipelock's live configuration (pipelock.yaml) is mounted. */
export const PIPELOCK_LIVE_DIR = "/etc/pipelock/live";

/** Where the pipelock container finds its files. */
export const PIPELOCK_PATHS = {
  config: `${PIPELOCK_LIVE_DIR}/current/pipelock.yaml`,
  /** pipelock-bulk's document: its own name, so no reader takes one gate's for the other's. */
  bulkConfig: `${PIPELOCK_LIVE_DIR}/current/pipelock-bulk.yaml`,
  caCert: "/etc/pipelock/ca.pem",
  caKey: "/etc/pipelock/ca-key.pem",
} as const;

/** pipelock's forward-proxy port; the egress proxy's upstream. */
export const PIPELOCK_PORT = 8888;

/** pipelock's default `sensitive_headers` (pipelock 2.3's config reference), in its own spelling. */
export const PIPELOCK_SENSITIVE_HEADERS: readonly string[] = [
  "Authorization",
  "Cookie",
  "X-Api-Key",
  "X-Token",
  "Proxy-Authorization",
  "X-Goog-Api-Key",
];

/**
 * pipelock counts an HTTPS request twice against its per-domain rate limit (the CONNECT and
 * the request inside the tunnel), and the egress proxy already enforces the bottle's limit
 * per request, so pipelock's is a backstop at this multiple of it.
 */
export const PIPELOCK_RATE_LIMIT_FACTOR = 2;

/** A tunnel's lifetime: pipelock's default (300 s) cuts long streamed LLM answers. */
export const DEFAULT_MAX_TUNNEL_SECONDS = 3600;

/**
 * The shortest seed phrase pipelock's DLP looks for. Its default, 12 words, flags ordinary
 * English: runs of 12 words from the BIP-39 list pass the 4-bit checksum one time in 16, and
 * Claude Code's first request (its system prompt) was refused as a "BIP-39 Seed Phrase". A
 * 24-word phrase carries an 8-bit checksum and is far rarer in prose.
 */
export const DEFAULT_SEED_PHRASE_MIN_WORDS = 24;

/**
 * Renders pipelock.yaml for one bottle: strict, enforcing, forward proxy on, TLS
 * interception with the bottle's CA, request body and header DLP blocking, JSON logs.
 *
 * Header DLP keeps scanning every sensitive header except the ones the egress proxy injects
 * (an injected `ghp_...` token would otherwise be blocked as a leak). The egress proxy strips
 * those header names from every request it does not inject into, so they cannot carry agent
 * data past this exemption.
 */
export function renderPipelockYaml(bottle: BottleSpec): string {
  return render(pipelockConfig(bottle));
}

/**
 * Where each pipelock serves its Prometheus metrics (`metrics_listen`), apart from its proxy
 * port: the operator's scraper reaches this port only (on Kubernetes a network policy says so),
 * and the agent reaches no pipelock at all.
 */
export const PIPELOCK_METRICS_PORT = 9465;

/** Where pipelock-bulk's scan API listens (the egress proxy's checks of what it tunnels). */
export const PIPELOCK_SCAN_API_PORT = 9090;

/**
 * The scan API's one client, by name. pipelock refuses to open its scan API without a bearer
 * token; the boundary is the network (only the egress proxy reaches the listener: the bottle's
 * egress network on Docker, a network policy on Kubernetes), so the token names its client
 * rather than guards it, and is no secret.
 */
export const SCAN_API_CLIENT = "egress-proxy";

/**
 * How long pipelock-bulk may take to scan one answer: pipelock reads text at 0.2-2 MiB/s, so a
 * 5 MiB answer can take half a minute on a busy machine.
 */
const SCAN_API_SCAN_SECONDS = 60;

/**
 * Renders pipelock-bulk.yaml: the bottle's pipelock.yaml (the same allowlist, private-address
 * rules, rate limit, DLP and response patterns) without TLS interception, so the tunnels it
 * opens carry bytes it never holds, plus its scan API, through which the egress proxy has it
 * check what can be read of that traffic: the URL, sensitive headers, a git fetch's
 * negotiation and the text of answers.
 */
export function renderPipelockBulkYaml(bottle: BottleSpec): string {
  const config = pipelockConfig(bottle);
  const scanBytes = answerScanBytes(bottle.pipelock.settings);
  return render({
    ...config,
    tls_interception: { enabled: false },
    scan_api: {
      listen: `0.0.0.0:${PIPELOCK_SCAN_API_PORT}`,
      auth: { bearer_tokens: [SCAN_API_CLIENT] },
      // Each bulk request costs one URL scan (and the CONNECT one slot of the per-host limit).
      rate_limit: { requests_per_minute: config.fetch_proxy.monitoring.max_requests_per_minute, burst: bottle.requestsPerMinute },
      // JSON escaping can grow an answer's text up to six times (\u00XX).
      max_body_bytes: 6 * Math.max(scanBytes, SCAN_TEXT_BYTES) + 65_536,
      field_limits: { url: 8192, text: SCAN_TEXT_BYTES, content: Math.max(scanBytes, 1) },
      timeouts: { read: "10s", write: `${SCAN_API_SCAN_SECONDS + 5}s`, scan: `${SCAN_API_SCAN_SECONDS}s` },
      kinds: { url: true, dlp: true, prompt_injection: scanBytes > 0, tool_call: false },
    },
  });
}

/** The most text the egress proxy sends for one DLP scan: header values, a fetch's negotiation. */
export const SCAN_TEXT_BYTES = 1024 * 1024;

/**
 * The headers pipelock's DLP reads: its sensitive headers but the ones the egress proxy injects.
 * The egress proxy has the same list scanned on the bulk lane (routes.yaml `bulk_lane`).
 */
export function scannedHeaders(bottle: Pick<BottleSpec, "routes">): string[] {
  const injected = new Set(bottle.routes.flatMap(injectedHeaders));
  return PIPELOCK_SENSITIVE_HEADERS.filter((h) => !injected.has(h.toLowerCase()));
}

/**
 * The hosts pipelock passes through unread: the bottle's `passthrough_domains`, and the token
 * endpoints of its Google sources (see tokenHosts: the egress proxy's own JWT grant, which no
 * route can reach).
 */
export function passthroughHosts(
  bottle: Pick<BottleSpec, "credentials"> & { pipelock: Pick<BottleSpec["pipelock"], "settings"> },
): string[] {
  return [...(bottle.pipelock.settings.tls_interception?.passthrough_domains ?? []), ...tokenHosts(bottle)];
}

function pipelockConfig(bottle: BottleSpec) {
  const settings = bottle.pipelock.settings;
  const passthrough = passthroughHosts(bottle);
  return {
    version: 1,
    mode: "strict",
    enforce: true,
    default_agent_identity: bottle.name,
    // The routes' hosts, and the hosts the egress proxy mints credentials at (its own requests).
    api_allowlist: [...new Set([...bottle.routes.map((route) => route.host), ...mintHosts(bottle)])],
    ...(settings.trusted_domains && { trusted_domains: settings.trusted_domains }),
    ...(settings.internal && { internal: settings.internal }),
    ...(settings.ssrf && { ssrf: settings.ssrf }),
    ...(settings.explain_blocks !== undefined && { explain_blocks: settings.explain_blocks }),
    fetch_proxy: {
      listen: `0.0.0.0:${PIPELOCK_PORT}`,
      monitoring: { max_requests_per_minute: bottle.requestsPerMinute * PIPELOCK_RATE_LIMIT_FACTOR },
    },
    forward_proxy: { enabled: true, sni_verification: true, max_tunnel_seconds: DEFAULT_MAX_TUNNEL_SECONDS, ...settings.forward_proxy },
    tls_interception: {
      enabled: true,
      ca_cert: PIPELOCK_PATHS.caCert,
      ca_key: PIPELOCK_PATHS.caKey,
      ...settings.tls_interception,
      ...(passthrough.length > 0 && { passthrough_domains: passthrough }),
    } as Record<string, unknown>,
    dlp: { include_defaults: true, scan_env: true, ...(settings.dlp && { patterns: settings.dlp.patterns }) },
    seed_phrase_detection: { enabled: true, min_words: DEFAULT_SEED_PHRASE_MIN_WORDS, ...settings.seed_phrase_detection },
    ...(settings.response_scanning && { response_scanning: settings.response_scanning }),
    request_body_scanning: {
      enabled: true,
      action: "block",
      max_body_bytes: bottle.maxBodyMb * 1024 * 1024,
      scan_headers: true,
      header_mode: "sensitive",
      sensitive_headers: scannedHeaders(bottle),
    },
    logging: { format: "json", output: "stdout", include_allowed: true, include_blocked: true },
    metrics_listen: `0.0.0.0:${PIPELOCK_METRICS_PORT}`,
  };
}

function render(config: object): string {
  return stringify(config, { lineWidth: 0, flowCollectionPadding: false });
}

/**
 * What of a pipelock document a reload cannot change: all of it but what the routes decide
 * (`api_allowlist`, the injected headers left out of `sensitive_headers`), as a short hash.
 * pipelock refuses, in strict mode, a reload that weakens a setting (e.g. a trusted domain
 * added), so a change of this replaces the container; a route change reloads in place.
 */
export function pipelockSettingsKey(bottle: BottleSpec, renderer: (bottle: BottleSpec) => string = renderPipelockYaml): string {
  return createHash("sha256")
    .update(renderer({ ...bottle, routes: [] }))
    .digest("hex")
    .slice(0, 16);
}
