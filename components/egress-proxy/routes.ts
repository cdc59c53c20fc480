import { stringify } from "yaml";
import type { BottleSpec, RouteSpec } from "../config";
import { passthroughHosts, scannedHeaders } from "../pipelock/config";
import { type CredentialsInput, sourceOf, usedTokens } from "../config";
import { renderedCredentials } from "./credentials";
import { answerScanBytes, bulkKinds, usesBulkLane } from "../pipelock/lanes";

/** The prefix of every token variable of the egress proxy (its route model checks it). */
export const TOKEN_ENV_PREFIX = "EGRESS_PROXY_TOKEN_";

/**
 * The environment variable that carries each tokens entry a bottle uses (its routes' static
 * tokens and its credential sources' secrets), keyed by entry name: `EGRESS_PROXY_TOKEN_<N>`,
 * numbered in name order so the numbering does not depend on the order of routes.
 */
export function tokenEnvNames(bottle: CredentialsInput): Map<string, string> {
  return new Map(usedTokens(bottle).map((token, i) => [token, `${TOKEN_ENV_PREFIX}${i}`]));
}

/** What of a bottle routes.yaml is rendered from. */
export type RoutesInput = Pick<BottleSpec, "routes" | "credentials" | "requestsPerMinute"> & {
  auditMode?: boolean;
  pipelock: Pick<BottleSpec["pipelock"], "settings">;
};

/**
 * Renders the egress proxy's routes.yaml (contract version 1): audit mode (only when on), the
 * command a human runs to allow what the routes refuse (`allowHint`, shown to the agent in
 * those refusals), the bottle's per-host rate limit, how the bulk lane is checked (when a route
 * uses it: the headers pipelock's DLP reads, how much of a text answer it scans), the hosts
 * pipelock passes through unread, the credential sources the egress proxy mints from (each
 * GitHub App's narrowing included), and the routes, every method listed explicitly so a reviewer
 * sees what each allows, with each route's git repositories and the kinds of its traffic that
 * take the bulk lane. Holds token names and the names of their variables, never token values,
 * so it is safe to show in a plan or diff (and a swapped token shows).
 */
export function renderRoutesYaml(bottle: RoutesInput, allowHint?: string): string {
  const { routes } = bottle;
  const { settings } = bottle.pipelock;
  const tokenEnv = tokenEnvNames(bottle);
  const credentials = renderedCredentials(bottle, tokenEnv);
  const rendered = routes.map((route) => {
    const bulk = bulkKinds(route, settings);
    return {
      host: route.host,
      ports: route.ports,
      methods: route.methods,
      ...(route.paths && { path_allowlist: route.paths }),
      ...(route.git && { git: { repositories: route.git.repositories, push: route.git.push } }),
      ...(route.auth && { auth: renderedAuth(route, bottle, tokenEnv) }),
      ...(route.insecureCleartextPorts && { insecure_cleartext_ports: route.insecureCleartextPorts }),
      ...(bulk.length > 0 && { bulk }),
    };
  });
  const passthrough = passthroughHosts(bottle);
  const bulkLane = usesBulkLane(bottle) && { scan_headers: scannedHeaders(bottle), answer_scan_bytes: answerScanBytes(settings) };
  return stringify(
    {
      version: 1,
      ...(bottle.auditMode && { audit: true }),
      ...(allowHint && { allow_hint: allowHint }),
      requests_per_minute: bottle.requestsPerMinute,
      ...(bulkLane && { bulk_lane: bulkLane }),
      ...(passthrough.length > 0 && { passthrough }),
      ...(Object.keys(credentials).length > 0 && { credentials }),
      routes: rendered,
    },
    { lineWidth: 0, flowCollectionPadding: false },
  );
}

/**
 * A route's `auth`: the token's name (for reviewers and logs) and either the variable holding a
 * static token's value or the credentials entry that mints it; in a header, or a SigV4 signature.
 */
function renderedAuth(route: RouteSpec, bottle: CredentialsInput, tokenEnv: ReadonlyMap<string, string>): object {
  const auth = route.auth!;
  const source = sourceOf(route, bottle);
  const credential = source === undefined ? { token_env: tokenEnv.get(auth.token)! } : { credential: source };
  if (auth.sigv4) return { sigv4: { service: auth.sigv4.service, region: auth.sigv4.region }, token: auth.token, ...credential };
  return {
    header: auth.header,
    prefix: auth.prefix,
    ...(auth.username !== undefined && { basic_username: auth.username }),
    token: auth.token,
    ...credential,
  };
}

/** The longest allow hint the egress proxy takes (it puts the hint in a refusal's one line). */
export const ALLOW_HINT_MAX_CHARS = 200;

/** Why `hint` cannot be an allow hint (the egress proxy's own rule), or undefined. */
export function allowHintProblem(hint: string): string | undefined {
  if (hint.length === 0 || hint.length > ALLOW_HINT_MAX_CHARS || !/^[\x20-\x7e]*$/.test(hint)) {
    return `must be one line of printable ASCII, 1 to ${ALLOW_HINT_MAX_CHARS} characters, got ${JSON.stringify(hint.length > 60 ? `${hint.slice(0, 60)}...` : hint)}`;
  }
  return undefined;
}
