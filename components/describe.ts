import { describeAgent } from "./agent/workload";
import type { BottleSpec } from "./config";
import { describeEgressProxy, EGRESS_PROXY_PORT, EGRESS_PROXY_URL } from "./egress-proxy/workload";
import { usesBulkLane } from "./pipelock/lanes";
import { describePipelock, describePipelockBulk } from "./pipelock/workload";
import { objectLabels, objectName } from "./layout/naming";
import type { BottleLayout, NetworkLayout, NetworkRole } from "./layout/types";

/**
 * A bottle's layout, from its validated spec: three networks (only the pipelocks' has a way
 * out), two CAs, and the workloads in start order (pipelock, pipelock-bulk when a route uses
 * the bulk lane, the egress proxy, the agent).
 * Pure; every backend declares exactly this.
 */
export function describeBottle(spec: BottleSpec, context: { stack: string; allowHint?: string }): BottleLayout {
  const { stack, allowHint } = context;
  const network = (role: NetworkRole, internal: boolean): NetworkLayout => ({
    role,
    name: objectName(stack, spec.name, role),
    internal,
    labels: objectLabels(stack, spec.name, role),
  });
  const workloads = [
    describePipelock(stack, spec),
    ...(usesBulkLane(spec) ? [describePipelockBulk(stack, spec)] : []),
    describeEgressProxy(stack, spec, allowHint),
    ...(spec.agent ? [describeAgent(stack, spec.name, spec.agent, EGRESS_PROXY_URL)] : []),
  ];
  return {
    stack,
    bottle: spec.name,
    cas: [
      {
        role: "egress-proxy",
        algorithm: "RSA",
        commonName: `bot-bottle egress proxy CA (${stack}/${spec.name})`,
        validityHours: spec.caValidityHours,
      },
      {
        role: "pipelock",
        algorithm: "ECDSA",
        commonName: `bot-bottle pipelock CA (${stack}/${spec.name})`,
        validityHours: spec.caValidityHours,
      },
    ],
    networks: [network("agent-net", true), network("egress-net", true), network("outbound-net", false)],
    workloads,
    proxyUrl: EGRESS_PROXY_URL,
    ...(spec.agent &&
      spec.selfTest && {
        selfTest: {
          from: "agent",
          probeImage: "egress-proxy",
          noExternalDns: workloads.filter((w) => !w.externalDns).map((w) => w.role),
          proxy: { role: "egress-proxy", port: EGRESS_PROXY_PORT },
        },
      }),
  };
}
