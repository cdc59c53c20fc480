import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { BottleStackArgs, Workload } from "../../../components/index";
import { RESOURCE_TYPES } from "../../../components/vocabulary";
import { documentHash, LIVE_WAIT_SCRIPT, LIVE_WAIT_SECONDS } from "../../../components/kubernetes/live-wait/live-wait";
import { podSpecOf } from "../../../components/kubernetes/pods";
import { networkPolicies } from "../../../components/kubernetes/policies";
import { declareBottle, type Declared, isSecret, MOCK_OUTPUTS, plainStrings, type Registered, unwrap } from "../../support/declare";

const GITHUB_TOKEN = "ghp_k8sUnitTestTokenValue0123456789abcdefAB";
const ANTHROPIC_TOKEN = "sk-ant-api03-k8sUnitTestKeyValue";
const EGRESS_PROXY_IMAGE = "registry.example/egress-proxy@sha256:1111";
const AGENT_IMAGE = "registry.example/agent@sha256:2222";
const CIDRS = ["10.0.0.0/8", "172.16.0.0/12"];

const baseArgs = (extra: Partial<BottleStackArgs> = {}): BottleStackArgs => ({
  backend: "kubernetes",
  kubernetes: { storageClass: "fast-ssd", workspaceSizeGb: 25, privateCidrs: CIDRS },
  routes: [
    {
      host: "api.github.com",
      ports: [443],
      methods: ["GET"],
      paths: ["/repos/acme/"],
      auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
    },
    { host: "api.anthropic.com", auth: { header: "x-api-key", token: "anthropic" } },
  ],
  tokens: { github: GITHUB_TOKEN, anthropic: ANTHROPIC_TOKEN },
  egressProxy: { image: EGRESS_PROXY_IMAGE },
  agent: { image: AGENT_IMAGE, command: ["sleep", "infinity"] },
  ...extra,
});

/** Every string inside secret-marked values. */
function secretStrings(value: unknown, inside = false): string[] {
  if (typeof value === "string") return inside ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((v) => secretStrings(v, inside));
  if (isSecret(value)) return secretStrings(value.secret, true);
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap((v) => secretStrings(v, inside));
  return [];
}
const typesAndNames = (d: Declared) =>
  d.resources.map((r) => [r.type, r.name]).sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`));
const byName = (d: Declared, type: string, name: string): Registered => {
  const found = d.resources.find((r) => r.type === type && r.name === name);
  assert.ok(found, `no ${type} ${name}`);
  return found;
};
const labels = (role?: string) => ({ "bot-bottle.stack": "dev", "bot-bottle.bottle": "coder", ...(role && { "bot-bottle.role": role }) });
const meta = (name: string, objectLabels: Record<string, string>) => ({ name, namespace: "dev-coder", labels: objectLabels });

describe("BottleStack on Kubernetes: resource graph", () => {
  let d: Declared;
  let pipelockLabels: Record<string, string>;
  before(async () => {
    d = await declareBottle("coder", baseArgs(), "dev");
    pipelockLabels = { ...d.stack.layout.workloads.find((w) => w.role === "pipelock")!.labels };
  });

  test("registers exactly the bottle's Kubernetes objects, CAs, a wait per live configuration and nothing of Docker", () => {
    assert.deepEqual(typesAndNames(d), [
      ["bot-bottle:index:BottleStack", "coder"],
      [RESOURCE_TYPES.command, "coder-egress-proxy-config-wait"],
      [RESOURCE_TYPES.command, "coder-pipelock-bulk-config-wait"],
      [RESOURCE_TYPES.command, "coder-pipelock-config-wait"],
      [RESOURCE_TYPES.k8sDeployment, "coder-agent"],
      [RESOURCE_TYPES.k8sDeployment, "coder-egress-proxy"],
      [RESOURCE_TYPES.k8sDeployment, "coder-pipelock"],
      [RESOURCE_TYPES.k8sDeployment, "coder-pipelock-bulk"],
      [RESOURCE_TYPES.k8sJob, "coder-self-test"],
      [RESOURCE_TYPES.k8sConfigMap, "coder-egress-proxy-config"],
      [RESOURCE_TYPES.k8sConfigMap, "coder-pipelock-bulk-config"],
      [RESOURCE_TYPES.k8sConfigMap, "coder-pipelock-config"],
      [RESOURCE_TYPES.k8sNamespace, "coder-namespace"],
      [RESOURCE_TYPES.k8sPersistentVolumeClaim, "coder-workspace"],
      [RESOURCE_TYPES.k8sSecret, "coder-agent-files"],
      [RESOURCE_TYPES.k8sSecret, "coder-egress-proxy-files"],
      [RESOURCE_TYPES.k8sSecret, "coder-egress-proxy-tokens"],
      [RESOURCE_TYPES.k8sSecret, "coder-pipelock-files"],
      [RESOURCE_TYPES.k8sService, "coder-egress-proxy-service"],
      [RESOURCE_TYPES.k8sService, "coder-pipelock-bulk-service"],
      [RESOURCE_TYPES.k8sService, "coder-pipelock-service"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-agent"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-default-deny"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-egress-proxy"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-pipelock"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-pipelock-bulk"],
      [RESOURCE_TYPES.kubernetesProvider, "coder-kubernetes"],
      [RESOURCE_TYPES.privateKey, "coder-egress-proxy-ca-key"],
      [RESOURCE_TYPES.privateKey, "coder-pipelock-ca-key"],
      [RESOURCE_TYPES.selfSignedCert, "coder-egress-proxy-ca-cert"],
      [RESOURCE_TYPES.selfSignedCert, "coder-pipelock-ca-cert"],
    ]);
    assert.deepEqual(
      d.resources.filter((r) => /^docker:/.test(r.type) || r.type === RESOURCE_TYPES.dockerProvider).map((r) => r.name),
      [],
    );
    // No cluster named: a provider with the ambient kubeconfig and context, which adopts a kept workspace.
    assert.deepEqual(byName(d, RESOURCE_TYPES.kubernetesProvider, "coder-kubernetes").inputs, { upsertExistingObjects: "true" });
    assert.ok(d.resources.filter((r) => r.name !== "coder").every((r) => r.parent === "coder"));
  });

  test("the namespace is <stack>-<bottle>, with Pod Security restricted enforced", () => {
    assert.deepEqual(byName(d, RESOURCE_TYPES.k8sNamespace, "coder-namespace").inputs, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: "dev-coder",
        labels: { ...labels(), "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" },
      },
    });
  });

  test("every namespaced object is in the bottle's namespace, under its role's name", () => {
    const objects = d.resources
      .filter((r) => r.type.startsWith("kubernetes:") && r.type !== RESOURCE_TYPES.k8sNamespace)
      .map((r) => {
        const m = r.inputs.metadata as { name: string; namespace: string };
        return [r.name, m.namespace, m.name];
      })
      .sort((a, b) => a[0]!.localeCompare(b[0]!));
    assert.deepEqual(objects, [
      ["coder-agent", "dev-coder", "agent"],
      ["coder-agent-files", "dev-coder", "agent-files"],
      ["coder-egress-proxy", "dev-coder", "egress-proxy"],
      ["coder-egress-proxy-config", "dev-coder", "egress-proxy-config"],
      ["coder-egress-proxy-files", "dev-coder", "egress-proxy-files"],
      ["coder-egress-proxy-service", "dev-coder", "egress-proxy"],
      ["coder-egress-proxy-tokens", "dev-coder", "egress-proxy-tokens"],
      ["coder-pipelock", "dev-coder", "pipelock"],
      ["coder-pipelock-bulk", "dev-coder", "pipelock-bulk"],
      ["coder-pipelock-bulk-config", "dev-coder", "pipelock-bulk-config"],
      ["coder-pipelock-bulk-service", "dev-coder", "pipelock-bulk"],
      ["coder-pipelock-config", "dev-coder", "pipelock-config"],
      ["coder-pipelock-files", "dev-coder", "pipelock-files"],
      ["coder-pipelock-service", "dev-coder", "pipelock"],
      ["coder-policy-agent", "dev-coder", "agent"],
      ["coder-policy-default-deny", "dev-coder", "default-deny"],
      ["coder-policy-egress-proxy", "dev-coder", "egress-proxy"],
      ["coder-policy-pipelock", "dev-coder", "pipelock"],
      ["coder-policy-pipelock-bulk", "dev-coder", "pipelock-bulk"],
      ["coder-self-test", "dev-coder", "self-test"],
      ["coder-workspace", "dev-coder", "workspace"],
    ]);
  });

  test("network policies: the layout's, with the bottle's private CIDRs", () => {
    const expected = networkPolicies(d.stack.layout, { privateCidrs: CIDRS });
    assert.deepEqual(
      expected.map((p) => p.name),
      ["default-deny", "pipelock", "pipelock-bulk", "egress-proxy", "agent"],
    );
    for (const policy of expected) {
      assert.deepEqual(byName(d, RESOURCE_TYPES.k8sNetworkPolicy, `coder-policy-${policy.name}`).inputs, {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(policy.name, labels()),
        spec: policy.spec,
      });
    }
    const pipelock = byName(d, RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-pipelock").inputs.spec as {
      egress: { to: { ipBlock?: unknown }[]; ports: unknown }[];
    };
    assert.deepEqual(pipelock.egress[0], {
      to: [{ ipBlock: { cidr: "0.0.0.0/0", except: CIDRS } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
  });

  test("a Service per serving workload, selecting its pods by the immutable labels", () => {
    const service = (role: string, ports: Record<string, number>, objectLabels: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(role, objectLabels),
      spec: {
        selector: labels(role),
        ports: Object.entries(ports).map(([name, port]) => ({ name, port, targetPort: port, protocol: "TCP" })),
      },
    });
    const bulkLabels = { ...d.stack.layout.workloads.find((w) => w.role === "pipelock-bulk")!.labels };
    assert.deepEqual(
      byName(d, RESOURCE_TYPES.k8sService, "coder-egress-proxy-service").inputs,
      service("egress-proxy", { proxy: 9099 }, labels("egress-proxy")),
    );
    assert.deepEqual(
      byName(d, RESOURCE_TYPES.k8sService, "coder-pipelock-service").inputs,
      service("pipelock", { proxy: 8888 }, pipelockLabels),
    );
    assert.deepEqual(
      byName(d, RESOURCE_TYPES.k8sService, "coder-pipelock-bulk-service").inputs,
      service("pipelock-bulk", { proxy: 8888, "scan-api": 9090 }, bulkLabels),
    );
  });

  test("live configuration: the documents in plain ConfigMaps (equal to the stack's outputs), the tokens in a secret Secret", () => {
    assert.deepEqual(byName(d, RESOURCE_TYPES.k8sConfigMap, "coder-egress-proxy-config").inputs, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta("egress-proxy-config", labels("egress-proxy")),
      data: { "routes.yaml": d.stack.routesYaml },
    });
    assert.deepEqual(byName(d, RESOURCE_TYPES.k8sConfigMap, "coder-pipelock-config").inputs, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta("pipelock-config", pipelockLabels),
      data: { "pipelock.yaml": d.stack.pipelockYaml },
    });
    assert.equal(
      (byName(d, RESOURCE_TYPES.k8sConfigMap, "coder-pipelock-bulk-config").inputs.data as Record<string, string>)["pipelock-bulk.yaml"],
      d.stack.pipelockBulkYaml,
    );
    assert.match(d.stack.routesYaml, /token_env: EGRESS_PROXY_TOKEN_1/);
    const tokens = byName(d, RESOURCE_TYPES.k8sSecret, "coder-egress-proxy-tokens").inputs;
    assert.deepEqual(
      { ...tokens, stringData: undefined },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: meta("egress-proxy-tokens", labels("egress-proxy")),
        type: "Opaque",
        stringData: undefined,
      },
    );
    assert.ok(isSecret(tokens.stringData), "the tokens' stringData must be secret as a whole");
    const data = tokens.stringData.secret as Record<string, string>;
    assert.deepEqual(Object.keys(data), ["tokens.json"]);
    assert.deepEqual(JSON.parse(data["tokens.json"]!), { EGRESS_PROXY_TOKEN_0: ANTHROPIC_TOKEN, EGRESS_PROXY_TOKEN_1: GITHUB_TOKEN });
  });

  test("a wait per live configuration: after its ConfigMap, Secret and Deployment, the document's sha256, no token", () => {
    const wait = (role: string) => byName(d, RESOURCE_TYPES.command, `coder-${role}-config-wait`);
    const selector = (role: string) => `bot-bottle.stack=dev,bot-bottle.bottle=coder,bot-bottle.role=${role}`;
    const environment = wait("egress-proxy").inputs.environment as Record<string, string>;
    assert.deepEqual(environment, {
      BOTTLE_STACK: "dev",
      BOTTLE_NAME: "coder",
      BOTTLE_ROLE: "egress-proxy",
      BOTTLE_NAMESPACE: "dev-coder",
      BOTTLE_SELECTOR: selector("egress-proxy"),
      BOTTLE_OBJECTS: "configmap/egress-proxy-config secret/egress-proxy-tokens",
      BOTTLE_CONFIG_HASH: documentHash(d.stack.routesYaml),
      BOTTLE_WAIT_SECONDS: String(LIVE_WAIT_SECONDS),
      // The mocks' Secret has no resourceVersion: the update after a rotation has one.
      ...(environment.BOTTLE_TOKENS_VERSION !== undefined && { BOTTLE_TOKENS_VERSION: environment.BOTTLE_TOKENS_VERSION }),
    });
    assert.equal(wait("egress-proxy").inputs.create, LIVE_WAIT_SCRIPT);
    assert.equal(wait("egress-proxy").inputs.update, LIVE_WAIT_SCRIPT);
    for (const [role, document] of [
      ["pipelock", d.stack.pipelockYaml],
      ["pipelock-bulk", d.stack.pipelockBulkYaml!],
    ] as const) {
      const env = wait(role).inputs.environment as Record<string, string>;
      assert.equal(env.BOTTLE_OBJECTS, `configmap/${role}-config`);
      assert.equal(env.BOTTLE_SELECTOR, selector(role));
      assert.equal(env.BOTTLE_CONFIG_HASH, documentHash(document));
      assert.deepEqual(d.dependsOn(RESOURCE_TYPES.command, `coder-${role}-config-wait`), [
        { type: RESOURCE_TYPES.k8sConfigMap, name: `coder-${role}-config` },
        { type: RESOURCE_TYPES.k8sDeployment, name: `coder-${role}` },
      ]);
    }
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.command, "coder-egress-proxy-config-wait"), [
      { type: RESOURCE_TYPES.k8sConfigMap, name: "coder-egress-proxy-config" },
      { type: RESOURCE_TYPES.k8sSecret, name: "coder-egress-proxy-tokens" },
      { type: RESOURCE_TYPES.k8sDeployment, name: "coder-egress-proxy" },
    ]);
  });

  test("no token value and no CA key in any plain input of any resource; both only inside secrets", () => {
    const keys = ["coder-egress-proxy-ca-key", "coder-pipelock-ca-key"].map(MOCK_OUTPUTS.privateKeyPem);
    for (const r of d.resources) {
      for (const text of plainStrings(r.inputs)) {
        for (const value of [GITHUB_TOKEN, ANTHROPIC_TOKEN, "mock key of"]) {
          assert.ok(!text.includes(value), `${r.type} ${r.name} holds ${value} in plain text`);
        }
      }
    }
    const inSecrets = d.resources.flatMap((r) =>
      secretStrings(r.inputs)
        .filter((s) => [GITHUB_TOKEN, ANTHROPIC_TOKEN, ...keys].some((v) => s.includes(v)))
        .map(() => r.name),
    );
    assert.deepEqual([...new Set(inSecrets)].sort(), [
      "coder-egress-proxy-ca-cert", // the certificate's own private key input
      "coder-egress-proxy-files",
      "coder-egress-proxy-tokens",
      "coder-pipelock-ca-cert",
      "coder-pipelock-files",
    ]);
  });

  test("files: one Secret per workload, its values secret, keyed file-<index> in the layout's order", () => {
    const cert = MOCK_OUTPUTS.certPem;
    const key = MOCK_OUTPUTS.privateKeyPem;
    const cases: [string, Record<string, string>, Record<string, string>][] = [
      ["pipelock", pipelockLabels, { "file-0": cert("coder-pipelock-ca-cert"), "file-1": key("coder-pipelock-ca-key") }],
      [
        "egress-proxy",
        labels("egress-proxy"),
        { "file-0": cert("coder-pipelock-ca-cert"), "file-1": cert("coder-egress-proxy-ca-cert") + key("coder-egress-proxy-ca-key") },
      ],
      ["agent", labels("agent"), { "file-0": cert("coder-egress-proxy-ca-cert"), "file-1": cert("coder-egress-proxy-ca-cert") }],
    ];
    for (const [role, objectLabels, files] of cases) {
      assert.deepEqual(
        byName(d, RESOURCE_TYPES.k8sSecret, `coder-${role}-files`).inputs,
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: meta(`${role}-files`, objectLabels),
          type: "Opaque",
          stringData: { secret: files },
        },
        role,
      );
    }
  });

  test("the workspace claim: storage class and size from the bottle's kubernetes config", () => {
    assert.deepEqual(byName(d, RESOURCE_TYPES.k8sPersistentVolumeClaim, "coder-workspace").inputs, {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta("workspace", labels("workspace")),
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "fast-ssd", resources: { requests: { storage: "25Gi" } } },
    });
  });

  test("Deployments: one replica, the pod spec of the layout, gates rolled start-first, the agent recreated", () => {
    const clusterIP = MOCK_OUTPUTS.clusterIp;
    // A workload that reaches no Service has no /etc/hosts entries at all.
    const aliases: Record<Workload["role"], { ip: string; hostnames: string[] }[] | undefined> = {
      pipelock: undefined,
      "pipelock-bulk": undefined,
      "egress-proxy": [
        { ip: clusterIP("coder-pipelock-service"), hostnames: ["pipelock"] },
        { ip: clusterIP("coder-pipelock-bulk-service"), hostnames: ["pipelock-bulk"] },
      ],
      agent: [{ ip: clusterIP("coder-egress-proxy-service"), hostnames: ["egress-proxy"] }],
    };
    for (const workload of d.stack.layout.workloads) {
      const { role } = workload;
      const live = workload.live && {
        configMap: `${role}-config`,
        ...(workload.live.tokens && { secret: `${role}-tokens` }),
        reloaderImage: EGRESS_PROXY_IMAGE,
      };
      const podSpec = podSpecOf(workload, {
        image:
          role === "pipelock" || role === "pipelock-bulk"
            ? "ghcr.io/luckypipewrench/pipelock:2.3.0"
            : role === "agent"
              ? AGENT_IMAGE
              : EGRESS_PROXY_IMAGE,
        filesSecret: `${role}-files`,
        ...(aliases[role] && { hostAliases: aliases[role] }),
        ...(live && { live }),
        claims: role === "agent" ? { "/workspace": "workspace" } : {},
      });
      assert.deepEqual(
        byName(d, RESOURCE_TYPES.k8sDeployment, `coder-${role}`).inputs,
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: meta(role, { ...workload.labels }),
          spec: {
            replicas: 1,
            selector: { matchLabels: labels(role) },
            strategy:
              role === "agent" ? { type: "Recreate" } : { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template: {
              metadata: {
                labels: { ...workload.labels },
                // The gates' pods, for Prometheus's pod discovery; the agent's pod serves no metrics.
                ...(role !== "agent" && {
                  annotations: {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": role === "egress-proxy" ? "9464" : "9465",
                    "prometheus.io/path": "/metrics",
                  },
                }),
              },
              spec: podSpec,
            },
          },
        },
        role,
      );
    }
    // The Service addresses made it into /etc/hosts.
    const agentPod = (
      byName(d, RESOURCE_TYPES.k8sDeployment, "coder-agent").inputs.spec as { template: { spec: { hostAliases: { ip: string }[] } } }
    ).template.spec;
    assert.equal(agentPod.hostAliases[0]!.ip, "cluster-ip-of-coder-egress-proxy-service");
  });

  test("every Deployment depends on every network policy (no pod before its policy), its Secrets, ConfigMaps and claim", () => {
    const policies = ["default-deny", "pipelock", "pipelock-bulk", "egress-proxy", "agent"].map((p) => ({
      type: RESOURCE_TYPES.k8sNetworkPolicy,
      name: `coder-policy-${p}`,
    }));
    const namespace = { type: RESOURCE_TYPES.k8sNamespace, name: "coder-namespace" };
    const services = [
      { type: RESOURCE_TYPES.k8sService, name: "coder-pipelock-service" },
      { type: RESOURCE_TYPES.k8sService, name: "coder-pipelock-bulk-service" },
      { type: RESOURCE_TYPES.k8sService, name: "coder-egress-proxy-service" },
    ];
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.k8sDeployment, "coder-pipelock"), [
      namespace,
      ...policies,
      { type: RESOURCE_TYPES.k8sSecret, name: "coder-pipelock-files" },
      { type: RESOURCE_TYPES.k8sConfigMap, name: "coder-pipelock-config" },
      ...services,
    ]);
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.k8sDeployment, "coder-pipelock-bulk"), [
      namespace,
      ...policies,
      { type: RESOURCE_TYPES.k8sConfigMap, name: "coder-pipelock-bulk-config" },
      ...services,
    ]);
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.k8sDeployment, "coder-egress-proxy"), [
      namespace,
      ...policies,
      { type: RESOURCE_TYPES.k8sSecret, name: "coder-egress-proxy-files" },
      { type: RESOURCE_TYPES.k8sConfigMap, name: "coder-egress-proxy-config" },
      { type: RESOURCE_TYPES.k8sSecret, name: "coder-egress-proxy-tokens" },
      { type: RESOURCE_TYPES.k8sDeployment, name: "coder-pipelock" },
      { type: RESOURCE_TYPES.k8sDeployment, name: "coder-pipelock-bulk" },
      ...services,
    ]);
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.k8sDeployment, "coder-agent"), [
      namespace,
      ...policies,
      { type: RESOURCE_TYPES.k8sSecret, name: "coder-agent-files" },
      { type: RESOURCE_TYPES.k8sPersistentVolumeClaim, name: "coder-workspace" },
      { type: RESOURCE_TYPES.k8sDeployment, name: "coder-egress-proxy" },
      ...services,
    ]);
    assert.deepEqual(d.dependsOn(RESOURCE_TYPES.k8sJob, "coder-self-test"), [
      ...["pipelock", "pipelock-bulk", "egress-proxy", "agent"].map((r) => ({ type: RESOURCE_TYPES.k8sDeployment, name: `coder-${r}` })),
      ...policies,
    ]);
    // Everything namespaced waits for the namespace.
    for (const r of d.resources.filter(
      (x) => x.type.startsWith("kubernetes:") && x.type !== RESOURCE_TYPES.k8sNamespace && x.type !== RESOURCE_TYPES.k8sJob,
    )) {
      assert.deepEqual(d.dependsOn(r.type, r.name)[0], namespace, r.name);
    }
  });

  test("the self-test Job: the agent's policy (role self-test), no DNS, the egress proxy by alias, rerun per Deployment generation", () => {
    const job = byName(d, RESOURCE_TYPES.k8sJob, "coder-self-test").inputs as {
      metadata: unknown;
      spec: { backoffLimit: number; activeDeadlineSeconds: number; template: { metadata: unknown; spec: Record<string, unknown> } };
    };
    assert.deepEqual(job.metadata, meta("self-test", labels("self-test")));
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.activeDeadlineSeconds, 120);
    assert.deepEqual(job.spec.template.metadata, {
      labels: labels("self-test"),
      annotations: { "bot-bottle.deployments": "pipelock@1 pipelock-bulk@1 egress-proxy@1 agent@1" },
    });
    const { containers, ...pod } = job.spec.template.spec as { containers: { image: string; env: unknown }[] } & Record<string, unknown>;
    assert.deepEqual(pod, {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      dnsPolicy: "None",
      dnsConfig: {
        nameservers: ["127.0.0.1"],
        options: [
          { name: "timeout", value: "1" },
          { name: "attempts", value: "1" },
        ],
      },
      hostAliases: [{ ip: MOCK_OUTPUTS.clusterIp("coder-egress-proxy-service"), hostnames: ["egress-proxy"] }],
      securityContext: { runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    });
    assert.equal(containers.length, 1);
    assert.equal(containers[0]!.image, EGRESS_PROXY_IMAGE);
    assert.deepEqual(containers[0]!.env, [
      { name: "BOTTLE_PROXY_URL", value: "http://egress-proxy:9099" },
      { name: "BOTTLE_POLICY_REJECTS", value: "1" },
      { name: "NODE_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
      { name: "BOTTLE_LISTENING", value: "$(NODE_IP):10250" },
    ]);
  });

  test("object names and CA certificates as outputs, none of them secret", async () => {
    const names = d.stack.objectNames;
    const resolved = await Promise.all([names.namespace!, names.egressProxy, names.pipelock, names.agent!].map(unwrap));
    assert.deepEqual(
      resolved,
      ["dev-coder", "egress-proxy", "pipelock", "agent"].map((value) => ({ value, secret: false })),
    );
    assert.equal(names.agentNetwork, undefined);
    assert.deepEqual(await unwrap(d.stack.egressProxyCaCert), { value: MOCK_OUTPUTS.certPem("coder-egress-proxy-ca-cert"), secret: false });
    assert.deepEqual(await unwrap(d.stack.pipelockCaCert), { value: MOCK_OUTPUTS.certPem("coder-pipelock-ca-cert"), secret: false });
    assert.equal(d.stack.spec.backend, "kubernetes");
  });
});

describe("BottleStack on Kubernetes: without an agent, with a named cluster, defaults", () => {
  let d: Declared;
  before(async () => {
    d = await declareBottle(
      "gate",
      baseArgs({
        agent: undefined,
        kubernetes: { context: "kind-dev", kubeconfig: "apiVersion: v1\nkind: Config\n" },
        routes: baseArgs().routes.map((route) => ({ ...route, bulk: false })),
      }),
      "dev",
    );
  });

  test("no agent: no agent Deployment, policy, Secret, claim or self-test; no route on the bulk lane: no pipelock-bulk; a provider for the named cluster", () => {
    assert.deepEqual(typesAndNames(d), [
      ["bot-bottle:index:BottleStack", "gate"],
      [RESOURCE_TYPES.command, "gate-egress-proxy-config-wait"],
      [RESOURCE_TYPES.command, "gate-pipelock-config-wait"],
      [RESOURCE_TYPES.k8sDeployment, "gate-egress-proxy"],
      [RESOURCE_TYPES.k8sDeployment, "gate-pipelock"],
      [RESOURCE_TYPES.k8sConfigMap, "gate-egress-proxy-config"],
      [RESOURCE_TYPES.k8sConfigMap, "gate-pipelock-config"],
      [RESOURCE_TYPES.k8sNamespace, "gate-namespace"],
      [RESOURCE_TYPES.k8sSecret, "gate-egress-proxy-files"],
      [RESOURCE_TYPES.k8sSecret, "gate-egress-proxy-tokens"],
      [RESOURCE_TYPES.k8sSecret, "gate-pipelock-files"],
      [RESOURCE_TYPES.k8sService, "gate-egress-proxy-service"],
      [RESOURCE_TYPES.k8sService, "gate-pipelock-service"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "gate-policy-default-deny"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "gate-policy-egress-proxy"],
      [RESOURCE_TYPES.k8sNetworkPolicy, "gate-policy-pipelock"],
      [RESOURCE_TYPES.kubernetesProvider, "gate-kubernetes"],
      [RESOURCE_TYPES.privateKey, "gate-egress-proxy-ca-key"],
      [RESOURCE_TYPES.privateKey, "gate-pipelock-ca-key"],
      [RESOURCE_TYPES.selfSignedCert, "gate-egress-proxy-ca-cert"],
      [RESOURCE_TYPES.selfSignedCert, "gate-pipelock-ca-cert"],
    ]);
    assert.equal(d.stack.objectNames.agent, undefined);
  });

  test("the provider takes the context in plain text and the kubeconfig as a secret; so do the waits' kubectl", () => {
    const provider = byName(d, RESOURCE_TYPES.kubernetesProvider, "gate-kubernetes").inputs;
    assert.equal(provider.context, "kind-dev");
    assert.deepEqual(provider.kubeconfig, { secret: "apiVersion: v1\nkind: Config\n" });
    assert.equal(provider.upsertExistingObjects, "true"); // provider inputs reach the engine as strings
    const wait = byName(d, RESOURCE_TYPES.command, "gate-pipelock-config-wait").inputs.environment;
    assert.ok(isSecret(wait), "an environment holding a kubeconfig must be secret");
    const environment = wait.secret as Record<string, string>;
    assert.equal(environment.BOTTLE_CONTEXT, "kind-dev");
    assert.equal(environment.BOTTLE_KUBECONFIG, "apiVersion: v1\nkind: Config\n");
  });

  test("the egress proxy's policy has no ingress rule; pipelock's way out excepts the default private ranges", () => {
    const egressProxy = byName(d, RESOURCE_TYPES.k8sNetworkPolicy, "gate-policy-egress-proxy").inputs.spec as Record<string, unknown>;
    assert.equal("ingress" in egressProxy, false);
    const pipelock = byName(d, RESOURCE_TYPES.k8sNetworkPolicy, "gate-policy-pipelock").inputs.spec as { egress: unknown[] };
    assert.deepEqual(pipelock.egress[0], {
      to: [
        {
          ipBlock: {
            cidr: "0.0.0.0/0",
            except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"],
          },
        },
      ],
      ports: [{ protocol: "TCP", port: 443 }],
    });
  });
});

describe("BottleStack on Kubernetes: claim defaults", () => {
  let d: Declared;
  before(async () => {
    d = await declareBottle(
      "coder",
      baseArgs({ kubernetes: undefined, agent: { image: AGENT_IMAGE, workspace: { path: "/src", keep: false } } }),
      "prod",
    );
  });

  test("no storage class (the cluster's default) and 10 GiB; mounted where the bottle says", () => {
    assert.deepEqual(byName(d, RESOURCE_TYPES.k8sPersistentVolumeClaim, "coder-workspace").inputs.spec, {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "10Gi" } },
    });
    const pod = (
      byName(d, RESOURCE_TYPES.k8sDeployment, "coder-agent").inputs.spec as {
        template: { spec: { containers: { volumeMounts: unknown[] }[] } };
      }
    ).template.spec;
    assert.deepEqual(pod.containers[0]!.volumeMounts.at(-1), { name: "claim-0", mountPath: "/src" });
    assert.equal((byName(d, RESOURCE_TYPES.k8sNamespace, "coder-namespace").inputs.metadata as { name: string }).name, "prod-coder");
  });
});

describe("BottleStack on Kubernetes: metrics scraped from a namespace, with a PodMonitor", () => {
  let d: Declared;
  before(async () => {
    d = await declareBottle(
      "coder",
      baseArgs({ kubernetes: { privateCidrs: CIDRS, metrics: { scraperNamespace: "monitoring", podMonitor: true } } }),
      "dev",
    );
  });

  test("the scraper's namespace reaches each gate's metrics port in its policy; the agent's policy is unchanged", () => {
    for (const policy of networkPolicies(d.stack.layout, { privateCidrs: CIDRS, scraperNamespace: "monitoring" })) {
      assert.deepEqual(byName(d, RESOURCE_TYPES.k8sNetworkPolicy, `coder-policy-${policy.name}`).inputs.spec, policy.spec, policy.name);
    }
    const ingress = byName(d, RESOURCE_TYPES.k8sNetworkPolicy, "coder-policy-egress-proxy").inputs.spec as { ingress: unknown[] };
    assert.deepEqual(ingress.ingress.at(-1), {
      from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
      ports: [{ protocol: "TCP", port: 9464 }],
    });
  });

  test("one PodMonitor in the bottle's namespace: the three gates on their metrics port, labelled as the scrape configs label them", () => {
    const monitors = d.resources.filter((r) => r.type === RESOURCE_TYPES.k8sPodMonitor);
    assert.deepEqual(
      monitors.map((r) => r.name),
      ["coder-pod-monitor"],
    );
    assert.deepEqual(monitors[0]!.inputs, {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PodMonitor",
      metadata: meta("gates", labels()),
      spec: {
        selector: { matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["pipelock", "pipelock-bulk", "egress-proxy"] }] },
        podMetricsEndpoints: [
          {
            port: "metrics",
            path: "/metrics",
            relabelings: [
              { sourceLabels: ["__meta_kubernetes_pod_label_bot_bottle_stack"], targetLabel: "stack" },
              { sourceLabels: ["__meta_kubernetes_pod_label_bot_bottle_bottle"], targetLabel: "bottle" },
              { sourceLabels: ["__meta_kubernetes_pod_label_bot_bottle_role"], targetLabel: "gate" },
            ],
            metricRelabelings: [
              { sourceLabels: ["exported_gate"], regex: "(.+)", targetLabel: "gate" },
              { regex: "exported_gate", action: "labeldrop" },
            ],
          },
        ],
      },
    });
  });
});

describe("BottleStack on Kubernetes: refusals", () => {
  test("a stack name that cannot make a namespace name", async () => {
    await assert.rejects(declareBottle("coder", baseArgs(), "Dev"), {
      message:
        `bottle "coder": "Dev-coder" cannot name a Kubernetes namespace (lowercase letters, digits and '-', at most 63 characters): ` +
        "rename the stack or the bottle",
    });
  });

  test("an egress proxy without an image reference", async () => {
    await assert.rejects(declareBottle("coder", baseArgs({ egressProxy: {} }), "dev"), (err: Error) => {
      assert.match(
        err.message,
        /^BottleStack "coder" has invalid arguments:\n {2}egressProxy\.image \(Python: egress_proxy\.image\): required on Kubernetes: /,
      );
      return true;
    });
  });
});
