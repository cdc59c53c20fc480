import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { AgentSpec } from "../config";
import { hardening, NO_EXTERNAL_DNS } from "../container";
import { dockerLabels, dockerName } from "../naming";
import { AGENT_CA_FILE, agentEnv } from "./env";

export interface AgentArgs {
  stack: string;
  bottle: string;
  agent: AgentSpec;
  /** The agent network: its only network. */
  network: docker.Network;
  proxyUrl: string;
  /** The egress proxy's CA certificate, the only CA the agent's clients are pointed at. */
  caCert: pulumi.Input<string>;
  /** The egress-proxy container: the agent is created only once it is healthy. */
  egressProxy: docker.Container;
}

/**
 * The agent container. It joins only the internal agent network, without aliases, so the
 * egress proxy is the only thing it can reach. Its inputs do not depend on routes or tokens,
 * so changing either never replaces it.
 */
export function createAgent(name: string, args: AgentArgs, parent: pulumi.Resource): docker.Container {
  const { agent } = args;
  const image = new docker.RemoteImage(`${name}-image`, { name: agent.image, keepLocally: true }, { parent });
  return new docker.Container(
    name,
    {
      name: dockerName(args.stack, args.bottle, "agent"),
      image: image.imageId,
      labels: dockerLabels(args.stack, args.bottle, "agent"),
      user: agent.user,
      ...(agent.command && { command: agent.command }),
      envs: agentEnv(args.proxyUrl, agent.env),
      networksAdvanced: [{ name: args.network.name }],
      uploads: [{ file: AGENT_CA_FILE, content: args.caCert, permissions: "0444" }],
      ...hardening(agent.memoryMb),
      ...NO_EXTERNAL_DNS,
    },
    { parent, dependsOn: [args.egressProxy] },
  );
}
