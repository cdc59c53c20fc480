/**
 * pipelock as a gate, not a logger: strict mode, enforcing, and scanning what leaves.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { isDeepStrictEqual } from "node:util";
import { PIPELOCK_ROLES, ROLES, TOPOLOGY, TYPES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, envValue, isRecord, known } from "../lib/props";
import { kindOf } from "../lib/kubernetes";
import { bottleOfResource } from "../lib/labels";
import { type ResourceView, declaringBottleStack, inBottle, objectName, workloadsWithRole } from "../lib/resources";
import { workloadEnvOf } from "../lib/workloads";
import { declaredDocumentsOf, pipelockConfigOf, pipelockDocument, workloadFileOf } from "../lib/documents";

/** One rule over pipelock.yaml: returns the problem and its fix when violated. */
type ConfigRule = (config: Record<string, unknown>) => string | undefined;

/** A nested mapping of the config, or an empty one when absent. */
function section(config: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = config[key];
  return isRecord(value) ? value : {};
}

/** The rules every pipelock document must keep; `interception` only the inspecting pipelock's (pipelock-bulk's is off by design). */
const rules: { rule: ConfigRule; interception?: true }[] = [
  {
    rule: (c) =>
      c.mode === "strict"
        ? undefined
        : `sets mode '${String(c.mode ?? "(unset)")}'; only strict mode enforces api_allowlist. Set mode: strict`,
  },
  {
    rule: (c) =>
      c.enforce === false ? "sets enforce: false, so it only logs what it would block. Remove it or set enforce: true" : undefined,
  },
  {
    interception: true,
    rule: (c) =>
      section(c, "tls_interception").enabled === true
        ? undefined
        : "does not enable tls_interception, so it cannot scan HTTPS request bodies. Set " +
          "tls_interception.enabled: true with the bottle's CA (ca_cert, ca_key)",
  },
  {
    rule: (c) => {
      const scanning = section(c, "request_body_scanning");
      return scanning.enabled === false || scanning.action !== "block"
        ? `has request_body_scanning enabled=${String(scanning.enabled ?? "(default)")}, ` +
            `action=${String(scanning.action ?? "(unset)")}: a leak found in a request would not be ` +
            "stopped. Set request_body_scanning.enabled: true and action: block"
        : undefined;
    },
  },
  {
    rule: (c) =>
      section(c, "request_body_scanning").scan_headers === false
        ? "sets request_body_scanning.scan_headers: false, so secrets in headers pass unscanned. " +
          "Remove it (exempt only the header names the egress proxy injects, via sensitive_headers)"
        : undefined,
  },
  {
    rule: (c) => {
      const dlp = section(c, "dlp");
      return dlp.include_defaults === false
        ? "sets dlp.include_defaults: false, so pipelock's own secret patterns are off. Remove it"
        : undefined;
    },
  },
];

/** The problems of one pipelock document of `role` (pipelock or pipelock-bulk). */
export function pipelockDocumentProblems(role: string, config: Record<string, unknown>): string[] {
  return rules
    .filter((r) => role === ROLES.pipelock || r.interception === undefined)
    .map((r) => r.rule(config))
    .filter((p): p is string => p !== undefined);
}

/**
 * Every pipelock document is strict, enforcing and blocking, judged where it is declared: the
 * stdin of its live-config command, its ConfigMap's key. (That the pipelock runs from that
 * document is gates-load-the-declared-documents'.)
 */
export const pipelockStrictEnforcing: ResourceValidationPolicy = {
  name: "pipelock-strict-enforcing",
  description:
    "Every pipelock document of a bottle (pipelock.yaml, pipelock-bulk.yaml: the stdin of its live-config " +
    "command on Docker, its ConfigMap's key on Kubernetes) must set mode: strict (the only mode that " +
    "enforces api_allowlist), keep enforce on, keep pipelock's own DLP patterns, and block - not just warn " +
    "about - requests whose body or headers carry secrets; pipelock's also intercepts TLS. A document " +
    "that is not a YAML mapping is a violation. Pipelock is the independent second gate: in audit, " +
    "balanced or warn-only modes it records a leak instead of stopping it.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    for (const document of declaredDocumentsOf(args)) {
      if (!PIPELOCK_ROLES.includes(document.role) || document.text === UNKNOWN) {
        continue;
      }
      const where = `${document.role}'s ${document.file} (${kindOf(args.type)} '${objectName(args)}')`;
      if (typeof document.text !== "string") {
        reportViolation(`${where} has no document: a gate whose rules cannot be read is not a gate. Declare the rendered document.`);
        continue;
      }
      const parsed = pipelockDocument(document.text);
      if ("error" in parsed) {
        reportViolation(`${where} ${parsed.error}. Declare the document the program renders.`);
        continue;
      }
      for (const problem of pipelockDocumentProblems(document.role, parsed.value)) {
        reportViolation(`${where} ${problem}.`);
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

/** The settings in which pipelock-bulk differs from its bottle's pipelock by design. */
const BULK_OWN_SETTINGS: readonly string[] = ["tls_interception", "scan_api"];

/**
 * pipelock-bulk is its bottle's pipelock in every rule, without interception, with the scan API
 * through which the egress proxy has it read what the bulk lane carries.
 */
export const pipelockBulkIsPipelockUnintercepted: StackValidationPolicy = {
  name: "pipelock-bulk-is-pipelock-unintercepted",
  description:
    "A bottle's pipelock-bulk (the bulk lane: it tunnels downloads and git's traffic without reading " +
    "them) must run from its rendered config, and that config must be its bottle's pipelock's in every " +
    "setting but two: tls_interception (off: it does not read what it tunnels) and scan_api, which must " +
    "listen with its url and dlp scans on (the egress proxy has it read each bulk request's URL, " +
    "sensitive headers and git free text before sending it). Any other difference is a second way out " +
    "with other rules: a wider allowlist, weaker DLP, or no enforcement at all.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const pipelocks = workloadsWithRole(args.resources, ROLES.pipelock);
    for (const bulk of workloadsWithRole(args.resources, ROLES.pipelockBulk)) {
      const name = objectName(bulk);
      const config = pipelockConfigOf({ container: bulk, resources: args.resources });
      if (config === UNKNOWN) {
        continue;
      }
      if ("error" in config) {
        reportViolation(
          `pipelock-bulk '${name}' ${config.error}. Start it with --config pointing at its rendered pipelock-bulk.yaml.`,
          bulk.urn,
        );
        continue;
      }
      const bottle = bottleOfResource(bulk);
      const pipelock = inBottle(pipelocks, bottle);
      if (pipelock === undefined) {
        reportViolation(
          `pipelock-bulk '${name}' has no pipelock in its bottle ('${bottle ?? "unlabelled"}') whose rules it must share. ` +
            "Declare the bottle's pipelock with the same bot-bottle.stack and bot-bottle.bottle labels.",
          bulk.urn,
        );
        continue;
      }
      const base = pipelockConfigOf({ container: pipelock, resources: args.resources });
      if (base === UNKNOWN) {
        continue;
      }
      if ("error" in base) {
        reportViolation(`pipelock-bulk '${name}' cannot be compared with its bottle's pipelock, which ${base.error}.`, bulk.urn);
        continue;
      }
      const keys = [...new Set([...Object.keys(config.value), ...Object.keys(base.value)])].filter((k) => !BULK_OWN_SETTINGS.includes(k));
      const differing = keys.filter((k) => !isDeepStrictEqual(config.value[k], base.value[k])).sort();
      if (differing.length > 0) {
        reportViolation(
          `pipelock-bulk '${name}' (${config.path}) differs from its bottle's pipelock (${base.path}) in ` +
            `${differing.join(", ")}: its tunnels would leave under other rules. Render both from the same ` +
            "bottle: only tls_interception and scan_api may differ.",
          bulk.urn,
        );
      }
      const scanApi = section(config.value, "scan_api");
      const kinds = section(scanApi, "kinds");
      if (typeof scanApi.listen !== "string" || scanApi.listen === "" || kinds.url === false || kinds.dlp === false) {
        reportViolation(
          `pipelock-bulk '${name}' (${config.path}) has no scan API with its url and dlp scans on, through which the ` +
            "egress proxy has it check what the bulk lane carries. Set scan_api.listen (the egress proxy's " +
            "EGRESS_PROXY_SCAN_API) and leave scan_api.kinds.url and .dlp on.",
          bulk.urn,
        );
      }
    }
  },
};

/** A `tls` SelfSignedCert declared in the same BottleStack as `resource`, with its certificate and key when known. */
function bottleCertificates(
  resource: ResourceView,
  resources: readonly ResourceView[],
): Maybe<{ cert: ResourceView; certPem: string; keyPem: unknown }[]> {
  const bottle = declaringBottleStack(resource);
  const out: { cert: ResourceView; certPem: string; keyPem: unknown }[] = [];
  for (const cert of resources.filter(
    (r) => r.type === TYPES.selfSignedCert && bottle !== undefined && declaringBottleStack(r)?.urn === bottle.urn,
  )) {
    const certPem = known(() => cert.props.certPem as unknown);
    if (typeof certPem !== "string") {
      return UNKNOWN; // made at up; absent only from an offline plan
    }
    out.push({ cert, certPem, keyPem: known(() => cert.props.privateKeyPem as unknown) });
  }
  return out;
}

/**
 * pipelock intercepts with its own bottle's CA (certificate and key), and the egress proxy
 * trusts that CA upstream.
 */
export const pipelockInterceptsWithItsBottlesCa: StackValidationPolicy = {
  name: "pipelock-intercepts-with-its-bottles-ca",
  description:
    "Pipelock's tls_interception.ca_cert and ca_key must be the certificate and key of a CA its own BottleStack " +
    "declares (a tls SelfSignedCert of that bottle), and the egress proxy's upstream CA (EGRESS_PROXY_UPSTREAM_CA) " +
    "that same certificate. Another bottle's CA, or one from outside the stack, is a key someone else holds: " +
    "whoever has it can stand in for pipelock on the egress proxy's upstream leg. Decided at up (the " +
    "certificates are made then).",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const proxies = workloadsWithRole(args.resources, ROLES.egressProxy);
    for (const pipelock of workloadsWithRole(args.resources, ROLES.pipelock)) {
      const config = pipelockConfigOf({ container: pipelock, resources: args.resources });
      const tls = config === UNKNOWN || "error" in config ? undefined : section(config.value, "tls_interception");
      if (tls === undefined || tls.enabled !== true || typeof tls.ca_cert !== "string" || typeof tls.ca_key !== "string") {
        continue; // gates-load-the-declared-documents and pipelock-strict-enforcing judge these
      }
      const name = `Pipelock '${objectName(pipelock)}'`;
      const gate = { container: pipelock, resources: args.resources };
      const cert = workloadFileOf(gate, tls.ca_cert);
      const key = workloadFileOf(gate, tls.ca_key);
      const certs = bottleCertificates(pipelock, args.resources);
      if (cert === UNKNOWN || key === UNKNOWN || certs === UNKNOWN) {
        continue;
      }
      const missing = "error" in cert ? cert.error : "error" in key ? key.error : undefined;
      if (missing !== undefined || "error" in cert || "error" in key) {
        reportViolation(
          `${name} ${missing}: it intercepts with no CA of its bottle. Give it its bottle's pipelock CA there.`,
          pipelock.urn,
        );
        continue;
      }
      const own = certs.find((c) => c.certPem.trim() === cert.content.trim());
      if (own === undefined) {
        reportViolation(
          `${name} intercepts with the certificate at ${tls.ca_cert}, which is no CA its BottleStack declares. Give it its bottle's pipelock CA.`,
          pipelock.urn,
        );
        continue;
      }
      if (typeof own.keyPem === "string" && own.keyPem.trim() !== key.content.trim()) {
        reportViolation(`${name}'s key at ${tls.ca_key} is not the key of its CA '${own.cert.name}'. Give it that CA's key.`, pipelock.urn);
      }
      const proxy = inBottle(proxies, bottleOfResource(pipelock));
      const envs = proxy === undefined ? UNKNOWN : workloadEnvOf(proxy);
      if (proxy === undefined || envs === UNKNOWN) {
        continue;
      }
      const upstreamCa = envValue(envs, TOPOLOGY.upstreamCaEnv);
      const trusted =
        upstreamCa === undefined
          ? { error: `sets no ${TOPOLOGY.upstreamCaEnv}` }
          : workloadFileOf({ container: proxy, resources: args.resources }, upstreamCa);
      if (trusted !== UNKNOWN && ("error" in trusted || trusted.content.trim() !== cert.content.trim())) {
        reportViolation(
          `Egress proxy '${objectName(proxy)}' ${"error" in trusted ? trusted.error : `trusts at ${upstreamCa} a certificate other than its pipelock's CA`}: ` +
            `its upstream leg must accept exactly what its bottle's pipelock signs. Give it pipelock's CA certificate as ${TOPOLOGY.upstreamCaEnv}.`,
          proxy.urn,
        );
      }
    }
  },
};
