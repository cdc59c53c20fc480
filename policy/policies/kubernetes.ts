/**
 * Kubernetes bottles: what the Docker networks and container flags guarantee on a Docker engine,
 * a Kubernetes bottle gets from its namespace (Pod Security "restricted"), its pods' security
 * contexts and its network policies (default deny, then exactly the paths agent -> egress proxy
 * -> pipelock -> outside). These policies read the objects as @pulumi/kubernetes receives them
 * (`metadata`, `spec`); a Docker bottle has none of them and is not concerned.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { K8S, LABELS, PIPELOCK_ROLES, ROLES, TYPES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, isRecord, snapshot } from "../lib/props";
import { isPodHolder, kindOf, metadataOf, podContainersOf, podTemplateOf } from "../lib/kubernetes";
import { labelsOf, roleOfResource } from "../lib/labels";
import { type ResourceView, objectName } from "../lib/resources";
import { BOTTLE_TOPOLOGY, clientsOf } from "../lib/topology";

// --- Label selectors and network policies -----------------------------------------------------

/** Whether a label selector (a `snapshot`) selects a pod with these labels; `UNKNOWN` if it cannot tell yet. */
export function selectorMatches(selector: unknown, labels: ReadonlyMap<string, string>): Maybe<boolean> {
  if (selector === UNKNOWN) {
    return UNKNOWN;
  }
  if (!isRecord(selector)) {
    return true; // an absent selector is the empty one
  }
  const { matchLabels, matchExpressions } = selector;
  if (matchLabels === UNKNOWN || matchExpressions === UNKNOWN) {
    return UNKNOWN;
  }
  let unknown = false;
  for (const [key, value] of Object.entries(isRecord(matchLabels) ? matchLabels : {})) {
    if (value === UNKNOWN) {
      unknown = true;
    } else if (labels.get(key) !== value) {
      return false;
    }
  }
  for (const e of Array.isArray(matchExpressions) ? matchExpressions : []) {
    if (!isRecord(e) || e.key === UNKNOWN || e.operator === UNKNOWN || e.values === UNKNOWN) {
      unknown = true;
      continue;
    }
    const value = labels.get(String(e.key));
    const values = Array.isArray(e.values) ? e.values : [];
    const matches =
      e.operator === "In"
        ? value !== undefined && values.includes(value)
        : e.operator === "NotIn"
          ? value === undefined || !values.includes(value)
          : e.operator === "Exists"
            ? value !== undefined
            : e.operator === "DoesNotExist"
              ? value === undefined
              : false;
    if (!matches) {
      return false;
    }
  }
  return unknown ? UNKNOWN : true;
}

/** True for a selector that selects every pod (`{}`: no labels, no expressions). */
function isEmptySelector(selector: unknown): boolean {
  if (!isRecord(selector)) {
    return selector === undefined;
  }
  const { matchLabels, matchExpressions } = selector;
  return (
    (matchLabels === undefined || (isRecord(matchLabels) && Object.keys(matchLabels).length === 0)) &&
    (matchExpressions === undefined || (Array.isArray(matchExpressions) && matchExpressions.length === 0))
  );
}

/**
 * True when a selector can only select pods of `role`, whatever else the namespace runs: it
 * requires `bot-bottle.role` to be `role` (`matchLabels`, or `In [role]`).
 */
export function selectorPinsRole(selector: unknown, role: string): boolean {
  if (!isRecord(selector)) {
    return false;
  }
  const { matchLabels, matchExpressions } = selector;
  if (isRecord(matchLabels) && matchLabels[LABELS.role] === role) {
    return true;
  }
  return (Array.isArray(matchExpressions) ? matchExpressions : []).some(
    (e) =>
      isRecord(e) &&
      e.key === LABELS.role &&
      e.operator === "In" &&
      Array.isArray(e.values) &&
      e.values.length > 0 &&
      e.values.every((v) => v === role),
  );
}

/** A NetworkPolicy as the checks read it. */
interface NetworkPolicyView {
  resource: ResourceView;
  namespace: Maybe<unknown>;
  spec: Record<string, unknown>;
  /** The directions it governs: `policyTypes`, or as Kubernetes defaults them when absent. */
  types: Set<string>;
}

function networkPoliciesOf(resources: readonly ResourceView[]): NetworkPolicyView[] {
  return resources
    .filter((r) => r.type === TYPES.k8sNetworkPolicy)
    .map((resource) => {
      const snap = snapshot(() => resource.props.spec);
      const spec = isRecord(snap) ? snap : {};
      const declared = Array.isArray(spec.policyTypes) ? spec.policyTypes.map(String) : undefined;
      const types = new Set(declared ?? ["Ingress", ...(spec.egress !== undefined ? ["Egress"] : [])]);
      return { resource, namespace: metadataOf(resource.props).namespace, spec, types };
    });
}

/** A rule list of a policy (`ingress`, `egress`): absent means none. */
function rulesOf(policy: NetworkPolicyView, key: "ingress" | "egress"): Record<string, unknown>[] {
  const rules = policy.spec[key];
  return Array.isArray(rules) ? rules.map((r) => (isRecord(r) ? r : {})) : [];
}

/** Whether a rule opens exactly one TCP port, `port` (a rule without ports opens them all). */
function onlyPort(rule: Record<string, unknown>, port: number | undefined): boolean {
  const ports = rule.ports;
  return (
    port !== undefined &&
    Array.isArray(ports) &&
    ports.length > 0 &&
    ports.every((p) => isRecord(p) && p.port === port && p.endPort === undefined && (p.protocol ?? "TCP") === "TCP")
  );
}

/** The peers of a rule (`to` of an egress rule, `from` of an ingress rule); undefined when it has none, which means every address. */
function peersOf(rule: Record<string, unknown>, key: "to" | "from"): Record<string, unknown>[] | undefined {
  const peers = rule[key];
  return Array.isArray(peers) && peers.length > 0 ? peers.map((p) => (isRecord(p) ? p : {})) : undefined;
}

/** A pod-running workload of the stack with its pods' labels and namespace. */
interface PodView {
  resource: ResourceView;
  labels: Map<string, string>;
  namespace: Maybe<unknown>;
  role: string | undefined;
}

function podsOf(resources: readonly ResourceView[]): PodView[] {
  const out: PodView[] = [];
  for (const resource of resources.filter((r) => isPodHolder(r.type))) {
    const pod = podTemplateOf(resource);
    if (pod === UNKNOWN || pod === undefined) {
      continue;
    }
    out.push({ resource, labels: pod.labels, namespace: metadataOf(resource.props).namespace, role: pod.labels.get(LABELS.role) });
  }
  return out;
}

function describeSelector(selector: unknown): string {
  return JSON.stringify(selector ?? {});
}

// --- Namespace --------------------------------------------------------------------------------

/**
 * Every namespace the stack declares enforces Pod Security "restricted".
 */
export const kubernetesNamespaceRestricted: ResourceValidationPolicy = {
  name: "kubernetes-namespace-restricted",
  description:
    `Every Kubernetes namespace the stack declares (one per bottle) must carry the label ` +
    `${K8S.podSecurityEnforceLabel}: ${K8S.podSecurityLevel}. The API server then refuses any pod in ` +
    "it that is privileged, shares a host namespace, mounts a host path, runs as root or keeps " +
    "capabilities - whatever declares the pod (this stack, a later kubectl run, a compromised " +
    "controller) - so the bottle's pods stay hardened even outside what this pack sees.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.k8sNamespace) {
      return;
    }
    const labels = snapshot(() => args.props.metadata?.labels);
    if (labels === UNKNOWN) {
      return;
    }
    const level = isRecord(labels) ? labels[K8S.podSecurityEnforceLabel] : undefined;
    if (level === UNKNOWN || level === K8S.podSecurityLevel) {
      return;
    }
    reportViolation(
      `Namespace '${objectName(args)}' ${level === undefined ? "does not enforce a Pod Security level" : `enforces Pod Security level '${String(level)}'`}, ` +
        `so the API server admits privileged or root pods in it. Set the label ` +
        `${K8S.podSecurityEnforceLabel}: ${K8S.podSecurityLevel} on it.`,
    );
  },
};

// --- Pods -------------------------------------------------------------------------------------

/** Roles whose containers must also keep their root filesystem read-only. */
const GATE_ROLES: readonly string[] = [ROLES.egressProxy, ROLES.pipelock, ROLES.pipelockBulk];

/** The problems of one pod spec (a `snapshot`), each a sentence with its fix. */
export function podProblems(spec: Record<string, unknown>, role: string | undefined): string[] {
  const problems: string[] = [];
  for (const [field, what] of [
    [
      "hostNetwork",
      "the node's network namespace, where network policies do not apply and the node's addresses and services are reachable",
    ],
    ["hostPID", "the node's process namespace"],
    ["hostIPC", "the node's IPC namespace"],
  ] as const) {
    if (spec[field] === true) {
      problems.push(`shares ${what} (${field}: true); remove ${field}`);
    }
  }
  const automount = spec.automountServiceAccountToken;
  if (automount !== UNKNOWN && automount !== false) {
    problems.push(
      "mounts a service account token (automountServiceAccountToken is not false), a credential for the " +
        "cluster's API; set automountServiceAccountToken: false",
    );
  }
  const volumes = Array.isArray(spec.volumes) ? spec.volumes.filter(isRecord) : [];
  for (const v of volumes.filter((v) => v.hostPath !== undefined)) {
    const path = isRecord(v.hostPath) ? v.hostPath.path : undefined;
    problems.push(
      `mounts the node's ${path === undefined || path === UNKNOWN ? "files" : `path ${String(path)}`} (hostPath volume ` +
        `'${String(v.name)}'); use an emptyDir, a ConfigMap or Secret, or a claim instead`,
    );
  }
  const pod = isRecord(spec.securityContext) ? spec.securityContext : {};
  if (isRecord(pod.seccompProfile) && pod.seccompProfile.type === "Unconfined") {
    problems.push("turns off seccomp for the pod (seccompProfile Unconfined); use RuntimeDefault");
  }
  for (const c of podContainersOf(spec)) {
    const name = `container '${String(c.name)}'`;
    const sc = isRecord(c.securityContext) ? c.securityContext : {};
    if (sc.privileged === true) {
      problems.push(`${name} is privileged (full access to the node's devices and kernel); remove privileged`);
    }
    if (c.securityContext !== UNKNOWN && sc.allowPrivilegeEscalation !== UNKNOWN && sc.allowPrivilegeEscalation !== false) {
      problems.push(`${name} may gain privileges (setuid binaries); set securityContext.allowPrivilegeEscalation: false`);
    }
    const caps = sc.capabilities;
    if (caps !== UNKNOWN && c.securityContext !== UNKNOWN) {
      const add = isRecord(caps) ? caps.add : undefined;
      const drop = isRecord(caps) ? caps.drop : undefined;
      if (Array.isArray(add) && add.length > 0) {
        problems.push(`${name} adds capabilities [${add.map(String).join(", ")}]; remove capabilities.add`);
      }
      if (drop !== UNKNOWN && !(Array.isArray(drop) && drop.some((d) => String(d).toUpperCase() === "ALL"))) {
        problems.push(`${name} keeps the runtime's default capabilities (NET_RAW, CHOWN, SETUID...); set capabilities.drop: ["ALL"]`);
      }
    }
    const nonRoot = sc.runAsNonRoot !== undefined ? sc.runAsNonRoot : pod.runAsNonRoot;
    if (nonRoot !== UNKNOWN && nonRoot !== true && c.securityContext !== UNKNOWN && spec.securityContext !== UNKNOWN) {
      problems.push(`${name} may run as root (runAsNonRoot is not true for it or its pod); set securityContext.runAsNonRoot: true`);
    }
    const uid = sc.runAsUser !== undefined ? sc.runAsUser : pod.runAsUser;
    if (uid === 0) {
      problems.push(`${name} runs as uid 0 (runAsUser: 0); run it as the image's unprivileged user`);
    }
    const hostPorts = (Array.isArray(c.ports) ? c.ports.filter(isRecord) : []).filter(
      (p) => p.hostPort !== undefined && p.hostPort !== UNKNOWN && p.hostPort !== 0,
    );
    if (hostPorts.length > 0) {
      problems.push(
        `${name} opens ports on the node (hostPort ${hostPorts.map((p) => String(p.hostPort)).join(", ")}), reachable ` +
          "from outside every network policy; remove hostPort",
      );
    }
    if (isRecord(sc.seccompProfile) && sc.seccompProfile.type === "Unconfined") {
      problems.push(`${name} turns off seccomp (seccompProfile Unconfined); use RuntimeDefault`);
    }
    const memory =
      isRecord(c.resources) && isRecord(c.resources.limits) ? c.resources.limits.memory : c.resources === UNKNOWN ? UNKNOWN : undefined;
    if (memory !== UNKNOWN && (memory === undefined || memory === null || String(memory) === "" || String(memory) === "0")) {
      problems.push(`${name} has no memory limit (resources.limits.memory); set one, so a runaway process is stopped in its own cgroup`);
    }
    if (
      role !== undefined &&
      GATE_ROLES.includes(role) &&
      c.securityContext !== UNKNOWN &&
      sc.readOnlyRootFilesystem !== UNKNOWN &&
      sc.readOnlyRootFilesystem !== true
    ) {
      problems.push(
        `${name} has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true ` +
          "(with an emptyDir for each path the gate writes)",
      );
    }
  }
  return problems;
}

/**
 * Every pod a Kubernetes bottle runs (the agent, the gates, the self-test) holds no lever out of
 * its container; the gates' root filesystems are read-only.
 */
export const kubernetesPodsHardened: ResourceValidationPolicy = {
  name: "kubernetes-pods-hardened",
  description:
    "Every Kubernetes pod of the stack (Deployments of the agent and the gates, the self-test Job, any " +
    "other kind that runs pods) must not use the node's network, PID or IPC namespace, mount node paths " +
    "(hostPath) or open node ports (hostPort), and must not mount a service account token " +
    "(automountServiceAccountToken: false); each container must not be privileged, must set " +
    "allowPrivilegeEscalation: false, drop ALL capabilities and add none, run as non-root, and keep " +
    "seccomp on. The gates' containers (egress proxy, pipelock) must also have a read-only root " +
    "filesystem. The agent runs untrusted, model-generated code; each of these is a way around the " +
    "network policies or onto the node, and a gate that can rewrite its own files can be made to stop gating.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const pod = podTemplateOf(args);
    if (pod === undefined || pod === UNKNOWN) {
      return;
    }
    const role = roleOfResource(args);
    for (const problem of podProblems(pod.spec, role)) {
      reportViolation(`${kindOf(args.type)} '${objectName(args)}' (role '${role ?? "none"}') ${problem}.`);
    }
  },
};

// --- Network policies -------------------------------------------------------------------------

/** The shape of a default-deny policy: every pod, both directions, no rule. */
function isDefaultDeny(policy: NetworkPolicyView): boolean {
  const declared = policy.spec.policyTypes;
  return (
    isEmptySelector(policy.spec.podSelector) &&
    Array.isArray(declared) &&
    declared.includes("Ingress") &&
    declared.includes("Egress") &&
    rulesOf(policy, "ingress").length === 0 &&
    rulesOf(policy, "egress").length === 0
  );
}

/**
 * Every namespace a Kubernetes bottle runs in denies all traffic by default.
 */
export const kubernetesNamespaceDefaultDeny: StackValidationPolicy = {
  name: "kubernetes-namespace-default-deny",
  description:
    "Every namespace of a Kubernetes bottle (a Namespace with the bot-bottle.bottle label, and any " +
    "namespace a bottle's pods run in) must have a default-deny NetworkPolicy: podSelector {}, " +
    "policyTypes [Ingress, Egress] and no rules. The other policies then only open the bottle's paths; " +
    "without it a pod no other policy selects (a new workload, a debug pod, a renamed role) can reach, " +
    "and be reached from, anything - the Kubernetes equivalent of a network with a gateway.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const policies = networkPoliciesOf(args.resources);
    if (policies.some((p) => p.namespace === UNKNOWN)) {
      return; // which namespace a policy is in is not known yet: decided at `up`
    }
    const namespaces = new Map<string, { urn: string; bottle: string | undefined }>();
    for (const ns of args.resources.filter((r) => r.type === TYPES.k8sNamespace)) {
      const labels = labelsOf(ns.props);
      const name = metadataOf(ns.props).name;
      if (labels.has(LABELS.bottle) && typeof name === "string") {
        namespaces.set(name, { urn: ns.urn, bottle: labels.get(LABELS.bottle) });
      }
    }
    for (const pod of podsOf(args.resources)) {
      const bottle = pod.labels.get(LABELS.bottle) ?? labelsOf(pod.resource.props).get(LABELS.bottle);
      const ns = pod.namespace === undefined ? "default" : pod.namespace;
      if (bottle !== undefined && typeof ns === "string" && !namespaces.has(ns)) {
        namespaces.set(ns, { urn: pod.resource.urn, bottle });
      }
    }
    for (const [ns, { urn, bottle }] of namespaces) {
      const here = policies.filter((p) => (p.namespace === undefined ? "default" : p.namespace) === ns);
      if (here.some(isDefaultDeny)) {
        continue;
      }
      reportViolation(
        `Namespace '${ns}' (bottle '${bottle ?? "unlabelled"}') has no default-deny NetworkPolicy, so a pod ` +
          `no other policy selects can reach, and be reached from, anything. Declare a NetworkPolicy in it ` +
          `with podSelector: {}, policyTypes: [Ingress, Egress] and no ingress or egress rules.`,
        urn,
      );
    }
  },
};

/** Roles whose pods have the agent's network access: the agent, and the self-test that checks it. */
const AGENT_LIKE_ROLES: readonly string[] = [ROLES.agent, ROLES.selfTest];

/**
 * The agent's pods reach the egress proxy's pods and nothing else, and accept no connection.
 */
export const kubernetesAgentReachesOnlyEgressProxy: StackValidationPolicy = {
  name: "kubernetes-agent-reaches-only-egress-proxy",
  description:
    "Every NetworkPolicy that selects the agent's pods (or the self-test's, which has the agent's access) " +
    "may allow egress only to the egress proxy's pods: each egress rule lists peers, and each peer is a " +
    "podSelector that requires bot-bottle.role: egress-proxy, with no namespaceSelector or ipBlock. It " +
    "may allow no ingress (the agent serves nothing; a connection in carries data out). The egress proxy " +
    "must be the agent's only way out: any other peer lets the agent skip the allowlist and the " +
    "credential injection, or reach the second gate, the cluster or the internet directly.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const policies = networkPoliciesOf(args.resources);
    for (const pod of podsOf(args.resources).filter((p) => p.role !== undefined && AGENT_LIKE_ROLES.includes(p.role))) {
      if (pod.namespace === UNKNOWN) {
        continue;
      }
      const podName = `${kindOf(pod.resource.type)} '${objectName(pod.resource)}'`;
      for (const policy of policies.filter((p) => p.namespace === pod.namespace)) {
        if (selectorMatches(policy.spec.podSelector, pod.labels) !== true) {
          continue;
        }
        const problems: string[] = [];
        if (policy.types.has("Egress")) {
          for (const [i, rule] of rulesOf(policy, "egress").entries()) {
            const peers = peersOf(rule, "to");
            if (peers === undefined) {
              problems.push(`allows egress to every address (egress rule ${i} has no 'to')`);
              continue;
            }
            for (const peer of peers) {
              if (peer.ipBlock !== undefined) {
                const cidr = isRecord(peer.ipBlock) ? peer.ipBlock.cidr : undefined;
                problems.push(`allows egress to the addresses ${String(cidr)} (ipBlock in egress rule ${i})`);
              } else if (peer.namespaceSelector !== undefined) {
                problems.push(`allows egress to pods of other namespaces (namespaceSelector in egress rule ${i})`);
              } else if (!selectorPinsRole(peer.podSelector, ROLES.egressProxy)) {
                problems.push(
                  `allows egress to pods other than the egress proxy (podSelector ${describeSelector(peer.podSelector)} in egress rule ${i})`,
                );
              }
            }
          }
        }
        if (policy.types.has("Ingress") && rulesOf(policy, "ingress").length > 0) {
          problems.push("accepts connections (ingress rules), through which data leaves as well as enters");
        }
        for (const problem of problems) {
          reportViolation(
            `NetworkPolicy '${objectName(policy.resource)}' selects the ${pod.role} pods of ${podName} and ${problem}. ` +
              `The agent may reach only the egress proxy: make every egress peer ` +
              `{ podSelector: { matchLabels: { "${LABELS.role}": "${ROLES.egressProxy}" } } } (no ` +
              `namespaceSelector, no ipBlock) and remove ingress rules.`,
            policy.resource.urn,
          );
        }
      }
    }
  },
};

/**
 * Only the pipelocks' network policies let pods reach outside their bottle, and not into the cluster.
 */
export const kubernetesOnlyPipelockReachesOutside: StackValidationPolicy = {
  name: "kubernetes-only-pipelock-reaches-outside",
  description:
    "Only a NetworkPolicy whose podSelector requires bot-bottle.role: pipelock (or pipelock-bulk, the " +
    "bulk lane's pipelock) may allow egress outside " +
    "the bottle's own pods: an ipBlock peer, a namespaceSelector peer, or a rule with no 'to' (every " +
    "address). Pipelock's own rules must still keep it out of the cluster: every ipBlock lists the " +
    "cluster's and private ranges in 'except' (non-empty; the bottle's privateCidrs), no egress rule " +
    "omits 'to', and a namespaceSelector peer names the pods it may reach (a non-empty podSelector, " +
    "e.g. the cluster DNS). Pipelock is the last gate and the only component that may dial the " +
    "internet; an egress proxy or agent with its own way out bypasses it, and a pipelock that reaches " +
    "the cluster lets an allowed request reach its API server, nodes or other tenants.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const pods = podsOf(args.resources);
    for (const policy of networkPoliciesOf(args.resources)) {
      if (!policy.types.has("Egress")) {
        continue;
      }
      const name = `NetworkPolicy '${objectName(policy.resource)}'`;
      const isPipelocks = PIPELOCK_ROLES.some((role) => selectorPinsRole(policy.spec.podSelector, role));
      const outside: string[] = [];
      for (const [i, rule] of rulesOf(policy, "egress").entries()) {
        const peers = peersOf(rule, "to");
        if (peers === undefined) {
          if (isPipelocks) {
            reportViolation(
              `${name} (pipelock's) has egress rule ${i} with no 'to', which reaches every address, the ` +
                `cluster's included. Use an ipBlock { cidr: 0.0.0.0/0, except: [the cluster's and private ranges] } ` +
                `(the bottle's privateCidrs).`,
              policy.resource.urn,
            );
          } else {
            outside.push(`every address (egress rule ${i} has no 'to')`);
          }
          continue;
        }
        for (const peer of peers) {
          if (peer.ipBlock !== undefined) {
            const block = isRecord(peer.ipBlock) ? peer.ipBlock : {};
            if (!isPipelocks) {
              outside.push(`the addresses ${String(block.cidr)} (ipBlock in egress rule ${i})`);
            } else if (block.except !== UNKNOWN && !(Array.isArray(block.except) && block.except.length > 0)) {
              reportViolation(
                `${name} (pipelock's) allows egress to ${String(block.cidr)} with an empty 'except', so ` +
                  `pipelock can reach the cluster's pods, Services and nodes and the cloud metadata ` +
                  `address. List the cluster's and private ranges in ipBlock.except (the bottle's ` +
                  `privateCidrs; the default covers every private, shared, link-local and loopback range).`,
                policy.resource.urn,
              );
            }
          } else if (peer.namespaceSelector !== undefined) {
            if (!isPipelocks) {
              outside.push(`pods of other namespaces (namespaceSelector in egress rule ${i})`);
            } else if (peer.podSelector !== UNKNOWN && isEmptySelector(peer.podSelector)) {
              reportViolation(
                `${name} (pipelock's) allows egress to every pod of the namespaces ` +
                  `${describeSelector(peer.namespaceSelector)} (egress rule ${i}). Add a podSelector naming ` +
                  `the pods pipelock needs (the cluster DNS: k8s-app: kube-dns).`,
                policy.resource.urn,
              );
            }
          }
        }
      }
      if (outside.length === 0) {
        continue;
      }
      const selected = pods
        .filter((p) => p.namespace === policy.namespace && selectorMatches(policy.spec.podSelector, p.labels) === true)
        .map((p) => p.role ?? "none");
      const whose = selected.length > 0 ? `the ${[...new Set(selected)].join(", ")} pods` : "the pods it selects";
      for (const where of outside) {
        reportViolation(
          `${name} lets ${whose} (podSelector ${describeSelector(policy.spec.podSelector)}) reach ${where}; only ` +
            `the bottle's pipelocks may reach outside it. Remove that rule (the agent reaches the egress proxy and ` +
            `the egress proxy pipelock through podSelector peers), or select only pipelock's pods ` +
            `(podSelector requiring ${LABELS.role}: ${ROLES.pipelock}).`,
          policy.resource.urn,
        );
      }
    }
  },
};

/** The roles of the topology table whose pods (in the policy's bottle) a selector selects; `UNKNOWN` if it cannot tell yet. */
function rolesSelected(selector: unknown, bottleLabels: ReadonlyMap<string, string>): Maybe<string[]> {
  const out: string[] = [];
  for (const role of Object.keys(BOTTLE_TOPOLOGY)) {
    const matches = selectorMatches(selector, new Map([...bottleLabels, [LABELS.role, role]]));
    if (matches === UNKNOWN) {
      return UNKNOWN;
    }
    if (matches) {
      out.push(role);
    }
  }
  return out;
}

/** The problems of one policy's rules for the pods of `role` it selects, against the topology table. */
function peerProblems(policy: NetworkPolicyView, role: string, bottleLabels: ReadonlyMap<string, string>): string[] {
  const row = BOTTLE_TOPOLOGY[role]!;
  const allowedIn = clientsOf(role);
  const problems: string[] = [];
  if (policy.types.has("Ingress")) {
    for (const [i, rule] of rulesOf(policy, "ingress").entries()) {
      const peers = peersOf(rule, "from");
      if (peers === undefined) {
        problems.push(`lets every address connect to the ${role} pods (ingress rule ${i} has no 'from')`);
        continue;
      }
      for (const peer of peers) {
        if (peer.ipBlock === undefined && peer.namespaceSelector !== undefined && onlyPort(rule, row.metricsPort)) {
          continue; // the operator's scraper, on the role's metrics port alone
        }
        if (peer.ipBlock !== undefined || peer.namespaceSelector !== undefined) {
          problems.push(
            `lets ${peer.ipBlock !== undefined ? "addresses" : "pods of other namespaces"} connect to the ${role} pods (ingress rule ${i})`,
          );
          continue;
        }
        const from = rolesSelected(peer.podSelector, bottleLabels);
        for (const client of from === UNKNOWN ? [] : from.filter((c) => !allowedIn.includes(c))) {
          problems.push(`lets the ${client} pods connect to the ${role} pods (ingress rule ${i}), which its row of the topology does not`);
        }
      }
    }
  }
  if (policy.types.has("Egress")) {
    for (const [i, rule] of rulesOf(policy, "egress").entries()) {
      // Peers outside the bottle's pods are kubernetes-only-pipelock-reaches-outside's to judge.
      for (const peer of (peersOf(rule, "to") ?? []).filter((p) => p.ipBlock === undefined && p.namespaceSelector === undefined)) {
        const to = rolesSelected(peer.podSelector, bottleLabels);
        for (const server of to === UNKNOWN ? [] : to.filter((s) => !row.reaches.includes(s))) {
          problems.push(`lets the ${role} pods connect to the ${server} pods (egress rule ${i}), which its row of the topology does not`);
        }
      }
    }
  }
  return problems;
}

/**
 * Every NetworkPolicy of a bottle opens only the paths of the topology table between its roles.
 */
export const kubernetesWorkloadsReachOnlyTheirPeers: StackValidationPolicy = {
  name: "kubernetes-workloads-reach-only-their-peers",
  description:
    "Every NetworkPolicy in a bottle's namespace may open only the paths of the topology table between the " +
    "bottle's roles: the agent (and the self-test) to the egress proxy, the egress proxy to pipelock and " +
    "pipelock-bulk, nothing else - ingress and egress alike, whichever pods it selects (label selectors " +
    "evaluated against each role's labels), and no ingress from addresses or other namespaces but the " +
    "operator's scraper on a gate's metrics port alone. A path " +
    "from the agent to pipelock, or into a gate from anywhere else, is the Kubernetes form of a gate on " +
    "the agent's network: the agent talks to the second gate past every route check and credential rule.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const policy of networkPoliciesOf(args.resources)) {
      const labels = labelsOf(policy.resource.props);
      if (!labels.has(LABELS.bottle)) {
        continue; // not a bottle's: its namespace's default deny is kubernetes-namespace-default-deny's
      }
      const bottleLabels = new Map([...labels].filter(([k]) => k === LABELS.stack || k === LABELS.bottle));
      const selected = rolesSelected(policy.spec.podSelector, bottleLabels);
      if (selected === UNKNOWN) {
        continue;
      }
      for (const role of selected) {
        for (const problem of peerProblems(policy, role, bottleLabels)) {
          reportViolation(
            `NetworkPolicy '${objectName(policy.resource)}' ${problem}. Open only the topology's paths: ${role} reaches ` +
              `${BOTTLE_TOPOLOGY[role]!.reaches.join(", ") || "no pod"} and takes connections from ${clientsOf(role).join(", ") || "no pod"}.`,
            policy.resource.urn,
          );
        }
      }
    }
  },
};
