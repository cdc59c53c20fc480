/**
 * What the gates let through: no host pattern wide enough to cover the open internet, and both
 * gates allowing exactly the same hosts.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { parse as parseHost } from "tldts";
import { ROLES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, isRecord } from "../lib/props";
import { bottleOfResource, roleOfResource } from "../lib/labels";
import { inBottle, objectName, workloadsWithRole } from "../lib/resources";
import {
  type DocumentRead,
  apiAllowlistOf,
  auditModeOf,
  credentialSourcesOf,
  mintHostsOf,
  pipelockConfigOf,
  routeHostsOf,
} from "../lib/documents";
import { unknownRouteKeys } from "../lib/route-keys";
import { productionOnly, proxiesWithRoutes } from "../lib/proxies";

/**
 * Why a host pattern is too broad, or undefined when it is acceptable. A wildcard is acceptable
 * only as a leading `*.` label under a registrable domain (`*.example.com`); the public suffix
 * list (ICANN and private sections, via tldts) decides what is registrable, so `*.com`,
 * `*.co.uk` and `*.github.io` (anyone can own a name there) are all refused.
 */
export function broadWildcardProblem(host: string): string | undefined {
  if (host.trim() === "*") {
    return "is a bare '*', which allows every host on the internet";
  }
  if (!host.includes("*")) {
    return undefined;
  }
  const base = host.slice(2);
  if (!host.startsWith("*.") || base.includes("*")) {
    return "uses a wildcard other than a single leading '*.' label";
  }
  const parsed = parseHost(base, { allowPrivateDomains: true });
  if (parsed.isIp) {
    return "puts a wildcard in front of an IP address";
  }
  if (parsed.domain === null) {
    return `covers every domain under '${base}', which is at or above a public suffix (anyone can register a name there)`;
  }
  return undefined;
}

/**
 * No route of the egress proxy and no pipelock allowlist entry is a bare `*` or a wildcard at or
 * above a public suffix.
 */
export const routesNoBroadWildcards: StackValidationPolicy = {
  name: "routes-no-broad-wildcards",
  description:
    "No egress-proxy route host and no pipelock api_allowlist entry may be a bare '*' or a wildcard " +
    "at or above a public suffix ('*.com', '*.co.uk', '*.github.io'). Such a pattern allows hosts " +
    "anyone can register, which turns the allowlist into an exfiltration channel to an " +
    "attacker-controlled server.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const gates = [ROLES.egressProxy, ROLES.pipelock, ROLES.pipelockBulk].flatMap((role) => workloadsWithRole(args.resources, role));
    for (const container of gates) {
      const gate = { container, resources: args.resources };
      const name = objectName(container);
      let read: Maybe<DocumentRead<string[]>>;
      let what: string;
      if (roleOfResource(container) === ROLES.egressProxy) {
        read = routeHostsOf(gate);
        what = "route host";
      } else {
        const config = pipelockConfigOf(gate);
        read = config === UNKNOWN || "error" in config ? config : { path: config.path, value: apiAllowlistOf(config.value) };
        what = "api_allowlist entry";
      }
      if (read === UNKNOWN) {
        continue;
      }
      if ("error" in read) {
        reportViolation(
          `Cannot check the ${what}s of '${name}': it ${read.error}. Deploy the rendered document ` +
            `the container is configured to read.`,
          container.urn,
        );
        continue;
      }
      for (const host of read.value) {
        const problem = broadWildcardProblem(host);
        if (problem !== undefined) {
          reportViolation(
            `'${name}' ${what} '${host}' in ${read.path} ${problem}. List the exact hosts the agent ` +
              `needs (e.g. 'api.example.com'), or a wildcard under one registrable domain ` +
              `('*.example.com').`,
            container.urn,
          );
        }
      }
    }
  },
};

/**
 * For every bottle, the egress proxy's route hosts and pipelock's `api_allowlist` are the same set.
 */
export const gatesAllowSameHosts: StackValidationPolicy = {
  name: "gates-allow-same-hosts",
  description:
    "Every host in a bottle's egress-proxy routes must be in its pipelock's api_allowlist, and " +
    "pipelock must allow nothing else but the hosts where the egress proxy mints its credential sources' credentials. The two gates are meant to be independent checks of the same " +
    "decision: a host only one gate knows is either broken (pipelock blocks a declared route) or " +
    "guarded by one gate instead of two.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const pipelocks = workloadsWithRole(args.resources, ROLES.pipelock);
    for (const proxy of workloadsWithRole(args.resources, ROLES.egressProxy)) {
      const bottle = bottleOfResource(proxy);
      const pipelock = inBottle(pipelocks, bottle);
      if (pipelock === undefined) {
        continue; // egress-proxy-chains-through-pipelock reports the missing pipelock
      }
      const routes = routeHostsOf({ container: proxy, resources: args.resources });
      const sources = credentialSourcesOf({ container: proxy, resources: args.resources });
      const config = pipelockConfigOf({ container: pipelock, resources: args.resources });
      if (routes === UNKNOWN || config === UNKNOWN || sources === UNKNOWN || "error" in routes || "error" in config || "error" in sources) {
        continue; // routes-no-broad-wildcards reports documents it cannot read
      }
      const allowlist = new Set(apiAllowlistOf(config.value));
      const hosts = new Set(routes.value);
      // The egress proxy's own requests: where it mints the credentials of its sources.
      const mintHosts = mintHostsOf(sources.value);
      for (const host of mintHosts) hosts.add(host);
      const onlyRoutes = [...hosts].filter((h) => !allowlist.has(h));
      const onlyPipelock = [...allowlist].filter((h) => !hosts.has(h));
      if (onlyRoutes.length > 0) {
        reportViolation(
          `Bottle '${bottle}': route hosts [${onlyRoutes.join(", ")}] of '${objectName(proxy)}' are not ` +
            `in pipelock's api_allowlist (${config.path}). Render api_allowlist from the same ` +
            `routes so both gates allow the same hosts.`,
          proxy.urn,
        );
      }
      if (onlyPipelock.length > 0) {
        reportViolation(
          `Bottle '${bottle}': pipelock '${objectName(pipelock)}' allows [${onlyPipelock.join(", ")}], ` +
            `which no egress-proxy route declares and no credential source mints at. Remove them from api_allowlist ` +
            `(or declare them as routes) so both gates allow the same hosts.`,
          pipelock.urn,
        );
      }
    }
  },
};

/**
 * Every key of every route is one the pack judges or has decided not to (lib/route-keys.ts).
 */
export const routesKeysKnown: StackValidationPolicy = {
  name: "routes-keys-known",
  description:
    "Every key of every route in the egress proxy's routes.yaml is one this policy pack knows (it judges it, or " +
    "has decided it needs no judging). A key it does not know may allow what none of its policies look at: the " +
    "pack is older than the program that rendered the routes.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const { proxy, path, routes } of proxiesWithRoutes(args.resources)) {
      for (const route of routes) {
        const unknown = unknownRouteKeys(route);
        if (unknown.length > 0) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' has a route to ${String(route.host)} with ${unknown.join(", ")} (${path}), ` +
              "which this policy pack does not know and so cannot judge. Use the policy pack of the same bot-bottle " +
              "version as the program.",
            proxy.urn,
          );
        }
      }
    }
  },
};

/**
 * A route that lets its credential travel in plain HTTP (`insecure_cleartext_ports`) is
 * flagged: anyone on the path between pipelock and the host can read the credential.
 */
export const credentialsOnlyOverTls: StackValidationPolicy = {
  name: "credentials-only-over-tls",
  description:
    "The egress proxy injects credentials only into requests inside TLS, unless a route lists " +
    "insecure_cleartext_ports (stack config: insecureCleartextPorts). On those ports the credential " +
    "crosses the network in plain text, readable by anyone on the path to the host.",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    for (const { proxy, routes } of proxiesWithRoutes(args.resources)) {
      for (const route of routes) {
        const ports = route.insecure_cleartext_ports;
        if (Array.isArray(ports) && ports.length > 0) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' sends the credential of ${String(route.host)} in plain HTTP ` +
              `on port(s) ${ports.join(", ")}. Use HTTPS and remove insecureCleartextPorts from the route.`,
            proxy.urn,
          );
        }
      }
    }
  },
};

/**
 * Audit mode (the egress proxy lets through what no route covers, to learn routes) never runs in
 * production.
 */
export const productionNoAuditMode: StackValidationPolicy = {
  name: "production-no-audit-mode",
  description:
    "In a production stack no bottle is in audit mode (auditMode: true), in which the egress proxy lets " +
    "through whatever no route covers and only logs it: the first gate would not enforce the reviewed routes.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    productionOnly(args, "not a production stack (audit mode is for learning routes outside production)");
    for (const proxy of workloadsWithRole(args.resources, ROLES.egressProxy)) {
      const audit = auditModeOf({ container: proxy, resources: args.resources });
      if (audit !== UNKNOWN && !("error" in audit) && audit.value) {
        reportViolation(
          `Egress proxy '${objectName(proxy)}' runs in audit mode (${audit.path} says audit: true) in a production stack: ` +
            "it lets through what no route covers. Remove auditMode from the bottle.",
          proxy.urn,
        );
      }
    }
  },
};

/**
 * In production, a reviewer sees which routes send traffic on the bulk lane, past pipelock's own
 * reading.
 */
export const productionBulkLaneReviewed: StackValidationPolicy = {
  name: "production-bulk-lane-reviewed",
  description:
    "In a production stack, routes whose downloads or git traffic take the bulk lane are pointed out. " +
    "On that lane pipelock-bulk checks the host and streams the bytes: pipelock reads the URL, the " +
    "sensitive headers and git's free text only because the egress proxy sends them to its scan API, " +
    "reads a text answer after it has reached the agent, and never reads a pushed pack. That is no " +
    "weaker than the inspect lane against an agent (pipelock's answer scanning only reports by default, " +
    "and nothing can read inside a pack), but it is one gate deep against a compromised egress proxy. " +
    "Set bulk: false on routes whose hosts must see nothing pipelock did not read itself.",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    productionOnly(args);
    for (const { proxy, path, routes } of proxiesWithRoutes(args.resources)) {
      const bulk = routes
        .filter((route) => Array.isArray(route.bulk) && route.bulk.length > 0)
        .map((route) => `${String(route.host)} (${(route.bulk as unknown[]).map(String).join(", ")})`);
      if (bulk.length > 0) {
        reportViolation(
          `Egress proxy '${objectName(proxy)}' sends on the bulk lane the traffic of ${bulk.join("; ")} (${path}): ` +
            "pipelock-bulk streams it, pipelock reads it through its scan API. Set bulk: false on any of these routes " +
            "that must be read by pipelock itself.",
          proxy.urn,
        );
      }
    }
  },
};

/** Branches every host has, whose push a production stack must never allow an agent. */
const PROTECTED_BRANCHES: readonly string[] = ["refs/heads/main", "refs/heads/master"];

/** A route's push rules from routes.yaml (`git.push`): undefined when it may not push; `true` is every ref. */
function pushRulesOf(route: Record<string, unknown>): { refs: string[]; delete: boolean; tags: boolean } | undefined {
  const push = isRecord(route.git) ? route.git.push : undefined;
  if (push === true) {
    return { refs: ["refs/*"], delete: true, tags: true };
  }
  if (!isRecord(push)) {
    return undefined;
  }
  return { refs: Array.isArray(push.refs) ? push.refs.map(String) : [], delete: push.delete === true, tags: push.tags === true };
}

/** Whether a push ref pattern (`*` any characters) matches `ref`. */
export function refPatternMatches(pattern: string, ref: string): boolean {
  return new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  ).test(ref);
}

/**
 * In production an agent pushes only to refs its route names, never to a protected branch.
 */
export const productionGitPushNamesRefs: StackValidationPolicy = {
  name: "production-git-push-names-refs",
  description:
    "In a production stack every git route that lets the agent push must name the refs it may push (pushRules " +
    "with refs, not push: true, which is every ref the token can write), and none of them may cover main or " +
    "master. The egress proxy holds each push to those refs; with every ref allowed, an agent can rewrite the " +
    "branches a team deploys from.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    productionOnly(args);
    for (const { proxy, path, routes } of proxiesWithRoutes(args.resources)) {
      for (const route of routes) {
        const push = pushRulesOf(route);
        const covered =
          push === undefined ? [] : PROTECTED_BRANCHES.filter((branch) => push.refs.some((pattern) => refPatternMatches(pattern, branch)));
        if (covered.length > 0) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' lets the agent push to ${covered.join(" and ")} of ${String(route.host)} ` +
              `(git.push refs ${push!.refs.join(", ")}, in ${path}). Name the agent's own refs instead: ` +
              `git: { pushRules: { refs: ["refs/heads/agent/*"] } }.`,
            proxy.urn,
          );
        }
      }
    }
  },
};

/**
 * Deleting refs and pushing tags are pointed out wherever a route allows them.
 */
export const gitPushDeletesAndTagsReviewed: StackValidationPolicy = {
  name: "git-push-deletes-and-tags-reviewed",
  description:
    "Git routes whose push rules let the agent delete refs or push tags are pointed out: a deleted branch takes " +
    "its work with it from the host, and a tag can start a release pipeline.",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    for (const { proxy, routes } of proxiesWithRoutes(args.resources)) {
      for (const route of routes) {
        const push = pushRulesOf(route);
        const what = push === undefined ? [] : [...(push.delete ? ["delete refs"] : []), ...(push.tags ? ["push tags"] : [])];
        if (what.length > 0) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' lets the agent ${what.join(" and ")} on ${String(route.host)} (${push!.refs.join(", ")}). ` +
              "Set delete: false and tags: false in git.pushRules unless the agent needs them.",
            proxy.urn,
          );
        }
      }
    }
  },
};
