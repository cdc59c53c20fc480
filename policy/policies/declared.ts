/**
 * Each gate loads exactly the document its bottle declares: the egress proxy's routes.yaml and
 * each pipelock's pipelock.yaml, followed from the gate's own command line and environment to the
 * file it reads (lib/documents.ts), compared with the BottleStack component's declared documents (its
 * inputs, which a preview diff shows a reviewer). A document the pack cannot follow or read is a
 * violation, never a pass.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { isDeepStrictEqual } from "node:util";
import { ROLES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, known } from "../lib/props";
import { type ResourceView, declaringBottleStack, objectName, workloadsWithRole } from "../lib/resources";
import { type DocumentRead, type Gate, parseYaml, pipelockConfigOf, routesDocumentOf } from "../lib/documents";

/** Each gate's role, the component input that declares its document, and how the gate's own is read. */
const GATES: readonly { role: string; declared: string; read: (gate: Gate) => Maybe<DocumentRead<unknown>>; fix: string }[] = [
  {
    role: ROLES.egressProxy,
    declared: "routesYaml",
    read: routesDocumentOf,
    fix: "Point EGRESS_PROXY_ROUTES at the routes.yaml of its live configuration",
  },
  {
    role: ROLES.pipelock,
    declared: "pipelockYaml",
    read: pipelockConfigOf,
    fix: "Start it with --config pointing at the pipelock.yaml of its live configuration",
  },
  {
    role: ROLES.pipelockBulk,
    declared: "pipelockBulkYaml",
    read: pipelockConfigOf,
    fix: "Start it with --config pointing at the pipelock-bulk.yaml of its live configuration",
  },
];

/** The top-level keys in which two documents differ (entries of `routes` by host), for a message a reviewer can act on. */
function differences(actual: unknown, declared: unknown): string[] {
  if (
    typeof actual !== "object" ||
    actual === null ||
    typeof declared !== "object" ||
    declared === null ||
    Array.isArray(actual) ||
    Array.isArray(declared)
  ) {
    return ["(the whole document)"];
  }
  const a = actual as Record<string, unknown>;
  const d = declared as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(d)])]
    .filter((k) => !isDeepStrictEqual(a[k], d[k]))
    .sort()
    .map((k) => {
      if (k !== "routes" || !Array.isArray(a[k]) || !Array.isArray(d[k])) {
        return k;
      }
      const hosts = (list: unknown[]) => list.map((r) => String((r as { host?: unknown } | null)?.host));
      const [ah, dh] = [hosts(a[k] as unknown[]), hosts(d[k] as unknown[])];
      const added = ah.filter((h) => !dh.includes(h));
      const removed = dh.filter((h) => !ah.includes(h));
      return `routes (${[...added.map((h) => `+${h}`), ...removed.map((h) => `-${h}`)].join(", ") || "a route's settings"})`;
    });
}

/** Judges one gate: the problem, or nothing when it loads its bottle's declared document (or cannot be decided yet). */
function gateProblem(gate: ResourceView, spec: (typeof GATES)[number], resources: readonly ResourceView[]): string | undefined {
  const name = `${spec.role} '${objectName(gate)}'`;
  const read = spec.read({ container: gate, resources });
  if (read === UNKNOWN) {
    return undefined;
  }
  if ("error" in read) {
    return `${name} ${read.error}: what it enforces cannot be read, so it cannot be shown to be what the bottle declares. ${spec.fix}.`;
  }
  const bottle = declaringBottleStack(gate);
  if (bottle === undefined) {
    return `${name} is declared outside a BottleStack, so no declaration says what it must load. Declare it with the BottleStack component.`;
  }
  const declared = known(() => bottle.props[spec.declared] as unknown);
  if (declared === UNKNOWN) {
    return undefined;
  }
  if (typeof declared !== "string") {
    return `${name} loads ${read.path}, but its BottleStack '${bottle.name}' declares no ${spec.declared}. Declare the bottle with the component, which declares every gate's document.`;
  }
  const parsed = parseYaml(declared);
  const expected = "error" in parsed ? undefined : parsed.value;
  if (isDeepStrictEqual(read.value, expected)) {
    return undefined;
  }
  return (
    `${name} loads ${read.path}, which differs from what its BottleStack '${bottle.name}' declares (${spec.declared}) in ` +
    `${differences(read.value, expected).join(", ")}: the gate would enforce what no reviewer saw. Give it the declared document unchanged.`
  );
}

/**
 * Each gate (egress proxy, pipelock, pipelock-bulk) reads its document from its own live
 * configuration, and that document is the one its BottleStack declares.
 */
export const gatesLoadTheDeclaredDocuments: StackValidationPolicy = {
  name: "gates-load-the-declared-documents",
  description:
    "Each gate must load its document from its own live configuration - the egress proxy the routes.yaml " +
    "named by EGRESS_PROXY_ROUTES, each pipelock the file named by --config: a read-only volume filled by " +
    "exactly one live-config command on Docker, a key of one ConfigMap its pod projects on Kubernetes - and " +
    "that document must be exactly the one its BottleStack declares (the component's routesYaml, pipelockYaml, " +
    "pipelockBulkYaml, shown in every preview): the same routes, audit mode only where declared, the same " +
    "allowlist, passthrough hosts and CA paths. A gate whose document the pack cannot follow or read, or " +
    "that is not the declared one, enforces what no reviewer saw.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const spec of GATES) {
      for (const gate of workloadsWithRole(args.resources, spec.role)) {
        const problem = gateProblem(gate, spec, args.resources);
        if (problem !== undefined) {
          reportViolation(problem, gate.urn);
        }
      }
    }
  },
};
