import { BottleSpec, GATE_MAX_PROCESSES, GATE_UIDS } from "../config";
import { caFile, textFile } from "../layout/files";
import { ALIASES, objectLabels } from "../layout/naming";
import type { Workload } from "../layout/types";
import { PIPELOCK_PATHS, PIPELOCK_PORT, renderPipelockYaml } from "./config";

/** pipelock's own shutdown deadline on SIGTERM (it closes its listener, then waits 5 s). */
const PIPELOCK_DRAIN_SECONDS = 5;

/**
 * pipelock: the bottle's second gate and its only way out, on the egress network (alias
 * `pipelock`) and the outbound network. Its image has no USER: it runs as its own uid, which
 * owns its CA key.
 */
export function describePipelock(stack: string, bottle: BottleSpec): Workload {
  const uid = GATE_UIDS.pipelock;
  return {
    role: "pipelock",
    // Replaced start-first too: the egress proxies reach it by its alias.
    handover: { drainSeconds: PIPELOCK_DRAIN_SECONDS },
    labels: objectLabels(stack, bottle.name, "pipelock"),
    image: { reference: bottle.pipelock.image },
    user: `${uid}:${uid}`,
    command: ["run", "--config", PIPELOCK_PATHS.config, "--listen", `0.0.0.0:${PIPELOCK_PORT}`],
    env: [],
    files: [
      textFile(PIPELOCK_PATHS.config, renderPipelockYaml(bottle)),
      caFile(PIPELOCK_PATHS.caCert, "pipelock", "cert"),
      caFile(PIPELOCK_PATHS.caKey, "pipelock", "key", uid),
    ],
    mounts: [],
    attachments: [
      { network: "egress-net", aliases: [ALIASES.pipelock] },
      { network: "outbound-net", aliases: [] },
    ],
    health: { command: ["/pipelock", "healthcheck"] },
    memoryMb: bottle.pipelock.memoryMb,
    maxProcesses: GATE_MAX_PROCESSES,
    // pipelock resolves the hosts it allows: the one workload with the engine's own resolver.
    externalDns: true,
    after: [],
  };
}
