/**
 * The rules between a bottle's routes and its credential sources: what each route's
 * `auth.token` names and whether it fits the route's form, the tokens entries the sources hold
 * their secrets in, the hosts only the egress proxy may reach, and a GitHub App's narrowing.
 */
import { DEFAULT_GOOGLE_TOKEN_URL, kindOf, mintHost, mintUrlProblem, SECRET_KEYS } from "./credential-sources";
import { sourceOf } from "./credential-use";
import { githubAppNarrowing, repositoryOwners } from "./github-narrowing";
import { at, field, keysOf, list, option } from "./raw";
import type { BottleSpec } from "./schema";

/** One thing wrong with the config: where (`bottles[0].routes[2].host`) and what. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** The tokens a bottle may use, and how to tell a user about one that is missing. */
export interface TokenSource {
  names: ReadonlySet<string>;
  missing(name: string): string;
}

/** Whether a route host (`*.example.com` for subdomains) covers `host`. */
const hostCovers = (pattern: string, host: string) => (pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : pattern === host);

/** Problems of a raw bottle's routes' `auth.token` and of its `credentials`, paths under `prefix`. */
export function credentialProblems(bottle: unknown, tokens: TokenSource, prefix: string): ConfigProblem[] {
  const credentials = field(bottle, "credentials");
  const names = new Set(keysOf(credentials));
  const used = new Set<string>();
  const problems: ConfigProblem[] = [];
  list(field(bottle, "routes")).forEach((route, j) => {
    const token = option(route, "auth.token");
    if (typeof token !== "string" || token === "") return;
    const path = `${prefix}routes[${j}].auth`;
    const sigv4 = option(route, "auth.sigv4") !== undefined;
    if (!names.has(token)) {
      if (!tokens.names.has(token)) problems.push({ path: `${path}.token`, message: tokens.missing(token) });
      if (sigv4) {
        problems.push({
          path: `${path}.token`,
          message:
            `a SigV4 route signs with an aws entry of this bottle's credentials, and "${token}" is none: declare ` +
            `credentials.${token}: { aws: { accessKeyId: <tokens entry>, secretAccessKey: <tokens entry> } }`,
        });
      }
      return;
    }
    used.add(token);
    const kind = kindOf(field(credentials, token));
    if (kind === "aws" && !sigv4) {
      problems.push({
        path: `${path}.header`,
        message: `credentials.${token} is an aws source, which signs requests: replace header (and prefix, username) with sigv4: { service, region }`,
      });
    } else if (kind !== undefined && kind !== "aws" && sigv4) {
      problems.push({
        path: `${path}.sigv4`,
        message: `only an aws source signs, and credentials.${token} is a ${kind} source: inject it in a header instead (header: Authorization, prefix: "Bearer ")`,
      });
    }
    const header = option(route, "auth.header");
    if (kind === "githubApp" && typeof header === "string" && header.toLowerCase() !== "authorization") {
      problems.push({
        path: `${path}.header`,
        message:
          "a GitHub App's token goes in Authorization: GitHub reads it there, and the egress proxy's own mint request " +
          "carries the App's JWT there (a header pipelock must not scan); set header: Authorization",
      });
    }
  });
  for (const name of names) {
    const source = field(credentials, name);
    const kind = kindOf(source);
    if (!used.has(name)) {
      problems.push({
        path: `${prefix}credentials.${name}`,
        message: `no route uses it (no auth.token names "${name}"): name it in a route's auth, or remove it`,
      });
    }
    if (kind === undefined) continue;
    for (const key of SECRET_KEYS[kind]) {
      const entry = field(field(source, kind), key);
      if (typeof entry === "string" && entry !== "" && !tokens.names.has(entry)) {
        problems.push({ path: `${prefix}credentials.${name}.${kind}.${key}`, message: tokens.missing(entry) });
      }
    }
    if (kind === "googleServiceAccount") problems.push(...tokenHostProblems(bottle, name, prefix));
  }
  return problems;
}

/**
 * No route, and no audit mode, may reach a Google source's token endpoint: pipelock passes that
 * host through unread (the JWT grant would trip its DLP), so only the egress proxy's own requests
 * may go there.
 */
function tokenHostProblems(bottle: unknown, name: string, prefix: string): ConfigProblem[] {
  const tokenUrl = at(bottle, "credentials", name, "googleServiceAccount", "tokenUrl") ?? DEFAULT_GOOGLE_TOKEN_URL;
  if (typeof tokenUrl !== "string" || mintUrlProblem(tokenUrl) !== undefined) return [];
  const host = mintHost(tokenUrl);
  // Audit mode lets through what no route covers: the token host too.
  const audit: ConfigProblem[] =
    field(bottle, "auditMode") === true
      ? [
          {
            path: `${prefix}auditMode`,
            message:
              `audit mode lets the agent reach hosts no route covers, and pipelock passes ${host} (credentials.${name}'s token ` +
              "endpoint) through unread: turn audit mode off, or learn the routes without this source",
          },
        ]
      : [];
  return audit.concat(
    list(field(bottle, "routes")).flatMap((route, j) => {
      const pattern = option(route, "host");
      return typeof pattern === "string" && hostCovers(pattern, host)
        ? [
            {
              path: `${prefix}routes[${j}].host`,
              message:
                `"${pattern}" reaches ${host}, where the egress proxy mints credentials.${name}'s tokens: pipelock passes that host ` +
                "through unread for the egress proxy alone, so no route may reach it; remove the route (or narrow its host)",
            },
          ]
        : [];
    }),
  );
}

/**
 * A GitHub App's narrowing, from the validated routes that use it: GitHub repositories are
 * `owner/name`, and an installation belongs to one account, so its repositories share one owner.
 */
export function narrowingProblems(bottle: Pick<BottleSpec, "routes" | "credentials">, prefix: string): ConfigProblem[] {
  return Object.entries(bottle.credentials ?? {}).flatMap(([name, source]) => {
    if (!source.githubApp) return [];
    const routes = bottle.routes.map((route, j) => ({ route, j })).filter(({ route }) => sourceOf(route, bottle) === name);
    const problems: ConfigProblem[] = routes.flatMap(({ route, j }) =>
      (route.git?.repositories ?? []).flatMap((repository, k) =>
        repository.split("/").length === 2
          ? []
          : [
              {
                path: `${prefix}routes[${j}].git.repositories[${k}]`,
                message: `a GitHub App's repositories are "owner/name", not "${repository}"`,
              },
            ],
      ),
    );
    const owners = repositoryOwners(githubAppNarrowing(routes.map(({ route }) => route)).repositories);
    if (owners.length > 1) {
      problems.push({
        path: `${prefix}credentials.${name}.githubApp`,
        message:
          `its routes reach repositories of ${owners.length} owners (${owners.join(", ")}), but an installation belongs to one ` +
          "account: declare one source per owner (each its own installation) and give each owner's repositories their own routes",
      });
    }
    return problems;
  });
}

/**
 * A name may not be both a credentials entry of a bottle and a token a route uses directly (in
 * a bottle without that credentials entry): `auth.token` would mean two credentials in one stack.
 */
export function sharedNameProblems(bottles: unknown, tokenNames: ReadonlySet<string>): ConfigProblem[] {
  const direct = new Map<string, number>();
  list(bottles).forEach((bottle, i) => {
    const names = new Set(keysOf(field(bottle, "credentials")));
    for (const route of list(field(bottle, "routes"))) {
      const token = option(route, "auth.token");
      if (typeof token === "string" && tokenNames.has(token) && !names.has(token) && !direct.has(token)) direct.set(token, i);
    }
  });
  return list(bottles).flatMap((bottle, i) =>
    keysOf(field(bottle, "credentials")).flatMap((name) =>
      direct.has(name)
        ? [
            {
              path: `bottles[${i}].credentials.${name}`,
              message:
                `"${name}" is also the bot-bottle:tokens entry a route of bottles[${direct.get(name)}] injects directly; one name ` +
                "must mean one credential: rename this entry (and the auth.token of the routes that use it)",
            },
          ]
        : [],
    ),
  );
}
