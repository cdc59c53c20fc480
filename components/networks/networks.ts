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

export function createNetworks(name: string, stack: string, bottle: string, parent: pulumi.Resource): BottleNetworks {
  const network = (role: Role, internal: boolean) =>
    new docker.Network(
      `${name}-${role}`,
      {
        name: dockerName(stack, bottle, role),
        driver: "bridge",
        internal,
        attachable: false,
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
