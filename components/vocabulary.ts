/**
 * bot-bottle's vocabulary: the words every part uses for the same things. The labels that tell
 * which object plays which role, the roles themselves, the resource type tokens as the
 * providers register them, and one resource of the offline plan. Components, scripts and tests
 * import them from here; the policy pack keeps its own copy on purpose (a judge independent of
 * what it judges), held equal to this one by test/contract/vocabulary.test.ts.
 *
 * This file imports nothing: the plan's JSON readers and the pack's contract test load it alone.
 */

/** Label keys every object of a bottle carries, Docker or Kubernetes: which stack, which bottle, what it does. */
export const LABEL_KEYS = {
  stack: "bot-bottle.stack",
  bottle: "bot-bottle.bottle",
  role: "bot-bottle.role",
} as const;

/** The label of a pipelock container that holds its settings' key: a new key replaces the container. */
export const PIPELOCK_SETTINGS_LABEL = "bot-bottle.pipelock-settings";

/**
 * The label of a gate's container naming the port it serves Prometheus metrics on (`/metrics`),
 * for the operator's scrape config (Docker); on Kubernetes the pods carry the usual
 * `prometheus.io/*` annotations instead.
 */
export const METRICS_PORT_LABEL = "bot-bottle.metrics-port";

/** The annotation of the Kubernetes self-test's pod: the Deployments' generations it checks (a new one runs it again). */
export const TESTED_DEPLOYMENTS_ANNOTATION = "bot-bottle.deployments";

/** What a network does in a bottle; also the value of its `bot-bottle.role` label. */
export const NETWORK_ROLES = ["agent-net", "egress-net", "outbound-net"] as const;
export type NetworkRole = (typeof NETWORK_ROLES)[number];

/** What a workload (container, Deployment) does in a bottle; also its `bot-bottle.role` label. */
export const WORKLOAD_ROLES = ["pipelock", "pipelock-bulk", "egress-proxy", "agent"] as const;
export type WorkloadRole = (typeof WORKLOAD_ROLES)[number];

/** The short-lived containers a Docker bottle runs from its commands, and the Kubernetes self-test Job. */
export const ONE_SHOT_ROLES = ["workspace-owner", "live-config-writer", "self-test"] as const;
export type OneShotRole = (typeof ONE_SHOT_ROLES)[number];

/** The agent's workspace volume or claim. */
export const WORKSPACE_ROLE = "workspace";

/** The two CAs: the egress proxy's (the agent trusts it) and pipelock's (the egress proxy trusts it). */
export const CA_ROLES = ["egress-proxy", "pipelock"] as const;
export type CaRole = (typeof CA_ROLES)[number];

/** Every role of a bottle's objects (a workload's live configuration volume is `<workload>-config`). */
export type Role = NetworkRole | WorkloadRole | OneShotRole | typeof WORKSPACE_ROLE | `${WorkloadRole}-config`;

/** Fixed names of a Kubernetes bottle's objects, which the policy pack looks for. */
export const KUBERNETES_NAMES = {
  /** The namespace label that makes the API server refuse every pod that is not hardened, and its level. */
  podSecurityEnforceLabel: "pod-security.kubernetes.io/enforce",
  podSecurityLevel: "restricted",
  /** A live configuration's Secret is `<workload role>-tokens` (the egress proxy's holds its tokens file). */
  tokensSecretSuffix: "-tokens",
} as const;

/** Resource type tokens, exactly as the providers (and this package) register them. */
export const RESOURCE_TYPES = {
  /** The component that declares a bottle; its inputs are the documents its gates must load. */
  bottleStack: "bot-bottle:index:BottleStack",
  stack: "pulumi:pulumi:Stack",
  dockerProvider: "pulumi:providers:docker",
  kubernetesProvider: "pulumi:providers:kubernetes",
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  image: "docker:index/image:Image",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  command: "command:local:Command",
  privateKey: "tls:index/privateKey:PrivateKey",
  selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
  k8sNamespace: "kubernetes:core/v1:Namespace",
  k8sConfigMap: "kubernetes:core/v1:ConfigMap",
  k8sSecret: "kubernetes:core/v1:Secret",
  k8sService: "kubernetes:core/v1:Service",
  k8sPersistentVolumeClaim: "kubernetes:core/v1:PersistentVolumeClaim",
  k8sNetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  k8sDeployment: "kubernetes:apps/v1:Deployment",
  k8sJob: "kubernetes:batch/v1:Job",
  k8sPodMonitor: "kubernetes:monitoring.coreos.com/v1:PodMonitor",
} as const;
export type ResourceType = (typeof RESOURCE_TYPES)[keyof typeof RESOURCE_TYPES];

/**
 * One resource of the offline plan, as its JSON prints it (`npm run plan -- --json`): what the
 * plan's printer, the reach model and the policy pack's offline runner read.
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
