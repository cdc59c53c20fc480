import type { AgentSpec } from "../config";
import { caFile } from "../layout/files";
import { objectLabels, objectName } from "../layout/naming";
import type { Mount, Workload } from "../layout/types";
import { AGENT_CA_FILE, agentEnv, SYSTEM_CA_BUNDLE } from "./env";

/**
 * The agent. It joins only the internal agent network, without aliases, so the egress proxy
 * is the only thing it can reach, and it trusts only the egress proxy's CA (also as the system
 * store: every TLS connection it makes ends at the egress proxy). Its work lives in a volume
 * of its own. Nothing in it depends on routes or tokens, so changing either never replaces it.
 */
export function describeAgent(stack: string, bottle: string, agent: AgentSpec, proxyUrl: string): Workload {
  return {
    role: "agent",
    name: objectName(stack, bottle, "agent"),
    labels: objectLabels(stack, bottle, "agent"),
    image: agent.image ? { reference: agent.image } : { build: "agent" },
    user: agent.user,
    ...(agent.command && { command: agent.command }),
    env: agentEnv(proxyUrl, agent.env),
    files: [caFile(AGENT_CA_FILE, "egress-proxy", "cert"), caFile(SYSTEM_CA_BUNDLE, "egress-proxy", "cert")],
    mounts: [workspaceMount(stack, bottle, agent)],
    attachments: [{ network: "agent-net", aliases: [] }],
    memoryMb: agent.memoryMb,
    maxProcesses: agent.maxProcesses,
    externalDns: false,
    after: ["egress-proxy"],
  };
}

function workspaceMount(stack: string, bottle: string, agent: AgentSpec): Mount {
  const { workspace } = agent;
  return {
    path: workspace.path,
    source: workspace.hostPath
      ? { hostPath: workspace.hostPath }
      : {
          volume: {
            name: objectName(stack, bottle, "workspace"),
            labels: objectLabels(stack, bottle, "workspace"),
            keep: workspace.keep,
            protect: workspace.protect,
          },
        },
    owner: agent.user.includes(":") ? agent.user : `${agent.user}:${agent.user}`,
  };
}
