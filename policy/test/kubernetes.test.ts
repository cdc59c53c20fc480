import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  kubernetesWorkloadsReachOnlyTheirPeers,
  kubernetesAgentReachesOnlyEgressProxy,
  kubernetesNamespaceDefaultDeny,
  kubernetesNamespaceRestricted,
  kubernetesOnlyPipelockReachesOutside,
  kubernetesPodsHardened,
  selectorMatches,
  selectorPinsRole,
} from "../policies/kubernetes";
import { bottleGraph, kubernetesBottleGraph, object, podSpec } from "./fixtures";
import { type DeclaredResource, runResourcePolicy, runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("label selectors", () => {
  const agent = new Map([
    ["bot-bottle.role", "agent"],
    ["bot-bottle.bottle", "reviewer"],
  ]);
  it("match as Kubernetes matches them", () => {
    assert.equal(selectorMatches({}, agent), true);
    assert.equal(selectorMatches(undefined, agent), true);
    assert.equal(selectorMatches({ matchLabels: { "bot-bottle.role": "agent" } }, agent), true);
    assert.equal(selectorMatches({ matchLabels: { "bot-bottle.role": "pipelock" } }, agent), false);
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["agent", "self-test"] }] }, agent),
      true,
    );
    assert.equal(selectorMatches({ matchExpressions: [{ key: "bot-bottle.role", operator: "NotIn", values: ["pipelock"] }] }, agent), true);
    assert.equal(selectorMatches({ matchExpressions: [{ key: "bot-bottle.role", operator: "DoesNotExist" }] }, agent), false);
    assert.equal(selectorMatches({ matchExpressions: [{ key: "other", operator: "Exists" }] }, agent), false);
  });

  it("pin a role only when they require it", () => {
    assert.equal(selectorPinsRole({ matchLabels: { "bot-bottle.role": "egress-proxy" } }, "egress-proxy"), true);
    assert.equal(
      selectorPinsRole({ matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["egress-proxy"] }] }, "egress-proxy"),
      true,
    );
    assert.equal(
      selectorPinsRole(
        { matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["egress-proxy", "pipelock"] }] },
        "egress-proxy",
      ),
      false,
    );
    assert.equal(
      selectorPinsRole({ matchExpressions: [{ key: "bot-bottle.role", operator: "NotIn", values: ["agent"] }] }, "egress-proxy"),
      false,
    );
    assert.equal(selectorPinsRole({}, "egress-proxy"), false);
  });
});

describe("kubernetes-namespace-restricted", () => {
  const namespace = () => object(kubernetesBottleGraph(), "Namespace", "dev-reviewer");

  it("passes a namespace that enforces restricted", async () => {
    assert.deepEqual((await runResourcePolicy(kubernetesNamespaceRestricted, namespace())).violations, []);
  });

  it("rejects a namespace without the enforce label", async () => {
    const ns = namespace();
    delete ns.props.metadata.labels["pod-security.kubernetes.io/enforce"];
    const { violations } = await runResourcePolicy(kubernetesNamespaceRestricted, ns);
    assert.deepEqual(violations, [
      "Namespace 'dev-reviewer' does not enforce a Pod Security level, so the API server admits privileged or root " +
        "pods in it. Set the label pod-security.kubernetes.io/enforce: restricted on it.",
    ]);
  });

  it("rejects a weaker level", async () => {
    const ns = namespace();
    ns.props.metadata.labels["pod-security.kubernetes.io/enforce"] = "baseline";
    const { violations } = await runResourcePolicy(kubernetesNamespaceRestricted, ns);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /^Namespace 'dev-reviewer' enforces Pod Security level 'baseline'/);
  });

  it("defers a label unknown during preview, and leaves Docker resources alone", async () => {
    const ns = namespace();
    ns.props.metadata.labels["pod-security.kubernetes.io/enforce"] = UNKNOWN_STRING;
    assert.deepEqual((await runResourcePolicy(kubernetesNamespaceRestricted, ns)).violations, []);
    for (const r of bottleGraph()) {
      assert.deepEqual((await runResourcePolicy(kubernetesNamespaceRestricted, r)).violations, []);
    }
  });
});

describe("kubernetes-pods-hardened", () => {
  it("passes every pod of the bottle (agent, gates, self-test Job)", async () => {
    for (const r of kubernetesBottleGraph()) {
      const { violations } = await runResourcePolicy(kubernetesPodsHardened, r);
      assert.deepEqual(violations, [], r.name);
    }
  });

  const agentCases: { rule: string; change: (spec: Record<string, any>) => void; message: RegExp }[] = [
    {
      rule: "no hostNetwork",
      change: (s) => (s.hostNetwork = true),
      message: /shares the node's network namespace, .*\(hostNetwork: true\); remove hostNetwork/,
    },
    { rule: "no hostPID", change: (s) => (s.hostPID = true), message: /shares the node's process namespace \(hostPID: true\)/ },
    { rule: "no hostIPC", change: (s) => (s.hostIPC = true), message: /shares the node's IPC namespace \(hostIPC: true\)/ },
    {
      rule: "not privileged",
      change: (s) => (s.containers[0].securityContext.privileged = true),
      message: /container 'agent' is privileged .*; remove privileged/,
    },
    {
      rule: "a memory limit",
      change: (s) => delete s.containers[0].resources.limits,
      message: /container 'agent' has no memory limit \(resources.limits.memory\); set one/,
    },
    {
      rule: "allowPrivilegeEscalation false",
      change: (s) => delete s.containers[0].securityContext.allowPrivilegeEscalation,
      message: /container 'agent' may gain privileges \(setuid binaries\); set securityContext.allowPrivilegeEscalation: false/,
    },
    {
      rule: "adds no capabilities",
      change: (s) => (s.containers[0].securityContext.capabilities.add = ["NET_RAW"]),
      message: /container 'agent' adds capabilities \[NET_RAW\]; remove capabilities.add/,
    },
    {
      rule: "drops ALL capabilities",
      change: (s) => (s.containers[0].securityContext.capabilities = { drop: ["NET_ADMIN"] }),
      message: /container 'agent' keeps the runtime's default capabilities .*set capabilities.drop: \["ALL"\]/,
    },
    {
      rule: "runAsNonRoot (container or pod)",
      change: (s) => {
        delete s.containers[0].securityContext.runAsNonRoot;
        delete s.securityContext.runAsNonRoot;
      },
      message: /container 'agent' may run as root \(runAsNonRoot is not true for it or its pod\); set securityContext.runAsNonRoot: true/,
    },
    { rule: "not uid 0", change: (s) => (s.containers[0].securityContext.runAsUser = 0), message: /container 'agent' runs as uid 0/ },
    {
      rule: "no hostPath volumes",
      change: (s) => s.volumes.push({ name: "docker", hostPath: { path: "/var/run/docker.sock" } }),
      message: /mounts the node's path \/var\/run\/docker.sock \(hostPath volume 'docker'\)/,
    },
    {
      rule: "no service account token",
      change: (s) => delete s.automountServiceAccountToken,
      message: /mounts a service account token \(automountServiceAccountToken is not false\).*set automountServiceAccountToken: false/,
    },
    {
      rule: "no hostPort",
      change: (s) => (s.containers[0].ports = [{ containerPort: 22, hostPort: 2222 }]),
      message: /container 'agent' opens ports on the node \(hostPort 2222\)/,
    },
    {
      rule: "seccomp stays on",
      change: (s) => (s.containers[0].securityContext.seccompProfile = { type: "Unconfined" }),
      message: /container 'agent' turns off seccomp/,
    },
    {
      rule: "init containers too",
      change: (s) =>
        (s.initContainers = [
          {
            name: "setup",
            image: "busybox",
            resources: s.containers[0].resources,
            securityContext: { ...s.containers[0].securityContext, privileged: true },
          },
        ]),
      message: /container 'setup' is privileged/,
    },
  ];
  for (const c of agentCases) {
    it(`enforces on the agent: ${c.rule}`, async () => {
      const agent = object(kubernetesBottleGraph(), "Deployment", "agent");
      c.change(podSpec(agent));
      const { violations } = await runResourcePolicy(kubernetesPodsHardened, agent);
      assert.equal(violations.length, 1, violations.join("\n"));
      assert.match(violations[0]!, /^Deployment 'dev-reviewer\/agent' \(role 'agent'\) /);
      assert.match(violations[0]!, c.message);
    });
  }

  it("allows the agent a writable root filesystem (its tools write anywhere), not the gates", async () => {
    const graph = kubernetesBottleGraph();
    assert.equal(podSpec(object(graph, "Deployment", "agent")).containers[0].securityContext.readOnlyRootFilesystem, false);
    for (const [role, container] of [
      ["egress-proxy", 0],
      ["pipelock", 1],
    ] as const) {
      const gate = object(kubernetesBottleGraph(), "Deployment", role);
      podSpec(gate).containers[container].securityContext.readOnlyRootFilesystem = false;
      const { violations } = await runResourcePolicy(kubernetesPodsHardened, gate);
      const name = container === 0 ? role : "reloader";
      assert.deepEqual(violations, [
        `Deployment 'dev-reviewer/${role}' (role '${role}') container '${name}' has a writable root filesystem; set ` +
          "securityContext.readOnlyRootFilesystem: true (with an emptyDir for each path the gate writes).",
      ]);
    }
  });

  it("checks the self-test Job, whose container inherits runAsNonRoot from its pod", async () => {
    const job = object(kubernetesBottleGraph(), "Job", "self-test");
    podSpec(job).securityContext.runAsNonRoot = false;
    podSpec(job).hostNetwork = true;
    const { violations } = await runResourcePolicy(kubernetesPodsHardened, job);
    assert.equal(violations.length, 2, violations.join("\n"));
    assert.match(violations[0]!, /^Job 'dev-reviewer\/self-test' \(role 'self-test'\) shares the node's network namespace/);
    assert.match(violations[1]!, /container 'probe' may run as root/);
  });

  it("checks any other kind that runs pods (a bare Pod, a CronJob)", async () => {
    const spec = structuredClone(podSpec(object(kubernetesBottleGraph(), "Deployment", "agent")));
    spec.hostPID = true;
    const pod: DeclaredResource = {
      type: "kubernetes:core/v1:Pod",
      name: "debug",
      props: { metadata: { name: "debug", namespace: "dev-reviewer" }, spec },
    };
    assert.match(
      (await runResourcePolicy(kubernetesPodsHardened, pod)).violations.join("\n"),
      /^Pod 'dev-reviewer\/debug' \(role 'none'\) shares the node's process namespace/,
    );
    const cron: DeclaredResource = {
      type: "kubernetes:batch/v1:CronJob",
      name: "nightly",
      props: { metadata: { name: "nightly" }, spec: { jobTemplate: { spec: { template: { spec } } } } },
    };
    assert.match(
      (await runResourcePolicy(kubernetesPodsHardened, cron)).violations.join("\n"),
      /^CronJob 'nightly' \(role 'none'\) shares the node's process namespace/,
    );
  });

  it("defers fields unknown during preview", async () => {
    const agent = object(kubernetesBottleGraph(), "Deployment", "agent");
    podSpec(agent).containers[0].securityContext.allowPrivilegeEscalation = UNKNOWN_STRING;
    podSpec(agent).automountServiceAccountToken = UNKNOWN_STRING;
    assert.deepEqual((await runResourcePolicy(kubernetesPodsHardened, agent)).violations, []);
  });
});

describe("kubernetes-namespace-default-deny", () => {
  it("passes a bottle whose namespace denies by default", async () => {
    assert.deepEqual((await runStackPolicy(kubernetesNamespaceDefaultDeny, kubernetesBottleGraph())).violations, []);
  });

  const missing =
    "Namespace 'dev-reviewer' (bottle 'reviewer') has no default-deny NetworkPolicy, so a pod no other policy selects can " +
    "reach, and be reached from, anything. Declare a NetworkPolicy in it with podSelector: {}, policyTypes: [Ingress, " +
    "Egress] and no ingress or egress rules.";

  it("rejects a bottle namespace without one", async () => {
    const graph = kubernetesBottleGraph().filter((r) => r.name !== "reviewer-policy-default-deny");
    assert.deepEqual((await runStackPolicy(kubernetesNamespaceDefaultDeny, graph)).violations, [missing]);
  });

  const notDenying: [string, (spec: Record<string, any>) => void][] = [
    ["one that allows some egress", (s) => (s.egress = [{ to: [{ podSelector: {} }] }])],
    ["one that governs ingress only", (s) => (s.policyTypes = ["Ingress"])],
    ["one without policyTypes (Kubernetes then governs ingress only)", (s) => delete s.policyTypes],
    ["one that selects some pods only", (s) => (s.podSelector = { matchLabels: { "bot-bottle.role": "agent" } })],
  ];
  for (const [what, change] of notDenying) {
    it(`does not count ${what}`, async () => {
      const graph = kubernetesBottleGraph();
      change(object(graph, "NetworkPolicy", "default-deny").props.spec);
      assert.deepEqual((await runStackPolicy(kubernetesNamespaceDefaultDeny, graph)).violations, [missing]);
    });
  }

  it("wants one in each bottle's own namespace", async () => {
    const coder = kubernetesBottleGraph({ bottle: "coder" }).filter((r) => r.name !== "coder-policy-default-deny");
    const { violations } = await runStackPolicy(kubernetesNamespaceDefaultDeny, [...kubernetesBottleGraph(), ...coder]);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /^Namespace 'dev-coder' \(bottle 'coder'\)/);
  });

  it("also covers a namespace a bottle's pods run in that the stack does not declare", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "Deployment", "agent").props.metadata.namespace = "default";
    const { violations } = await runStackPolicy(kubernetesNamespaceDefaultDeny, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /^Namespace 'default' \(bottle 'reviewer'\) has no default-deny NetworkPolicy/);
  });

  it("is silent for a Docker bottle", async () => {
    assert.deepEqual((await runStackPolicy(kubernetesNamespaceDefaultDeny, bottleGraph())).violations, []);
  });
});

describe("kubernetes-agent-reaches-only-egress-proxy", () => {
  it("passes the agent's policy (egress to the egress proxy's pods only)", async () => {
    assert.deepEqual((await runStackPolicy(kubernetesAgentReachesOnlyEgressProxy, kubernetesBottleGraph())).violations, []);
  });

  const cases: { rule: string; change: (spec: Record<string, any>) => void; message: RegExp }[] = [
    {
      rule: "not to pipelock",
      change: (s) => (s.egress[0].to = [{ podSelector: { matchLabels: { "bot-bottle.role": "pipelock" } } }]),
      message:
        /allows egress to pods other than the egress proxy \(podSelector \{"matchLabels":\{"bot-bottle.role":"pipelock"\}\} in egress rule 0\)/,
    },
    {
      rule: "not to every pod of the namespace",
      change: (s) => (s.egress[0].to = [{ podSelector: {} }]),
      message: /pods other than the egress proxy \(podSelector \{\}/,
    },
    {
      rule: "no ipBlock",
      change: (s) => s.egress.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }] }),
      message: /allows egress to the addresses 0.0.0.0\/0 \(ipBlock in egress rule 1\)/,
    },
    {
      rule: "no other namespaces",
      change: (s) => (s.egress[0].to = [{ namespaceSelector: {}, podSelector: { matchLabels: { "bot-bottle.role": "egress-proxy" } } }]),
      message: /allows egress to pods of other namespaces \(namespaceSelector in egress rule 0\)/,
    },
    {
      rule: "no rule without 'to'",
      change: (s) => s.egress.push({ ports: [{ port: 443, protocol: "TCP" }] }),
      message: /allows egress to every address \(egress rule 1 has no 'to'\)/,
    },
    {
      rule: "no ingress",
      change: (s) => (s.ingress = [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }] }]),
      message: /accepts connections \(ingress rules\), through which data leaves as well as enters/,
    },
  ];
  for (const c of cases) {
    it(`enforces: ${c.rule}`, async () => {
      const graph = kubernetesBottleGraph();
      c.change(object(graph, "NetworkPolicy", "agent").props.spec);
      const { violations } = await runStackPolicy(kubernetesAgentReachesOnlyEgressProxy, graph);
      // The agent's policy selects the agent's and the self-test's pods: one violation each.
      assert.equal(violations.length, 2, violations.join("\n"));
      assert.match(violations[0]!, /^NetworkPolicy 'dev-reviewer\/agent' selects the agent pods of Deployment 'dev-reviewer\/agent' and /);
      assert.match(violations[1]!, /selects the self-test pods of Job 'dev-reviewer\/self-test' and /);
      for (const v of violations) {
        assert.match(v, c.message);
        assert.match(
          v,
          /The agent may reach only the egress proxy: make every egress peer \{ podSelector: \{ matchLabels: \{ "bot-bottle.role": "egress-proxy" \} \} \}/,
        );
      }
    });
  }

  it("reads every policy that selects the agent, not only the one named after it", async () => {
    const graph = kubernetesBottleGraph();
    const extra = structuredClone(object(graph, "NetworkPolicy", "egress-proxy"));
    extra.name = "reviewer-policy-extra";
    extra.props.metadata.name = "extra";
    extra.props.spec = {
      podSelector: { matchLabels: { "bot-bottle.role": "agent" } },
      policyTypes: ["Egress"],
      egress: [{ to: [{ podSelector: { matchLabels: { "bot-bottle.role": "pipelock" } } }] }],
    };
    const { violations } = await runStackPolicy(kubernetesAgentReachesOnlyEgressProxy, [...graph, extra]);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^NetworkPolicy 'dev-reviewer\/extra' selects the agent pods of Deployment 'dev-reviewer\/agent' and allows egress to pods other than the egress proxy/,
    );
  });

  it("ignores policies of other namespaces and a policy's egress rules when it does not govern egress", async () => {
    const graph = kubernetesBottleGraph();
    const other = object(graph, "NetworkPolicy", "agent");
    other.props.spec.egress.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }] });
    other.props.spec.policyTypes = ["Ingress"];
    assert.deepEqual((await runStackPolicy(kubernetesAgentReachesOnlyEgressProxy, graph)).violations, []);
    const moved = kubernetesBottleGraph();
    const policy = object(moved, "NetworkPolicy", "agent");
    policy.props.metadata.namespace = "elsewhere";
    policy.props.spec.egress.push({});
    assert.deepEqual((await runStackPolicy(kubernetesAgentReachesOnlyEgressProxy, moved)).violations, []);
  });
});

describe("kubernetes-only-pipelock-reaches-outside", () => {
  it("passes pipelock's ipBlock with the private ranges excepted, and its DNS peer", async () => {
    assert.deepEqual((await runStackPolicy(kubernetesOnlyPipelockReachesOutside, kubernetesBottleGraph())).violations, []);
  });

  it("rejects an ipBlock in the egress proxy's policy (it would bypass pipelock)", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "NetworkPolicy", "egress-proxy").props.spec.egress.push({
      to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } }],
    });
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.deepEqual(violations, [
      'NetworkPolicy \'dev-reviewer/egress-proxy\' lets the egress-proxy pods (podSelector {"matchLabels":{"bot-bottle.role":"egress-proxy"}}) ' +
        "reach the addresses 0.0.0.0/0 (ipBlock in egress rule 1); only the bottle's pipelocks may reach outside it. Remove that rule " +
        "(the agent reaches the egress proxy and the egress proxy pipelock through podSelector peers), or select only " +
        "pipelock's pods (podSelector requiring bot-bottle.role: pipelock).",
    ]);
  });

  it("rejects a default-deny turned into allow-all (an egress rule with no 'to' for every pod)", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "NetworkPolicy", "default-deny").props.spec.egress = [{}];
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^NetworkPolicy 'dev-reviewer\/default-deny' lets the pipelock, egress-proxy, agent, self-test pods \(podSelector \{\}\) reach every address \(egress rule 0 has no 'to'\)/,
    );
  });

  it("rejects another namespace as a peer of a pod other than pipelock", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "NetworkPolicy", "egress-proxy").props.spec.egress[0].to.push({ namespaceSelector: { matchLabels: { team: "x" } } });
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /reach pods of other namespaces \(namespaceSelector in egress rule 0\)/);
  });

  for (const [what, change] of [
    ["empty", (b: Record<string, any>) => (b.except = [])],
    ["absent", (b: Record<string, any>) => delete b.except],
  ] as const) {
    it(`rejects pipelock's ipBlock with an ${what} except (pipelock could reach the cluster)`, async () => {
      const graph = kubernetesBottleGraph();
      change(object(graph, "NetworkPolicy", "pipelock").props.spec.egress[0].to[0].ipBlock);
      const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
      assert.deepEqual(violations, [
        "NetworkPolicy 'dev-reviewer/pipelock' (pipelock's) allows egress to 0.0.0.0/0 with an empty 'except', so pipelock " +
          "can reach the cluster's pods, Services and nodes and the cloud metadata address. List the cluster's and private " +
          "ranges in ipBlock.except (the bottle's privateCidrs; the default covers every private, shared, link-local and " +
          "loopback range).",
      ]);
    });
  }

  it("accepts a bottle's own privateCidrs", async () => {
    const graph = kubernetesBottleGraph({ privateCidrs: ["10.42.0.0/16", "10.43.0.0/16"] });
    assert.deepEqual((await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph)).violations, []);
  });

  it("rejects a pipelock rule with no 'to' (every address, the cluster's included)", async () => {
    const graph = kubernetesBottleGraph();
    delete object(graph, "NetworkPolicy", "pipelock").props.spec.egress[0].to;
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^NetworkPolicy 'dev-reviewer\/pipelock' \(pipelock's\) has egress rule 0 with no 'to', which reaches every address/,
    );
  });

  it("rejects pipelock reaching every pod of a namespace", async () => {
    const graph = kubernetesBottleGraph();
    delete object(graph, "NetworkPolicy", "pipelock").props.spec.egress[1].to[0].podSelector;
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /allows egress to every pod of the namespaces \{"matchLabels":\{"kubernetes.io\/metadata.name":"kube-system"\}\} \(egress rule 1\)\. Add a podSelector/,
    );
  });

  it("treats a policy that selects pipelock and others as not pipelock's", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "NetworkPolicy", "pipelock").props.spec.podSelector = {
      matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["pipelock", "egress-proxy"] }],
    };
    const { violations } = await runStackPolicy(kubernetesOnlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 2);
    assert.match(violations[0]!, /lets the pipelock, egress-proxy pods .* reach the addresses 0.0.0.0\/0/);
  });
});

describe("kubernetes-workloads-reach-only-their-peers", () => {
  const violationsOf = async (graph: DeclaredResource[]) =>
    (await runStackPolicy(kubernetesWorkloadsReachOnlyTheirPeers, graph)).violations;
  const policy = (graph: DeclaredResource[], name: string) => object(graph, "NetworkPolicy", name).props.spec;

  it("passes the bottle's policies as the program declares them", async () => {
    assert.deepEqual(await violationsOf(kubernetesBottleGraph()), []);
  });

  it("refuses letting the agent into pipelock (the Kubernetes form of pipelock on the agent's network)", async () => {
    const graph = kubernetesBottleGraph();
    policy(graph, "pipelock").ingress[0].from.push({ podSelector: { matchLabels: { "bot-bottle.role": "agent" } } });
    assert.deepEqual(await violationsOf(graph), [
      "NetworkPolicy 'dev-reviewer/pipelock' lets the agent pods connect to the pipelock pods (ingress rule 0), which its row of the topology does not. " +
        "Open only the topology's paths: pipelock reaches no pod and takes connections from egress-proxy.",
    ]);
  });

  it("refuses an egress path the table does not have, and every pod as a peer", async () => {
    const graph = kubernetesBottleGraph();
    policy(graph, "egress-proxy").egress.push({ to: [{ podSelector: { matchLabels: { "bot-bottle.role": "agent" } } }] });
    policy(graph, "egress-proxy").ingress[0].from.push({ podSelector: {} });
    const violations = await violationsOf(graph);
    assert.match(violations.join("\n"), /lets the egress-proxy pods connect to the agent pods \(egress rule 1\)/);
    for (const role of ["egress-proxy", "pipelock", "pipelock-bulk"]) {
      assert.match(violations.join("\n"), new RegExp(`lets the ${role} pods connect to the egress-proxy pods \\(ingress rule 0\\)`));
    }
  });

  it("lets the operator's scraper, from its namespace, reach each gate's metrics port and nothing else", async () => {
    const graph = kubernetesBottleGraph();
    const scraper = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
    policy(graph, "egress-proxy").ingress.push({ from: [scraper], ports: [{ port: 9464, protocol: "TCP" }] });
    policy(graph, "pipelock").ingress.push({ from: [scraper], ports: [{ port: 9465 }] });
    assert.deepEqual(await violationsOf(graph), []);
    // Another port beside it, every port, a port range, or a gate's metrics port on another gate.
    policy(graph, "egress-proxy").ingress.push({
      from: [scraper],
      ports: [
        { port: 9464, protocol: "TCP" },
        { port: 9099, protocol: "TCP" },
      ],
    });
    policy(graph, "egress-proxy").ingress.push({ from: [scraper] });
    policy(graph, "pipelock").ingress.push({ from: [scraper], ports: [{ port: 9465, endPort: 9999 }] });
    policy(graph, "pipelock").ingress.push({ from: [scraper], ports: [{ port: 9464 }] });
    const violations = (await violationsOf(graph)).join("\n");
    for (const [name, rule] of [
      ["egress-proxy", 2],
      ["egress-proxy", 3],
      ["pipelock", 2],
      ["pipelock", 3],
    ] as const) {
      assert.match(
        violations,
        new RegExp(`'dev-reviewer/${name}' lets pods of other namespaces connect to the ${name} pods \\(ingress rule ${rule}\\)`),
      );
    }
  });

  it("refuses ingress from addresses, other namespaces, or anywhere", async () => {
    const graph = kubernetesBottleGraph();
    policy(graph, "pipelock").ingress.push({ from: [{ ipBlock: { cidr: "10.0.0.0/8" } }] }, { ports: [{ port: 8888, protocol: "TCP" }] });
    policy(graph, "egress-proxy").ingress[0].from.push({ namespaceSelector: {} });
    const violations = (await violationsOf(graph)).join("\n");
    assert.match(violations, /'dev-reviewer\/pipelock' lets addresses connect to the pipelock pods \(ingress rule 1\)/);
    assert.match(violations, /'dev-reviewer\/pipelock' lets every address connect to the pipelock pods \(ingress rule 2 has no 'from'\)/);
    assert.match(violations, /'dev-reviewer\/egress-proxy' lets pods of other namespaces connect to the egress-proxy pods/);
  });
});
