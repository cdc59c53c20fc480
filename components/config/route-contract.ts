/**
 * The route contract: every option of a route once, with what each place that handles routes
 * does with it. Those places: the schema validates it (schema.ts), args.ts documents it, the
 * renderer writes it into routes.yaml (egress-proxy/routes.ts), the egress proxy reads that
 * with its own model (egress-proxy/image/egress_routes.py), the reach diff reads it back from a
 * plan (scripts/plan/reach.ts, document-keys.ts), and `npm run bottle -- blocked --suggest`
 * writes some of it into a stack file (scripts/bottle/blocked.ts).
 *
 * A new option is added here first. The table is typed by args.ts's `Route` (args-match-schema.ts
 * holds that to the schema), so the compiler refuses an option missing here or listed here
 * only; test/unit/config/route-contract.test.ts then names each place that does not hold to
 * it yet, and test/contract/contract.test.ts the egress proxy's model.
 */
import type { Route } from "./args";

/** A route option's dotted path in the config: `auth`, `auth.username`, `git.pushRules.refs`. */
export type RouteOptionPath = KeyPaths<Route, true>;

/**
 * The dotted paths of a type's keys down to its values (a list is a value); with `objects`, the
 * keys that hold objects too.
 */
export type KeyPaths<T, Objects extends boolean = false> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[] | string | number | boolean
    ? K
    : (Objects extends true ? K : never) | `${K}.${KeyPaths<NonNullable<T[K]>, Objects>}`;
}[keyof T & string];

/**
 * What the reach (scripts/plan/reach.ts) makes of a key of a route in routes.yaml: the field of
 * the route's reach it is read into (dotted: `credential.token`), the keys under it (an
 * object's), or why it says nothing about what the agent can reach.
 */
export type ReachRule = { readonly reads: string } | "its keys" | { readonly ignored: string };

/** Whether `blocked --suggest` writes the option into a stack file, or why it never does. */
export type SuggestRule = "writes" | { readonly never: string };

export interface RouteOption {
  /** Its key in a route of routes.yaml, dotted (`auth.basic_username`). */
  readonly yaml: string;
  readonly reach: ReachRule;
  readonly suggest: SuggestRule;
  /** Keys of routes.yaml made from it besides its own, with what the reach makes of each. */
  readonly alsoRenders?: Readonly<Record<string, ReachRule>>;
}

const NO_CREDENTIAL = { never: "a suggestion never adds or changes a credential" } as const;
const PUSH_RULES_BY_HAND = {
  never: "a refused push is suggested as pushRules: {} (the agent's branches); other rules are written by hand",
} as const;

/** Every route option, by its path in the config. */
export const ROUTE_CONTRACT = {
  host: { yaml: "host", reach: { reads: "host" }, suggest: "writes" },
  ports: { yaml: "ports", reach: { reads: "ports" }, suggest: "writes" },
  methods: { yaml: "methods", reach: { reads: "methods" }, suggest: "writes" },
  paths: { yaml: "path_allowlist", reach: { reads: "paths" }, suggest: "writes" },
  // A git route also renders its smart-HTTP paths and methods as path_allowlist and methods.
  git: { yaml: "git", reach: "its keys", suggest: { never: "a suggestion adds repositories and push to a git route, never makes one" } },
  "git.repositories": { yaml: "git.repositories", reach: { reads: "repositories" }, suggest: "writes" },
  // true renders as the rules that allow every ref; false as false.
  "git.push": {
    yaml: "git.push",
    reach: "its keys",
    suggest: { never: "a refused push is suggested as pushRules: {} (which replaces push: false), never as every ref" },
  },
  "git.pushRules": { yaml: "git.push", reach: "its keys", suggest: "writes" },
  "git.pushRules.refs": { yaml: "git.push.refs", reach: { reads: "push.refs" }, suggest: PUSH_RULES_BY_HAND },
  "git.pushRules.create": { yaml: "git.push.create", reach: { reads: "push.create" }, suggest: PUSH_RULES_BY_HAND },
  "git.pushRules.delete": { yaml: "git.push.delete", reach: { reads: "push.delete" }, suggest: PUSH_RULES_BY_HAND },
  "git.pushRules.tags": { yaml: "git.push.tags", reach: { reads: "push.tags" }, suggest: PUSH_RULES_BY_HAND },
  auth: { yaml: "auth", reach: "its keys", suggest: NO_CREDENTIAL },
  "auth.header": { yaml: "auth.header", reach: { reads: "credential.header" }, suggest: NO_CREDENTIAL },
  "auth.prefix": {
    yaml: "auth.prefix",
    reach: { ignored: "the text before the token in its header, not what the token grants" },
    suggest: NO_CREDENTIAL,
  },
  "auth.username": { yaml: "auth.basic_username", reach: { reads: "credential.username" }, suggest: NO_CREDENTIAL },
  // Signed for an AWS service and region with the aws credential the route's token names.
  "auth.sigv4": { yaml: "auth.sigv4", reach: "its keys", suggest: NO_CREDENTIAL },
  "auth.sigv4.service": { yaml: "auth.sigv4.service", reach: { reads: "credential.sigv4.service" }, suggest: NO_CREDENTIAL },
  "auth.sigv4.region": { yaml: "auth.sigv4.region", reach: { reads: "credential.sigv4.region" }, suggest: NO_CREDENTIAL },
  // The token's name, for reviewers (a swapped token shows), and either the variable carrying a
  // static token's value or the credentials entry (routes.yaml `credentials`) that mints it.
  "auth.token": {
    yaml: "auth.token",
    reach: { reads: "credential.token" },
    suggest: NO_CREDENTIAL,
    alsoRenders: { "auth.token_env": { reads: "credential.variable" }, "auth.credential": { reads: "credential.source" } },
  },
  insecureCleartextPorts: {
    yaml: "insecure_cleartext_ports",
    reach: { reads: "cleartextPorts" },
    suggest: { never: "a credential in plain HTTP is a risk taken on purpose, by hand" },
  },
  // Rendered as the kinds of the route's traffic that take the bulk lane (absent: none).
  bulk: { yaml: "bulk", reach: { reads: "bulk" }, suggest: { never: "which traffic pipelock does not read whole is decided by hand" } },
} as const satisfies Record<RouteOptionPath, RouteOption>;

/** Every key of a route in routes.yaml, dotted, with what the reach makes of it. */
export const ROUTE_YAML_KEYS: ReadonlyMap<string, ReachRule> = new Map(
  Object.values<RouteOption>(ROUTE_CONTRACT).flatMap((option) => [
    [option.yaml, option.reach] as const,
    ...Object.entries(option.alsoRenders ?? {}),
  ]),
);

type Row = (typeof ROUTE_CONTRACT)[RouteOptionPath];
type Reads<R> = R extends { reads: infer F } ? F : never;
type AlsoRenders<R> = R extends { alsoRenders: infer A } ? A[keyof A] : never;
/** The fields of a route's reach the contract reads routes.yaml's keys into (reach.ts holds its RouteReach to them). */
export type RouteReachField = Reads<Row["reach"] | AlsoRenders<Row>>;
