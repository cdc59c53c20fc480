/**
 * A hand-built, realistic resource graph of one bottle, shaped like the BottleStack component's
 * children as the Docker and TLS providers receive them (docs/architecture.md; components/*). Tests take a
 * copy and break one thing at a time. example-stacks.test.ts checks that it uses no input the
 * real component does not set.
 */
import { stringify } from "yaml";
import type { DeclaredResource } from "../offline/run";

/** A token value shaped like a GitHub personal access token (fake). */
export const GITHUB_TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
/** A token value shaped like an Anthropic API key (fake). */
export const ANTHROPIC_TOKEN = "sk-ant-api03-fakefakefakefakefakefake";

export const CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
/** pipelock's CA certificate (the egress proxy's is CERT_PEM): what pipelock intercepts with and the egress proxy trusts upstream. */
export const PIPELOCK_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBpipelock\n-----END CERTIFICATE-----\n";
export const RSA_KEY_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEfake\n-----END RSA PRIVATE KEY-----\n";
export const EC_KEY_PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCfake\n-----END EC PRIVATE KEY-----\n";

/** Options for {@link bottleGraph}. */
export interface BottleOptions {
  stack?: string;
  bottle?: string;
  /** Route hosts, rendered into routes.yaml and pipelock's api_allowlist. */
  hosts?: string[];
}

function labels(stack: string, bottle: string, role: string) {
  return [
    { label: "bot-bottle.stack", value: stack },
    { label: "bot-bottle.bottle", value: bottle },
    { label: "bot-bottle.role", value: role },
  ];
}

/** routes.yaml as the component renders it (version 1, docs/architecture.md); with `bulk`, the GET routes' downloads take the bulk lane. */
export function routesYaml(hosts: string[], bulk = false): string {
  return stringify({
    version: 1,
    ...(bulk && {
      bulk_lane: { scan_headers: ["Cookie", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key"], answer_scan_bytes: 5242880 },
    }),
    routes: hosts.map((host, i) =>
      i === 0
        ? { host, auth: { header: "x-api-key", token_env: "EGRESS_PROXY_TOKEN_0" } }
        : {
            host,
            methods: ["GET"],
            path_allowlist: ["/repos/acme/"],
            auth: { header: "Authorization", prefix: "Bearer ", token_env: `EGRESS_PROXY_TOKEN_${i}` },
            ...(bulk && { bulk: ["downloads"] }),
          },
    ),
  });
}

/** pipelock.yaml as the component renders it (components/pipelock/config.ts). */
export function pipelockConfig(bottle: string, hosts: string[]): Record<string, unknown> {
  return {
    version: 1,
    mode: "strict",
    enforce: true,
    default_agent_identity: bottle,
    api_allowlist: hosts,
    fetch_proxy: { listen: "0.0.0.0:8888", monitoring: { max_requests_per_minute: 600 } },
    forward_proxy: { enabled: true, sni_verification: true },
    tls_interception: { enabled: true, ca_cert: "/etc/pipelock/ca.pem", ca_key: "/etc/pipelock/ca-key.pem" },
    dlp: { include_defaults: true, scan_env: true },
    request_body_scanning: {
      enabled: true,
      action: "block",
      scan_headers: true,
      header_mode: "sensitive",
      sensitive_headers: ["Cookie", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key"],
    },
    logging: { format: "json", output: "stdout", include_allowed: true, include_blocked: true },
  };
}

/** A role's CA certificate, self-signed with its key, as both backends declare it. */
function caCert(bottle: string, role: string, privateKeyPem: string): DeclaredResource {
  return {
    type: "tls:index/selfSignedCert:SelfSignedCert",
    name: `${bottle}-${role}-ca-cert`,
    props: {
      privateKeyPem,
      subject: { commonName: `bot-bottle ${bottle} ${role} CA`, organization: "bot-bottle" },
      isCaCertificate: true,
      setSubjectKeyId: true,
      allowedUses: ["cert_signing", "crl_signing"],
      validityPeriodHours: 8760,
    },
  };
}

/** The hardening every container gets (fresh objects per call: tests mutate them). */
function hardening(memory: number) {
  return {
    capabilities: { drops: ["ALL"] },
    securityOpts: ["no-new-privileges:true"],
    memory,
    memorySwap: memory,
    restart: "always",
    init: true,
  };
}

/** DNS into the container's own namespace (the agent and the egress proxy). */
function noExternalDns() {
  return { dns: ["0.0.0.0"], dnsOpts: ["timeout:1", "attempts:1"] };
}

/** A healthcheck that `up` waits for. */
function healthy(command: string[]) {
  return {
    healthcheck: { tests: ["CMD", ...command], interval: "5s", timeout: "3s", startPeriod: "5s", retries: 3 },
    wait: true,
    waitTimeout: 90,
  };
}

/**
 * Every resource of one bottle: 3 networks, 2 CA keys + certs, 2 images, the gates' live
 * configuration (a volume and its apply command each), 3 containers.
 */
export function bottleGraph(options: BottleOptions = {}): DeclaredResource[] {
  const stack = options.stack ?? "dev";
  const bottle = options.bottle ?? "reviewer";
  const hosts = options.hosts ?? ["api.anthropic.com", "api.github.com"];
  const name = (role: string) => `${stack}-${bottle}-${role}`;
  const network = (role: string, internal: boolean): DeclaredResource => ({
    type: "docker:index/network:Network",
    name: `${bottle}-${role}`,
    props: {
      name: name(role),
      driver: "bridge",
      internal,
      attachable: false,
      ...(internal && { options: { "com.docker.network.bridge.inhibit_ipv4": "true" } }),
      labels: labels(stack, bottle, role),
    },
  });
  // A gate's live configuration: its volume, and the command that writes the document into it.
  const liveConfig = (
    role: string,
    document: string,
    file: string,
    owner: number,
    extra: Record<string, string> = {},
  ): DeclaredResource[] => [
    {
      type: "docker:index/volume:Volume",
      name: `${bottle}-${role}-config`,
      props: { name: name(`${role}-config`), labels: labels(stack, bottle, `${role}-config`) },
    },
    {
      type: "command:local:Command",
      name: `${bottle}-${role}-config-apply`,
      props: {
        create: "live-config.sh",
        update: "live-config.sh",
        stdin: document,
        environment: {
          BOTTLE_STACK: stack,
          BOTTLE_NAME: bottle,
          BOTTLE_ROLE: role,
          BOTTLE_VOLUME: name(`${role}-config`),
          BOTTLE_IMAGE: `sha256:${"a".repeat(64)}`,
          BOTTLE_OWNER: String(owner),
          BOTTLE_DOCUMENT: file,
          BOTTLE_LABELS: `bot-bottle.stack=${stack} bot-bottle.bottle=${bottle} bot-bottle.role=${role}`,
          BOTTLE_RELOAD_SECONDS: "30",
          ...extra,
        },
        triggers: [name(`${role}-config`)],
      },
    },
  ];
  const liveVolume = (role: string, dir: string) => [{ volumeName: name(`${role}-config`), containerPath: dir, readOnly: true }];
  // A container's identity: name, pinned image digest (one repeated hex digit), role labels, user.
  const bottleContainer = (role: string, digit: string, user: string, props: Record<string, unknown>): DeclaredResource => ({
    type: "docker:index/container:Container",
    name: `${bottle}-${role}`,
    props: { name: name(role), image: `sha256:${digit.repeat(64)}`, labels: labels(stack, bottle, role), user, ...props },
  });
  return declaredByBottle(bottle, [
    network("agent-net", true),
    network("egress-net", true),
    network("outbound-net", false),
    {
      type: "tls:index/privateKey:PrivateKey",
      name: `${bottle}-egress-proxy-ca-key`,
      props: { algorithm: "RSA", rsaBits: 2048 },
    },
    caCert(bottle, "egress-proxy", RSA_KEY_PEM),
    {
      type: "tls:index/privateKey:PrivateKey",
      name: `${bottle}-pipelock-ca-key`,
      props: { algorithm: "ECDSA", ecdsaCurve: "P256" },
    },
    caCert(bottle, "pipelock", EC_KEY_PEM),
    {
      type: "docker:index/remoteImage:RemoteImage",
      name: `${bottle}-pipelock-image`,
      props: { name: "ghcr.io/luckypipewrench/pipelock:2.3.0", keepLocally: true },
    },
    ...liveConfig("pipelock", stringify(pipelockConfig(bottle, hosts)), "pipelock.yaml", 65532),
    ...liveConfig("egress-proxy", routesYaml(hosts), "routes.yaml", 65533, {
      BOTTLE_CHECK: "routes",
      BOTTLE_TOKENS_FILE: "tokens.json",
      BOTTLE_TOKENS: JSON.stringify({ EGRESS_PROXY_TOKEN_0: ANTHROPIC_TOKEN, EGRESS_PROXY_TOKEN_1: GITHUB_TOKEN }),
    }),
    bottleContainer("egress-proxy", "a", "65533:65533", {
      envs: [
        "EGRESS_PROXY_ROUTES=/etc/egress-proxy/live/current/routes.yaml",
        "EGRESS_PROXY_TOKENS=/etc/egress-proxy/live/current/tokens.json",
        "EGRESS_PROXY_PORT=9099",
        "EGRESS_PROXY_UPSTREAM_PROXY=http://pipelock:8888",
        "EGRESS_PROXY_UPSTREAM_CA=/etc/egress-proxy/upstream-ca.pem",
        `EGRESS_PROXY_MAX_BODY_BYTES=${32 * 1024 * 1024}`,
      ],
      networksAdvanced: [
        { name: name("agent-net"), aliases: ["egress-proxy"] },
        { name: name("egress-net"), aliases: ["egress-proxy"] },
      ],
      volumes: liveVolume("egress-proxy", "/etc/egress-proxy/live"),
      uploads: [
        { file: "/etc/egress-proxy/upstream-ca.pem", content: PIPELOCK_CA_PEM, permissions: "0444" },
        {
          file: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem",
          content: CERT_PEM + RSA_KEY_PEM,
          permissions: "0600",
          owner: 65533,
          group: 65533,
        },
      ],
      ...hardening(256),
      ...noExternalDns(),
      ...healthy(["/opt/venv/bin/python", "/opt/egress-proxy/healthcheck.py"]),
    }),
    bottleContainer("pipelock", "b", "65532:65532", {
      command: ["run", "--config", "/etc/pipelock/live/current/pipelock.yaml", "--listen", "0.0.0.0:8888"],
      networksAdvanced: [{ name: name("egress-net"), aliases: ["pipelock"] }, { name: name("outbound-net") }],
      volumes: liveVolume("pipelock", "/etc/pipelock/live"),
      uploads: [
        { file: "/etc/pipelock/ca.pem", content: PIPELOCK_CA_PEM, permissions: "0444" },
        { file: "/etc/pipelock/ca-key.pem", content: EC_KEY_PEM, permissions: "0600", owner: 65532 },
      ],
      ...hardening(256),
      ...healthy(["/pipelock", "healthcheck"]),
    }),
    {
      type: "docker:index/remoteImage:RemoteImage",
      name: `${bottle}-agent-image`,
      props: { name: "node:22-bookworm-slim", keepLocally: true },
    },
    bottleContainer("agent", "c", "1000:1000", {
      command: ["sleep", "infinity"],
      envs: [
        "HTTP_PROXY=http://egress-proxy:9099",
        "HTTPS_PROXY=http://egress-proxy:9099",
        "SSL_CERT_FILE=/usr/local/share/ca-certificates/bot-bottle.crt",
        "NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/bot-bottle.crt",
      ],
      networksAdvanced: [{ name: name("agent-net") }],
      uploads: [{ file: "/usr/local/share/ca-certificates/bot-bottle.crt", content: CERT_PEM, permissions: "0444" }],
      ...hardening(2048),
      ...noExternalDns(),
    }),
  ]);
}

/** pipelock-bulk.yaml as the component renders it: pipelock's, unintercepted, with its scan API. */
export function pipelockBulkConfig(bottle: string, hosts: string[]): Record<string, unknown> {
  return {
    ...pipelockConfig(bottle, hosts),
    tls_interception: { enabled: false },
    scan_api: {
      listen: "0.0.0.0:9090",
      auth: { bearer_tokens: ["egress-proxy"] },
      kinds: { url: true, dlp: true, prompt_injection: true, tool_call: false },
    },
  };
}

/**
 * `graph` (one Docker bottle of bottleGraph) with a bulk lane, as the component declares it when a
 * route sends traffic there: pipelock-bulk (its live configuration, its container on the egress
 * network as `pipelock-bulk` and on the outbound network) and the egress proxy's bulk settings.
 */
export function withBulkLane(graph: DeclaredResource[], options: BottleOptions = {}): DeclaredResource[] {
  const stack = options.stack ?? "dev";
  const bottle = options.bottle ?? "reviewer";
  const hosts = options.hosts ?? ["api.anthropic.com", "api.github.com"];
  const name = (role: string) => `${stack}-${bottle}-${role}`;
  const pipelock = container(graph, "pipelock");
  const apply = structuredClone(liveConfigOf(graph, "pipelock"));
  apply.name = `${bottle}-pipelock-bulk-config-apply`;
  apply.props.stdin = stringify(pipelockBulkConfig(bottle, hosts));
  Object.assign(apply.props.environment, {
    BOTTLE_ROLE: "pipelock-bulk",
    BOTTLE_VOLUME: name("pipelock-bulk-config"),
    BOTTLE_OWNER: "65531",
    BOTTLE_DOCUMENT: "pipelock-bulk.yaml",
    BOTTLE_LABELS: `bot-bottle.stack=${stack} bot-bottle.bottle=${bottle} bot-bottle.role=pipelock-bulk`,
  });
  apply.props.triggers = [name("pipelock-bulk-config")];
  const bulk = structuredClone(pipelock);
  bulk.name = `${bottle}-pipelock-bulk`;
  Object.assign(bulk.props, {
    name: name("pipelock-bulk"),
    labels: labels(stack, bottle, "pipelock-bulk"),
    user: "65531:65531",
    command: ["run", "--config", "/etc/pipelock/live/current/pipelock-bulk.yaml", "--listen", "0.0.0.0:8888"],
    networksAdvanced: [{ name: name("egress-net"), aliases: ["pipelock-bulk"] }, { name: name("outbound-net") }],
    volumes: [{ volumeName: name("pipelock-bulk-config"), containerPath: "/etc/pipelock/live", readOnly: true }],
    uploads: [],
  });
  const out = structuredClone(graph);
  container(out, "egress-proxy").props.envs.push(
    "EGRESS_PROXY_BULK_PROXY=http://pipelock-bulk:8888",
    "EGRESS_PROXY_SCAN_API=http://pipelock-bulk:9090",
    "EGRESS_PROXY_SCAN_API_CLIENT=egress-proxy",
    "EGRESS_PROXY_UPSTREAM_EXTRA_CA=/etc/ssl/certs/ca-certificates.crt",
  );
  const routes = liveConfigOf(out, "egress-proxy");
  routes.props.stdin = routesYaml(hosts, true);
  return declaredByBottle(bottle, [
    ...out,
    {
      type: "docker:index/volume:Volume",
      name: `${bottle}-pipelock-bulk-config`,
      props: { name: name("pipelock-bulk-config"), labels: labels(stack, bottle, "pipelock-bulk-config") },
    },
    apply,
    bulk,
  ]);
}

/** The input of the BottleStack component that declares each gate role's document. */
const DECLARED_INPUT: Readonly<Record<string, string>> = {
  "egress-proxy": "routesYaml",
  pipelock: "pipelockYaml",
  "pipelock-bulk": "pipelockBulkYaml",
};

/**
 * `graph` as declared in a BottleStack component named `bottle` (every other resource its child),
 * whose inputs are the gates' documents as the graph gives them (live-config commands' stdin,
 * ConfigMaps' keys): what the program's component declares. A former component is replaced.
 */
export function declaredByBottle(bottle: string, graph: DeclaredResource[]): DeclaredResource[] {
  const resources = graph.filter((r) => !(r.type === "bot-bottle:index:BottleStack" && r.name === bottle));
  const documents: Record<string, string> = {};
  for (const r of resources) {
    if (
      r.type === "command:local:Command" &&
      r.props.stdin !== undefined &&
      DECLARED_INPUT[r.props.environment?.BOTTLE_ROLE] !== undefined
    ) {
      documents[DECLARED_INPUT[r.props.environment.BOTTLE_ROLE]!] = r.props.stdin;
    }
    const role = r.props.metadata?.labels?.["bot-bottle.role"];
    if (r.type === "kubernetes:core/v1:ConfigMap" && DECLARED_INPUT[role] !== undefined) {
      documents[DECLARED_INPUT[role]!] = Object.values(r.props.data as Record<string, string>)[0]!;
    }
  }
  return [...resources.map((r) => ({ ...r, parent: bottle })), { type: "bot-bottle:index:BottleStack", name: bottle, props: documents }];
}

/** The resource of `graph` with the given Pulumi name suffix (e.g. "-agent", "-egress-net"). */
export function find(graph: DeclaredResource[], suffix: string): DeclaredResource {
  const found = graph.find((r) => r.name.endsWith(suffix));
  if (found === undefined) {
    throw new Error(`fixture has no resource ending in ${suffix}`);
  }
  return found;
}

/** The container with the given role in `graph`. */
export function container(graph: DeclaredResource[], role: "agent" | "egress-proxy" | "pipelock" | "pipelock-bulk"): DeclaredResource {
  return find(graph, `-${role}`);
}

/** Replaces the content of the upload at `file` of `resource`. */
export function setUpload(resource: DeclaredResource, file: string, content: string): void {
  const upload = resource.props.uploads.find((u: { file: string }) => u.file === file);
  if (upload === undefined) {
    throw new Error(`no upload ${file}`);
  }
  upload.content = content;
}

/** The live-config command of a gate: it writes the gate's document (stdin) into its volume. */
export function liveConfigOf(graph: DeclaredResource[], role: "egress-proxy" | "pipelock" | "pipelock-bulk"): DeclaredResource {
  return find(graph, `-${role}-config-apply`);
}

/** Replaces a gate's document (routes.yaml, pipelock.yaml). */
export function setDocument(graph: DeclaredResource[], role: "egress-proxy" | "pipelock" | "pipelock-bulk", text: string): void {
  liveConfigOf(graph, role).props.stdin = text;
}

// --- Kubernetes ---------------------------------------------------------------------------------

/** Options for {@link kubernetesBottleGraph}. */
export interface KubernetesBottleOptions extends BottleOptions {
  /** Ranges pipelock may never dial (the bottle's privateCidrs). */
  privateCidrs?: string[];
}

/** The default privateCidrs (components/config/schema.ts DEFAULT_PRIVATE_CIDRS). */
export const DEFAULT_PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"];

/** The self-test probe's source stands in for probe.py. */
const PROBE_SOURCE = '"""bot-bottle self-test probe"""\nimport sys\nsys.exit(0)\n';

/**
 * Every resource of one Kubernetes bottle, as @pulumi/kubernetes receives them
 * (components/kubernetes): its namespace, 4 network policies, 2 CA keys + certs, the gates'
 * live configuration (a ConfigMap each, the egress proxy's tokens Secret), 3 files Secrets, 2
 * Services, the workspace claim, 3 Deployments and the self-test Job.
 * example-stacks.test.ts checks that every input it sets is one the real component sets.
 */
export function kubernetesBottleGraph(options: KubernetesBottleOptions = {}): DeclaredResource[] {
  const stack = options.stack ?? "dev";
  const bottle = options.bottle ?? "reviewer";
  const hosts = options.hosts ?? ["api.anthropic.com", "api.github.com"];
  const namespace = `${stack}-${bottle}`;
  const bottleLabels = () => ({ "bot-bottle.bottle": bottle, "bot-bottle.stack": stack });
  const roleLabels = (role: string) => ({ ...bottleLabels(), "bot-bottle.role": role });
  const meta = (name: string, labels: Record<string, string>) => ({ labels, name, namespace });
  const roleSelector = (role: string) => ({ matchLabels: { "bot-bottle.role": role } });
  const agentSelector = () => ({ matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["agent", "self-test"] }] });
  const tcp = (port: number) => ({ port, protocol: "TCP" });
  const limits = (memory: number) => ({ limits: { memory: `${memory}Mi` }, requests: { cpu: "50m", memory: `${memory}Mi` } });
  const security = (uid: number, readOnlyRootFilesystem: boolean) => ({
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    privileged: false,
    readOnlyRootFilesystem,
    runAsGroup: uid,
    runAsNonRoot: true,
    runAsUser: uid,
    seccompProfile: { type: "RuntimeDefault" },
  });
  const podSecurity = (uid: number) => ({
    fsGroup: uid,
    fsGroupChangePolicy: "OnRootMismatch",
    runAsGroup: uid,
    runAsNonRoot: true,
    runAsUser: uid,
    seccompProfile: { type: "RuntimeDefault" },
  });
  const noDns = () => ({
    dnsConfig: {
      nameservers: ["127.0.0.1"],
      options: [
        { name: "timeout", value: "1" },
        { name: "attempts", value: "1" },
      ],
    },
    dnsPolicy: "None",
  });
  const env = (vars: Record<string, string>) => Object.entries(vars).map(([name, value]) => ({ name, value }));
  const egressProxyImage = `registry.example.com/bot-bottle/egress-proxy:0.2.0@sha256:${"3".repeat(64)}`;
  // The reloader sidecar of a gate: tells it to reload when the kubelet swaps its live configuration.
  const reloader = (uid: number, dir: string, process: string) => ({
    command: ["/opt/venv/bin/python", "/opt/egress-proxy/reload_on_change.py", "--dir", dir, "--process", process],
    image: egressProxyImage,
    imagePullPolicy: "IfNotPresent",
    name: "reloader",
    resources: limits(32),
    securityContext: security(uid, true),
    volumeMounts: [{ mountPath: dir, name: "live", readOnly: true }],
  });
  const filesVolume = (role: string, modes: number[]) => ({
    name: "files",
    secret: { items: modes.map((mode, i) => ({ key: `file-${i}`, mode, path: `file-${i}` })), secretName: `${role}-files` },
  });
  const liveVolume = (role: string, withTokens: boolean) => ({
    name: "live",
    projected: {
      defaultMode: 0o440,
      sources: [{ configMap: { name: `${role}-config` } }, ...(withTokens ? [{ secret: { name: `${role}-tokens` } }] : [])],
    },
  });
  const writable = (i: number) => ({ emptyDir: { sizeLimit: "64Mi" }, name: `writable-${i}` });
  const deployment = (role: string, handover: boolean, spec: Record<string, unknown>): DeclaredResource => ({
    type: "kubernetes:apps/v1:Deployment",
    name: `${bottle}-${role}`,
    props: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(role, roleLabels(role)),
      spec: {
        replicas: 1,
        selector: { matchLabels: roleLabels(role) },
        strategy: handover ? { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }, type: "RollingUpdate" } : { type: "Recreate" },
        template: {
          metadata: { labels: roleLabels(role) },
          spec: { automountServiceAccountToken: false, enableServiceLinks: false, ...spec },
        },
      },
    },
  });
  const secret = (name: string, role: string, stringData: Record<string, string>): DeclaredResource => ({
    type: "kubernetes:core/v1:Secret",
    name: `${bottle}-${name}`,
    props: { apiVersion: "v1", kind: "Secret", metadata: meta(name, roleLabels(role)), stringData, type: "Opaque" },
  });
  const configMap = (role: string, file: string, text: string): DeclaredResource => ({
    type: "kubernetes:core/v1:ConfigMap",
    name: `${bottle}-${role}-config`,
    props: { apiVersion: "v1", data: { [file]: text }, kind: "ConfigMap", metadata: meta(`${role}-config`, roleLabels(role)) },
  });
  const networkPolicy = (name: string, spec: Record<string, unknown>): DeclaredResource => ({
    type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    name: `${bottle}-policy-${name}`,
    props: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: meta(name, bottleLabels()), spec },
  });
  const service = (role: string, port: number): DeclaredResource => ({
    type: "kubernetes:core/v1:Service",
    name: `${bottle}-${role}-service`,
    props: {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(role, roleLabels(role)),
      spec: { ports: [{ name: "proxy", port, protocol: "TCP", targetPort: port }], selector: roleLabels(role) },
    },
  });
  return declaredByBottle(bottle, [
    { type: "tls:index/privateKey:PrivateKey", name: `${bottle}-egress-proxy-ca-key`, props: { algorithm: "RSA", rsaBits: 2048 } },
    { type: "tls:index/privateKey:PrivateKey", name: `${bottle}-pipelock-ca-key`, props: { algorithm: "ECDSA", ecdsaCurve: "P256" } },
    {
      type: "kubernetes:core/v1:Namespace",
      name: `${bottle}-namespace`,
      props: {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
          labels: {
            ...bottleLabels(),
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
          },
          name: namespace,
        },
      },
    },
    configMap("egress-proxy", "routes.yaml", routesYaml(hosts)),
    configMap("pipelock", "pipelock.yaml", stringify(pipelockConfig(bottle, hosts))),
    {
      type: "kubernetes:core/v1:PersistentVolumeClaim",
      name: `${bottle}-workspace`,
      props: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: meta("workspace", roleLabels("workspace")),
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } },
      },
    },
    service("egress-proxy", 9099),
    service("pipelock", 8888),
    secret("egress-proxy-tokens", "egress-proxy", {
      "tokens.json": JSON.stringify({ EGRESS_PROXY_TOKEN_0: ANTHROPIC_TOKEN, EGRESS_PROXY_TOKEN_1: GITHUB_TOKEN }),
    }),
    networkPolicy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    networkPolicy("agent", {
      egress: [{ ports: [tcp(9099)], to: [{ podSelector: roleSelector("egress-proxy") }] }],
      podSelector: agentSelector(),
      policyTypes: ["Ingress", "Egress"],
    }),
    caCert(bottle, "egress-proxy", RSA_KEY_PEM),
    caCert(bottle, "pipelock", EC_KEY_PEM),
    networkPolicy("egress-proxy", {
      egress: [{ ports: [tcp(8888)], to: [{ podSelector: roleSelector("pipelock") }] }],
      ingress: [{ from: [{ podSelector: agentSelector() }], ports: [tcp(9099)] }],
      podSelector: roleSelector("egress-proxy"),
      policyTypes: ["Ingress", "Egress"],
    }),
    networkPolicy("pipelock", {
      egress: [
        { ports: [tcp(443)], to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...(options.privateCidrs ?? DEFAULT_PRIVATE_CIDRS)] } }] },
        {
          ports: [{ port: 53, protocol: "UDP" }, tcp(53)],
          to: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
              podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
            },
          ],
        },
      ],
      ingress: [{ from: [{ podSelector: roleSelector("egress-proxy") }], ports: [tcp(8888)] }],
      podSelector: roleSelector("pipelock"),
      policyTypes: ["Ingress", "Egress"],
    }),
    secret("agent-files", "agent", { "file-0": CERT_PEM, "file-1": CERT_PEM }),
    secret("pipelock-files", "pipelock", { "file-0": PIPELOCK_CA_PEM, "file-1": EC_KEY_PEM }),
    secret("egress-proxy-files", "egress-proxy", { "file-0": PIPELOCK_CA_PEM, "file-1": CERT_PEM + RSA_KEY_PEM }),
    deployment("pipelock", true, {
      containers: [
        {
          args: ["run", "--config", "/etc/pipelock/live/current/pipelock.yaml", "--listen", "0.0.0.0:8888"],
          image: `ghcr.io/luckypipewrench/pipelock:2.3.0@sha256:${"5".repeat(64)}`,
          imagePullPolicy: "IfNotPresent",
          name: "pipelock",
          readinessProbe: { exec: { command: ["/pipelock", "healthcheck"] }, failureThreshold: 3, periodSeconds: 2, timeoutSeconds: 3 },
          resources: limits(256),
          securityContext: security(65532, true),
          volumeMounts: [
            { mountPath: "/tmp", name: "writable-0" },
            { mountPath: "/etc/pipelock/ca.pem", name: "files", readOnly: true, subPath: "file-0" },
            { mountPath: "/etc/pipelock/ca-key.pem", name: "files", readOnly: true, subPath: "file-1" },
            { mountPath: "/etc/pipelock/live/current", name: "live", readOnly: true },
          ],
        },
        reloader(65532, "/etc/pipelock/live/current", "pipelock"),
      ],
      securityContext: podSecurity(65532),
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: 10,
      volumes: [writable(0), filesVolume("pipelock", [0o444, 0o440]), liveVolume("pipelock", false)],
    }),
    deployment("egress-proxy", true, {
      containers: [
        {
          env: env({
            EGRESS_PROXY_ROUTES: "/etc/egress-proxy/live/current/routes.yaml",
            EGRESS_PROXY_TOKENS: "/etc/egress-proxy/live/current/tokens.json",
            EGRESS_PROXY_PORT: "9099",
            EGRESS_PROXY_UPSTREAM_PROXY: "http://pipelock:8888",
            EGRESS_PROXY_DRAIN_SECONDS: "20",
            EGRESS_PROXY_UPSTREAM_CA: "/etc/egress-proxy/upstream-ca.pem",
            EGRESS_PROXY_MAX_BODY_BYTES: String(32 * 1024 * 1024),
          }),
          image: egressProxyImage,
          imagePullPolicy: "IfNotPresent",
          name: "egress-proxy",
          readinessProbe: {
            exec: { command: ["/opt/venv/bin/python", "/opt/egress-proxy/healthcheck.py"] },
            failureThreshold: 3,
            periodSeconds: 2,
            timeoutSeconds: 3,
          },
          resources: limits(256),
          securityContext: security(65533, true),
          volumeMounts: [
            { mountPath: "/tmp", name: "writable-0" },
            { mountPath: "/home/mitmproxy/.mitmproxy", name: "writable-1" },
            { mountPath: "/etc/egress-proxy/upstream-ca.pem", name: "files", readOnly: true, subPath: "file-0" },
            { mountPath: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem", name: "files", readOnly: true, subPath: "file-1" },
            { mountPath: "/etc/egress-proxy/live/current", name: "live", readOnly: true },
          ],
        },
        reloader(65533, "/etc/egress-proxy/live/current", "mitmdump"),
      ],
      ...noDns(),
      hostAliases: [{ hostnames: ["pipelock"], ip: "10.96.0.11" }],
      securityContext: podSecurity(65533),
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: 25,
      volumes: [writable(0), writable(1), filesVolume("egress-proxy", [0o444, 0o440]), liveVolume("egress-proxy", true)],
    }),
    deployment("agent", false, {
      containers: [
        {
          env: env({
            HTTP_PROXY: "http://egress-proxy:9099",
            HTTPS_PROXY: "http://egress-proxy:9099",
            SSL_CERT_FILE: "/etc/bot-bottle/egress-proxy-ca.pem",
            NODE_EXTRA_CA_CERTS: "/etc/bot-bottle/egress-proxy-ca.pem",
          }),
          image: "node:22.12.0-bookworm-slim",
          imagePullPolicy: "IfNotPresent",
          name: "agent",
          resources: limits(2048),
          securityContext: security(1000, false),
          volumeMounts: [
            { mountPath: "/etc/bot-bottle/egress-proxy-ca.pem", name: "files", readOnly: true, subPath: "file-0" },
            { mountPath: "/etc/ssl/certs/ca-certificates.crt", name: "files", readOnly: true, subPath: "file-1" },
            { mountPath: "/workspace", name: "claim-0" },
          ],
        },
      ],
      ...noDns(),
      hostAliases: [{ hostnames: ["egress-proxy"], ip: "10.96.0.10" }],
      securityContext: podSecurity(1000),
      volumes: [filesVolume("agent", [0o444, 0o444]), { name: "claim-0", persistentVolumeClaim: { claimName: "workspace" } }],
    }),
    {
      type: "kubernetes:batch/v1:Job",
      name: `${bottle}-self-test`,
      props: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: meta("self-test", roleLabels("self-test")),
        spec: {
          activeDeadlineSeconds: 120,
          backoffLimit: 0,
          template: {
            metadata: { annotations: { "bot-bottle.deployments": "pipelock@1 egress-proxy@1 agent@1" }, labels: roleLabels("self-test") },
            spec: {
              automountServiceAccountToken: false,
              containers: [
                {
                  command: ["/opt/venv/bin/python", "-c", PROBE_SOURCE],
                  env: [
                    { name: "BOTTLE_PROXY_URL", value: "http://egress-proxy:9099" },
                    { name: "BOTTLE_POLICY_REJECTS", value: "1" },
                    { name: "NODE_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
                    { name: "BOTTLE_LISTENING", value: "$(NODE_IP):10250" },
                  ],
                  image: egressProxyImage,
                  imagePullPolicy: "IfNotPresent",
                  name: "probe",
                  resources: limits(64),
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true },
                },
              ],
              ...noDns(),
              enableServiceLinks: false,
              hostAliases: [{ hostnames: ["egress-proxy"], ip: "10.96.0.10" }],
              restartPolicy: "Never",
              securityContext: { runAsGroup: 65534, runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
            },
          },
        },
      },
    },
  ]);
}

/** The Kubernetes object of `graph` of the given kind (`Deployment`, `NetworkPolicy`...) and metadata.name. */
export function object(graph: DeclaredResource[], kind: string, name: string): DeclaredResource {
  const found = graph.find((r) => r.type.endsWith(`:${kind}`) && r.props.metadata?.name === name);
  if (found === undefined) {
    throw new Error(`fixture has no ${kind} ${name}`);
  }
  return found;
}

/** The pod spec of a Deployment or Job. */
export function podSpec(resource: DeclaredResource): Record<string, any> {
  return resource.props.spec.template.spec;
}

/** Replaces a Kubernetes gate's document (the key of its ConfigMap). */
export function setConfigMapDocument(graph: DeclaredResource[], role: "egress-proxy" | "pipelock", text: string): void {
  const configMap = object(graph, "ConfigMap", `${role}-config`);
  const file = role === "egress-proxy" ? "routes.yaml" : "pipelock.yaml";
  configMap.props.data[file] = text;
}
