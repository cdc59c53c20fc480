import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerLabels, dockerName, Role } from "../naming";

/** The three networks of a bottle (shared/design.md, "Topology"). */
export interface BottleNetworks {
  /** Agent <-> egress proxy. Internal: no gateway, so the agent reaches nothing else. */
  agent: docker.Network;
  /** Egress proxy <-> pipelock. Internal: the egress proxy cannot bypass pipelock. */
  egress: docker.Network;
  /** pipelock <-> the internet. The only network with a gateway. */
  outbound: docker.Network;
}

/**
 * Driver options of the two internal networks. `internal` only removes the route *through*
 * the host; the bridge still has an address on the host, so a container could reach every
 * service the host listens on (moby/moby#47356; seen from a bottle's agent). Without an IPv4
 * address on the bridge nothing on the host is reachable, while containers on the network
 * still reach each other directly.
 */
export const INTERNAL_NETWORK_OPTIONS: Readonly<Record<string, string>> = {
  "com.docker.network.bridge.inhibit_ipv4": "true",
};

export function createNetworks(name: string, stack: string, bottle: string, parent: pulumi.Resource): BottleNetworks {
  const network = (role: Role, internal: boolean) =>
    new docker.Network(
      `${name}-${role}`,
      {
        name: dockerName(stack, bottle, role),
        driver: "bridge",
        internal,
        attachable: false,
        ...(internal && { options: { ...INTERNAL_NETWORK_OPTIONS } }),
        labels: dockerLabels(stack, bottle, role),
      },
      { parent },
    );
  return {
    agent: network("agent-net", true),
    egress: network("egress-net", true),
    outbound: network("outbound-net", false),
  };
}
