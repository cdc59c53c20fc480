/**
 * Network topology: the agent and egress networks have no gateway, and pipelock is the only
 * container with a route to the outside.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PIPELOCK_ROLES, ROLES, TYPES, UNKNOWN, dockerName, known, networksOf, roleOf } from "./bottle";

const INNER_NETWORK_ROLES: readonly string[] = [ROLES.agentNet, ROLES.egressNet];
// Without it the bridge keeps an address on the host, through which containers on an internal
// network reach every service the host listens on (moby/moby#47356).
const NO_HOST_ADDRESS_OPTION = "com.docker.network.bridge.inhibit_ipv4";

/**
 * The agent and egress networks of every bottle are `internal: true` and give the host no
 * address on them.
 */
export const innerNetworksInternal: ResourceValidationPolicy = {
    name: "agent-and-egress-networks-internal",
    description:
        "A bottle's agent network and egress network must be internal (created without a gateway) and " +
        "must give the host no address on them (bridge option inhibit_ipv4). Their lack of a route out is " +
        "what physically forces the agent through the egress proxy and the egress proxy through pipelock; " +
        "a gateway on either lets traffic skip a gate, and a host address lets it reach the host's services.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.network) {
            return;
        }
        const role = roleOf(args.props);
        if (role === undefined || !INNER_NETWORK_ROLES.includes(role)) {
            return;
        }
        const internal = known(() => args.props.internal);
        if (internal !== UNKNOWN && internal !== true) {
            reportViolation(
                `Network '${dockerName(args)}' (role '${role}') is not internal, so it has a gateway to the ` +
                    `outside. Set internal: true on it.`,
            );
        }
        const noHostAddress = known(() => (args.props.options as Record<string, unknown> | undefined)?.[NO_HOST_ADDRESS_OPTION]);
        if (noHostAddress !== UNKNOWN && noHostAddress !== "true") {
            reportViolation(
                `Network '${dockerName(args)}' (role '${role}') gives the host an address on it, through which ` +
                    `its containers reach the host's own services. Set options ` +
                    `{ "${NO_HOST_ADDRESS_OPTION}": "true" } on it.`,
            );
        }
    },
};

/**
 * Every container attached to a network with a way out is one of the bottle's pipelocks.
 */
export const onlyPipelockReachesOutside: StackValidationPolicy = {
    name: "only-pipelock-reaches-outside",
    description:
        "The only containers on a non-internal network (one with a gateway: the outbound network, " +
        "Docker's default bridge, the host network, or any network this stack does not declare) must be " +
        "the bottle's pipelocks (pipelock, and pipelock-bulk for the bulk lane). Pipelock is the last gate " +
        "and the only component that may dial the internet; an egress proxy or agent with its own way " +
        "out bypasses it.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const networks = args.resources.filter((r) => r.type === TYPES.network);
        const internalByName = new Map(networks.map((n) => [dockerName(n), known(() => n.props.internal)]));
        for (const container of args.resources.filter((r) => r.type === TYPES.container)) {
            const role = roleOf(container.props);
            if (role !== undefined && PIPELOCK_ROLES.includes(role)) {
                continue;
            }
            const name = dockerName(container);
            const attachments = networksOf(container.props);
            const mode = known(() => container.props.networkMode);
            if (attachments === UNKNOWN || mode === UNKNOWN) {
                continue;
            }
            const outside: string[] = [];
            if (mode === "host") {
                outside.push("the host network (networkMode 'host')");
            } else if (typeof mode === "string" && !["bridge", "default", "none"].includes(mode)) {
                attachments.push({ name: mode, aliases: [] });
            } else if (attachments.length === 0 && mode !== "none") {
                outside.push("Docker's default bridge (no networksAdvanced)");
            }
            for (const attachment of attachments) {
                if (attachment.name === UNKNOWN) {
                    continue;
                }
                const internal = internalByName.get(attachment.name);
                if (internal === undefined) {
                    outside.push(`'${attachment.name}' (not declared in this stack)`);
                } else if (internal !== UNKNOWN && internal !== true) {
                    outside.push(`'${attachment.name}' (not internal)`);
                }
            }
            for (const where of outside) {
                reportViolation(
                    `Container '${name}' (role '${role ?? "none"}') is on ${where}, which has a way out; only ` +
                        `the bottle's pipelocks may be. Attach it to internal networks only (the egress proxy to its ` +
                        `bottle's '${ROLES.agentNet}' and '${ROLES.egressNet}', the agent to '${ROLES.agentNet}').`,
                    container.urn,
                );
            }
        }
    },
};
