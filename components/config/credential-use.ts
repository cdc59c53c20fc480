/**
 * How a bottle's routes use its credential sources, and what the sources add to the gates: the
 * tokens entries they hold their secrets in, the hosts the egress proxy mints at (through
 * pipelock), the headers a SigV4 signature injects.
 */
import { type CredentialSourceSpec, mintHost, mintUrlsOf, secretEntriesOf } from "./credential-sources";
import type { BottleSpec, RouteSpec } from "./schema";

/** What of a bottle its credentials are read from. */
export type CredentialsInput = Pick<BottleSpec, "routes" | "credentials">;

/** The headers a SigV4 route injects (and the egress proxy strips from every other request), lowercase. */
export const SIGV4_HEADERS: readonly string[] = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];

/** The credentials entry a route's `auth.token` names, or undefined (a static token, or no auth). */
export function sourceOf(route: RouteSpec, bottle: Pick<BottleSpec, "credentials">): string | undefined {
  const token = route.auth?.token;
  // Not Object.hasOwn: `pulumi up` compiles the program with ts-node's default library, which lacks it
  // (and biome rewrites hasOwnProperty.call into it).
  return token !== undefined && bottle.credentials && Object.keys(bottle.credentials).includes(token) ? token : undefined;
}

/** The header names a route injects, lowercase. */
export function injectedHeaders(route: RouteSpec): string[] {
  if (!route.auth) return [];
  return route.auth.sigv4 ? [...SIGV4_HEADERS] : [route.auth.header!.toLowerCase()];
}

/**
 * Every tokens entry a bottle uses, sorted: the static tokens of its routes and the entries its
 * credential sources hold their secrets in.
 */
export function usedTokens(bottle: CredentialsInput): string[] {
  const statics = bottle.routes.flatMap((route) => (route.auth && sourceOf(route, bottle) === undefined ? [route.auth.token] : []));
  const secrets = Object.values(bottle.credentials ?? {}).flatMap(secretEntriesOf);
  return [...new Set([...statics, ...secrets])].sort();
}

/** The sources a bottle declares, by name, sorted. */
export const sourcesOf = (bottle: Pick<BottleSpec, "credentials">): [string, CredentialSourceSpec][] =>
  Object.entries(bottle.credentials ?? {}).sort(([a], [b]) => a.localeCompare(b));

/** The hosts the egress proxy mints credentials at: each joins pipelock's allowlist. */
export function mintHosts(bottle: Pick<BottleSpec, "credentials">): string[] {
  return [...new Set(sourcesOf(bottle).flatMap(([, source]) => mintUrlsOf(source).map(mintHost)))].sort();
}

/**
 * The hosts of Google token endpoints. pipelock passes them through unread: the JWT grant
 * carries a JWT in its body, which pipelock's request body DLP refuses ("JWT Token"), and
 * pipelock 2.3 applies a pattern's `exempt_domains` to URLs only, never to bodies. Only the
 * egress proxy reaches them: validation refuses a route to one.
 */
export function tokenHosts(bottle: Pick<BottleSpec, "credentials">): string[] {
  return [
    ...new Set(sourcesOf(bottle).flatMap(([, s]) => (s.googleServiceAccount ? [mintHost(s.googleServiceAccount.tokenUrl)] : []))),
  ].sort();
}
