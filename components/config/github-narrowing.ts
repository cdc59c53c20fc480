/**
 * What a GitHub App installation token is narrowed to: the repositories and permissions the
 * routes that use it need, and nothing more. The egress proxy asks GitHub for exactly this when
 * it mints (routes.yaml `credentials.<name>.repositories`, `permissions`).
 */
import { HttpMethod } from "./args";
import type { RouteSpec } from "./schema";

export type PermissionLevel = "read" | "write";

export interface GithubNarrowing {
  /** `owner/name`, sorted; empty: every repository of the installation (no narrowing). */
  repositories: string[];
  /** GitHub's permission names, sorted, with their levels. */
  permissions: Record<string, PermissionLevel>;
}

/** What of a route the narrowing reads. */
export type NarrowedRoute = Pick<RouteSpec, "methods" | "paths" | "git">;

const WRITE_METHODS: readonly string[] = [HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE];

/** The permission each part of a repository's API needs (`/repos/o/n/pulls`...). */
const API_PERMISSIONS: Readonly<Record<string, string>> = { pulls: "pull_requests", issues: "issues", contents: "contents" };

/** A path prefix below or at `/repos/<owner>/<name>`: the repository, and the part below it ("" for all of it). */
const REPOSITORY_PATH = /^\/repos\/([^/]+)\/([^/]+)(?:\/([^/]*))?/;

/** The prefixes that cover `/repos/<o>/<n>` for names they do not give: `/`, `/repos`, `/repos/`, `/repos/<o>`, `/repos/<o>/`. */
const ABOVE_REPOSITORY = /^\/(repos(\/([^/]+\/?)?)?)?$/;

/** What one API path prefix reaches: a repository (and which of its parts), every repository, or none. */
type PathReach = { repository: string; part: string } | "every repository" | "no repository";

/**
 * A path prefix above `/repos/<o>/<n>` (`/`, `/repos/`, `/repos/acme/`) reaches repositories it
 * does not name; one that names no repository (`/user`, `/graphql`) reaches through the token
 * only the repositories it is narrowed to.
 */
function pathReach(prefix: string): PathReach {
  const match = REPOSITORY_PATH.exec(prefix);
  if (match) return { repository: `${match[1]}/${match[2]}`, part: match[3] ?? "" };
  return ABOVE_REPOSITORY.test(prefix) ? "every repository" : "no repository";
}

/** The narrowing of a GitHub App source used by `routes` (git routes and API routes). */
export function githubAppNarrowing(routes: readonly NarrowedRoute[]): GithubNarrowing {
  const repositories = new Set<string>();
  let everyRepository = false;
  const permissions = new Map<string, PermissionLevel>([["metadata", "read"]]);
  const grant = (name: string, level: PermissionLevel) => {
    if (permissions.get(name) !== "write") permissions.set(name, level);
  };
  for (const route of routes) {
    if (route.git) {
      for (const repository of route.git.repositories) repositories.add(repository);
      grant("contents", route.git.push === false ? "read" : "write");
      continue;
    }
    const level: PermissionLevel = route.methods.some((m) => WRITE_METHODS.includes(m)) ? "write" : "read";
    const reaches = route.paths ? route.paths.map(pathReach) : ["every repository" as const];
    for (const reach of reaches) {
      if (reach === "no repository") continue;
      if (reach === "every repository") everyRepository = true;
      else repositories.add(reach.repository);
      const part = reach === "every repository" ? "" : reach.part;
      for (const [name, permission] of Object.entries(API_PERMISSIONS)) {
        if (part === "" || part === name) grant(permission, level);
      }
    }
  }
  return {
    repositories: everyRepository ? [] : [...repositories].sort(),
    permissions: Object.fromEntries([...permissions].sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** The owners of some `owner/name` repositories, lowercase (GitHub's names are case-insensitive), sorted. */
export function repositoryOwners(repositories: readonly string[]): string[] {
  return [...new Set(repositories.map((repository) => repository.split("/")[0]!.toLowerCase()))].sort();
}
