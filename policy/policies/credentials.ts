/**
 * Credential confinement: token values live only in the egress proxy's environment, private keys
 * only in the two CA files that need them.
 *
 * What a policy can and cannot see (@pulumi/policy 1.21): the engine hands props to the analyzer
 * with secrets marked, but the SDK's `deserializeProperties(props, false)` (server.js, analyze and
 * analyzeStack) unwraps every secret to its plaintext and keeps no marker (pulumi/pulumi-policy#241
 * is the open request for one; only remediations get `Secret` wrappers). So a validation cannot
 * tell whether `envs` was a secret Output. What it CAN see is the plaintext itself, which makes
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
    UNKNOWN,
    dockerName,
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

/** The `EGRESS_PROXY_TOKEN_*` entries of a container's env, as [name, value]. */
function tokenEnvs(props: Record<string, any>): Maybe<[string, string][]> {
    const envs = stringsOf(props, "envs");
    if (envs === UNKNOWN) {
        return UNKNOWN;
    }
    return envs
        .filter((e) => e.startsWith(TOPOLOGY.tokenEnvPrefix))
        .map((e) => {
            const eq = e.indexOf("=");
            return eq < 0 ? [e, ""] : [e.slice(0, eq), e.slice(eq + 1)];
        });
}

/** Upload paths of a container that may hold a CA private key. */
function keyUploadPaths(props: Record<string, any>, role: string | undefined): string[] {
    if (role === ROLES.egressProxy) {
        return [TOPOLOGY.egressProxyCaPath];
    }
    if (role === ROLES.pipelock) {
        const config = pipelockConfigOf(props);
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
 * Token values appear only in the egress proxy's `EGRESS_PROXY_TOKEN_*` env; PEM private keys
 * only in the egress proxy's and pipelock's CA key uploads, which are owner-only (0600).
 */
export const credentialsAreSecret: StackValidationPolicy = {
    name: "credentials-are-secret",
    description:
        "Credentials reach exactly one place: the egress proxy's EGRESS_PROXY_TOKEN_<N> environment " +
        "variables. No other container carries such a variable, and no token value appears in any " +
        "other property of any resource (a label, command, entrypoint, other env var, healthcheck, " +
        "rendered file, local command). Private keys appear only in the CA bundle uploads " +
        "(the egress proxy's mitmproxy-ca.pem and pipelock's tls_interception.ca_key), with mode 0600. " +
        "Anything else puts a secret where the agent, `docker inspect`, logs or plaintext state can read " +
        "it. Limitation: policies receive secrets already decrypted with no marker, so whether the env " +
        "is a secret Output cannot be checked here; see the pack README.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const tokens: { name: string; value: string; owner: string }[] = [];
        for (const r of args.resources.filter((x) => x.type === TYPES.container)) {
            const entries = tokenEnvs(r.props);
            if (entries === UNKNOWN) {
                continue;
            }
            const role = roleOf(r.props);
            for (const [name, value] of entries) {
                if (role !== ROLES.egressProxy) {
                    reportViolation(
                        `Container '${dockerName(r)}' (role '${role ?? "none"}') has the credential variable ` +
                            `${name} in its env. Only the egress proxy may hold tokens; remove it.`,
                        r.urn,
                    );
                }
                if (role === ROLES.egressProxy && value.length >= MIN_SEARCHED_TOKEN_LENGTH) {
                    tokens.push({ name, value, owner: r.urn });
                }
            }
        }

        for (const r of args.resources) {
            const role = r.type === TYPES.container ? roleOf(r.props) : undefined;
            const keyPaths = keyUploadPaths(r.props, role);
            walkStrings(r.props, "", (text, path) => {
                const isOwnTokenEnv =
                    path.startsWith("envs[") && text.startsWith(TOPOLOGY.tokenEnvPrefix) &&
                    tokens.some((t) => t.owner === r.urn && text === `${t.name}=${t.value}`);
                if (!isOwnTokenEnv) {
                    for (const token of tokens.filter((t) => text.includes(t.value))) {
                        reportViolation(
                            `The value of ${token.name} appears in ${r.type} '${r.name}' at ${path}. Token ` +
                                `values may only be in the egress proxy's ${token.name} env var; remove it ` +
                                `from ${path}.`,
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

