import * as path from "node:path";
import { type BottleSpec, GATE_MAX_PROCESSES, GATE_UIDS } from "../config";
import { caFile } from "../layout/files";
import { ALIASES, objectLabels } from "../layout/naming";
import type { Workload } from "../layout/types";
import { PIPELOCK_PORT, PIPELOCK_SCAN_API_PORT, passthroughHosts, SCAN_API_CLIENT } from "../pipelock/config";
import { usesBulkLane } from "../pipelock/lanes";
import { renderRoutesYaml, tokenEnvNames } from "./routes";

/** The egress proxy's listening port inside the bottle (the image's default too). */
export const EGRESS_PROXY_PORT = 9099;

/**
 * Where the egress proxy serves its Prometheus metrics: on its egress-side address only (the
 * image binds there), never on the address the agent reaches it by.
 */
export const EGRESS_PROXY_METRICS_PORT = 9464;

/**
 * How long a replaced egress proxy lets the agent's requests in flight finish: its
 * replacement already serves new ones (see `Workload.handover`).
 */
export const EGRESS_PROXY_DRAIN_SECONDS = 20;

/** The proxy URL the agent uses, valid on the bottle's agent network. */
export const EGRESS_PROXY_URL = `http://${ALIASES.egressProxy}:${EGRESS_PROXY_PORT}`;

/** The build context of the egress-proxy image, shipped with this package. */
export const EGRESS_PROXY_IMAGE_CONTEXT = path.join(__dirname, "image");

/** The image's Python (a venv with mitmproxy); the self-test's probe runs on it too. */
export const EGRESS_PROXY_PYTHON = "/opt/venv/bin/python";

/** Where the egress proxy's live configuration (routes and tokens) is mounted. */
export const EGRESS_PROXY_LIVE_DIR = "/etc/egress-proxy/live";

/** Files the egress-proxy container reads. */
export const EGRESS_PROXY_PATHS = {
  routes: `${EGRESS_PROXY_LIVE_DIR}/current/routes.yaml`,
  tokens: `${EGRESS_PROXY_LIVE_DIR}/current/tokens.json`,
  upstreamCa: "/etc/egress-proxy/upstream-ca.pem",
  ca: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem",
  healthcheck: "/opt/egress-proxy/healthcheck.py",
} as const;

/**
 * The image's public roots (Debian's ca-certificates), trusted on the upstream leg besides
 * pipelock's CA when traffic reaches servers unintercepted (the bulk lane, hosts pipelock passes
 * through): they present their own certificates. The egress proxy still accepts only pipelock's
 * certificates on the inspect lane for every other host.
 */
export const SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The egress proxy: on the agent and egress networks under the alias `egress-proxy`, in
 * upstream mode through the bottle's pipelock (and, for bulk traffic, pipelock-bulk, whose scan
 * API checks what it tunnels). Its routes and token values are live
 * configuration: a route change or a token rotation reloads them in place. Token values
 * reach only its tokens file, its CA key only its own file, each readable by its uid only.
 */
export function describeEgressProxy(stack: string, bottle: BottleSpec, allowHint?: string): Workload {
  const uid = GATE_UIDS.egressProxy;
  const passthrough = passthroughHosts(bottle).length > 0;
  const bulk = usesBulkLane(bottle);
  return {
    role: "egress-proxy",
    // A new image or limit replaces it: start-first, so the agent sees no gap.
    handover: { drainSeconds: EGRESS_PROXY_DRAIN_SECONDS },
    labels: objectLabels(stack, bottle.name, "egress-proxy"),
    image: bottle.egressProxy.image ? { reference: bottle.egressProxy.image } : { build: "egress-proxy" },
    user: `${uid}:${uid}`,
    env: [
      { name: "EGRESS_PROXY_ROUTES", value: EGRESS_PROXY_PATHS.routes },
      { name: "EGRESS_PROXY_TOKENS", value: EGRESS_PROXY_PATHS.tokens },
      { name: "EGRESS_PROXY_PORT", value: String(EGRESS_PROXY_PORT) },
      { name: "EGRESS_PROXY_UPSTREAM_PROXY", value: `http://${ALIASES.pipelock}:${PIPELOCK_PORT}` },
      { name: "EGRESS_PROXY_DRAIN_SECONDS", value: String(EGRESS_PROXY_DRAIN_SECONDS) },
      { name: "EGRESS_PROXY_UPSTREAM_CA", value: EGRESS_PROXY_PATHS.upstreamCa },
      { name: "EGRESS_PROXY_MAX_BODY_BYTES", value: String(bottle.maxBodyMb * 1024 * 1024) },
      { name: "EGRESS_PROXY_METRICS_PORT", value: String(EGRESS_PROXY_METRICS_PORT) },
      ...(bulk
        ? [
            { name: "EGRESS_PROXY_BULK_PROXY", value: `http://${ALIASES.pipelockBulk}:${PIPELOCK_PORT}` },
            { name: "EGRESS_PROXY_SCAN_API", value: `http://${ALIASES.pipelockBulk}:${PIPELOCK_SCAN_API_PORT}` },
            { name: "EGRESS_PROXY_SCAN_API_CLIENT", value: SCAN_API_CLIENT },
          ]
        : []),
      ...(passthrough || bulk ? [{ name: "EGRESS_PROXY_UPSTREAM_EXTRA_CA", value: SYSTEM_ROOTS }] : []),
    ],
    files: [
      caFile(EGRESS_PROXY_PATHS.upstreamCa, "pipelock", "cert"),
      // mitmproxy reads its CA as one PEM: certificate, then key.
      caFile(EGRESS_PROXY_PATHS.ca, "egress-proxy", "certAndKey", uid),
    ],
    live: {
      dir: EGRESS_PROXY_LIVE_DIR,
      document: { file: "routes.yaml", text: renderRoutesYaml(bottle, allowHint) },
      tokens: {
        file: "tokens.json",
        variables: Object.fromEntries([...tokenEnvNames(bottle)].map(([token, name]) => [name, token])),
      },
      owner: uid,
      check: "routes",
    },
    mounts: [],
    // mitmproxy writes its certificate files next to its CA.
    writablePaths: ["/tmp", path.dirname(EGRESS_PROXY_PATHS.ca)],
    attachments: [
      { network: "agent-net", aliases: [ALIASES.egressProxy] },
      { network: "egress-net", aliases: [ALIASES.egressProxy] },
    ],
    serves: { ports: [{ name: "proxy", port: EGRESS_PROXY_PORT }], clients: ["agent"] },
    metrics: { port: EGRESS_PROXY_METRICS_PORT },
    health: { command: [EGRESS_PROXY_PYTHON, EGRESS_PROXY_PATHS.healthcheck] },
    memoryMb: bottle.egressProxy.memoryMb,
    maxProcesses: GATE_MAX_PROCESSES,
    externalDns: false,
    after: bulk ? ["pipelock", "pipelock-bulk"] : ["pipelock"],
  };
}
