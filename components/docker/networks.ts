import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { NetworkLayout } from "../layout/types";
import { dockerLabels } from "./container";

/**
 * Driver options of the internal networks. `internal` only removes the route *through* the
 * host; the bridge still has an address on the host, so a container could reach every
 * service the host listens on (moby/moby#47356; seen from a bottle's agent). Without an IPv4
 * address on the bridge nothing on the host is reachable, while containers on the network
 * still reach each other directly.
 */
export const INTERNAL_NETWORK_OPTIONS: Readonly<Record<string, string>> = {
  "com.docker.network.bridge.inhibit_ipv4": "true",
};

/** A bridge network; an internal one has no gateway and no address on the host. */
export function declareNetwork(name: string, network: NetworkLayout, opts: pulumi.CustomResourceOptions): docker.Network {
  return new docker.Network(
    name,
    {
      name: network.name,
      driver: "bridge",
      internal: network.internal,
      attachable: false,
      ...(network.internal && { options: { ...INTERNAL_NETWORK_OPTIONS } }),
      labels: dockerLabels(network.labels),
    },
    opts,
  );
}
