import type { AgentSpec } from "../config";
import { caFile } from "../layout/files";
import { objectLabels, objectName } from "../layout/naming";
import type { Workload } from "../layout/types";
import { AGENT_CA_FILE, agentEnv } from "./env";

/**
 * The agent. It joins only the internal agent network, without aliases, so the egress proxy
 * is the only thing it can reach. Nothing in it depends on routes or tokens, so changing
 * either never replaces it.
 */
export function describeAgent(stack: string, bottle: string, agent: AgentSpec, proxyUrl: string): Workload {
  return {
    role: "agent",
    name: objectName(stack, bottle, "agent"),
    labels: objectLabels(stack, bottle, "agent"),
    image: { reference: agent.image },
    user: agent.user,
    ...(agent.command && { command: agent.command }),
    env: agentEnv(proxyUrl, agent.env),
    files: [caFile(AGENT_CA_FILE, "egress-proxy", "cert")],
    attachments: [{ network: "agent-net", aliases: [] }],
    memoryMb: agent.memoryMb,
    maxProcesses: agent.maxProcesses,
    externalDns: false,
    after: ["egress-proxy"],
  };
}
