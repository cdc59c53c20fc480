/**
 * pipelock as a gate, not a logger: strict mode, enforcing, and scanning what leaves.
 */
import { StackValidationPolicy } from "@pulumi/policy";
import { ROLES, UNKNOWN, isRecord, objectName, workloadsWithRole } from "./bottle";
import { pipelockConfigOf } from "./documents";

/** One rule over pipelock.yaml: returns the problem and its fix when violated. */
type ConfigRule = (config: Record<string, unknown>) => string | undefined;

/** A nested mapping of the config, or an empty one when absent. */
function section(config: Record<string, unknown>, key: string): Record<string, unknown> {
    const value = config[key];
    return isRecord(value) ? value : {};
}

const rules: ConfigRule[] = [
    (c) =>
        c.mode === "strict"
            ? undefined
            : `sets mode '${String(c.mode ?? "(unset)")}'; only strict mode enforces api_allowlist. Set mode: strict`,
    (c) =>
        c.enforce === false
            ? "sets enforce: false, so it only logs what it would block. Remove it or set enforce: true"
            : undefined,
    (c) =>
        section(c, "tls_interception").enabled === true
            ? undefined
            : "does not enable tls_interception, so it cannot scan HTTPS request bodies. Set " +
              "tls_interception.enabled: true with the bottle's CA (ca_cert, ca_key)",
    (c) => {
        const scanning = section(c, "request_body_scanning");
        return scanning.enabled === false || scanning.action !== "block"
            ? `has request_body_scanning enabled=${String(scanning.enabled ?? "(default)")}, ` +
                  `action=${String(scanning.action ?? "(unset)")}: a leak found in a request would not be ` +
                  "stopped. Set request_body_scanning.enabled: true and action: block"
            : undefined;
    },
    (c) =>
        section(c, "request_body_scanning").scan_headers === false
            ? "sets request_body_scanning.scan_headers: false, so secrets in headers pass unscanned. " +
              "Remove it (exempt only the header names the egress proxy injects, via sensitive_headers)"
            : undefined,
];

/**
 * pipelock runs from its rendered config in strict, enforcing mode with blocking DLP.
 */
export const pipelockStrictEnforcing: StackValidationPolicy = {
    name: "pipelock-strict-enforcing",
    description:
        "Pipelock must be started with its rendered pipelock.yaml (--config) and that config must set " +
        "mode: strict (the only mode that enforces api_allowlist), keep enforce on, intercept TLS, and " +
        "block - not just warn about - requests whose body or headers carry secrets. Pipelock is the " +
        "independent second gate: in audit, balanced or warn-only modes it records a leak instead of " +
        "stopping it.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        for (const pipelock of workloadsWithRole(args.resources, ROLES.pipelock)) {
            const name = objectName(pipelock);
            const config = pipelockConfigOf({ container: pipelock, resources: args.resources });
            if (config === UNKNOWN) {
                continue;
            }
            if ("error" in config) {
                reportViolation(
                    `Pipelock '${name}' ${config.error}. Start it with --config pointing at the rendered ` +
                        `pipelock.yaml in its live configuration volume.`,
                    pipelock.urn,
                );
                continue;
            }
            for (const rule of rules) {
                const problem = rule(config.value);
                if (problem !== undefined) {
                    reportViolation(`Pipelock '${name}' (${config.path}) ${problem}.`, pipelock.urn);
                }
            }
        }
    },
};

/**
 * Passthrough domains are hosts pipelock does not intercept: no request-body or header DLP and
 * no response scanning for them. Allowed (bulk downloads from package mirrors are slow and
 * capped through interception), but a reviewer should see each one.
 */
export const pipelockPassthroughReviewed: StackValidationPolicy = {
    name: "pipelock-passthrough-reviewed",
    description:
        "Hosts in pipelock's tls_interception.passthrough_domains are not intercepted: pipelock " +
        "checks only their names, so secrets in requests to them (bodies, headers) and prompt " +
        "injection in their answers go unscanned. Keep passthrough to read-only routes of hosts you " +
        "trust with what the agent could send (package mirrors).",
    enforcementLevel: "advisory",
    validateStack: (args, reportViolation) => {
        for (const pipelock of workloadsWithRole(args.resources, ROLES.pipelock)) {
            const config = pipelockConfigOf({ container: pipelock, resources: args.resources });
            if (config === UNKNOWN || "error" in config) {
                continue;
            }
            const hosts = section(config.value, "tls_interception").passthrough_domains;
            if (Array.isArray(hosts) && hosts.length > 0) {
                reportViolation(
                    `Pipelock '${objectName(pipelock)}' passes ${hosts.map(String).join(", ")} through without ` +
                        `interception: no DLP on what the agent sends there. Make sure those routes allow only ` +
                        `the methods and paths the agent needs (GET/HEAD for downloads).`,
                    pipelock.urn,
                );
            }
        }
    },
};
