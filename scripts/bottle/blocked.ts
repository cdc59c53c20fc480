/**
 * `npm run bottle -- blocked`: what both gates refused, grouped, and the narrowest change to the
 * stack file that would allow what the routes refused. Pure: the gates' lines in, text and YAML out.
 * Never shows a token or what pipelock's DLP matched (its log names the pattern only).
 */
import { createTwoFilesPatch } from "diff";
import { isMap, isScalar, isSeq, parseDocument, Scalar, type YAMLMap, type YAMLSeq } from "yaml";
import { DEFAULT_CREDENTIAL_PORTS, DEFAULT_PORTS, HTTP_METHODS } from "../../components/index";
import { prefixCovers } from "../plan/reach-diff";
import { type GateLine, isProbe } from "./decision-lines";

/** One refused (or, in audit mode, let-through) request. */
export interface Refusal {
  gate: "egress-proxy" | "pipelock";
  /** The gate's reason: `path not allowed`, or pipelock's `<scanner>: <reason>`. */
  reason: string;
  host: string;
  port?: number;
  method?: string;
  /** Without the query; absent for a tunnel refused at CONNECT. */
  path?: string;
  /** Let through in audit mode rather than refused. */
  audit: boolean;
}

/**
 * What the routes refused and a route could allow (everything else is refused for a reason no
 * route changes): the egress proxy's AUDITABLE_REASONS (test/contract holds the two equal).
 */
export const ROUTE_REASONS: ReadonlySet<string> = new Set([
  "host not in allowlist",
  "port not allowed",
  "method not allowed",
  "path not allowed",
]);

/**
 * The refusals among both gates' lines: the egress proxy's own (and its audit-mode
 * `audit-allow` lines) and pipelock's (both pipelocks'), never the bottle's own probes.
 * Refusals the egress proxy records as pipelock's are taken from pipelock's log, which has
 * pipelock's words.
 */
export function refusalsOf(lines: readonly GateLine[]): Refusal[] {
  return lines.flatMap((line) => {
    if (line.kind !== "decision" || isProbe(line)) return [];
    const own = line.log === "egress-proxy" && line.gate === "egress-proxy";
    const refusal = own
      ? line.decision === "deny" || line.decision === "audit-allow"
      : line.log !== "egress-proxy" && line.decision === "deny";
    if (!refusal) return [];
    return [
      {
        gate: own ? ("egress-proxy" as const) : ("pipelock" as const),
        reason: own || line.detail === undefined ? line.reason : `${line.reason}: ${line.detail}`,
        host: line.host ?? "",
        ...(line.port !== undefined && { port: line.port }),
        ...(line.method !== undefined && line.method !== "CONNECT" && { method: line.method }),
        ...(line.path !== undefined && { path: line.path }),
        audit: line.decision === "audit-allow",
      },
    ];
  });
}

/** True for a path segment that names one thing (an id, a hash, a uuid), not a kind of thing. */
function isIdentifier(segment: string): boolean {
  return (
    /^\d+$/.test(segment) ||
    /^[0-9a-f]{8,}$/i.test(segment) ||
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(segment)
  );
}

/**
 * The path prefix to allow for a refused path: the path itself, cut before the first segment
 * that identifies one thing (`/repos/acme/app/issues/12` allows `/repos/acme/app/issues/`).
 */
export function pathPrefixFor(path: string): string {
  const segments = path.split("/");
  const cut = segments.findIndex((segment, i) => i > 0 && isIdentifier(segment));
  return cut === -1 ? path : `${segments.slice(0, cut).join("/")}/`;
}

/** The narrowest prefixes covering `paths`: each path's prefix, without those another covers. */
export function coveringPrefixes(paths: readonly string[]): string[] {
  const prefixes = [...new Set(paths.map(pathPrefixFor))].sort();
  return prefixes.filter((p) => !prefixes.some((q) => q !== p && prefixCovers(q, p)));
}

export interface RefusalGroup extends Refusal {
  count: number;
  /** Path prefix the group's paths share (see pathPrefixFor). */
  prefix?: string;
}

/** Refusals grouped by gate, host, port, method, path prefix and reason; most frequent first. */
export function groupRefusals(refusals: readonly Refusal[]): RefusalGroup[] {
  const groups = new Map<string, RefusalGroup>();
  for (const r of refusals) {
    const prefix = r.path === undefined ? undefined : pathPrefixFor(r.path);
    const key = JSON.stringify([r.gate, r.host, r.port, r.method, prefix, r.reason, r.audit]);
    const group = groups.get(key);
    if (group) group.count += 1;
    else groups.set(key, { ...r, count: 1, ...(prefix !== undefined && { prefix }) });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.host.localeCompare(b.host));
}

/** The report `blocked` prints. */
export function formatRefusals(groups: readonly RefusalGroup[], context: { stack: string; bottle: string; since?: string }): string {
  const total = groups.reduce((n, g) => n + g.count, 0);
  const lines = [
    `Refused in bottle "${context.bottle}" of stack "${context.stack}"${context.since ? ` (last ${context.since})` : ""}: ${total} request${total === 1 ? "" : "s"}, ${groups.length} kind${groups.length === 1 ? "" : "s"}`,
  ];
  for (const gate of ["egress-proxy", "pipelock"] as const) {
    const mine = groups.filter((g) => g.gate === gate);
    if (mine.length === 0) continue;
    lines.push("", gate === "egress-proxy" ? "by the egress proxy (the routes)" : "by pipelock (never turned into allow rules here)");
    for (const g of mine) {
      const target = `${g.host}${g.port !== undefined ? `:${g.port}` : ""}`;
      lines.push(
        `  ${`${g.count}x`.padStart(5)}  ${(g.method ?? "CONNECT").padEnd(7)} ${target}${g.prefix ?? ""}  ${g.audit ? "let through in audit mode: " : ""}${g.reason}`,
      );
    }
  }
  if (groups.length === 0) lines.push("", "Nothing was refused.");
  return `${lines.join("\n")}\n`;
}

/** What a suggestion changes for one host: new route or widened route. */
export interface HostSuggestion {
  host: string;
  ports: number[];
  methods: string[];
  /** Prefixes to allow; empty: only seen at CONNECT (methods and paths unknown). */
  paths: string[];
}

/** Per host, what the route refusals call for (pipelock's refusals are never suggested). */
export function hostSuggestions(refusals: readonly Refusal[]): HostSuggestion[] {
  const byHost = new Map<string, Refusal[]>();
  for (const r of refusals) {
    if (r.gate !== "egress-proxy" || !ROUTE_REASONS.has(r.reason) || r.host === "") continue;
    byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
  }
  return [...byHost]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, list]) => ({
      host,
      ports: [...new Set(list.flatMap((r) => (r.port === undefined ? [] : [r.port])))].sort((a, b) => a - b),
      methods: HTTP_METHODS.filter((m) => list.some((r) => r.method === m)),
      paths: coveringPrefixes(list.flatMap((r) => (r.path === undefined || r.path.includes("%") ? [] : [r.path]))),
    }));
}

const GIT_SERVICE = /^\/(.+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/** A change to the stack file's text: replace [start, end) with `text`. */
interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * The stack file with the suggestions applied to bottle `bottle`: new routes for new hosts
 * (no credential), missing ports, methods and path prefixes (or git repositories) added to
 * existing routes. Only what changes is rewritten, in place (the yaml library's node ranges):
 * comments, order, quoting and the rest of the text stay as they were. Returns the new text
 * and notes on what could not be suggested.
 */
export function applySuggestions(text: string, bottle: string, suggestions: readonly HostSuggestion[]): { text: string; notes: string[] } {
  const doc = parseDocument(text);
  const bottles = doc.getIn(["config", "bot-bottle:bottles"]);
  const entry = isSeq(bottles) ? bottles.items.find((b) => isMap(b) && b.get("name") === bottle) : undefined;
  if (!isMap(entry)) throw new Error(`the stack file declares no bottle "${bottle}" under config.bot-bottle:bottles`);
  const routes = entry.get("routes", true);
  if (!isSeq(routes) || routes.flow) throw new Error(`bottle "${bottle}" has no block list of routes`);
  const notes: string[] = [];
  const edits: Edit[] = [];
  const added: string[] = [];
  for (const s of suggestions) {
    const route = routes.items.find((r) => isMap(r) && r.get("host") === s.host);
    if (isMap(route)) edits.push(...widenRoute(text, route, s, notes));
    else added.push(newRoute(s));
  }
  if (added.length > 0) {
    const indent = indentOf(text, rangeOf(routes.items[0])[0]) - 2;
    const at = lineEnd(text, rangeOf(routes.items.at(-1))[2]);
    edits.push({ start: at, end: at, text: added.map((r) => r.replace(/^(?=.)/gm, " ".repeat(indent))).join("") });
  }
  // From the end, so earlier offsets stay valid; at one offset, the edit found first ends up first.
  const ordered = edits.map((e, i) => ({ ...e, i })).sort((a, b) => b.start - a.start || b.i - a.i);
  let out = text;
  for (const e of ordered) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return { text: out, notes };
}

/** A new route as block YAML at indentation 0 (its comment first). */
function newRoute(s: HostSuggestion): string {
  const seenOnlyAtConnect = s.methods.length === 0;
  const comment = seenOnlyAtConnect
    ? "# Suggested: refused at CONNECT, so its methods and paths were not seen: reads only until a run in audit mode shows more."
    : "# Suggested from refused requests: no credential until one is needed.";
  const list = (values: readonly (string | number)[]) => `[${values.map((v) => scalarText(v)).join(", ")}]`;
  return [
    comment,
    `- host: ${scalarText(s.host)}`,
    `  ports: ${list(s.ports.length ? s.ports : [443])}`,
    `  methods: ${list(seenOnlyAtConnect ? ["GET", "HEAD"] : s.methods)}`,
    ...(s.paths.length > 0 ? [`  paths: ${list(s.paths.map((p) => JSON.stringify(p)))}`] : []),
    "",
  ].join("\n");
}

/** A value as YAML text: numbers and plain-safe strings as they are, others double-quoted. */
function scalarText(value: string | number): string {
  if (typeof value === "number") return String(value);
  if (value.startsWith('"')) return value;
  return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value) ? value : JSON.stringify(value);
}

function widenRoute(text: string, route: YAMLMap, s: HostSuggestion, notes: string[]): Edit[] {
  const edits: Edit[] = [];
  const ports = route.get("ports", true);
  if (isSeq(ports)) edits.push(...addItems(text, ports, s.ports));
  else {
    const defaults = route.has("auth") ? DEFAULT_CREDENTIAL_PORTS : DEFAULT_PORTS;
    const extra = s.ports.filter((p) => !defaults.includes(p));
    if (extra.length) edits.push(addKey(text, route, "ports", `[${[...defaults, ...extra].join(", ")}]`));
  }
  const git = route.get("git", true);
  if (isMap(git)) {
    const repositories = git.get("repositories", true);
    const repos: string[] = [];
    let push = false;
    for (const path of s.paths) {
      const m = GIT_SERVICE.exec(path);
      if (!m) {
        notes.push(
          `${s.host}${path}: not suggested: the route is a git route, which allows git's paths only (give other paths a host of their own)`,
        );
        continue;
      }
      if (!repos.includes(m[1]!)) repos.push(m[1]!);
      push ||= m[2] === "git-receive-pack";
    }
    if (isSeq(repositories)) edits.push(...addItems(text, repositories, repos));
    // A refused push on a fetch-only route: the agent's own branches (pushRules: {}), never every ref.
    if (push && git.get("push") !== true && !git.has("pushRules")) {
      // `push: false` gives way to the rules (which imply pushing); else they are added.
      const pair = git.items.find((p) => isScalar(p.key) && p.key.value === "push");
      const [key, value] = [pair?.key, pair?.value];
      edits.push(
        isScalar(key) && isScalar(value)
          ? { start: key.range![0], end: value.range![1], text: "pushRules: {}" }
          : addKey(text, git, "pushRules", "{}"),
      );
      notes.push(
        `${s.host}: push suggested as pushRules: {} (refs/heads/agent/*, no deletes, no tags); name other refs in git.pushRules.refs yourself`,
      );
    }
    return edits;
  }
  const methods = route.get("methods", true);
  if (isSeq(methods)) edits.push(...addItems(text, methods, s.methods));
  const paths = route.get("paths", true);
  if (isSeq(paths)) {
    const current = paths.items.map((i) => String(isScalar(i) ? i.value : i));
    edits.push(
      ...addItems(
        text,
        paths,
        s.paths.filter((p) => !current.some((q) => prefixCovers(q, p))),
      ),
    );
  }
  return edits;
}

/** Adds to a list the values it lacks, quoted like its first item. */
function addItems(text: string, seq: YAMLSeq, values: readonly (string | number)[]): Edit[] {
  const present = seq.items.map((i) => (isScalar(i) ? i.value : undefined));
  const missing = values.filter((v) => !present.includes(v));
  if (missing.length === 0) return [];
  const quoted = isScalar(seq.items[0]) && seq.items[0].type === Scalar.QUOTE_DOUBLE;
  const rendered = missing.map((v) => (quoted && typeof v === "string" ? JSON.stringify(v) : scalarText(v)));
  if (seq.flow) {
    const close = text.lastIndexOf("]", seq.range![1]);
    return [{ start: close, end: close, text: `${seq.items.length ? ", " : ""}${rendered.join(", ")}` }];
  }
  const last = rangeOf(seq.items.at(-1));
  const at = lineEnd(text, last[2]);
  const indent = " ".repeat(indentOf(text, last[0]) - 2);
  return [{ start: at, end: at, text: rendered.map((r) => `${indent}- ${r}\n`).join("") }];
}

/** Adds `key: value` to a mapping, flow (`{ a: 1 }`) or block. */
function addKey(text: string, map: YAMLMap, key: string, value: string): Edit {
  if (map.flow) {
    const close = text.lastIndexOf("}", map.range![1]);
    const before = text.slice(0, close);
    const padded = before.endsWith(" ");
    return { start: padded ? close - 1 : close, end: padded ? close - 1 : close, text: `, ${key}: ${value}` };
  }
  const at = lineEnd(text, rangeOf(map.items.at(-1)!.value)[2]);
  return { start: at, end: at, text: `${" ".repeat(indentOf(text, rangeOf(map.items[0]!.key)[0]))}${key}: ${value}\n` };
}

/** A parsed node's source range: start, end of its value, end of the node (comments included). */
function rangeOf(node: unknown): [number, number, number] {
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  if (!range) throw new Error("a node of the stack file has no source position");
  return range;
}

/** The column of offset `at` (its line's indentation when `at` is the first thing on it). */
function indentOf(text: string, at: number): number {
  return at - (text.lastIndexOf("\n", at - 1) + 1);
}

/** The offset just after the line that `at` is on (or ends). */
function lineEnd(text: string, at: number): number {
  const before = text[at - 1] === "\n" ? at - 1 : at;
  const nl = text.indexOf("\n", before);
  return nl === -1 ? text.length : nl + 1;
}

/** A unified diff of the stack file, as `git diff` would show it. */
export function unifiedDiff(file: string, before: string, after: string): string {
  return before === after ? "" : createTwoFilesPatch(`a/${file}`, `b/${file}`, before, after, "", "", { context: 3 });
}
