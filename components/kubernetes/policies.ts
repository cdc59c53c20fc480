import type * as k8s from "@pulumi/kubernetes";
import { LABEL_KEYS, type OneShotRole } from "../vocabulary";
import type { BottleLayout, Workload, WorkloadRole } from "../layout/types";

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type LabelSelector = k8s.types.input.meta.v1.LabelSelector;
type PolicyPeer = k8s.types.input.networking.v1.NetworkPolicyPeer;

/** The role label of the self-test's pod: it reaches what the agent reaches, and nothing more. */
export const SELF_TEST_ROLE: OneShotRole = "self-test";

/** A namespace by its name: the label every namespace carries since Kubernetes 1.22. */
function namespaceSelectorOf(namespace: string): LabelSelector {
  return { matchLabels: { "kubernetes.io/metadata.name": namespace } };
}

/** The cluster's DNS pods, as kubeadm, k3s and the managed clusters label them. */
export const CLUSTER_DNS: PolicyPeer = {
  namespaceSelector: namespaceSelectorOf("kube-system"),
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};

export interface NamedPolicy {
  name: string;
  spec: NetworkPolicySpec;
}

/** Where the paths into and out of a bottle's namespace may lead, besides its own pods. */
export interface PolicyPeers {
  /** The addresses pipelock may never dial. */
  privateCidrs: readonly string[];
  /** The namespace whose pods scrape the gates' metrics ports; none: no one does. */
  scraperNamespace?: string;
}

/**
 * A bottle's network policies: everything denied in and out of its namespace, then exactly
 * the paths of the layout: each workload that serves reaches from its clients on its ports; a
 * workload with metrics from the scraper's namespace on its metrics port only; the workload
 * with an outbound path reaches addresses outside `privateCidrs` on the routes' ports only, and
 * the cluster's DNS if it resolves names. Nothing else, no DNS for anyone else. Pure.
 */
export function networkPolicies(layout: BottleLayout, peers: PolicyPeers): NamedPolicy[] {
  const present = new Set(layout.workloads.map((w) => w.role));
  return [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    ...layout.workloads.map((workload) => ({ name: workload.role, spec: policyOf(workload, layout.workloads, present, peers) })),
  ];
}

function policyOf(
  workload: Workload,
  workloads: readonly Workload[],
  present: ReadonlySet<WorkloadRole>,
  peers: PolicyPeers,
): NetworkPolicySpec {
  const clients = workload.serves?.clients.filter((c) => present.has(c)) ?? [];
  const ingress = [
    ...(workload.serves && clients.length > 0
      ? [{ from: clients.map((c) => ({ podSelector: selectorOf(c) })), ports: workload.serves.ports.map((p) => tcp(p.port)) }]
      : []),
    ...(workload.metrics && peers.scraperNamespace !== undefined
      ? [{ from: [{ namespaceSelector: namespaceSelectorOf(peers.scraperNamespace) }], ports: [tcp(workload.metrics.port)] }]
      : []),
  ];
  const egress = [
    ...workloads
      .filter((server) => server.serves?.clients.includes(workload.role))
      .map((server) => ({ to: [{ podSelector: selectorOf(server.role) }], ports: server.serves!.ports.map((p) => tcp(p.port)) })),
    ...(workload.outbound
      ? [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...peers.privateCidrs] } }], ports: workload.outbound.ports.map(tcp) }]
      : []),
    ...(workload.externalDns ? [{ to: [CLUSTER_DNS], ports: [{ protocol: "UDP", port: 53 }, tcp(53)] }] : []),
  ];
  return {
    podSelector: selectorOf(workload.role),
    policyTypes: ["Ingress", "Egress"],
    ...(ingress.length > 0 && { ingress }),
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
