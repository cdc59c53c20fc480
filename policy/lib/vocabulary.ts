/**
 * The pack's words for what it judges: the resource type tokens as the providers register them,
 * the `bot-bottle.*` labels that tell which object plays which role, the roles, and the fixed
 * names and addresses of a bottle that the policies compare against.
 *
 * The package has the same words (components/vocabulary.ts); the pack keeps its own copy on
 * purpose, so that the judge does not take its words from what it judges. The contract test
 * test/contract/vocabulary.test.ts holds the two equal. Imports nothing, so that test can read it.
 */

/** Resource type tokens, exactly as the Docker, TLS and Kubernetes providers register them. */
export const TYPES = {
  container: "docker:index/container:Container",
  command: "command:local:Command",
  network: "docker:index/network:Network",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  privateKey: "tls:index/privateKey:PrivateKey",
  selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
  k8sNamespace: "kubernetes:core/v1:Namespace",
  k8sConfigMap: "kubernetes:core/v1:ConfigMap",
  k8sSecret: "kubernetes:core/v1:Secret",
  k8sNetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  k8sDeployment: "kubernetes:apps/v1:Deployment",
  k8sJob: "kubernetes:batch/v1:Job",
  /** The component that declares a bottle; its inputs are the documents its gates must load. */
  bottleStack: "bot-bottle:index:BottleStack",
} as const;

/**
 * The Kubernetes kinds that run pods, and where each keeps its pod template (`metadata` and
 * `spec` of the pods it creates). A bottle uses Deployments (agent, gates) and a Job (the
 * self-test); the others are checked the same way so that no other kind can run a pod unchecked.
 */
export const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  "kubernetes:core/v1:Pod": [],
  "kubernetes:core/v1:ReplicationController": ["spec", "template"],
  "kubernetes:apps/v1:Deployment": ["spec", "template"],
  "kubernetes:apps/v1:StatefulSet": ["spec", "template"],
  "kubernetes:apps/v1:DaemonSet": ["spec", "template"],
  "kubernetes:apps/v1:ReplicaSet": ["spec", "template"],
  "kubernetes:batch/v1:Job": ["spec", "template"],
  "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template"],
};

/** Label keys every bot-bottle object carries, Docker or Kubernetes (docs/architecture.md, "Names and labels"). */
export const LABELS = {
  stack: "bot-bottle.stack",
  bottle: "bot-bottle.bottle",
  role: "bot-bottle.role",
} as const;

/** The short-lived containers a bottle's commands start, by their role label. */
export const ONE_SHOT_ROLES = { workspaceOwner: "workspace-owner", liveConfigWriter: "live-config-writer", selfTest: "self-test" } as const;

/** Values of the `bot-bottle.role` label the policies look for (any non-internal network is checked, whatever its role). */
export const ROLES = {
  agent: "agent",
  egressProxy: "egress-proxy",
  pipelock: "pipelock",
  /** The second pipelock: the bulk lane, tunnelling what the egress proxy had its scan API check. */
  pipelockBulk: "pipelock-bulk",
  agentNet: "agent-net",
  egressNet: "egress-net",
  /** The Kubernetes self-test Job's pod (the Docker one's short-lived container): it runs with the agent's network access. */
  selfTest: ONE_SHOT_ROLES.selfTest,
} as const;

/** The roles of a bottle's pipelocks: the only workloads with a way out. */
export const PIPELOCK_ROLES: readonly string[] = [ROLES.pipelock, ROLES.pipelockBulk];

/** Fixed names of a Kubernetes bottle (components/kubernetes). */
export const K8S = {
  /** The namespace label that makes the API server refuse every pod that is not hardened. */
  podSecurityEnforceLabel: "pod-security.kubernetes.io/enforce",
  podSecurityLevel: "restricted",
  /** The Secret with the egress proxy's tokens file (its live configuration's secret half). */
  tokensSecret: "egress-proxy-tokens",
  /** The component names a live configuration's Secret `<role>-tokens`. */
  tokensSecretSuffix: "-tokens",
} as const;

/** Fixed facts of the topology that the policies compare against. */
export const TOPOLOGY = {
  pipelockAlias: "pipelock",
  pipelockUpstream: "http://pipelock:8888",
  pipelockBulkAlias: "pipelock-bulk",
  /** The egress proxy's bulk lane: pipelock-bulk's proxy, and its scan API that checks the lane. */
  bulkProxyEnv: "EGRESS_PROXY_BULK_PROXY",
  bulkProxy: "http://pipelock-bulk:8888",
  scanApiEnv: "EGRESS_PROXY_SCAN_API",
  scanApi: "http://pipelock-bulk:9090",
  routesEnv: "EGRESS_PROXY_ROUTES",
  routesDefaultPath: "/etc/egress-proxy/live/current/routes.yaml",
  upstreamEnv: "EGRESS_PROXY_UPSTREAM_PROXY",
  /** The egress proxy's trust for its upstream leg: pipelock's CA certificate. */
  upstreamCaEnv: "EGRESS_PROXY_UPSTREAM_CA",
  tokenEnvPrefix: "EGRESS_PROXY_TOKEN_",
  /** The live-config command's environment variable with the egress proxy's tokens (JSON). */
  liveTokensEnv: "BOTTLE_TOKENS",
  egressProxyCaPath: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem",
} as const;

/**
 * One resource of the root project's offline plan, as its JSON prints it (`npm run plan -- --json`):
 * what the offline runner (offline/) reads.
 */
export interface PlannedResource {
  type: string;
  name: string;
  /** The parent resource's name; absent for resources directly under the stack. */
  parent?: string;
  /** Inputs as the engine would receive them, with every secret value shown as "[secret]". */
  inputs: Record<string, unknown>;
  /** Input paths the program marked secret (e.g. `envs`, `uploads[2].content`). */
  secretInputs: string[];
}
