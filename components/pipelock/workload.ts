import { BottleSpec, GATE_MAX_PROCESSES, GATE_UIDS } from "../config";
import { caFile } from "../layout/files";
import { ALIASES, objectLabels } from "../layout/naming";
import type { Workload } from "../layout/types";
import { PIPELOCK_LIVE_DIR, PIPELOCK_PATHS, PIPELOCK_PORT, pipelockSettingsKey, renderPipelockYaml } from "./config";

/** The label that holds pipelockSettingsKey: a change of it replaces the container. */
export const PIPELOCK_SETTINGS_LABEL = "bot-bottle.pipelock-settings";

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
  return {
    role: "pipelock",
    // Replaced start-first too: the egress proxies reach it by its alias.
    handover: { drainSeconds: PIPELOCK_DRAIN_SECONDS },
    labels: { ...objectLabels(stack, bottle.name, "pipelock"), [PIPELOCK_SETTINGS_LABEL]: pipelockSettingsKey(bottle) },
    image: { reference: bottle.pipelock.image },
    user: `${uid}:${uid}`,
    command: ["run", "--config", PIPELOCK_PATHS.config, "--listen", `0.0.0.0:${PIPELOCK_PORT}`],
    env: [],
    files: [
      caFile(PIPELOCK_PATHS.caCert, "pipelock", "cert"),
      caFile(PIPELOCK_PATHS.caKey, "pipelock", "key", uid),
    ],
    live: { dir: PIPELOCK_LIVE_DIR, document: { file: "pipelock.yaml", text: renderPipelockYaml(bottle) }, owner: uid },
    mounts: [],
    writablePaths: ["/tmp"],
    attachments: [
      { network: "egress-net", aliases: [ALIASES.pipelock] },
      { network: "outbound-net", aliases: [] },
    ],
    serves: { port: PIPELOCK_PORT, clients: ["egress-proxy"] },
    outbound: { ports: [...new Set(bottle.routes.flatMap((route) => route.ports))].sort((a, b) => a - b) },
    health: { command: ["/pipelock", "healthcheck"] },
    memoryMb: bottle.pipelock.memoryMb,
    maxProcesses: GATE_MAX_PROCESSES,
    // pipelock resolves the hosts it allows: the one workload with the engine's own resolver.
    externalDns: true,
    after: [],
  };
}
