/**
 * A hand-built, realistic resource graph of one bottle, shaped like the BottleStack component's
 * children as the Docker and TLS providers receive them (docs/architecture.md; components/*). Tests take a
 * copy and break one thing at a time. example-stacks.test.ts checks that it uses no input the
 * real component does not set.
 */
import { stringify } from "yaml";
import { DeclaredResource } from "../offline/run";

/** A token value shaped like a GitHub personal access token (fake). */
export const GITHUB_TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
/** A token value shaped like an Anthropic API key (fake). */
export const ANTHROPIC_TOKEN = "sk-ant-api03-fakefakefakefakefakefake";

export const CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
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

/** routes.yaml as the component renders it (version 1, docs/architecture.md). */
export function routesYaml(hosts: string[]): string {
    return stringify({
        version: 1,
        routes: hosts.map((host, i) =>
            i === 0
                ? { host, auth: { header: "x-api-key", token_env: "EGRESS_PROXY_TOKEN_0" } }
                : {
                      host,
                      methods: ["GET"],
                      path_allowlist: ["/repos/acme/"],
                      auth: { header: "Authorization", prefix: "Bearer ", token_env: `EGRESS_PROXY_TOKEN_${i}` },
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

/** The hardening every container gets (fresh objects per call: tests mutate them). */
function hardening(memory: number) {
    return {
        capabilities: { drops: ["ALL"] },
        securityOpts: ["no-new-privileges:true"],
        memory,
        memorySwap: memory,
        restart: "unless-stopped",
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
    // Each role's CA: a key and the self-signed CA certificate made from it.
    const caCert = (role: string, privateKeyPem: string): DeclaredResource => ({
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
    });
    // A gate's live configuration: its volume, and the command that writes the document into it.
    const liveConfig = (role: string, document: string, file: string, owner: number, extra: Record<string, string> = {}): DeclaredResource[] => [
        { type: "docker:index/volume:Volume", name: `${bottle}-${role}-config`, props: { name: name(`${role}-config`), labels: labels(stack, bottle, `${role}-config`) } },
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
                    BOTTLE_IMAGE: "sha256:" + "a".repeat(64),
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
        props: { name: name(role), image: "sha256:" + digit.repeat(64), labels: labels(stack, bottle, role), user, ...props },
    });
    return [
        network("agent-net", true),
        network("egress-net", true),
        network("outbound-net", false),
        {
            type: "tls:index/privateKey:PrivateKey",
            name: `${bottle}-egress-proxy-ca-key`,
            props: { algorithm: "RSA", rsaBits: 2048 },
        },
        caCert("egress-proxy", RSA_KEY_PEM),
        {
            type: "tls:index/privateKey:PrivateKey",
            name: `${bottle}-pipelock-ca-key`,
            props: { algorithm: "ECDSA", ecdsaCurve: "P256" },
        },
        caCert("pipelock", EC_KEY_PEM),
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
                { file: "/etc/egress-proxy/upstream-ca.pem", content: CERT_PEM, permissions: "0444" },
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
                { file: "/etc/pipelock/ca.pem", content: CERT_PEM, permissions: "0444" },
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
            uploads: [
                { file: "/usr/local/share/ca-certificates/bot-bottle.crt", content: CERT_PEM, permissions: "0444" },
            ],
            ...hardening(2048),
            ...noExternalDns(),
        }),
    ];
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
export function container(graph: DeclaredResource[], role: "agent" | "egress-proxy" | "pipelock"): DeclaredResource {
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
export function liveConfigOf(graph: DeclaredResource[], role: "egress-proxy" | "pipelock"): DeclaredResource {
    return find(graph, `-${role}-config-apply`);
}

/** Replaces a gate's document (routes.yaml, pipelock.yaml). */
export function setDocument(graph: DeclaredResource[], role: "egress-proxy" | "pipelock", text: string): void {
    liveConfigOf(graph, role).props.stdin = text;
}
