/**
 * Shared vocabulary for the bot-bottle policies: the resource type tokens as the provider sees
 * them, the `bot-bottle.*` labels that tell which object plays which role, and safe readers for
 * the props a policy receives.
 *
 * Props reach a policy as plain JSON wrapped in @pulumi/policy's unknown-checking proxy: reading a
 * value that is not known yet (during `pulumi preview`, e.g. a certificate PEM that only exists
 * after the key is created) throws `UnknownValueError`. Every reader here turns that into
 * `UNKNOWN`, so one unknown field defers only the check that needs it (to `pulumi up`, where the
 * engine analyzes the resolved inputs again before creating the resource) instead of turning the
 * whole policy into an advisory "can't run during preview".
 */
import { UnknownValueError } from "@pulumi/policy";
import { parseDocument } from "yaml";

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

/** Values of the `bot-bottle.role` label the policies look for (any non-internal network is checked, whatever its role). */
export const ROLES = {
    agent: "agent",
    egressProxy: "egress-proxy",
    pipelock: "pipelock",
    /** The second pipelock: the bulk lane, tunnelling what the egress proxy had its scan API check. */
    pipelockBulk: "pipelock-bulk",
    agentNet: "agent-net",
    egressNet: "egress-net",
    /** The Kubernetes self-test Job's pod: it runs with the agent's network access. */
    selfTest: "self-test",
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

/** Marks a value the engine does not know yet (preview of a not-yet-created dependency). */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Maybe<T> = T | typeof UNKNOWN;

/**
 * Runs `read` against proxied props and returns `UNKNOWN` instead of throwing when it touches a
 * value that is unknown during preview. Any other error propagates.
 */
export function known<T>(read: () => T): Maybe<T> {
    try {
        return read();
    } catch (e) {
        if (e instanceof UnknownValueError) {
            return UNKNOWN;
        }
        throw e;
    }
}

/** The minimal view of a resource that both resource and stack policies can provide. */
export interface ResourceView {
    type: string;
    urn: string;
    name: string;
    props: Record<string, any>;
    /** Its parent (stack policies only). */
    parent?: ResourceView;
}

/** The BottleStack component a resource was declared in (its nearest such ancestor), if any. */
export function declaringBottleStack(resource: ResourceView): ResourceView | undefined {
    for (let at = resource.parent; at !== undefined; at = at.parent) {
        if (at.type === TYPES.bottleStack) {
            return at;
        }
    }
    return undefined;
}

/** The fields of a `docker.Container.uploads` entry that the policies read. */
export interface Upload {
    file: string;
    content: Maybe<string | undefined>;
    permissions: Maybe<string | undefined>;
}

/** A `{name, aliases}` entry of `docker.Container.networksAdvanced`. */
export interface NetworkAttachment {
    name: Maybe<string>;
    aliases: string[];
}

/**
 * Reads an object's labels into a map: a Docker `labels: [{label, value}]` list, or a Kubernetes
 * object's `metadata.labels` map. Unknown entries are skipped.
 */
export function labelsOf(props: Record<string, any>): Map<string, string> {
    const out = new Map<string, string>();
    const list = known(() => props.labels as unknown);
    if (Array.isArray(list)) {
        for (let i = 0; i < list.length; i++) {
            const entry = known(() => ({ label: list[i].label, value: list[i].value }));
            if (entry !== UNKNOWN && typeof entry.label === "string" && typeof entry.value === "string") {
                out.set(entry.label, entry.value);
            }
        }
        return out;
    }
    return labelMap(snapshot(() => props.metadata?.labels));
}

/** The string entries of a Kubernetes label map (a `snapshot`); anything else is skipped. */
function labelMap(value: unknown): Map<string, string> {
    const out = new Map<string, string>();
    if (isRecord(value)) {
        for (const [k, v] of Object.entries(value)) {
            if (typeof v === "string") {
                out.set(k, v);
            }
        }
    }
    return out;
}

/** The `bot-bottle.role` label of a Docker object, if any. */
export function roleOf(props: Record<string, any>): string | undefined {
    return labelsOf(props).get(LABELS.role);
}

/**
 * Identifies the bottle a Docker object belongs to (`<stack>/<bottle>` from its labels), so that
 * cross-resource rules compare an egress proxy with its own bottle's pipelock only.
 */
export function bottleOf(props: Record<string, any>): string | undefined {
    return bottleOfLabels(labelsOf(props));
}

function bottleOfLabels(labels: ReadonlyMap<string, string>): string | undefined {
    const stack = labels.get(LABELS.stack);
    const bottle = labels.get(LABELS.bottle);
    return stack !== undefined && bottle !== undefined ? `${stack}/${bottle}` : undefined;
}

/**
 * The labels that say what a resource is: a Docker object's labels, a Kubernetes object's
 * `metadata.labels`, and for a Kubernetes kind that runs pods its pod template's labels over
 * those (the pods carry them, and network policies select the pods by them).
 */
export function labelsOfResource(resource: { type: string; props: Record<string, any> }): Map<string, string> {
    const labels = labelsOf(resource.props);
    const pod = podTemplateOf(resource);
    if (pod !== undefined && pod !== UNKNOWN) {
        for (const [k, v] of pod.labels) {
            labels.set(k, v);
        }
    }
    return labels;
}

/** The `bot-bottle.role` of a resource (see labelsOfResource). */
export function roleOfResource(resource: { type: string; props: Record<string, any> }): string | undefined {
    return labelsOfResource(resource).get(LABELS.role);
}

/** The bottle of a resource, `<stack>/<bottle>` (see labelsOfResource). */
export function bottleOfResource(resource: { type: string; props: Record<string, any> }): string | undefined {
    return bottleOfLabels(labelsOfResource(resource));
}

/** The one of `candidates` in `bottle` (by its labels); none for an unlabelled bottle. */
export function inBottle<T extends { type: string; props: Record<string, any> }>(candidates: readonly T[], bottle: string | undefined): T | undefined {
    return bottle === undefined ? undefined : candidates.find((c) => bottleOfResource(c) === bottle);
}

/** `value` as an array (absent means empty). */
export function arrayOf(value: unknown): any[] {
    return Array.isArray(value) ? value : [];
}

/** A command's `environment` map (absent: empty); `UNKNOWN` during preview if it is. */
export function environmentOf(props: Record<string, any>): Maybe<Record<string, unknown>> {
    return known(() => (props.environment ?? {}) as Record<string, unknown>);
}

/** Reads a string list such as `envs`, `command` or `securityOpts`; `UNKNOWN` if any element is. */
export function stringsOf(props: Record<string, any>, key: string): Maybe<string[]> {
    return known(() => arrayOf(props[key]).map((v) => String(v)));
}

/**
 * The value of `KEY` in a `["KEY=value", ...]` env list, or undefined when not set. The last
 * entry wins, as in the container: an earlier, compliant entry must not hide a later override.
 */
export function envValue(envs: string[], key: string): string | undefined {
    const entry = envs.filter((e) => e.startsWith(`${key}=`)).at(-1);
    return entry === undefined ? undefined : entry.slice(key.length + 1);
}

/** The container's uploads; contents that are unknown during preview are `UNKNOWN`. */
export function uploadsOf(props: Record<string, any>): Maybe<Upload[]> {
    const list = known(() => arrayOf(props.uploads));
    if (list === UNKNOWN) {
        return UNKNOWN;
    }
    const out: Upload[] = [];
    for (let i = 0; i < list.length; i++) {
        const file = known(() => String(list[i].file));
        if (file === UNKNOWN) {
            return UNKNOWN;
        }
        out.push({
            file,
            content: known(() => list[i].content as string | undefined),
            permissions: known(() => list[i].permissions as string | undefined),
        });
    }
    return out;
}

/** The container's `networksAdvanced` attachments; a name unknown during preview is `UNKNOWN`. */
export function networksOf(props: Record<string, any>): Maybe<NetworkAttachment[]> {
    const list = known(() => arrayOf(props.networksAdvanced));
    if (list === UNKNOWN) {
        return UNKNOWN;
    }
    const out: NetworkAttachment[] = [];
    for (let i = 0; i < list.length; i++) {
        const aliases = known(() => arrayOf(list[i].aliases).map(String));
        out.push({ name: known(() => String(list[i].name)), aliases: aliases === UNKNOWN ? [] : aliases });
    }
    return out;
}

/** Network modes that share a host or foreign namespace instead of the container's own. */
export function sharesNamespace(mode: unknown): boolean {
    return typeof mode === "string" && (mode === "host" || mode.startsWith("container:"));
}

/** Network modes that attach no user-defined network (the provider disconnects `bridge` when
 * `networksAdvanced` is set; `none` has no network at all). */
const NON_NETWORK_MODES = new Set(["bridge", "default", "none"]);

/**
 * The user-defined networks a container joins, by name: its `networksAdvanced` attachments, and
 * a custom `networkMode`, which joins that network (a shared namespace is no network of its own).
 */
export function networksJoined(attachments: readonly NetworkAttachment[], networkMode: unknown): Maybe<string>[] {
    const custom = typeof networkMode === "string" && !NON_NETWORK_MODES.has(networkMode) && !sharesNamespace(networkMode);
    return [...attachments.map((a) => a.name), ...(custom ? [networkMode] : [])];
}

/**
 * Parses a rendered YAML document (routes.yaml, pipelock.yaml). Returns the parsed value, or an
 * error message when the text is not exactly one valid YAML document.
 */
export function parseYaml(text: string): { value: unknown } | { error: string } {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) {
        return { error: doc.errors[0].message };
    }
    return { value: doc.toJS() };
}

/** True when `value` is a plain (non-array) object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The stack name encoded in a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
function stackOfUrn(urn: string): string | undefined {
    const match = /^urn:pulumi:([^:]+)::/.exec(urn);
    return match?.[1];
}

/**
 * The stack tag that marks a production stack, and its value. Set it with
 * `pulumi stack tag set bot-bottle:environment production`.
 */
export const PRODUCTION_TAG = { name: "bot-bottle:environment", value: "production" } as const;

/** Stack names that count as production even without the tag. */
export const PRODUCTION_STACK_NAMES: readonly string[] = ["prod", "production"];

/**
 * A stack is production when it carries the stack tag `bot-bottle:environment=production`, or when
 * its name is `prod` or `production` (so a stack that forgot the tag is still treated strictly).
 */
export function isProductionStack(stackTags: ReadonlyMap<string, string>, urn: string): boolean {
    if (stackTags.get(PRODUCTION_TAG.name) === PRODUCTION_TAG.value) {
        return true;
    }
    const stack = stackOfUrn(urn);
    return stack !== undefined && PRODUCTION_STACK_NAMES.includes(stack);
}

/** Containers of the stack that carry the given role label. */
export function containersWithRole(resources: readonly ResourceView[], role: string): ResourceView[] {
    return resources.filter((r) => r.type === TYPES.container && roleOf(r.props) === role);
}

/**
 * The workloads of the stack with the given role, on either backend: Docker containers, and
 * Kubernetes resources that run pods (a Deployment per workload) whose pods carry the role.
 */
export function workloadsWithRole(resources: readonly ResourceView[], role: string): ResourceView[] {
    return resources.filter((r) => (r.type === TYPES.container || isPodHolder(r.type)) && roleOfResource(r) === role);
}

/** Docker name of a container or network (its `name` input), falling back to the Pulumi name. */
export function dockerName(resource: ResourceView): string {
    const name = known(() => resource.props.name);
    return typeof name === "string" ? name : resource.name;
}

/**
 * The name a message gives an object: a Docker object's name, a Kubernetes object's
 * `<namespace>/<name>`, falling back to the Pulumi name.
 */
export function objectName(resource: ResourceView): string {
    if (!isKubernetes(resource.type)) {
        return dockerName(resource);
    }
    const { name, namespace } = metadataOf(resource.props);
    const base = typeof name === "string" ? name : resource.name;
    return typeof namespace === "string" ? `${namespace}/${base}` : base;
}

/** The kind of a Kubernetes resource type (`kubernetes:apps/v1:Deployment` -> `Deployment`). */
export function kindOf(type: string): string {
    return type.slice(type.lastIndexOf(":") + 1);
}

// --- Kubernetes -------------------------------------------------------------------------------

/** True for a resource of the Kubernetes provider. */
export function isKubernetes(type: string): boolean {
    return type.startsWith("kubernetes:");
}

/** True for a Kubernetes kind that runs pods (POD_TEMPLATE_PATHS). */
export function isPodHolder(type: string): boolean {
    return Object.prototype.hasOwnProperty.call(POD_TEMPLATE_PATHS, type);
}

/**
 * A deep plain copy of a value read through the unknown-checking proxy, with every value that is
 * unknown during preview replaced by `UNKNOWN` (where it is, not for the whole value). The
 * Kubernetes readers work on these copies: a pod spec is deep, and one unknown field (an
 * address, a name computed by another resource) must defer only the check that needs it.
 */
export function snapshot(read: () => unknown): unknown {
    const value = known(read);
    if (value === UNKNOWN || typeof value !== "object" || value === null) {
        return value;
    }
    if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
            out.push(snapshot(() => value[i] as unknown));
        }
        return out;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
        out[k] = snapshot(() => (value as Record<string, unknown>)[k]);
    }
    return out;
}

/** A Kubernetes object's `metadata.name` and `metadata.namespace` (`UNKNOWN` during preview if they are). */
export function metadataOf(props: Record<string, any>): { name: Maybe<unknown>; namespace: Maybe<unknown> } {
    return { name: known(() => props.metadata?.name as unknown), namespace: known(() => props.metadata?.namespace as unknown) };
}

/** A pod template: the labels its pods carry and their spec (a `snapshot`). */
export interface PodTemplate {
    labels: Map<string, string>;
    spec: Record<string, unknown>;
}

/**
 * The pod template of a Kubernetes kind that runs pods (undefined for any other resource);
 * `UNKNOWN` when the template itself is unknown during preview.
 */
export function podTemplateOf(resource: { type: string; props: Record<string, any> }): Maybe<PodTemplate> | undefined {
    if (!isPodHolder(resource.type)) {
        return undefined;
    }
    const path = POD_TEMPLATE_PATHS[resource.type]!;
    const template = snapshot(() => path.reduce<any>((value, key) => value?.[key], resource.props));
    if (template === UNKNOWN) {
        return UNKNOWN;
    }
    const metadata = isRecord(template) ? template.metadata : undefined;
    const spec = isRecord(template) && isRecord(template.spec) ? template.spec : {};
    return { labels: labelMap(isRecord(metadata) ? metadata.labels : undefined), spec };
}

/** The kinds of containers a pod spec lists; every one of them runs in the pod. */
const CONTAINER_LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;

/** Every container of a pod spec (a `snapshot`): containers, init and ephemeral containers. */
export function podContainersOf(spec: Record<string, unknown>): Record<string, unknown>[] {
    return CONTAINER_LISTS.flatMap((list) => (Array.isArray(spec[list]) ? (spec[list] as unknown[]) : []).filter(isRecord));
}

/** The container that runs a workload's own process: the one named after its role, else the first. */
export function mainContainerOf(spec: Record<string, unknown>, role: string | undefined): Record<string, unknown> | undefined {
    const containers = (Array.isArray(spec.containers) ? spec.containers : []).filter(isRecord);
    return containers.find((c) => c.name === role) ?? containers[0];
}

/**
 * A Kubernetes container's `env` as `NAME=value` strings, like a Docker `envs` list (a value
 * from `valueFrom` reads `NAME=<valueFrom>`); `UNKNOWN` if any entry is unknown during preview.
 */
export function containerEnvOf(container: Record<string, unknown>): Maybe<string[]> {
    if (container.env === UNKNOWN) {
        return UNKNOWN;
    }
    const out: string[] = [];
    for (const entry of Array.isArray(container.env) ? container.env : []) {
        if (!isRecord(entry) || entry.name === UNKNOWN || entry.value === UNKNOWN) {
            return UNKNOWN;
        }
        out.push(`${String(entry.name)}=${entry.value !== undefined ? String(entry.value) : entry.valueFrom !== undefined ? "<valueFrom>" : ""}`);
    }
    return out;
}

/** A string list of a container (`command`, `args`); `UNKNOWN` if it or any element is. */
export function containerStringsOf(container: Record<string, unknown>, key: string): Maybe<string[]> {
    const list = container[key];
    if (list === UNKNOWN || (Array.isArray(list) && list.includes(UNKNOWN))) {
        return UNKNOWN;
    }
    return Array.isArray(list) ? list.map(String) : [];
}

/** The main container of a Kubernetes workload's pods (see mainContainerOf); `UNKNOWN` if its template is. */
function mainContainerOfWorkload(resource: ResourceView): Maybe<Record<string, unknown> | undefined> {
    const pod = podTemplateOf(resource);
    if (pod === UNKNOWN) {
        return UNKNOWN;
    }
    return pod === undefined ? undefined : mainContainerOf(pod.spec, roleOfResource(resource));
}

/**
 * A workload's environment as `NAME=value` strings: a Docker container's `envs`, or the `env` of
 * the main container of a Kubernetes workload's pods.
 */
export function workloadEnvOf(resource: ResourceView): Maybe<string[]> {
    if (!isPodHolder(resource.type)) {
        return stringsOf(resource.props, "envs");
    }
    const main = mainContainerOfWorkload(resource);
    return main === UNKNOWN ? UNKNOWN : main === undefined ? [] : containerEnvOf(main);
}

/**
 * What a workload declares in place of its image's entrypoint, and the arguments it passes: a
 * Docker container's `entrypoints` and `command`, a Kubernetes main container's `command` and
 * `args` (the same two things under other names).
 */
export function workloadCommandOf(resource: ResourceView): Maybe<{ entrypoint: string[]; args: string[] }> {
    if (!isPodHolder(resource.type)) {
        // Unknown only in a stack policy's preview, where the provider will fill in the image's own
        // entrypoint: the gates declare none (gates-keep-image-entrypoint), so it is none here.
        const declared = stringsOf(resource.props, "entrypoints");
        const entrypoint = declared === UNKNOWN ? [] : declared;
        const args = stringsOf(resource.props, "command");
        return args === UNKNOWN ? UNKNOWN : { entrypoint, args };
    }
    const main = mainContainerOfWorkload(resource);
    if (main === UNKNOWN) {
        return UNKNOWN;
    }
    if (main === undefined) {
        return { entrypoint: [], args: [] };
    }
    const entrypoint = containerStringsOf(main, "command");
    const args = containerStringsOf(main, "args");
    return entrypoint === UNKNOWN || args === UNKNOWN ? UNKNOWN : { entrypoint, args };
}

/** A file a pod volume projects from a ConfigMap or Secret key, with the mode it gets. */
export interface ProjectedFile {
    kind: "configMap" | "secret";
    /** The ConfigMap's or Secret's name (in the pod's namespace). */
    name: string;
    key: string;
    /** The file's mode: the item's, else the volume's defaultMode, else Kubernetes' default 0644. */
    mode: Maybe<unknown>;
}

/** What is at a path of a pod's main container: the volume, the file in it, the objects that may project it. */
export type PodFile = { volume: string; file: string; sources: ProjectedFile[] } | { error: string };

/** Kubernetes' default mode of a file projected from a ConfigMap or Secret (0644). */
const DEFAULT_PROJECTED_MODE = 0o644;

/**
 * The file at `path` in the main container of a Kubernetes workload's pods: the deepest volume
 * mount at or above it, and the ConfigMap and Secret keys that volume may put there (a
 * `configMap`, `secret` or `projected` volume; with `items`, only the item whose path it is).
 * `UNKNOWN` when a name it depends on is unknown during preview.
 */
export function podFileAt(workload: ResourceView, path: string): Maybe<PodFile> {
    const pod = podTemplateOf(workload);
    if (pod === UNKNOWN || pod === undefined) {
        return UNKNOWN;
    }
    const mounts = mainContainerOf(pod.spec, roleOfResource(workload))?.volumeMounts;
    if (mounts === UNKNOWN || (Array.isArray(mounts) && mounts.some((m) => !isRecord(m) || m.mountPath === UNKNOWN || m.subPath === UNKNOWN || m.name === UNKNOWN))) {
        return UNKNOWN;
    }
    const under = (dir: string) => path === dir || path.startsWith(`${dir.replace(/\/+$/, "")}/`);
    const mount = (Array.isArray(mounts) ? mounts : [])
        .filter(isRecord)
        .filter((m) => typeof m.mountPath === "string" && under(m.mountPath))
        .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
    if (mount === undefined) {
        return { error: `reads ${path}, which is in no volume its container mounts` };
    }
    const mountPath = String(mount.mountPath).replace(/\/+$/, "");
    const rel = path === mount.mountPath ? "" : path.slice(mountPath.length + 1);
    const subPath = typeof mount.subPath === "string" && mount.subPath !== "" ? mount.subPath : undefined;
    const file = subPath === undefined ? rel : rel === "" ? subPath : `${subPath}/${rel}`;
    const volumes = pod.spec.volumes;
    if (volumes === UNKNOWN) {
        return UNKNOWN;
    }
    const volume = (Array.isArray(volumes) ? volumes : []).filter(isRecord).find((v) => v.name === mount.name);
    if (volume === undefined) {
        return { error: `reads ${path} from volume '${String(mount.name)}', which its pod does not declare` };
    }
    const candidates: { kind: ProjectedFile["kind"]; name: unknown; items: unknown; defaultMode: unknown }[] = [];
    if (isRecord(volume.configMap)) {
        candidates.push({ kind: "configMap", name: volume.configMap.name, items: volume.configMap.items, defaultMode: volume.configMap.defaultMode });
    }
    if (isRecord(volume.secret)) {
        candidates.push({ kind: "secret", name: volume.secret.secretName, items: volume.secret.items, defaultMode: volume.secret.defaultMode });
    }
    if (volume.projected === UNKNOWN) {
        return UNKNOWN;
    }
    if (isRecord(volume.projected)) {
        const projected = volume.projected;
        if (projected.sources === UNKNOWN) {
            return UNKNOWN;
        }
        for (const source of Array.isArray(projected.sources) ? projected.sources.filter(isRecord) : []) {
            for (const kind of ["configMap", "secret"] as const) {
                const object = source[kind];
                if (isRecord(object)) {
                    candidates.push({ kind, name: object.name, items: object.items, defaultMode: projected.defaultMode });
                }
            }
        }
    }
    const sources: ProjectedFile[] = [];
    for (const c of candidates) {
        if (c.name === UNKNOWN || c.items === UNKNOWN) {
            return UNKNOWN;
        }
        const defaultMode = c.defaultMode ?? DEFAULT_PROJECTED_MODE;
        if (!Array.isArray(c.items)) {
            sources.push({ kind: c.kind, name: String(c.name), key: file, mode: defaultMode });
            continue;
        }
        const item = c.items.filter(isRecord).find((i) => i.path === file);
        if (item !== undefined) {
            if (item.key === UNKNOWN) {
                return UNKNOWN;
            }
            sources.push({ kind: c.kind, name: String(c.name), key: String(item.key), mode: item.mode ?? defaultMode });
        }
    }
    return { volume: String(volume.name), file, sources };
}

/** The declared Kubernetes objects of `type` named `name` in `namespace`. */
export function objectsNamed(resources: readonly ResourceView[], type: string, namespace: unknown, name: string): ResourceView[] {
    return resources.filter((r) => {
        if (r.type !== type) {
            return false;
        }
        const meta = metadataOf(r.props);
        return meta.name === name && meta.namespace === namespace;
    });
}

/** The string values of a Kubernetes Secret: `stringData` as is, `data` decoded from base64, by key. */
export function secretValues(props: Record<string, any>): Maybe<[string, string][]> {
    const stringData = snapshot(() => props.stringData);
    const data = snapshot(() => props.data);
    if (stringData === UNKNOWN || data === UNKNOWN) {
        return UNKNOWN;
    }
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(isRecord(data) ? data : {})) {
        if (typeof v === "string") {
            out.push([k, Buffer.from(v, "base64").toString("utf8")]);
        }
    }
    for (const [k, v] of Object.entries(isRecord(stringData) ? stringData : {})) {
        if (typeof v === "string") {
            out.push([k, v]);
        }
    }
    return out;
}
