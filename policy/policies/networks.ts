/**
 * Network topology on Docker: the agent and egress networks have no gateway, pipelock is the only
 * container with a route to the outside, and every container joins exactly the networks of its
 * role's row in the topology table (lib/topology.ts).
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PIPELOCK_ROLES, ROLES, TYPES } from "../lib/vocabulary";
import { UNKNOWN, known } from "../lib/props";
import { networksJoined, networksOf } from "../lib/docker";
import { bottleOf, roleOf } from "../lib/labels";
import { dockerName } from "../lib/resources";
import { BOTTLE_TOPOLOGY } from "../lib/topology";

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

/**
 * Every container of a bottle joins only networks of its own bottle that its role's row of the
 * topology table lists.
 */
export const workloadsOnTheirNetworks: StackValidationPolicy = {
  name: "workloads-on-their-networks",
  description:
    "Every container of a Docker bottle must join only its own bottle's networks that its role's row of " +
    "the topology table lists: the agent agent-net; the egress proxy agent-net and egress-net; each " +
    "pipelock egress-net and outbound-net. A container on any other network (pipelock on agent-net, " +
    "where the agent could talk to it past every route check and credential rule of the egress proxy; " +
    "a gate on another bottle's network) opens a path the gates do not stand on. A network the stack " +
    "does not declare, or a container with no role of a bottle on a bottle's network, is a violation too.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const networks = new Map(args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), n]));
    for (const container of args.resources.filter((r) => r.type === TYPES.container)) {
      const role = roleOf(container.props);
      const row = role === undefined ? undefined : BOTTLE_TOPOLOGY[role];
      const attachments = networksOf(container.props);
      const mode = known(() => container.props.networkMode);
      if (attachments === UNKNOWN || mode === UNKNOWN) {
        continue;
      }
      const joined = networksJoined(attachments, mode);
      const name = `Container '${dockerName(container)}' (role '${role ?? "none"}')`;
      for (const netName of joined) {
        if (netName === UNKNOWN) {
          continue;
        }
        const network = networks.get(netName);
        const netRole = network === undefined ? undefined : roleOf(network.props);
        if (row === undefined) {
          if (netRole !== undefined) {
            reportViolation(
              `${name} joins the bottle network '${netName}' (role '${netRole}') but has no role of a bottle, so no row ` +
                `of the topology says it may. Remove it from the bottle's networks, or declare it as a workload of the bottle.`,
              container.urn,
            );
          }
          continue;
        }
        const fix = `Its role joins only ${row.networks.map((n) => `'${n}'`).join(" and ") || "no network"} of its own bottle; remove this attachment.`;
        if (network === undefined) {
          reportViolation(`${name} joins network '${netName}', which this stack does not declare. ${fix}`, container.urn);
        } else if (netRole === undefined || !row.networks.includes(netRole)) {
          reportViolation(
            `${name} joins network '${netName}' (role '${netRole ?? "none"}'), which is not in its role's row of the topology. ${fix}`,
            container.urn,
          );
        } else if (bottleOf(network.props) !== bottleOf(container.props)) {
          reportViolation(
            `${name} joins '${netName}', the '${netRole}' network of another bottle (${bottleOf(network.props) ?? "unlabelled"}). ${fix}`,
            container.urn,
          );
        }
      }
    }
  },
};
