/**
 * The chain agent -> egress proxy -> pipelock: the egress proxy forwards everything through its
 * own bottle's pipelock, never straight out.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    ROLES,
    TOPOLOGY,
    TYPES,
    UNKNOWN,
    bottleOfResource,
    dockerName,
    envValue,
    isPodHolder,
    networksOf,
    objectName,
    roleOf,
    roleOfResource,
    workloadCommandOf,
    workloadEnvOf,
    workloadsWithRole,
} from "./bottle";

/** Accepts the upstream URL with or without a trailing slash. */
function isPipelockUpstream(url: string | undefined): boolean {
    return url !== undefined && url.replace(/\/$/, "") === TOPOLOGY.pipelockUpstream;
}

/**
 * Each egress proxy runs in upstream mode through `http://pipelock:8888`, and the name `pipelock`
 * on the network they share resolves to that bottle's pipelock and nothing else (Docker; on
 * Kubernetes the network policies confine the egress proxy to pipelock's pods).
 */
export const egressProxyChainsThroughPipelock: StackValidationPolicy = {
    name: "egress-proxy-chains-through-pipelock",
    description:
        "The egress proxy must run in upstream mode through its own bottle's pipelock: its " +
        `${TOPOLOGY.upstreamEnv} is ${TOPOLOGY.pipelockUpstream}, it shares the bottle's egress network ` +
        "with that pipelock, and on that network the alias 'pipelock' belongs to the pipelock container " +
        "alone (on Kubernetes: the bottle has a pipelock Deployment, and the network policies make it the " +
        "egress proxy's only peer). Without this the egress proxy dials destinations itself and the second " +
        "gate (DLP, allowlist) silently sees nothing - the 'proxy bypasses pipelock' regression.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const containers = args.resources.filter((r) => r.type === TYPES.container);
        const networkRoles = new Map(
            args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), roleOf(n.props)]),
        );
        const pipelocks = workloadsWithRole(args.resources, ROLES.pipelock);
        for (const proxy of workloadsWithRole(args.resources, ROLES.egressProxy)) {
            const name = objectName(proxy);
            const envs = workloadEnvOf(proxy);
            if (envs !== UNKNOWN) {
                const upstream = envValue(envs, TOPOLOGY.upstreamEnv);
                if (!isPipelockUpstream(upstream)) {
                    reportViolation(
                        `Egress proxy '${name}' has ${TOPOLOGY.upstreamEnv}=${upstream ?? "(unset)"}, so it ` +
                            `does not forward through pipelock. Set ` +
                            `${TOPOLOGY.upstreamEnv}=${TOPOLOGY.pipelockUpstream}.`,
                        proxy.urn,
                    );
                }
            }

            const bottle = bottleOfResource(proxy);
            const pipelock = pipelocks.find((p) => bottle !== undefined && bottleOfResource(p) === bottle);
            if (pipelock === undefined) {
                reportViolation(
                    `Egress proxy '${name}' has no pipelock ${isPodHolder(proxy.type) ? "workload" : "container"} in its bottle ('${bottle ?? "unlabelled"}'). ` +
                        `Declare the bottle's pipelock with the same bot-bottle.stack and bot-bottle.bottle labels.`,
                    proxy.urn,
                );
                continue;
            }
            if (proxy.type !== TYPES.container || pipelock.type !== TYPES.container) {
                // On Kubernetes the name pipelock is the egress proxy's host alias for pipelock's
                // Service, and its network policy lets it reach pipelock's pods and nothing else
                // (kubernetes-only-pipelock-reaches-outside): no shared network to check here.
                continue;
            }
            const proxyNets = networksOf(proxy.props);
            const pipelockNets = networksOf(pipelock.props);
            if (proxyNets === UNKNOWN || pipelockNets === UNKNOWN) {
                continue;
            }
            const shared = pipelockNets.filter(
                (p) =>
                    p.name !== UNKNOWN &&
                    p.aliases.includes(TOPOLOGY.pipelockAlias) &&
                    networkRoles.get(p.name) === ROLES.egressNet &&
                    proxyNets.some((q) => q.name === p.name),
            );
            if (shared.length === 0 && ![...proxyNets, ...pipelockNets].some((n) => n.name === UNKNOWN)) {
                reportViolation(
                    `Egress proxy '${name}' shares no '${ROLES.egressNet}' network with its pipelock ` +
                        `'${dockerName(pipelock)}' on which pipelock has the alias '${TOPOLOGY.pipelockAlias}', ` +
                        `so ${TOPOLOGY.pipelockUpstream} does not reach it. Attach both to the bottle's ` +
                        `'${ROLES.egressNet}' network and give pipelock the alias '${TOPOLOGY.pipelockAlias}' there.`,
                    proxy.urn,
                );
            }
            for (const net of shared) {
                for (const other of containers) {
                    if (other.urn === pipelock.urn) {
                        continue;
                    }
                    const otherNets = networksOf(other.props);
                    if (
                        otherNets !== UNKNOWN &&
                        otherNets.some((n) => n.name === net.name && n.aliases.includes(TOPOLOGY.pipelockAlias))
                    ) {
                        reportViolation(
                            `Container '${dockerName(other)}' also claims the alias '${TOPOLOGY.pipelockAlias}' on ` +
                                `network '${String(net.name)}', so the egress proxy's upstream may resolve to it ` +
                                `instead of pipelock. Remove that alias from '${dockerName(other)}'.`,
                            other.urn,
                        );
                    }
                }
            }
        }
    },
};

/**
 * The egress proxy keeps its image's entrypoint, which is what turns the upstream setting into
 * upstream mode. A resource policy on purpose: it reads the inputs the program declares. A
 * stack policy would see a deployed container's outputs, where the provider reports the
 * image's own entrypoint as if it had been declared.
 */
export const egressProxyKeepsImageEntrypoint: ResourceValidationPolicy = {
    name: "egress-proxy-keeps-image-entrypoint",
    description:
        "The egress proxy must not override its image's entrypoint: the entrypoint validates the " +
        `configuration and turns ${TOPOLOGY.upstreamEnv} into upstream mode through pipelock. An override ` +
        "could start mitmproxy without the routes addon or without the upstream, so the gate or the " +
        "second gate silently disappears.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if ((args.type !== TYPES.container && !isPodHolder(args.type)) || roleOfResource(args) !== ROLES.egressProxy) {
            return;
        }
        const command = workloadCommandOf(args);
        if (command !== UNKNOWN && command.entrypoint.length > 0) {
            reportViolation(
                `Egress proxy '${objectName(args)}' overrides the image's entrypoint with [${command.entrypoint.join(" ")}]; ` +
                    `the image's entrypoint is what turns ${TOPOLOGY.upstreamEnv} into upstream mode. Remove ` +
                    (isPodHolder(args.type) ? `command from its '${ROLES.egressProxy}' container (args are fine).` : `entrypoints.`),
            );
        }
    },
};
