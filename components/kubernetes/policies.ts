import type * as k8s from "@pulumi/kubernetes";
import { LABEL_KEYS, type OneShotRole } from "../vocabulary";
import type { BottleLayout, Workload, WorkloadRole } from "../layout/types";

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type LabelSelector = k8s.types.input.meta.v1.LabelSelector;
type PolicyPeer = k8s.types.input.networking.v1.NetworkPolicyPeer;

/** The role label of the self-test's pod: it reaches what the agent reaches, and nothing more. */
export const SELF_TEST_ROLE: OneShotRole = "self-test";

/** The cluster's DNS pods, as kubeadm, k3s and the managed clusters label them. */
export const CLUSTER_DNS: PolicyPeer = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};

export interface NamedPolicy {
  name: string;
  spec: NetworkPolicySpec;
}

/**
 * A bottle's network policies: everything denied in and out of its namespace, then exactly
 * the paths of the layout: each workload that serves reaches from its clients on its ports; the
 * workload with an outbound path reaches addresses outside `privateCidrs` on the routes' ports
 * only, and the cluster's DNS if it resolves names. Nothing else, no DNS for anyone else. Pure.
 */
export function networkPolicies(layout: BottleLayout, privateCidrs: readonly string[]): NamedPolicy[] {
  const present = new Set(layout.workloads.map((w) => w.role));
  return [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    ...layout.workloads.map((workload) => ({ name: workload.role, spec: policyOf(workload, layout.workloads, present, privateCidrs) })),
  ];
}

function policyOf(
  workload: Workload,
  workloads: readonly Workload[],
  present: ReadonlySet<WorkloadRole>,
  privateCidrs: readonly string[],
): NetworkPolicySpec {
  const ingress = workload.serves
    ? [
        {
          from: workload.serves.clients.filter((c) => present.has(c)).map((c) => ({ podSelector: selectorOf(c) })),
          ports: workload.serves.ports.map((p) => tcp(p.port)),
        },
      ]
    : [];
  const egress = [
    ...workloads
      .filter((server) => server.serves?.clients.includes(workload.role))
      .map((server) => ({ to: [{ podSelector: selectorOf(server.role) }], ports: server.serves!.ports.map((p) => tcp(p.port)) })),
    ...(workload.outbound
      ? [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...privateCidrs] } }], ports: workload.outbound.ports.map(tcp) }]
      : []),
    ...(workload.externalDns ? [{ to: [CLUSTER_DNS], ports: [{ protocol: "UDP", port: 53 }, tcp(53)] }] : []),
  ];
  return {
    podSelector: selectorOf(workload.role),
    policyTypes: ["Ingress", "Egress"],
    ...(ingress.length > 0 && ingress[0]!.from.length > 0 && { ingress }),
    ...(egress.length > 0 && { egress }),
  };
}

/** Pods of a role; the agent's selector also takes the self-test, which must see what it sees. */
export function selectorOf(role: WorkloadRole): LabelSelector {
  return role === "agent"
    ? { matchExpressions: [{ key: LABEL_KEYS.role, operator: "In", values: ["agent", SELF_TEST_ROLE] }] }
    : { matchLabels: { [LABEL_KEYS.role]: role } };
}

function tcp(port: number) {
  return { protocol: "TCP", port };
}
