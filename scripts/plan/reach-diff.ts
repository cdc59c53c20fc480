/**
 * How a change moves each agent's reach: every difference between two stack reaches, marked
 * as widening (the agent can do something it could not), narrowing, or another change worth a
 * reviewer's eye (images, limits). A different token on a route counts as widening: nothing
 * here can tell what the new one grants.
 */
import { type CredentialReach, describeCredential } from "./credential-reach";
import type { BottleReach, PipelockReach, PushReach, RouteReach, StackReach } from "./reach";

export type Effect = "widens" | "narrows" | "changes";

export interface ReachChange {
  bottle: string;
  effect: Effect;
  /** What changed: `route api.github.com`, `pipelock`, `images`, `bottle`... */
  subject: string;
  detail: string;
}

const EFFECT_ORDER: Record<Effect, number> = { widens: 0, narrows: 1, changes: 2 };

/** Every change from `before` to `after`, bottles in name order, widening first in each. */
export function diffReach(before: StackReach, after: StackReach): ReachChange[] {
  const bottles = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return bottles.flatMap((bottle) => {
    const changes = diffBottle(before[bottle], after[bottle]).map((c) => ({ bottle, ...c }));
    return changes.sort((a, b) => EFFECT_ORDER[a.effect] - EFFECT_ORDER[b.effect]);
  });
}

type Change = Omit<ReachChange, "bottle">;

function diffBottle(before: BottleReach | undefined, after: BottleReach | undefined): Change[] {
  if (!before && after) {
    return [
      { effect: "widens", subject: "bottle", detail: "new bottle" },
      ...after.routes.map((r) => ({ effect: "widens" as const, subject: `route ${r.host}`, detail: `new route: ${describeRoute(r)}` })),
    ];
  }
  if (before && !after) return [{ effect: "narrows", subject: "bottle", detail: "removed (its agent and gates are destroyed)" }];
  if (!before || !after) return [];
  return [
    ...(before.auditMode !== after.auditMode
      ? [
          after.auditMode
            ? {
                effect: "widens" as const,
                subject: "audit mode",
                detail: "ON: the egress proxy lets through whatever no route covers (pipelock still enforces)",
              }
            : { effect: "narrows" as const, subject: "audit mode", detail: "off: only the routes pass" },
        ]
      : []),
    ...diffRoutes(before.routes, after.routes),
    ...diffCredentials(before.credentials ?? {}, after.credentials ?? {}),
    ...diffNumber("rate limit", "requests a minute per host", before.requestsPerMinute, after.requestsPerMinute),
    ...diffNumber("body limit", "bytes", before.maxBodyBytes, after.maxBodyBytes),
    ...diffPipelock(before.pipelock, after.pipelock),
    ...diffRecord("images", before.images, after.images),
    ...diffRecord("memory (MiB)", before.memoryMb, after.memoryMb),
    ...diffRecord("process limit", before.maxProcesses, after.maxProcesses),
    ...(before.selfTest !== after.selfTest
      ? [
          {
            effect: "changes" as const,
            subject: "self-test",
            detail: after.selfTest ? "turned on" : "turned off: nothing checks the deployed bottle",
          },
        ]
      : []),
    ...diffAgent(before.agent, after.agent),
    ...diffUnjudged(before.unjudged, after.unjudged),
  ];
}

const GIT_SERVICE = /^\/(.+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/**
 * `git acme/app (fetch, push)` when a route's paths are exactly git's smart-HTTP paths for
 * some repositories (with and without `.git`), else undefined.
 */
export function gitSummary(paths: readonly string[]): string | undefined {
  const services = new Map<string, Set<string>>();
  for (const p of paths) {
    const m = GIT_SERVICE.exec(p);
    if (!m) return undefined;
    services.set(m[1]!, (services.get(m[1]!) ?? new Set()).add(m[2]!));
  }
  const repos = [...services].map(([repo, s]) => `${repo} (${s.has("git-receive-pack") ? "fetch, push" : "fetch"})`);
  return repos.length ? `git ${repos.join(", ")}` : undefined;
}

/** `push refs/heads/agent/* (creates; no deletes; no tags)`. */
export function describePush(push: PushReach): string {
  const may = (allowed: boolean, what: string) => (allowed ? what : `no ${what}`);
  return `push ${push.refs.join(", ")} (${[may(push.create, "creations"), may(push.delete, "deletes"), may(push.tags, "tags")].join("; ")})`;
}

/**
 * What a route injects: `token github in Authorization`, `minted credential github in
 * Authorization (Basic, user x-access-token)`, `SigV4 for bedrock in us-east-1, minted credential bedrock`.
 */
export function describeInjection(credential: NonNullable<RouteReach["credential"]>): string {
  const what = `${credential.source !== undefined ? "minted credential" : "token"} ${tokenName(credential)}`;
  if (credential.sigv4) return `SigV4 for ${credential.sigv4.service} in ${credential.sigv4.region}, ${what}`;
  return `${what} in ${credential.header}${credential.username ? ` (Basic, user ${credential.username})` : ""}`;
}

/** `443; GET, POST; paths /a/; token github in Authorization`. */
export function describeRoute(route: RouteReach): string {
  const credential = route.credential;
  const parts = [
    `port${route.ports.length > 1 ? "s" : ""} ${route.ports.join(", ")}`,
    route.methods.join(", "),
    route.paths ? (gitSummary(route.paths) ?? `paths ${route.paths.join(", ")}`) : "any path",
    credential ? describeInjection(credential) : "no credential",
  ];
  if (route.push) parts.push(describePush(route.push));
  if (route.cleartextPorts.length > 0) parts.push(`credential in plain HTTP on ${route.cleartextPorts.join(", ")}`);
  parts.push(route.bulk.length > 0 ? `bulk lane: ${route.bulk.join(", ")}` : "pipelock reads all");
  return parts.join("; ");
}

function diffRoutes(before: RouteReach[], after: RouteReach[]): Change[] {
  const old = new Map(before.map((r) => [r.host, r]));
  const now = new Map(after.map((r) => [r.host, r]));
  const changes: Change[] = [];
  for (const [host, route] of now) {
    const subject = `route ${host}`;
    const was = old.get(host);
    if (!was) {
      changes.push({ effect: "widens", subject, detail: `new route: ${describeRoute(route)}` });
      continue;
    }
    changes.push(
      ...setChanges(subject, "ports", was.ports.map(String), route.ports.map(String)),
      ...setChanges(subject, "methods", was.methods, route.methods),
      ...diffPaths(subject, was.paths, route.paths),
      ...setChanges(subject, "git repositories", was.repositories ?? [], route.repositories ?? []),
      ...diffCredential(subject, was.credential, route.credential),
      ...setChanges(subject, "plain-HTTP credential ports", was.cleartextPorts.map(String), route.cleartextPorts.map(String)),
      // Traffic that moves to the bulk lane is no longer read whole by pipelock.
      ...setChanges(subject, "bulk lane (pipelock checks the host and streams)", was.bulk, route.bulk),
      ...diffPush(subject, was.push, route.push),
    );
  }
  for (const [host, route] of old) {
    if (!now.has(host)) changes.push({ effect: "narrows", subject: `route ${host}`, detail: `removed (was: ${describeRoute(route)})` });
  }
  return changes;
}

/** Additions widen, removals narrow. */
function setChanges(subject: string, what: string, before: readonly string[], after: readonly string[], widen = true): Change[] {
  const added = after.filter((v) => !before.includes(v));
  const removed = before.filter((v) => !after.includes(v));
  const [onAdd, onRemove]: Effect[] = widen ? ["widens", "narrows"] : ["narrows", "widens"];
  return [
    ...(added.length ? [{ effect: onAdd, subject, detail: `${what} + ${added.join(", ")}` }] : []),
    ...(removed.length ? [{ effect: onRemove, subject, detail: `${what} - ${removed.join(", ")}` }] : []),
  ];
}

/** A git route's push rules: more refs, or creating, deleting or tagging where it could not, widens. */
function diffPush(subject: string, before: PushReach | undefined, after: PushReach | undefined): Change[] {
  if (!before && after) return [{ effect: "widens", subject, detail: `${describePush(after)}: the agent may push` }];
  if (before && !after) return [{ effect: "narrows", subject, detail: "no push any more" }];
  if (!before || !after) return [];
  const flags = (["create", "delete", "tags"] as const).flatMap((flag) =>
    before[flag] === after[flag]
      ? []
      : [{ effect: after[flag] ? ("widens" as const) : ("narrows" as const), subject, detail: `push ${flag}: ${String(after[flag])}` }],
  );
  return [...setChanges(subject, "push refs", before.refs, after.refs), ...flags];
}

/** Whether `prefix` matches `path` on segment boundaries (as the egress proxy matches). */
export function prefixCovers(prefix: string, path: string): boolean {
  return prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix || path.startsWith(`${prefix}/`);
}

function diffPaths(subject: string, before: string[] | undefined, after: string[] | undefined): Change[] {
  if (!before && !after) return [];
  if (!before) return [{ effect: "narrows", subject, detail: `paths: only ${after!.join(", ")} (was any path)` }];
  if (!after) return [{ effect: "widens", subject, detail: `paths: any path (was ${before.join(", ")})` }];
  const uncovered = (paths: string[], by: string[]) => paths.filter((p) => !by.some((q) => prefixCovers(q, p)));
  const wider = uncovered(after, before);
  const lost = uncovered(before, after);
  return [
    ...(wider.length ? [{ effect: "widens" as const, subject, detail: `paths + ${wider.join(", ")}` }] : []),
    ...(lost.length ? [{ effect: "narrows" as const, subject, detail: `paths - ${lost.join(", ")}` }] : []),
  ];
}

const tokenName = (credential: NonNullable<RouteReach["credential"]>) => credential.token ?? `(unnamed, ${credential.variable})`;

function diffCredential(subject: string, before: RouteReach["credential"], after: RouteReach["credential"]): Change[] {
  if (!before && !after) return [];
  if (!before) return [{ effect: "widens", subject, detail: `now injects ${describeInjection(after!)}` }];
  if (!after) return [{ effect: "narrows", subject, detail: `no longer injects ${describeInjection(before)}` }];
  const changes: Change[] = [];
  if (before.token === undefined || after.token === undefined) {
    if (before.token !== after.token) {
      changes.push({
        effect: "changes",
        subject,
        detail: `token ${tokenName(before)} -> ${tokenName(after)}: one plan names no tokens, so a swap cannot be ruled out`,
      });
    }
  } else if (before.token !== after.token) {
    changes.push({
      effect: "widens",
      subject,
      detail: `injects ${after.source !== undefined ? "minted credential" : "token"} ${after.token} instead of ${before.token} (${after.sigv4 ? `SigV4 for ${after.sigv4.service} in ${after.sigv4.region}` : `in ${after.header}`}): check what it grants`,
    });
  }
  // A static token replaced by a minted one of the same name (or back): another credential.
  if (before.token === after.token && before.source !== after.source) {
    changes.push({
      effect: "widens",
      subject,
      detail: `${describeInjection(before)} -> ${describeInjection(after)}: check what it grants`,
    });
  }
  if (JSON.stringify(before.sigv4) !== JSON.stringify(after.sigv4)) {
    changes.push({ effect: "widens", subject, detail: `${describeInjection(before)} -> ${describeInjection(after)}` });
  } else if (before.header !== after.header) {
    changes.push({ effect: "changes", subject, detail: `credential header ${before.header} -> ${after.header}` });
  }
  return changes;
}

const LEVELS = ["read", "write"];
/** A permission's level as a rank: none 0, read 1, write 2, an unknown level above all. */
const levelRank = (level: string | undefined) =>
  level === undefined ? 0 : LEVELS.includes(level) ? LEVELS.indexOf(level) + 1 : LEVELS.length + 1;

/**
 * How each credential source moved: one that can grant more (more repositories or none named, a
 * higher permission, more scopes, longer sessions, another kind, account, role or endpoint)
 * widens; one that grants less narrows.
 */
export function diffCredentials(before: Record<string, CredentialReach>, after: Record<string, CredentialReach>): Change[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.flatMap((name) => diffSource(`credential ${name}`, before[name], after[name]));
}

function diffSource(subject: string, before: CredentialReach | undefined, after: CredentialReach | undefined): Change[] {
  if (!before && after) return [{ effect: "widens", subject, detail: `new source: ${describeCredential(after)}` }];
  if (before && !after) return [{ effect: "narrows", subject, detail: "removed" }];
  if (!before || !after) return [];
  // Nothing here can tell what another kind, account, role or endpoint grants.
  if (before.kind !== after.kind || before.identity !== after.identity || before.mintUrl !== after.mintUrl) {
    return [{ effect: "widens", subject, detail: `${describeCredential(before)} -> ${describeCredential(after)}: check what it grants` }];
  }
  return [
    ...diffRepositories(subject, before.repositories, after.repositories),
    ...Object.keys({ ...before.permissions, ...after.permissions })
      .sort()
      .flatMap((name) => {
        const [was, now] = [before.permissions?.[name], after.permissions?.[name]];
        if (was === now) return [];
        const effect: Effect = levelRank(now) > levelRank(was) ? "widens" : "narrows";
        return [{ effect, subject, detail: `permission ${name}: ${was ?? "none"} -> ${now ?? "none"}` }];
      }),
    ...setChanges(subject, "scopes", before.scopes ?? [], after.scopes ?? []),
    ...diffNumber(subject, "seconds a session lasts", before.sessionSeconds, after.sessionSeconds),
  ];
}

/** A GitHub App's repositories; empty is every repository, the widest. */
function diffRepositories(subject: string, before: string[] | undefined, after: string[] | undefined): Change[] {
  if (before === undefined || after === undefined) return [];
  if (before.length > 0 && after.length === 0) {
    return [{ effect: "widens", subject, detail: `repositories: EVERY repository of the installation (was ${before.join(", ")})` }];
  }
  if (before.length === 0 && after.length > 0) {
    return [{ effect: "narrows", subject, detail: `repositories: only ${after.join(", ")} (was every repository)` }];
  }
  return setChanges(subject, "repositories", before, after);
}

function diffNumber(subject: string, unit: string, before: number | undefined, after: number | undefined): Change[] {
  if (before === after || before === undefined || after === undefined) return [];
  return [{ effect: after > before ? "widens" : "narrows", subject, detail: `${before} -> ${after} ${unit}` }];
}

// How strictly pipelock treats what its response scanning flags.
const SCANNING_STRICTNESS = ["off", "on (warn)", "on (strip)", "on (block)"];

function diffPipelock(before: PipelockReach, after: PipelockReach): Change[] {
  const subject = "pipelock";
  const changes = [
    ...setChanges(subject, "trusts private addresses for", before.trustedDomains, after.trustedDomains),
    ...setChanges(subject, "SSRF exemptions", before.ssrfAllowlist, after.ssrfAllowlist),
    ...setChanges(subject, "passes through without scanning", before.passthrough, after.passthrough),
    ...setChanges(subject, "extra DLP patterns", Object.keys(before.dlpPatterns), Object.keys(after.dlpPatterns), false),
    ...setChanges(subject, "request headers its DLP reads", before.scannedHeaders, after.scannedHeaders, false),
    // A pattern kept by name but changed (its regex, its exempt domains) may catch less.
    ...Object.keys(after.dlpPatterns).flatMap((name) => {
      const was = before.dlpPatterns[name];
      const now = after.dlpPatterns[name]!;
      return was === undefined || was === now
        ? []
        : [{ effect: "widens" as const, subject, detail: `DLP pattern ${name} changed: ${was} -> ${now}` }];
    }),
    ...diffNumber("pipelock", "bytes of intercepted answer at most", before.maxResponseBytes, after.maxResponseBytes),
  ];
  if (before.responseScanning !== after.responseScanning) {
    const weaker = SCANNING_STRICTNESS.indexOf(after.responseScanning) < SCANNING_STRICTNESS.indexOf(before.responseScanning);
    changes.push({
      effect: weaker ? "widens" : "narrows",
      subject,
      detail: `response scanning ${before.responseScanning} -> ${after.responseScanning}`,
    });
  }
  if (before.seedPhraseMinWords !== after.seedPhraseMinWords) {
    const words = (n: number) => (n === 0 ? "off" : `from ${n} words`);
    // Off (0) is the weakest; otherwise fewer words catch more.
    const weaker =
      after.seedPhraseMinWords === 0 || (before.seedPhraseMinWords !== 0 && after.seedPhraseMinWords > before.seedPhraseMinWords);
    changes.push({
      effect: weaker ? "widens" : "narrows",
      subject,
      detail: `seed phrase detection ${words(before.seedPhraseMinWords)} -> ${words(after.seedPhraseMinWords)}`,
    });
  }
  if (before.bulkAnswerScanBytes !== after.bulkAnswerScanBytes) {
    const scanned = (n: number) => (n === 0 ? "none" : `${n} bytes`);
    changes.push({
      effect: after.bulkAnswerScanBytes < before.bulkAnswerScanBytes ? "widens" : "narrows",
      subject,
      detail: `text answers on the bulk lane scanned: ${scanned(before.bulkAnswerScanBytes)} -> ${scanned(after.bulkAnswerScanBytes)}`,
    });
  }
  if (before.explainBlocks !== after.explainBlocks) {
    changes.push({
      effect: "changes",
      subject,
      detail: after.explainBlocks ? "refusals explain the policy to the agent" : "refusals no longer explain the policy",
    });
  }
  return changes;
}

function diffRecord(subject: string, before: Record<string, string | number>, after: Record<string, string | number>): Change[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) =>
    before[key] === after[key]
      ? []
      : [{ effect: "changes" as const, subject, detail: `${key}: ${before[key] ?? "(none)"} -> ${after[key] ?? "(none)"}` }],
  );
}

function diffAgent(before: BottleReach["agent"], after: BottleReach["agent"]): Change[] {
  if (!before && after) return [{ effect: "widens", subject: "agent", detail: "an agent now runs in the bottle" }];
  if (before && !after) return [{ effect: "narrows", subject: "agent", detail: "the agent is removed" }];
  if (!before || !after) return [];
  return [
    ...(before.user !== after.user
      ? [{ effect: "changes" as const, subject: "agent", detail: `user ${before.user} -> ${after.user}` }]
      : []),
    ...(JSON.stringify(before.command) !== JSON.stringify(after.command)
      ? [
          {
            effect: "changes" as const,
            subject: "agent",
            detail: `command ${JSON.stringify(before.command ?? "(image's)")} -> ${JSON.stringify(after.command ?? "(image's)")}`,
          },
        ]
      : []),
    ...setChanges("agent", "environment variables", before.env, after.env).map((c) => ({ ...c, effect: "changes" as const })),
    // A host directory lets the agent change the engine's host (and outlives the bottle).
    ...setChanges("agent", "host directories it mounts", before.hostPaths ?? [], after.hostPaths ?? []),
  ];
}

/**
 * Settings the reach does not interpret (document-keys.ts): a key it does not know, or one it
 * compares as it is. Nothing here can tell which way such a change goes, so it widens.
 */
function diffUnjudged(before: Record<string, string>, after: Record<string, string>): Change[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) => {
    if (before[key] === after[key]) return [];
    const [file, path] = [key.slice(0, key.indexOf(" ")), key.slice(key.indexOf(" ") + 1)];
    const detail = `${path}: ${before[key] ?? "(absent)"} -> ${after[key] ?? "(absent)"} (not judged by the reach diff: counted as widening)`;
    return [{ effect: "widens" as const, subject: file, detail }];
  });
}

/** The counts of each effect. */
export function countEffects(changes: readonly ReachChange[]): Record<Effect, number> {
  const counts: Record<Effect, number> = { widens: 0, narrows: 0, changes: 0 };
  for (const c of changes) counts[c.effect] += 1;
  return counts;
}

const MARK: Record<Effect, string> = { widens: "+ WIDENS ", narrows: "- narrows", changes: "~ changes" };

/** The reviewer's text: a summary line, then per bottle its changes, widening first. */
export function formatReachDiff(changes: readonly ReachChange[], context: { stack: string; from: string; to: string }): string {
  const counts = countEffects(changes);
  const verdict =
    counts.widens > 0
      ? "WIDENS the agents' reach"
      : counts.narrows > 0
        ? "narrows the agents' reach"
        : "leaves the agents' reach as it was";
  const lines = [
    `Stack "${context.stack}", ${context.from} -> ${context.to}: ${verdict} (${counts.widens} widening, ${counts.narrows} narrowing, ${counts.changes} other changes)`,
  ];
  let bottle: string | undefined;
  for (const change of changes) {
    if (change.bottle !== bottle) {
      bottle = change.bottle;
      lines.push("", `bottle ${bottle}`);
    }
    lines.push(`  ${MARK[change.effect]}  ${change.subject}: ${change.detail}`);
  }
  return `${lines.join("\n")}\n`;
}
