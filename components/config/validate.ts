import type { z } from "zod";
import {
  type BottleSpec,
  DEFAULT_CREDENTIAL_PORTS,
  DEFAULT_EGRESS_PROXY_MEMORY_MB,
  DEFAULT_MAX_BODY_MB,
  egressProxyMemoryFloorMb,
  MANAGED_AGENT_ENV,
  namedBottleSchema,
  stackSchema,
  type StackSpec,
} from "./schema";
import { TOKEN_NAME } from "./credential-sources";
import { pythonPath } from "./python";
import { at, field, list, option } from "./raw";
import { type ConfigProblem, credentialProblems, narrowingProblems, sharedNameProblems, type TokenSource } from "./validate-credentials";
import { keysAt, nearestKey } from "./suggest";

export type { ConfigProblem } from "./validate-credentials";

/** The outcome of validation: the spec with every default applied, or every problem found. */
export type Validated<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

/** What validation needs to know about one `bot-bottle:tokens` entry. */
export interface TokenEntry {
  /** Whether the value is stored encrypted (`pulumi config set --secret`). */
  secret: boolean;
  value: unknown;
}

/** The raw stack config, as read from `Pulumi.<stack>.yaml` or the Pulumi engine. */
export interface StackConfigInput {
  /** `bot-bottle:bottles`, parsed. */
  bottles: unknown;
  /** `bot-bottle:backend`, parsed; absent means docker. */
  backend?: unknown;
  /** `bot-bottle:docker`, parsed; absent means the local engine. */
  docker?: unknown;
  /** `bot-bottle:kubernetes`, parsed: the cluster of the stack's Kubernetes bottles. */
  kubernetes?: unknown;
  /** `bot-bottle:tokens`, by name. */
  tokens?: Readonly<Record<string, TokenEntry>>;
}

// Every spec this module returned. BottleStack skips validating a bottle built from one.
const validatedSpecs = new WeakSet<BottleSpec>();

/** Whether `spec` came out of validation here (and, frozen, has not changed since). */
export function isValidatedSpec(spec: BottleSpec): boolean {
  return validatedSpecs.has(spec);
}

/**
 * Validates a whole stack config and returns the spec or every problem, each with the exact
 * config path. Never throws for bad input.
 */
export function validateStackConfig(input: StackConfigInput): Validated<StackSpec> {
  const tokenNames = new Set(Object.keys(input.tokens ?? {}));
  const { bottles, backend, docker, kubernetes } = input;
  const stack = Object.fromEntries(Object.entries({ backend, docker, kubernetes }).filter(([, v]) => v !== undefined));
  const parsed = stackSchema.safeParse({ bottles, ...stack }, { reportInput: true });
  const problems = [
    ...tokenProblems(input.tokens ?? {}),
    ...(parsed.success ? [] : zodProblems(parsed.error, stackSchema)),
    ...duplicateBottleProblems(bottles),
    ...list(bottles).flatMap((bottle, i) => crossFieldProblems(bottle, stackTokens(tokenNames), `bottles[${i}].`, backend)),
    ...sharedNameProblems(bottles, tokenNames),
    ...(parsed.success ? parsed.data.bottles.flatMap((bottle, i) => narrowingProblems(bottle, `bottles[${i}].`)) : []),
  ];
  if (problems.length > 0 || !parsed.success) return { ok: false, problems: sortProblems(problems) };
  parsed.data.bottles.forEach(remember);
  return { ok: true, value: deepFreeze(parsed.data) };
}

/**
 * Validates one bottle (its config without `name`) given its name and the names of the tokens
 * passed with it (BottleStack's `tokens`). Paths in problems are relative to the bottle
 * (`routes[0].host`).
 */
export function validateBottle(name: string, input: unknown, tokenNames: ReadonlySet<string>): Validated<BottleSpec> {
  const named = typeof input === "object" && input !== null && !Array.isArray(input) ? { ...input, name } : input;
  const parsed = namedBottleSchema.safeParse(named, { reportInput: true });
  const problems = [
    ...(parsed.success ? [] : zodProblems(parsed.error, namedBottleSchema)),
    ...crossFieldProblems(input, componentTokens(tokenNames), ""),
    ...(parsed.success ? narrowingProblems(parsed.data, "") : []),
  ];
  if (problems.length > 0 || !parsed.success) return { ok: false, problems: sortProblems(problems) };
  return { ok: true, value: remember(parsed.data) };
}

/**
 * BottleStack's problems for a program in any language: each path as the schema spells it
 * (TypeScript, YAML) and, where it differs, as Python does (`maxBodyMb (Python: max_body_mb)`).
 * The component cannot tell which language constructs it: the construct request names none.
 */
export function withPythonPaths(problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.map((problem) => {
    const python = pythonPath(namedBottleSchema, problem.path);
    return python === problem.path ? problem : { ...problem, path: `${problem.path} (Python: ${python})` };
  });
}

/** One line per problem, ready to show a user. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `  ${p.path || "(config)"}: ${p.message}`).join("\n");
}

function remember(spec: BottleSpec): BottleSpec {
  deepFreeze(spec);
  validatedSpecs.add(spec);
  return spec;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

function duplicateBottleProblems(bottles: unknown): ConfigProblem[] {
  return duplicates(list(bottles).map((bottle) => field(bottle, "name"))).map(([i, first, name]) => ({
    path: `bottles[${i}].name`,
    message: `duplicate bottle name "${name}" (also bottles[${first}])`,
  }));
}

/** Tokens from stack config (`bot-bottle:tokens`). */
const stackTokens = (names: ReadonlySet<string>): TokenSource => ({
  names,
  missing: (name) =>
    `no token named "${name}" in bot-bottle:tokens; set one with: pulumi config set --secret --path 'tokens.${name}' <value>`,
});

/** Tokens passed to the BottleStack component. */
const componentTokens = (names: ReadonlySet<string>): TokenSource => ({
  names,
  missing: (name) => `no token named "${name}" in the component's tokens; pass it: tokens: { "${name}": <secret value> }`,
});

function crossFieldProblems(bottle: unknown, tokens: TokenSource, prefix: string, stackBackend?: unknown): ConfigProblem[] {
  const routes = list(field(bottle, "routes"));
  const problems = duplicates(routes.map((route) => field(route, "host"))).map(([j, first, host]) => ({
    path: `${prefix}routes[${j}].host`,
    message: `duplicate host "${host}" (also routes[${first}]); merge the two routes`,
  }));
  routes.forEach((route, j) => {
    problems.push(...cleartextProblems(route, `${prefix}routes[${j}]`), ...gitProblems(route, `${prefix}routes[${j}]`));
  });
  problems.push(...credentialProblems(bottle, tokens, prefix));
  const hosts = new Set(routes.map((route) => field(route, "host")));
  list(at(bottle, "pipelock", "settings", "tls_interception", "passthrough_domains")).forEach((host, j) => {
    if (typeof host === "string" && !hosts.has(host)) {
      problems.push({
        path: `${prefix}pipelock.settings.tls_interception.passthrough_domains[${j}]`,
        message: `"${host}" is not a route host of this bottle; passthrough only applies to hosts the bottle routes`,
      });
    }
  });
  for (const key of Object.keys(at(bottle, "agent", "env") ?? {})) {
    if (MANAGED_AGENT_ENV.has(key.toUpperCase())) {
      problems.push({
        path: `${prefix}agent.env.${key}`,
        message: "is set by the bottle itself (proxy and CA variables) and cannot be overridden",
      });
    }
  }
  problems.push(...memoryProblems(bottle, prefix));
  problems.push(...backendProblems(bottle, prefix, field(bottle, "backend") ?? stackBackend ?? "docker"));
  return problems;
}

/** An egress proxy too small for the bodies it must hold would be killed by the first large push. */
function memoryProblems(bottle: unknown, prefix: string): ConfigProblem[] {
  const maxBodyMb = field(bottle, "maxBodyMb") ?? DEFAULT_MAX_BODY_MB;
  const memoryMb = at(bottle, "egressProxy", "memoryMb") ?? DEFAULT_EGRESS_PROXY_MEMORY_MB;
  if (typeof maxBodyMb !== "number" || typeof memoryMb !== "number" || memoryMb >= egressProxyMemoryFloorMb(maxBodyMb)) return [];
  return [
    {
      path: `${prefix}egressProxy.memoryMb`,
      message:
        `${memoryMb} MiB cannot hold a request body of maxBodyMb (${maxBodyMb} MiB), which the egress proxy holds whole while it ` +
        `checks it; set it to at least ${egressProxyMemoryFloorMb(maxBodyMb)} (64 + 7 x maxBodyMb), or lower maxBodyMb`,
    },
  ];
}

/**
 * Settings of the other backend are a mistake, not a no-op; and a cluster cannot run an image
 * built where Pulumi runs, so every image of a Kubernetes bottle is a reference.
 */
function backendProblems(bottle: unknown, prefix: string, backend: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (backend === "kubernetes") {
    if (field(bottle, "docker") !== undefined) {
      problems.push({
        path: `${prefix}docker`,
        message: "a bottle on Kubernetes has no Docker engine; remove docker (or set backend: docker)",
      });
    }
    const images: [string, boolean][] = [
      ["egressProxy.image", true],
      ["agent.image", field(bottle, "agent") !== undefined],
    ];
    for (const [key, needed] of images) {
      if (needed && at(bottle, ...key.split(".")) === undefined) {
        problems.push({
          path: `${prefix}${key}`,
          message:
            "required on Kubernetes: a cluster cannot use an image built where Pulumi runs; build it, push it to a registry " +
            "the cluster pulls from, and set its reference (pinned by digest)",
        });
      }
    }
    if (at(bottle, "agent", "workspace", "hostPath") !== undefined) {
      problems.push({
        path: `${prefix}agent.workspace.hostPath`,
        message:
          'a node\'s directory cannot be mounted on Kubernetes (Pod Security "restricted"); remove it: the workspace is a claim (kubernetes.storageClass)',
      });
    }
  } else if (backend === "docker" && field(bottle, "kubernetes") !== undefined) {
    problems.push({ path: `${prefix}kubernetes`, message: "applies to backend kubernetes only; set backend: kubernetes, or remove it" });
  }
  return problems;
}

/**
 * Credentials travel only inside TLS: plain HTTP on a credential route needs the port in
 * `insecureCleartextPorts` (which must be the route's own ports, on a route with auth), and
 * port 80 on a credential route is usable for nothing else (TLS to port 80 is refused).
 */
function cleartextProblems(route: unknown, path: string): ConfigProblem[] {
  const cleartext = option(route, "insecureCleartextPorts");
  const hasAuth = option(route, "auth") !== undefined;
  const ports = list(option(route, "ports"));
  if (cleartext !== undefined && !hasAuth) {
    return [{ path: `${path}.insecureCleartextPorts`, message: "only a route with auth has a credential to send in cleartext; remove it" }];
  }
  const problems: ConfigProblem[] = [];
  const routePorts = option(route, "ports") === undefined ? DEFAULT_CREDENTIAL_PORTS : ports;
  list(cleartext).forEach((port, k) => {
    if (typeof port === "number" && !routePorts.includes(port)) {
      problems.push({ path: `${path}.insecureCleartextPorts[${k}]`, message: `${port} is not one of the route's ports` });
    }
  });
  if (hasAuth && ports.includes(80) && !list(cleartext).includes(80)) {
    problems.push({
      path: `${path}.ports`,
      message:
        "port 80 on a route with a credential can only carry it in cleartext (TLS to port 80 is refused): " +
        "remove 80, or accept the risk with insecureCleartextPorts: [80]",
    });
  }
  return problems;
}

/** A git route sets its own paths and methods; Basic credentials have no prefix. */
function gitProblems(route: unknown, path: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (option(route, "git") !== undefined) {
    for (const key of ["paths", "methods"] as const) {
      if (option(route, key) !== undefined) {
        problems.push({
          path: `${path}.${key}`,
          message: `a route with git allows git's own ${key}; remove "${key}" (or give the other paths a route of their own host)`,
        });
      }
    }
  }
  if (option(route, "auth.username") !== undefined && ![undefined, ""].includes(option(route, "auth.prefix") as string)) {
    problems.push({ path: `${path}.auth.prefix`, message: "Basic credentials (username) take no prefix; remove it" });
  }
  return problems;
}

/** `[index, firstIndex, value]` for every string that already appeared earlier in `values`. */
function duplicates(values: unknown[]): [number, number, string][] {
  const seen = new Map<string, number>();
  const found: [number, number, string][] = [];
  values.forEach((value, i) => {
    if (typeof value !== "string") return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, i);
    else found.push([i, first, value]);
  });
  return found;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }));
}

function tokenProblems(tokens: Readonly<Record<string, TokenEntry>>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, entry] of Object.entries(tokens)) {
    const path = `tokens.${name}`;
    if (!TOKEN_NAME.test(name)) {
      problems.push({ path, message: "expected a token name of letters, digits, '_' and '-'" });
    } else if (!entry.secret) {
      problems.push({
        path,
        message: `is stored in plain text; remove it and set it with: pulumi config set --secret --path '${path}' <value>`,
      });
    } else if (typeof entry.value !== "string" || entry.value.length === 0) {
      problems.push({ path, message: "expected a non-empty string" });
    }
  }
  return problems;
}

/** Turns zod issues into problems with `a[0].b` paths and messages a user can act on. */
function zodProblems(error: z.ZodError, schema: z.ZodType): ConfigProblem[] {
  return error.issues.flatMap((issue) => {
    const path = formatPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      const valid = keysAt(schema, issue.path);
      return issue.keys.map((key) => {
        const meant = nearestKey(key, valid);
        return {
          path: formatPath([...issue.path, key]),
          message:
            `unknown key${meant ? ` (did you mean "${meant}"?)` : ""}: a typo here must not silently change what a bottle allows` +
            (valid.length > 0 && !meant ? `; expected one of ${valid.join(", ")}` : ""),
        };
      });
    }
    return [{ path, message: describeIssue(issue) }];
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // Messages written in the schema are already phrased for users; zod's own start like this.
  if (!/^(Invalid|Too (small|big))/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `required (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${typeName(issue.input)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      if (issue.origin === "array") return `expected at least ${issue.minimum} entr${issue.minimum === 1 ? "y" : "ies"}`;
      if (issue.origin === "string") return "must not be empty";
      return `expected at least ${issue.minimum}`;
    case "too_big":
      return `expected at most ${issue.maximum}`;
    case "invalid_key":
      // A record's key: the key schema's own messages.
      return issue.issues.map((inner) => inner.message).join("; ");
    default:
      return issue.message;
  }
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "");
}
