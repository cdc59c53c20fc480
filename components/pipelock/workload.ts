import { type BottleSpec, GATE_MAX_PROCESSES, GATE_UIDS } from "../config";
import { caFile } from "../layout/files";
import { ALIASES, objectLabels } from "../layout/naming";
import type { ServedPort, Workload } from "../layout/types";
import { PIPELOCK_SETTINGS_LABEL } from "../vocabulary";
import {
  PIPELOCK_LIVE_DIR,
  PIPELOCK_METRICS_PORT,
  PIPELOCK_PATHS,
  PIPELOCK_PORT,
  PIPELOCK_SCAN_API_PORT,
  pipelockSettingsKey,
  renderPipelockBulkYaml,
  renderPipelockYaml,
} from "./config";

/** pipelock's own shutdown deadline on SIGTERM (it closes its listener, then waits 5 s). */
const PIPELOCK_DRAIN_SECONDS = 5;

/**
 * pipelock: the bottle's second gate and its only way out, on the egress network (alias
 * `pipelock`) and the outbound network. Its image has no USER: it runs as its own uid, which
 * owns its CA key. Its config is live: a route change reloads it in place; a change of its
 * settings (the label) replaces it.
 */
export function describePipelock(stack: string, bottle: BottleSpec): Workload {
  const uid = GATE_UIDS.pipelock;
  return pipelockWorkload(stack, bottle, {
    role: "pipelock",
    uid,
    configPath: PIPELOCK_PATHS.config,
    document: { file: "pipelock.yaml", text: renderPipelockYaml(bottle) },
    settingsKey: pipelockSettingsKey(bottle),
    alias: ALIASES.pipelock,
    files: [caFile(PIPELOCK_PATHS.caCert, "pipelock", "cert"), caFile(PIPELOCK_PATHS.caKey, "pipelock", "key", uid)],
    ports: [{ name: "proxy", port: PIPELOCK_PORT }],
  });
}

/**
 * pipelock-bulk: the bottle's second way out, for its bulk traffic (see `Lane`). The same
 * pipelock with the same allowlist, rules and DLP, but no TLS interception: it checks each
 * tunnel's host and passes the bytes through unread, and serves the egress proxy its scan API,
 * which reads what can be read of that traffic. On the egress network (alias `pipelock-bulk`)
 * and the outbound network; it holds no key.
 */
export function describePipelockBulk(stack: string, bottle: BottleSpec): Workload {
  return pipelockWorkload(stack, bottle, {
    role: "pipelock-bulk",
    uid: GATE_UIDS.pipelockBulk,
    configPath: PIPELOCK_PATHS.bulkConfig,
    document: { file: "pipelock-bulk.yaml", text: renderPipelockBulkYaml(bottle) },
    settingsKey: pipelockSettingsKey(bottle, renderPipelockBulkYaml),
    alias: ALIASES.pipelockBulk,
    files: [],
    ports: [
      { name: "proxy", port: PIPELOCK_PORT },
      { name: "scan-api", port: PIPELOCK_SCAN_API_PORT },
    ],
  });
}

/** What makes one pipelock differ from the other. */
interface PipelockRole {
  role: "pipelock" | "pipelock-bulk";
  uid: number;
  configPath: string;
  document: { file: string; text: string };
  settingsKey: string;
  alias: string;
  files: Workload["files"];
  ports: ServedPort[];
}

/**
 * What both pipelocks share: the image, its health check and limits, the live config, the
 * egress and outbound networks, the routes' ports out, the egress proxy as their one client,
 * and their own resolver (the only workloads that resolve the hosts they allow).
 */
function pipelockWorkload(stack: string, bottle: BottleSpec, own: PipelockRole): Workload {
  return {
    role: own.role,
    // Replaced start-first too: the egress proxies reach it by its alias.
    handover: { drainSeconds: PIPELOCK_DRAIN_SECONDS },
    labels: { ...objectLabels(stack, bottle.name, own.role), [PIPELOCK_SETTINGS_LABEL]: own.settingsKey },
    image: { reference: bottle.pipelock.image },
    user: `${own.uid}:${own.uid}`,
    command: ["run", "--config", own.configPath, "--listen", `0.0.0.0:${PIPELOCK_PORT}`],
    env: [],
    files: own.files,
    live: { dir: PIPELOCK_LIVE_DIR, document: own.document, owner: own.uid },
    mounts: [],
    writablePaths: ["/tmp"],
    attachments: [
      { network: "egress-net", aliases: [own.alias] },
      { network: "outbound-net", aliases: [] },
    ],
    serves: { ports: own.ports, clients: ["egress-proxy"] },
    metrics: { port: PIPELOCK_METRICS_PORT },
    outbound: { ports: outboundPorts(bottle) },
    health: { command: ["/pipelock", "healthcheck"] },
    memoryMb: bottle.pipelock.memoryMb,
    maxProcesses: GATE_MAX_PROCESSES,
    externalDns: true,
    after: [],
  };
}

/** The ports the routes allow: the only ones a pipelock dials out on. */
function outboundPorts(bottle: BottleSpec): number[] {
  return [...new Set(bottle.routes.flatMap((route) => route.ports))].sort((a, b) => a - b);
}
