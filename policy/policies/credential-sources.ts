/**
 * The credentials the egress proxy injects in production: expiring ones preferred, and a GitHub
 * App's tokens narrowed to named repositories.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { UNKNOWN, isRecord } from "../lib/props";
import { objectName } from "../lib/resources";
import { credentialSourcesOf } from "../lib/documents";
import { productionOnly, proxiesWithRoutes } from "../lib/proxies";

/**
 * In production a route injects a credential that expires: one the egress proxy mints (a GitHub
 * App's token, an assumed role's session, a Google access token), not a static token or AWS keys.
 */
export const productionPreferExpiringCredentials: StackValidationPolicy = {
  name: "production-prefer-expiring-credentials",
  description:
    "In a production stack, routes that inject a credential that never expires are pointed out: a static token " +
    "(auth.token_env) or an aws source without a role (its keys sign themselves). A credential the egress proxy " +
    "mints from a source (a GitHub App's installation token, an assumed role's session, a Google access token) " +
    "expires within hours and is narrowed to what the routes need; a leaked static token works until someone revokes it.",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    productionOnly(args);
    for (const { proxy, path, routes } of proxiesWithRoutes(args.resources)) {
      const sources = credentialSourcesOf({ container: proxy, resources: args.resources });
      const known = sources === UNKNOWN || "error" in sources ? {} : sources.value;
      for (const route of routes) {
        const auth = isRecord(route.auth) ? route.auth : undefined;
        const source = typeof auth?.credential === "string" ? known[auth.credential] : undefined;
        const what =
          auth?.token_env !== undefined
            ? `the static token ${String(auth.token)}`
            : source?.kind === "aws" && source.role_arn === undefined
              ? `the AWS keys of credentials.${String(auth?.credential)}, which sign themselves`
              : undefined;
        if (what !== undefined) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' injects ${what} into requests to ${String(route.host)} (${path}): it never ` +
              "expires. Prefer a credential source: a GitHub App (githubApp), an AWS role (aws.roleArn), a Google service " +
              "account (googleServiceAccount).",
            proxy.urn,
          );
        }
      }
    }
  },
};

/**
 * In production a GitHub App's token is narrowed to named repositories: with none, it reaches
 * every repository of the installation.
 */
export const productionGithubAppNarrowed: StackValidationPolicy = {
  name: "production-github-app-narrowed",
  description:
    "In a production stack every GitHub App source of routes.yaml (kind github_app) is narrowed to named repositories. " +
    "With repositories: [] its tokens reach every repository the App is installed on: a route using it reaches a " +
    "repository it does not name (no paths, or a prefix such as /repos/ above /repos/<owner>/<name>).",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    productionOnly(args);
    for (const { proxy } of proxiesWithRoutes(args.resources)) {
      const sources = credentialSourcesOf({ container: proxy, resources: args.resources });
      if (sources === UNKNOWN) {
        continue;
      }
      if ("error" in sources) {
        reportViolation(`Cannot check the credential sources of '${objectName(proxy)}': ${sources.error}.`, proxy.urn);
        continue;
      }
      for (const [name, source] of Object.entries(sources.value)) {
        const repositories = source.repositories;
        if (source.kind === "github_app" && (!Array.isArray(repositories) || repositories.length === 0)) {
          reportViolation(
            `Egress proxy '${objectName(proxy)}' mints tokens of the GitHub App credentials.${name} for every repository of its ` +
              `installation (${sources.path}: repositories: []). Give every route that uses it paths under ` +
              "/repos/<owner>/<name> (or git repositories), so that its tokens are narrowed to those repositories.",
            proxy.urn,
          );
        }
      }
    }
  },
};
