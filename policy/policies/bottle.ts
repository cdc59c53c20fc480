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

/** Resource type tokens, exactly as the Docker and TLS providers register them. */
export const TYPES = {
    container: "docker:index/container:Container",
    command: "command:local:Command",
    network: "docker:index/network:Network",
    remoteImage: "docker:index/remoteImage:RemoteImage",
    privateKey: "tls:index/privateKey:PrivateKey",
    selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
} as const;

/** Label keys every bot-bottle Docker object carries (docs/architecture.md, "Names and labels"). */
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
    agentNet: "agent-net",
    egressNet: "egress-net",
} as const;

/** Fixed facts of the topology that the policies compare against. */
export const TOPOLOGY = {
    pipelockAlias: "pipelock",
    pipelockUpstream: "http://pipelock:8888",
    routesEnv: "EGRESS_PROXY_ROUTES",
    routesDefaultPath: "/etc/egress-proxy/live/current/routes.yaml",
    upstreamEnv: "EGRESS_PROXY_UPSTREAM_PROXY",
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

/** Reads a Docker `labels: [{label, value}]` list into a map; unknown entries are skipped. */
export function labelsOf(props: Record<string, any>): Map<string, string> {
    const out = new Map<string, string>();
    const list = known(() => arrayOf(props.labels));
    if (list === UNKNOWN) {
        return out;
    }
    for (let i = 0; i < list.length; i++) {
        const entry = known(() => ({ label: list[i].label, value: list[i].value }));
        if (entry !== UNKNOWN && typeof entry.label === "string" && typeof entry.value === "string") {
            out.set(entry.label, entry.value);
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
    const labels = labelsOf(props);
    const stack = labels.get(LABELS.stack);
    const bottle = labels.get(LABELS.bottle);
    return stack !== undefined && bottle !== undefined ? `${stack}/${bottle}` : undefined;
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

/** Docker name of a container or network (its `name` input), falling back to the Pulumi name. */
export function dockerName(resource: ResourceView): string {
    const name = known(() => resource.props.name);
    return typeof name === "string" ? name : resource.name;
}
