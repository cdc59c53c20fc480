/**
 * Credential confinement: token values live only in the egress proxy's tokens file (written by its
 * live-config command), private keys only in the two CA files that need them.
 *
 * What a policy can and cannot see (@pulumi/policy 1.21): the engine hands props to the analyzer
 * with secrets marked, but the SDK's `deserializeProperties(props, false)` (server.js, analyze and
 * analyzeStack) unwraps every secret to its plaintext and keeps no marker (pulumi/pulumi-policy#241
 * is the open request for one; only remediations get `Secret` wrappers). So a validation cannot
 * tell whether `BOTTLE_TOKENS` was a secret Output. What it CAN see is the plaintext itself, which makes
 * the stronger half of the rule checkable: the token values and key PEMs must not appear anywhere
 * except where they belong. The secret marking of those values is asserted by the component's unit
 * tests and by this pack's example-stacks test, which reads it from the offline plan.
 */
import { StackValidationPolicy } from "@pulumi/policy";
import {
    Maybe,
    ROLES,
    TOPOLOGY,
    TYPES,
    ResourceView,
    UNKNOWN,
    dockerName,
    environmentOf,
    isRecord,
    known,
    roleOf,
    stringsOf,
    uploadsOf,
} from "./bottle";
import { pipelockConfigOf } from "./documents";

/** A PEM private key block of any kind (PKCS#1, SEC1, PKCS#8, OpenSSH). */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Token values shorter than this are not searched for: a value that short would match unrelated
 * text, and no real API token is that short.
 */
const MIN_SEARCHED_TOKEN_LENGTH = 8;

/** Resource types that hold key material by design (the key and the cert signed with it). */
const KEY_HOLDER_TYPES: readonly string[] = [TYPES.privateKey, TYPES.selfSignedCert];

/** Calls `visit` with every known string inside `value` and its property path. */
function walkStrings(value: unknown, path: string, visit: (text: string, path: string) => void): void {
    if (typeof value === "string") {
        visit(value, path);
        return;
    }
    if (typeof value !== "object" || value === null) {
        return;
    }
    // Index and key loops, not map(): reading an unknown element through the proxy throws, and
    // known() must wrap each read on its own.
    const entries: [string, Maybe<unknown>][] = [];
    if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
            entries.push([`${path}[${i}]`, known(() => value[i] as unknown)]);
        }
    } else {
        for (const k of Object.keys(value)) {
            entries.push([path === "" ? k : `${path}.${k}`, known(() => (value as Record<string, unknown>)[k])]);
        }
    }
    for (const [childPath, child] of entries) {
        if (child !== UNKNOWN) {
            walkStrings(child, childPath, visit);
        }
    }
}

/** The `EGRESS_PROXY_TOKEN_*` entries of a container's env, as names. */
function tokenEnvNames(props: Record<string, any>): Maybe<string[]> {
    const envs = stringsOf(props, "envs");
    if (envs === UNKNOWN) {
        return UNKNOWN;
    }
    return envs.filter((e) => e.startsWith(TOPOLOGY.tokenEnvPrefix)).map((e) => e.split("=")[0]!);
}

/** The tokens a live-config command writes (its BOTTLE_TOKENS, a JSON object), as [name, value]. */
function liveTokens(props: Record<string, any>): Maybe<{ role: unknown; entries: [string, string][] } | undefined> {
    const env = environmentOf(props);
    if (env === UNKNOWN) {
        return UNKNOWN;
    }
    const json = env[TOPOLOGY.liveTokensEnv];
    if (typeof json !== "string") {
        return undefined;
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(json);
    } catch {
        return { role: env.BOTTLE_ROLE, entries: [] };
    }
    const entries = isRecord(parsed) ? Object.entries(parsed).map(([k, v]) => [k, String(v)] as [string, string]) : [];
    return { role: env.BOTTLE_ROLE, entries };
}

/** Upload paths of a container that may hold a CA private key. */
function keyUploadPaths(container: ResourceView, resources: readonly ResourceView[], role: string | undefined): string[] {
    if (role === ROLES.egressProxy) {
        return [TOPOLOGY.egressProxyCaPath];
    }
    if (role === ROLES.pipelock) {
        const config = pipelockConfigOf({ container, resources });
        if (config !== UNKNOWN && !("error" in config)) {
            const tls = config.value.tls_interception;
            if (isRecord(tls) && typeof tls.ca_key === "string") {
                return [tls.ca_key];
            }
        }
    }
    return [];
}

/** True when a file mode string ("0600") grants nothing to group or others. */
function isOwnerOnly(mode: string | undefined): boolean {
    return mode !== undefined && /^0?[0-7]{3}$/.test(mode) && (parseInt(mode, 8) & 0o077) === 0;
}

/**
 * Token values appear only in the tokens the egress proxy's live-config command writes (its
 * secret BOTTLE_TOKENS); PEM private keys only in the egress proxy's and pipelock's CA key
 * uploads, which are owner-only (0600).
 */
export const credentialsAreSecret: StackValidationPolicy = {
    name: "credentials-are-secret",
    description:
        "Credentials reach exactly one place: the egress proxy's tokens file, written by its live-config " +
        "command from that command's secret BOTTLE_TOKENS environment variable. No container carries an " +
        "EGRESS_PROXY_TOKEN_<N> variable (the egress proxy reads its tokens file), no other command writes " +
        "tokens, and no token value appears in any other property of any resource (a label, command, " +
        "entrypoint, env var, healthcheck, rendered document, local command). Private keys appear only in " +
        "the CA bundle uploads (the egress proxy's mitmproxy-ca.pem and pipelock's tls_interception.ca_key), " +
        "with mode 0600. Anything else puts a secret where the agent, `docker inspect`, logs or plaintext " +
        "state can read it. Limitation: policies receive secrets already decrypted with no marker, so " +
        "whether BOTTLE_TOKENS is a secret Output cannot be checked here; see the pack README.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const tokens: { name: string; value: string; owner: string }[] = [];
        for (const r of args.resources.filter((x) => x.type === TYPES.container)) {
            const names = tokenEnvNames(r.props);
            for (const name of names === UNKNOWN ? [] : names) {
                reportViolation(
                    `Container '${dockerName(r)}' (role '${roleOf(r.props) ?? "none"}') has the credential variable ` +
                        `${name} in its env. Tokens reach only the egress proxy's tokens file (its live config); remove it.`,
                    r.urn,
                );
            }
        }
        for (const r of args.resources.filter((x) => x.type === TYPES.command)) {
            const live = liveTokens(r.props);
            if (live === UNKNOWN || live === undefined) {
                continue;
            }
            if (live.role !== ROLES.egressProxy) {
                reportViolation(
                    `Command '${r.name}' writes tokens (${TOPOLOGY.liveTokensEnv}) for role '${String(live.role)}'. ` +
                        `Only the egress proxy's live config may hold tokens; remove them.`,
                    r.urn,
                );
                continue;
            }
            for (const [name, value] of live.entries) {
                if (value.length >= MIN_SEARCHED_TOKEN_LENGTH) {
                    tokens.push({ name, value, owner: r.urn });
                }
            }
        }

        for (const r of args.resources) {
            const role = r.type === TYPES.container ? roleOf(r.props) : undefined;
            const keyPaths = r.type === TYPES.container ? keyUploadPaths(r, args.resources, role) : [];
            walkStrings(r.props, "", (text, path) => {
                const isOwnTokens = path === `environment.${TOPOLOGY.liveTokensEnv}` && tokens.some((t) => t.owner === r.urn);
                if (!isOwnTokens) {
                    for (const token of tokens.filter((t) => text.includes(t.value))) {
                        reportViolation(
                            `The value of ${token.name} appears in ${r.type} '${r.name}' at ${path}. Token ` +
                                `values may only be in the egress proxy's live-config ${TOPOLOGY.liveTokensEnv}; ` +
                                `remove it from ${path}.`,
                            r.urn,
                        );
                    }
                }
                if (!KEY_HOLDER_TYPES.includes(r.type) && PRIVATE_KEY_PEM.test(text)) {
                    const upload = /^uploads\[(\d+)\]\.content$/.exec(path);
                    const file = upload ? known(() => String(r.props.uploads[Number(upload[1])].file)) : UNKNOWN;
                    if (file === UNKNOWN || !keyPaths.includes(file)) {
                        reportViolation(
                            `${r.type} '${r.name}' carries a private key at ${path}. Private keys may only be ` +
                                `uploaded as the CA bundle (egress proxy: ${TOPOLOGY.egressProxyCaPath}; ` +
                                `pipelock: its tls_interception.ca_key); remove it from ${path}.`,
                            r.urn,
                        );
                    }
                }
            });
            if (r.type !== TYPES.container || keyPaths.length === 0) {
                continue;
            }
            const uploads = uploadsOf(r.props);
            for (const upload of uploads === UNKNOWN ? [] : uploads) {
                if (keyPaths.includes(upload.file) && upload.permissions !== UNKNOWN && !isOwnerOnly(upload.permissions)) {
                    reportViolation(
                        `Container '${dockerName(r)}' uploads its CA key ${upload.file} with mode ` +
                            `${upload.permissions ?? "0644 (default)"}, readable by other users. Set ` +
                            `permissions: "0600" (and owner to the process uid).`,
                        r.urn,
                    );
                }
            }
        }
    },
};

