/**
 * Agent isolation: the agent container can reach nothing but its egress proxy, and holds no lever
 * (host namespaces, capabilities, host files, the Docker socket) to climb out of its container.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    LABELS,
    ROLES,
    TYPES,
    UNKNOWN,
    arrayOf,
    bottleOf,
    containersWithRole,
    dockerName,
    isProductionStack,
    known,
    labelsOf,
    networksOf,
    roleOf,
    stringsOf,
} from "./bottle";

/** Network modes that share a host or foreign namespace instead of the container's own. */
function sharesNamespace(mode: unknown): boolean {
    return typeof mode === "string" && (mode === "host" || mode.startsWith("container:"));
}

/** Network modes that attach no user-defined network (the provider disconnects `bridge` when
 * `networksAdvanced` is set; `none` has no network at all). */
const NON_NETWORK_MODES = new Set(["bridge", "default", "none"]);

/** True when a `securityOpts` list sets no-new-privileges (Docker accepts `:` or `=`, optional `true`). */
export function setsNoNewPrivileges(opts: string[]): boolean {
    return opts.some((o) => /^no-new-privileges(?:[:=]true)?$/.test(o.trim()));
}

/** Host directories no agent may see: the system's own, and the Docker socket's. */
const SYSTEM_DIRECTORIES = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var"];

/** True for a host path in (or above) a system directory, as opposed to a project directory. */
export function isSystemHostPath(hostPath: string): boolean {
    const clean = hostPath.replace(/\/+$/, "") || "/";
    const top = `/${clean.split("/")[1] ?? ""}`;
    return clean === "/" || clean.includes("docker.sock") || SYSTEM_DIRECTORIES.includes(top);
}

/** The host directories bound into an agent container (its workspace, for local development). */
function agentHostPaths(args: { type: string; props: Record<string, any> }): string[] | typeof UNKNOWN {
    if (args.type !== TYPES.container || roleOf(args.props) !== ROLES.agent) {
        return [];
    }
    const paths = known(() => arrayOf(args.props.volumes).map((v) => v.hostPath));
    return paths === UNKNOWN ? UNKNOWN : paths.filter((p): p is string => typeof p === "string");
}

const HOST_WORKSPACE_WHY =
    "A host directory mounted as the agent's workspace lets the agent change whatever is in it, on " +
    "the engine's host, and outlives the bottle.";

/**
 * In production an agent's workspace is a volume of its own, never a host directory.
 */
export const productionAgentNoHostWorkspace: ResourceValidationPolicy = {
    name: "production-agent-no-host-workspace",
    description: `In a production stack the agent may not mount a host directory (workspace.hostPath). ${HOST_WORKSPACE_WHY}`,
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isProductionStack(args.stackTags, args.urn)) {
            args.notApplicable("not a production stack; agent-host-workspace-reviewed advises instead");
        }
        const paths = agentHostPaths(args);
        if (paths !== UNKNOWN && paths.length > 0) {
            reportViolation(`Agent container '${dockerName(args)}' mounts host directories (${paths.join(", ")}) in a production stack. Remove workspace.hostPath: the workspace is then a volume of its own.`);
        }
    },
};

/**
 * Outside production a host workspace is allowed, and pointed out.
 */
export const agentHostWorkspaceReviewed: ResourceValidationPolicy = {
    name: "agent-host-workspace-reviewed",
    description: `An agent that mounts a host directory (workspace.hostPath) is pointed out outside production. ${HOST_WORKSPACE_WHY}`,
    enforcementLevel: "advisory",
    validateResource: (args, reportViolation) => {
        if (isProductionStack(args.stackTags, args.urn)) {
            args.notApplicable("production stack; production-agent-no-host-workspace enforces instead");
        }
        const paths = agentHostPaths(args);
        if (paths !== UNKNOWN && paths.length > 0) {
            reportViolation(`Agent container '${dockerName(args)}' mounts host directories (${paths.join(", ")}): the agent can change anything in them.`);
        }
    },
};

/**
 * The agent joins only its own bottle's agent network, and that network is `internal: true`.
 */
export const agentOnlyInternalNetworks: StackValidationPolicy = {
    name: "agent-only-internal-networks",
    description:
        "The agent container must join only its own bottle's agent network, and that network must be " +
        "internal (no gateway). This is what makes the egress proxy the agent's only way out: on any " +
        "other network (a bridge with a gateway, the egress network next to pipelock, another bottle's " +
        "network) the agent could reach the internet or the second gate directly and skip the " +
        "allowlist and the credential injection.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const networksByName = new Map(
            args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), n]),
        );
        for (const agent of containersWithRole(args.resources, ROLES.agent)) {
            const name = dockerName(agent);
            const attachments = networksOf(agent.props);
            if (attachments === UNKNOWN) {
                continue;
            }
            const mode = known(() => agent.props.networkMode);
            const joined = attachments.map((a) => a.name);
            if (typeof mode === "string" && !NON_NETWORK_MODES.has(mode) && !sharesNamespace(mode)) {
                joined.push(mode);
            }
            if (joined.length === 0) {
                reportViolation(
                    `Agent container '${name}' declares no networksAdvanced, so Docker puts it on the default ` +
                        `bridge network, which has a gateway to the internet. Attach it to its bottle's ` +
                        `'${ROLES.agentNet}' network only.`,
                    agent.urn,
                );
            }
            for (const netName of joined) {
                if (netName === UNKNOWN) {
                    continue;
                }
                const network = networksByName.get(netName);
                if (network === undefined) {
                    reportViolation(
                        `Agent container '${name}' joins network '${netName}', which this stack does not ` +
                            `declare, so it cannot be shown to be internal. Attach the agent to its bottle's ` +
                            `'${ROLES.agentNet}' network only.`,
                        agent.urn,
                    );
                    continue;
                }
                const internal = known(() => network.props.internal);
                if (internal !== UNKNOWN && internal !== true) {
                    reportViolation(
                        `Agent container '${name}' joins network '${netName}', which is not internal: true ` +
                            `(it has a gateway out). Attach the agent only to its bottle's internal ` +
                            `'${ROLES.agentNet}' network.`,
                        agent.urn,
                    );
                }
                const role = roleOf(network.props);
                if (role !== ROLES.agentNet || bottleOf(network.props) !== bottleOf(agent.props)) {
                    reportViolation(
                        `Agent container '${name}' joins network '${netName}' (role '${role ?? "none"}', ` +
                            `bottle '${labelsOf(network.props).get(LABELS.bottle) ?? "none"}'). The agent may ` +
                            `join only its own bottle's '${ROLES.agentNet}' network; remove this attachment.`,
                        agent.urn,
                    );
                }
            }
        }
    },
};

/** One hardening rule of the agent container: returns the remediation sentence when violated. */
type HardeningCheck = (props: Record<string, any>) => string | undefined;

const hardeningChecks: HardeningCheck[] = [
    (p) => {
        const ports = known(() => arrayOf(p.ports).length);
        return ports !== UNKNOWN && ports > 0
            ? "publishes ports to the host; remove `ports` (nothing may connect to the agent from outside)"
            : undefined;
    },
    (p) =>
        known(() => p.publishAllPorts) === true
            ? "sets publishAllPorts; remove it (nothing may connect to the agent from outside)"
            : undefined,
    (p) => {
        const mode = known(() => p.networkMode);
        return sharesNamespace(mode)
            ? `uses networkMode '${String(mode)}', sharing another network namespace; remove networkMode`
            : undefined;
    },
    (p) => {
        const mode = known(() => p.ipcMode);
        return sharesNamespace(mode)
            ? `uses ipcMode '${String(mode)}', sharing another IPC namespace; remove ipcMode or set 'private'`
            : undefined;
    },
    (p) => {
        const mode = known(() => p.pidMode);
        return sharesNamespace(mode)
            ? `uses pidMode '${String(mode)}', sharing another PID namespace; remove pidMode`
            : undefined;
    },
    (p) =>
        known(() => p.usernsMode) === "host"
            ? "uses usernsMode 'host', which turns off user-namespace remapping; remove usernsMode"
            : undefined,
    (p) =>
        known(() => p.privileged) === true
            ? "is privileged (full access to host devices and kernel); remove `privileged`"
            : undefined,
    (p) => {
        const adds = known(() => arrayOf(p.capabilities?.adds).map(String));
        return adds !== UNKNOWN && adds.length > 0
            ? `adds capabilities [${adds.join(", ")}]; remove capabilities.adds and keep drops: ["ALL"]`
            : undefined;
    },
    (p) => {
        const drops = known(() => arrayOf(p.capabilities?.drops).map((c) => String(c).toUpperCase()));
        return drops !== UNKNOWN && !drops.includes("ALL")
            ? 'keeps Docker\'s default capabilities (NET_RAW, CHOWN, SETUID...); set capabilities.drops: ["ALL"]'
            : undefined;
    },
    (p) => {
        const devices = known(() => arrayOf(p.devices).length);
        return devices !== UNKNOWN && devices > 0 ? "maps host devices; remove `devices`" : undefined;
    },
    (p) => {
        const mounts = known(() => arrayOf(p.mounts).map((m) => ({ type: String(m.type), source: m.source })));
        if (mounts === UNKNOWN) {
            return undefined;
        }
        const hostMounts = mounts.filter((m) => m.type !== "volume" && m.type !== "tmpfs");
        return hostMounts.length > 0
            ? `mounts host paths (${hostMounts.map((m) => `${m.type}:${String(m.source)}`).join(", ")}), ` +
                  "which can expose the Docker socket or host files; use a named volume or tmpfs instead"
            : undefined;
    },
    (p) => {
        const volumes = known(() =>
            arrayOf(p.volumes).map((v) => ({ hostPath: v.hostPath, fromContainer: v.fromContainer })),
        );
        if (volumes === UNKNOWN) {
            return undefined;
        }
        const bad = volumes.filter((v) => v.fromContainer || (typeof v.hostPath === "string" && isSystemHostPath(v.hostPath)));
        return bad.length > 0
            ? `has volumes bound from the host's system directories or another container ` +
                  `(${bad.map((v) => String(v.hostPath ?? `from ${v.fromContainer}`)).join(", ")}), which can expose ` +
                  "the Docker socket or host files; use a named volume (volumeName), or a project directory as the workspace"
            : undefined;
    },
    (p) => {
        const opts = stringsOf(p, "securityOpts");
        if (opts === UNKNOWN) {
            return undefined;
        }
        return setsNoNewPrivileges(opts)
            ? undefined
            : 'does not set no-new-privileges; add "no-new-privileges:true" to securityOpts';
    },
    (p) => {
        const opts = stringsOf(p, "securityOpts");
        if (opts === UNKNOWN) {
            return undefined;
        }
        const unconfined = opts.filter((o) => /^(seccomp|apparmor)[:=]unconfined$/.test(o.trim()));
        return unconfined.length > 0
            ? `turns off kernel confinement (${unconfined.join(", ")}); remove it from securityOpts`
            : undefined;
    },
];

/**
 * The agent container holds no privilege that lets a compromised agent leave its container.
 */
export const agentContainerHardened: ResourceValidationPolicy = {
    name: "agent-container-hardened",
    description:
        "The agent container must not publish ports, share the host's network/IPC/PID/user namespaces, " +
        "run privileged, add Linux capabilities (and must drop all of Docker's defaults), map devices, or " +
        "mount host paths (in particular the Docker socket), and it must set no-new-privileges. The agent runs untrusted, model-generated " +
        "code; any one of these gives that code a way around the network isolation (or onto the host) " +
        "that the rest of the bottle relies on.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.container || roleOf(args.props) !== ROLES.agent) {
            return;
        }
        const name = dockerName(args);
        for (const check of hardeningChecks) {
            const problem = check(args.props);
            if (problem !== undefined) {
                reportViolation(`Agent container '${name}' ${problem}.`);
            }
        }
    },
};
