/**
 * The offline plan as a reviewer reads it: a summary, then per bottle what its agent can reach
 * (routes with the token each injects), its images and limits, its resources and its rendered
 * files; what belongs to no bottle last. Long generated text (scripts) is shown as its size and
 * hash, and every stand-in for a value computed at `up` is marked as one.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { type Plan, type PlannedResource, SECRET } from "./plan";
import { describeCredential } from "./credential-reach";
import { describeRoute } from "./reach-diff";
import { type BottleReach, reachOfPlan } from "./reach";

const COMPONENT = "bot-bottle:index:BottleStack";
/** Longer strings (or any with a line break) are summarised: scripts, probes. */
const LONG = 160;

export function formatPlan(plan: Plan): string {
  const reach = reachOfPlan(plan);
  const owner = bottleOf(plan.resources);
  const bottles = Object.keys(reach);
  const outside = plan.resources.filter((r) => owner(r) === undefined);
  const count = (bottle: string) => plan.resources.filter((r) => owner(r) === bottle).length;
  const out = [
    `Plan of stack "${plan.stack}": ${bottles.length} bottle${bottles.length === 1 ? "" : "s"}, ${plan.resources.length} resources`,
    `  ${bottles.map((b) => `${b} (${count(b)})`).join(", ")}${outside.length ? `; outside the bottles (${outside.length})` : ""}`,
    "  Offline: no engine, no backend, no secrets. [secret] marks a secret value; <computed: ...> a value a provider makes at up.",
  ];
  for (const bottle of bottles) {
    out.push("", `== bottle ${bottle}`, ...reachLines(reach[bottle]!), "", "resources");
    for (const r of plan.resources.filter((res) => owner(res) === bottle)) out.push(...resourceLines(r, plan));
    for (const [file, content] of Object.entries(plan.files[bottle] ?? {})) {
      out.push("", `--- ${file}`, content.trimEnd());
    }
  }
  if (outside.length) {
    out.push("", "== outside the bottles (shared per engine)");
    for (const r of outside) out.push(...resourceLines(r, plan));
  }
  return `${out.join("\n")}\n`;
}

/** The bottle a resource belongs to: the BottleStack it is, or is (indirectly) under. */
function bottleOf(resources: readonly PlannedResource[]): (r: PlannedResource) => string | undefined {
  const byName = new Map(resources.map((r) => [r.name, r]));
  return (r) => {
    let node: PlannedResource | undefined = r;
    while (node) {
      if (node.type === COMPONENT) return node.name;
      node = node.parent === undefined ? undefined : byName.get(node.parent);
    }
    return undefined;
  };
}

function reachLines(reach: BottleReach): string[] {
  const width = Math.max(...reach.routes.map((r) => r.host.length), 4);
  const roleWidth = Math.max(...Object.keys(reach.images).map((role) => role.length));
  const pipelock = reach.pipelock;
  const dlpPatterns = Object.keys(pipelock.dlpPatterns);
  const exceptions = [
    pipelock.trustedDomains.length ? `trusts private addresses for ${pipelock.trustedDomains.join(", ")}` : "",
    pipelock.ssrfAllowlist.length ? `SSRF exemptions ${pipelock.ssrfAllowlist.join(", ")}` : "",
    pipelock.passthrough.length ? `passes through unscanned ${pipelock.passthrough.join(", ")}` : "",
    dlpPatterns.length ? `extra DLP patterns ${dlpPatterns.join(", ")}` : "",
    pipelock.explainBlocks ? "refusals explain the policy" : "",
  ].filter(Boolean);
  return [
    ...(reach.auditMode
      ? ["!! AUDIT MODE: the egress proxy lets through (and logs) whatever no route covers; pipelock still enforces. Never in production."]
      : []),
    "reach (what the agent may do; everything else is refused by both gates)",
    ...reach.routes.map((r) => `  ${r.host.padEnd(width)}  ${describeRoute(r)}`),
    ...Object.entries(reach.credentials ?? {}).map(
      ([name, credential]) =>
        `  credential ${name} (the egress proxy mints it; the agent never holds it): ${describeCredential(credential)}`,
    ),
    `  rate limit ${reach.requestsPerMinute ?? "(none)"} requests a minute per host; request bodies up to ${reach.maxBodyBytes ?? "(unset)"} bytes`,
    ...(reach.routes.some((r) => r.bulk.length > 0)
      ? [
          `  bulk lane (pipelock-bulk): checks the host, streams the bytes; its scan API reads URLs, sensitive headers, git negotiation` +
            (pipelock.bulkAnswerScanBytes
              ? ` and up to ${pipelock.bulkAnswerScanBytes} bytes of each text answer (reported, not blocked)`
              : "; answers unscanned"),
        ]
      : []),
    `  pipelock: response scanning ${pipelock.responseScanning}; seed phrases ${pipelock.seedPhraseMinWords ? `from ${pipelock.seedPhraseMinWords} words` : "NOT detected"}${exceptions.length ? `; ${exceptions.join("; ")}` : "; no exceptions"}`,
    ...(reach.agent?.hostPaths?.length
      ? [`  host directories the agent mounts (it can change them): ${reach.agent.hostPaths.join(", ")}`]
      : []),
    "workloads",
    ...Object.keys(reach.images).map(
      (role) =>
        `  ${role.padEnd(roleWidth)}  ${reach.images[role]}; ${reach.memoryMb[role]} MiB; ${reach.maxProcesses[role] !== undefined ? `${reach.maxProcesses[role]} processes at most` : "processes: the node's pod limit"}`,
    ),
    `  self-test on every up: ${reach.selfTest ? "yes" : "NO"}`,
  ];
}

function resourceLines(r: PlannedResource, plan: Plan): string[] {
  const shown = display(r.inputs, plan);
  const body = Object.keys(shown as object).length
    ? stringify(shown, { lineWidth: 0 }).trimEnd().replace(/^/gm, "      ")
    : "      (no inputs)";
  return [`  + ${r.type}  ${r.name}`, body];
}

/** Inputs for reading: stand-ins and long text summarised, the gates' documents pointing at the files shown. */
function display(value: unknown, plan: Plan, key = ""): unknown {
  if (typeof value === "string") {
    const computed = plan.computed[value];
    if (computed) return `<computed: ${computed}>`;
    if (key === "stdin" && /^(version: 1\n)/.test(value)) return `<${value.split("\n").length - 1} lines, shown below>`;
    if (value.includes(SECRET) && value.includes("\n")) return SECRET;
    if (value.length > LONG || value.includes("\n")) {
      const hash = createHash("sha256").update(value).digest("hex").slice(0, 12);
      return `<${value.split("\n").length} lines, ${value.length} bytes, sha256 ${hash}>`;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => display(v, plan, key));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, display(v, plan, k)]));
  }
  return value;
}
