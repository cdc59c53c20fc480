import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { BottleSpec } from "../config";

/** Where pipelock's live configuration (pipelock.yaml) is mounted. */
export const PIPELOCK_LIVE_DIR = "/etc/pipelock/live";

/** Where the pipelock container finds its files. */
export const PIPELOCK_PATHS = {
  config: `${PIPELOCK_LIVE_DIR}/current/pipelock.yaml`,
  caCert: "/etc/pipelock/ca.pem",
  caKey: "/etc/pipelock/ca-key.pem",
} as const;

/** pipelock's forward-proxy port; the egress proxy's upstream. */
export const PIPELOCK_PORT = 8888;

/** pipelock's default `sensitive_headers` (pipelock 2.3's config reference), in its own spelling. */
export const PIPELOCK_SENSITIVE_HEADERS: readonly string[] = [
  "Authorization", "Cookie", "X-Api-Key", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key",
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
  const injected = new Set(bottle.routes.flatMap((r) => (r.auth ? [r.auth.header.toLowerCase()] : [])));
  const settings = bottle.pipelock.settings;
  const config = {
    version: 1,
    mode: "strict",
    enforce: true,
    default_agent_identity: bottle.name,
    api_allowlist: bottle.routes.map((route) => route.host),
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
    },
    dlp: { include_defaults: true, scan_env: true, ...(settings.dlp && { patterns: settings.dlp.patterns }) },
    seed_phrase_detection: { enabled: true, min_words: DEFAULT_SEED_PHRASE_MIN_WORDS, ...settings.seed_phrase_detection },
    ...(settings.response_scanning && { response_scanning: settings.response_scanning }),
    request_body_scanning: {
      enabled: true,
      action: "block",
      max_body_bytes: bottle.maxBodyMb * 1024 * 1024,
      scan_headers: true,
      header_mode: "sensitive",
      sensitive_headers: PIPELOCK_SENSITIVE_HEADERS.filter((h) => !injected.has(h.toLowerCase())),
    },
    logging: { format: "json", output: "stdout", include_allowed: true, include_blocked: true },
  };
  return stringify(config, { lineWidth: 0, flowCollectionPadding: false });
}

/**
 * What of pipelock.yaml a reload cannot change: all of it but what the routes decide
 * (`api_allowlist`, the injected headers left out of `sensitive_headers`), as a short hash.
 * pipelock refuses, in strict mode, a reload that weakens a setting (e.g. a trusted domain
 * added), so a change of this replaces the container; a route change reloads in place.
 */
export function pipelockSettingsKey(bottle: BottleSpec): string {
  return createHash("sha256").update(renderPipelockYaml({ ...bottle, routes: [] })).digest("hex").slice(0, 16);
}
