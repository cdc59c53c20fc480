import { stringify } from "yaml";
import type { BottleSpec, RouteSpec } from "../config";
import { scannedHeaders } from "../pipelock/config";
import { answerScanBytes, bulkKinds, usesBulkLane } from "../pipelock/lanes";

/** The prefix of every token variable of the egress proxy (its route model checks it). */
export const TOKEN_ENV_PREFIX = "EGRESS_PROXY_TOKEN_";

/**
 * The environment variable that carries each token a bottle uses, keyed by token name:
 * `EGRESS_PROXY_TOKEN_<N>`, numbered in token-name order so the numbering does not depend on
 * the order of routes.
 */
export function tokenEnvNames(routes: readonly RouteSpec[]): Map<string, string> {
  const names = [...new Set(routes.flatMap((route) => (route.auth ? [route.auth.token] : [])))].sort();
  return new Map(names.map((token, i) => [token, `${TOKEN_ENV_PREFIX}${i}`]));
}

/** What of a bottle routes.yaml is rendered from. */
export type RoutesInput = Pick<BottleSpec, "routes" | "requestsPerMinute"> & {
  auditMode?: boolean;
  pipelock: Pick<BottleSpec["pipelock"], "settings">;
};

/**
 * Renders the egress proxy's routes.yaml (contract version 1): audit mode (only when on), the
 * command a human runs to allow what the routes refuse (`allowHint`, shown to the agent in
 * those refusals), the bottle's per-host rate limit, how the bulk lane is checked (when a route
 * uses it: the headers pipelock's DLP reads, how much of a text answer it scans), the hosts
 * pipelock passes through unread, and the routes, every method listed explicitly so a reviewer sees what each allows, with each
 * route's git repositories and the kinds of its traffic that take the bulk lane.
 * Holds token names and the names of their variables, never token values, so it is safe to
 * show in a plan or diff (and a swapped token shows).
 */
export function renderRoutesYaml(bottle: RoutesInput, allowHint?: string): string {
  const { routes } = bottle;
  const { settings } = bottle.pipelock;
  const tokenEnv = tokenEnvNames(routes);
  const rendered = routes.map((route) => {
    const bulk = bulkKinds(route, settings);
    return {
      host: route.host,
      ports: route.ports,
      methods: route.methods,
      ...(route.paths && { path_allowlist: route.paths }),
      ...(route.git && { git: { repositories: route.git.repositories, push: route.git.push } }),
      ...(route.auth && {
        // The token's name is for reviewers and logs; its value is in the variable.
        auth: {
          header: route.auth.header,
          prefix: route.auth.prefix,
          ...(route.auth.username !== undefined && { basic_username: route.auth.username }),
          token: route.auth.token,
          token_env: tokenEnv.get(route.auth.token)!,
        },
      }),
      ...(route.insecureCleartextPorts && { insecure_cleartext_ports: route.insecureCleartextPorts }),
      ...(bulk.length > 0 && { bulk }),
    };
  });
  const passthrough = settings.tls_interception?.passthrough_domains;
  const bulkLane = usesBulkLane(bottle) && { scan_headers: scannedHeaders(bottle), answer_scan_bytes: answerScanBytes(settings) };
  return stringify(
    {
      version: 1,
      ...(bottle.auditMode && { audit: true }),
      ...(allowHint && { allow_hint: allowHint }),
      requests_per_minute: bottle.requestsPerMinute,
      ...(bulkLane && { bulk_lane: bulkLane }),
      ...(passthrough && { passthrough }),
      routes: rendered,
    },
    { lineWidth: 0, flowCollectionPadding: false },
  );
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
