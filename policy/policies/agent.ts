/**
 * Agent isolation: the agent container can reach nothing but its egress proxy, and mounts a host
 * directory only outside production. (Its hardening is every container's: workloads.ts.)
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { LABELS, ROLES, TYPES } from "../lib/vocabulary";
import { UNKNOWN, arrayOf, known } from "../lib/props";
import { networksJoined, networksOf } from "../lib/docker";
import { bottleOf, labelsOf, roleOf } from "../lib/labels";
import { containersWithRole, dockerName } from "../lib/resources";
import { isProductionStack } from "../lib/production";

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
      reportViolation(
        `Agent container '${dockerName(args)}' mounts host directories (${paths.join(", ")}) in a production stack. Remove workspace.hostPath: the workspace is then a volume of its own.`,
      );
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
      reportViolation(
        `Agent container '${dockerName(args)}' mounts host directories (${paths.join(", ")}): the agent can change anything in them.`,
      );
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
    const networksByName = new Map(args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), n]));
    for (const agent of containersWithRole(args.resources, ROLES.agent)) {
      const name = dockerName(agent);
      const attachments = networksOf(agent.props);
      if (attachments === UNKNOWN) {
        continue;
      }
      const joined = networksJoined(
        attachments,
        known(() => agent.props.networkMode),
      );
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
