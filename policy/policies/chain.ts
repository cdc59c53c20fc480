/**
 * The chain agent -> egress proxy -> pipelock: the egress proxy forwards everything through its
 * own bottle's pipelock, never straight out.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PIPELOCK_ROLES, ROLES, TOPOLOGY, TYPES } from "../lib/vocabulary";
import { UNKNOWN, envValue } from "../lib/props";
import { networksOf } from "../lib/docker";
import { isPodHolder } from "../lib/kubernetes";
import { bottleOfResource, roleOf, roleOfResource } from "../lib/labels";
import { type ResourceView, dockerName, inBottle, objectName, workloadsWithRole } from "../lib/resources";
import { workloadCommandOf, workloadEnvOf } from "../lib/workloads";

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
    const networkRoles = new Map(args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), roleOf(n.props)]));
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
      const pipelock = inBottle(pipelocks, bottle);
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
      for (const problem of aliasProblems(proxy, pipelock, TOPOLOGY.pipelockAlias, TOPOLOGY.pipelockUpstream, containers, networkRoles)) {
        reportViolation(problem.message, problem.urn);
      }
    }
  },
};

/**
 * On Docker: the egress proxy reaches `target` by `alias` on their shared egress network, where
 * the alias is the target's alone. Each problem with its message (naming `url`, what the alias
 * is for) and the resource to report it on.
 */
function aliasProblems(
  proxy: ResourceView,
  target: ResourceView,
  alias: string,
  url: string,
  containers: readonly ResourceView[],
  networkRoles: ReadonlyMap<string, string | undefined>,
): { message: string; urn: string }[] {
  const proxyNets = networksOf(proxy.props);
  const targetNets = networksOf(target.props);
  if (proxyNets === UNKNOWN || targetNets === UNKNOWN) {
    return [];
  }
  const role = roleOfResource(target);
  const shared = targetNets.filter(
    (p) =>
      p.name !== UNKNOWN &&
      p.aliases.includes(alias) &&
      networkRoles.get(p.name) === ROLES.egressNet &&
      proxyNets.some((q) => q.name === p.name),
  );
  const problems: { message: string; urn: string }[] = [];
  if (shared.length === 0 && ![...proxyNets, ...targetNets].some((n) => n.name === UNKNOWN)) {
    problems.push({
      message:
        `Egress proxy '${objectName(proxy)}' shares no '${ROLES.egressNet}' network with its ${role} ` +
        `'${dockerName(target)}' on which ${role} has the alias '${alias}', so ${url} does not reach it. ` +
        `Attach both to the bottle's '${ROLES.egressNet}' network and give ${role} the alias '${alias}' there.`,
      urn: proxy.urn,
    });
  }
  for (const net of shared) {
    for (const other of containers) {
      if (other.urn === target.urn) {
        continue;
      }
      const otherNets = networksOf(other.props);
      if (otherNets !== UNKNOWN && otherNets.some((n) => n.name === net.name && n.aliases.includes(alias))) {
        problems.push({
          message:
            `Container '${dockerName(other)}' also claims the alias '${alias}' on network '${String(net.name)}', so ` +
            `the egress proxy's ${url} may resolve to it instead of ${role}. Remove that alias from '${dockerName(other)}'.`,
          urn: other.urn,
        });
      }
    }
  }
  return problems;
}

/**
 * An egress proxy with a bulk lane sends it through its own bottle's pipelock-bulk, and has that
 * pipelock-bulk's scan API check it.
 */
export const egressProxyBulkLaneThroughPipelockBulk: StackValidationPolicy = {
  name: "egress-proxy-bulk-lane-through-pipelock-bulk",
  description:
    `An egress proxy with a bulk lane (${TOPOLOGY.bulkProxyEnv}) must send it through its own bottle's ` +
    `pipelock-bulk (${TOPOLOGY.bulkProxy}) and have that pipelock-bulk's scan API check it ` +
    `(${TOPOLOGY.scanApiEnv}=${TOPOLOGY.scanApi}); on Docker the two share the bottle's egress network, ` +
    "where the alias 'pipelock-bulk' is pipelock-bulk's alone. A bulk lane to anything else leaves the " +
    "bottle past pipelock's rules; one without the scan API goes unchecked.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const containers = args.resources.filter((r) => r.type === TYPES.container);
    const networkRoles = new Map(args.resources.filter((r) => r.type === TYPES.network).map((n) => [dockerName(n), roleOf(n.props)]));
    const bulks = workloadsWithRole(args.resources, ROLES.pipelockBulk);
    for (const proxy of workloadsWithRole(args.resources, ROLES.egressProxy)) {
      const envs = workloadEnvOf(proxy);
      if (envs === UNKNOWN) {
        continue;
      }
      const name = objectName(proxy);
      const bulkProxy = envValue(envs, TOPOLOGY.bulkProxyEnv);
      const scanApi = envValue(envs, TOPOLOGY.scanApiEnv);
      if (bulkProxy === undefined || bulkProxy === "") {
        if (scanApi !== undefined && scanApi !== "") {
          reportViolation(
            `Egress proxy '${name}' names a scan API (${TOPOLOGY.scanApiEnv}) but no bulk lane: remove ${TOPOLOGY.scanApiEnv}.`,
            proxy.urn,
          );
        }
        continue;
      }
      if (bulkProxy.replace(/\/$/, "") !== TOPOLOGY.bulkProxy) {
        reportViolation(
          `Egress proxy '${name}' sends its bulk lane to ${bulkProxy}, not its bottle's pipelock-bulk. Set ${TOPOLOGY.bulkProxyEnv}=${TOPOLOGY.bulkProxy}.`,
          proxy.urn,
        );
      }
      if (scanApi?.replace(/\/$/, "") !== TOPOLOGY.scanApi) {
        reportViolation(
          `Egress proxy '${name}' has ${TOPOLOGY.scanApiEnv}=${scanApi ?? "(unset)"}, so nothing (or something else) checks its ` +
            `bulk lane. Set ${TOPOLOGY.scanApiEnv}=${TOPOLOGY.scanApi}.`,
          proxy.urn,
        );
      }
      const bottle = bottleOfResource(proxy);
      const bulk = inBottle(bulks, bottle);
      if (bulk === undefined) {
        reportViolation(
          `Egress proxy '${name}' has a bulk lane but its bottle ('${bottle ?? "unlabelled"}') has no pipelock-bulk. ` +
            "Declare it (the program does when a route takes the bulk lane) with the bottle's labels.",
          proxy.urn,
        );
        continue;
      }
      if (proxy.type === TYPES.container && bulk.type === TYPES.container) {
        for (const problem of aliasProblems(proxy, bulk, TOPOLOGY.pipelockBulkAlias, TOPOLOGY.bulkProxy, containers, networkRoles)) {
          reportViolation(problem.message, problem.urn);
        }
      }
    }
  },
};

/**
 * The gates keep their images' entrypoints: the egress proxy's turns the upstream setting into
 * upstream mode, pipelock's is pipelock itself. A resource policy on purpose: it reads the inputs
 * the program declares. A stack policy would see a deployed container's outputs, where the
 * provider reports the image's own entrypoint as if it had been declared.
 */
export const gatesKeepImageEntrypoint: ResourceValidationPolicy = {
  name: "gates-keep-image-entrypoint",
  description:
    "No gate may override its image's entrypoint. The egress proxy's validates the configuration and " +
    `turns ${TOPOLOGY.upstreamEnv} into upstream mode through pipelock; pipelock's is the pipelock binary, ` +
    "whose --config names the document it enforces. An override could start mitmproxy without the routes " +
    "addon or the upstream, or something else in pipelock's place: the gate silently disappears.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const role = (args.type === TYPES.container || isPodHolder(args.type)) && roleOfResource(args);
    if (role !== ROLES.egressProxy && !PIPELOCK_ROLES.includes(role || "")) {
      return;
    }
    const command = workloadCommandOf(args);
    if (command !== UNKNOWN && command.entrypoint.length > 0) {
      reportViolation(
        `${role === ROLES.egressProxy ? "Egress proxy" : role} '${objectName(args)}' overrides the image's entrypoint with ` +
          `[${command.entrypoint.join(" ")}]; ${role === ROLES.egressProxy ? `the image's entrypoint is what turns ${TOPOLOGY.upstreamEnv} into upstream mode` : "the image's entrypoint is pipelock"}. ` +
          `Remove ${isPodHolder(args.type) ? `command from its '${role}' container (args are fine).` : "entrypoints."}`,
      );
    }
  },
};
