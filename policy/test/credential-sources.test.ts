import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { productionGithubAppNarrowed, productionPreferExpiringCredentials } from "../policies/credential-sources";
import { gatesAllowSameHosts, routesKeysKnown } from "../policies/routes";
import { bottleGraph, pipelockConfig, setDocument } from "./fixtures";
import { runStackPolicy } from "../offline/run";

const GITHUB_APP = {
  kind: "github_app",
  app_id: "1",
  installation_id: "2",
  api_url: "https://api.github.com",
  private_key_env: "EGRESS_PROXY_TOKEN_2",
  repositories: ["acme/app"],
  permissions: { contents: "read", metadata: "read" },
};
const AWS_ROLE = {
  kind: "aws",
  access_key_id_env: "EGRESS_PROXY_TOKEN_0",
  secret_access_key_env: "EGRESS_PROXY_TOKEN_1",
  role_arn: "arn:aws:iam::123456789012:role/bedrock-agent",
  sts_url: "https://sts.amazonaws.com",
  sts_region: "us-east-1",
  session_seconds: 3600,
};
const AWS_KEYS = { kind: "aws", access_key_id_env: "EGRESS_PROXY_TOKEN_0", secret_access_key_env: "EGRESS_PROXY_TOKEN_1" };

/** routes.yaml with a minted GitHub route, a SigV4 route, and (unless `minted`) a static token route. */
function routesYaml(sources: Record<string, unknown>, { staticRoute = false } = {}): string {
  return stringify({
    version: 1,
    credentials: sources,
    routes: [
      {
        host: "api.github.com",
        methods: ["GET"],
        path_allowlist: ["/repos/acme/app"],
        auth: { header: "Authorization", prefix: "Bearer ", token: "github", credential: "github" },
      },
      {
        host: "bedrock-runtime.us-east-1.amazonaws.com",
        methods: ["POST"],
        auth: { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock", credential: "bedrock" },
      },
      ...(staticRoute
        ? [{ host: "api.anthropic.com", auth: { header: "x-api-key", prefix: "", token: "anthropic", token_env: "EGRESS_PROXY_TOKEN_3" } }]
        : []),
    ],
  });
}

/** A bottle whose egress proxy reads `routes` and whose pipelock allows `allowlist`. */
function graphWith(routes: string, allowlist: string[]) {
  const graph = bottleGraph({ hosts: ["api.github.com"] });
  setDocument(graph, "egress-proxy", routes);
  setDocument(graph, "pipelock", stringify(pipelockConfig("reviewer", allowlist)));
  return graph;
}
const ROUTE_HOSTS = ["api.github.com", "bedrock-runtime.us-east-1.amazonaws.com"];

describe("production-prefer-expiring-credentials", () => {
  it("passes minted credentials in production, and does not apply elsewhere", async () => {
    const graph = graphWith(routesYaml({ github: GITHUB_APP, bedrock: AWS_ROLE }), ROUTE_HOSTS);
    assert.deepEqual((await runStackPolicy(productionPreferExpiringCredentials, graph, { stack: "prod" })).violations, []);
    const elsewhere = await runStackPolicy(productionPreferExpiringCredentials, graph, { stack: "dev" });
    assert.match(elsewhere.notApplicable ?? "", /not a production stack/);
  });

  it("points out a static token and AWS keys that sign themselves", async () => {
    const graph = graphWith(routesYaml({ github: GITHUB_APP, bedrock: AWS_KEYS }, { staticRoute: true }), [
      ...ROUTE_HOSTS,
      "api.anthropic.com",
    ]);
    const { violations } = await runStackPolicy(productionPreferExpiringCredentials, graph, { stack: "prod" });
    const advice =
      "it never expires. Prefer a credential source: a GitHub App (githubApp), an AWS role (aws.roleArn), a Google service account (googleServiceAccount).";
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' injects the AWS keys of credentials.bedrock, which sign themselves into requests to " +
        `bedrock-runtime.us-east-1.amazonaws.com (/etc/egress-proxy/live/current/routes.yaml): ${advice}`,
      "Egress proxy 'dev-reviewer-egress-proxy' injects the static token anthropic into requests to api.anthropic.com " +
        `(/etc/egress-proxy/live/current/routes.yaml): ${advice}`,
    ]);
  });
});

describe("production-github-app-narrowed", () => {
  it("passes a GitHub App narrowed to named repositories", async () => {
    const graph = graphWith(routesYaml({ github: GITHUB_APP, bedrock: AWS_ROLE }), ROUTE_HOSTS);
    assert.deepEqual((await runStackPolicy(productionGithubAppNarrowed, graph, { stack: "prod" })).violations, []);
  });

  it("refuses a GitHub App with no repository narrowing in production, not elsewhere", async () => {
    const graph = graphWith(routesYaml({ github: { ...GITHUB_APP, repositories: [] }, bedrock: AWS_ROLE }), ROUTE_HOSTS);
    const { violations } = await runStackPolicy(productionGithubAppNarrowed, graph, { stack: "prod" });
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' mints tokens of the GitHub App credentials.github for every repository of its " +
        "installation (/etc/egress-proxy/live/current/routes.yaml: repositories: []). Give every route that uses it paths under " +
        "/repos/<owner>/<name> (or git repositories), so that its tokens are narrowed to those repositories.",
    ]);
    const elsewhere = await runStackPolicy(productionGithubAppNarrowed, graph, { stack: "dev" });
    assert.match(elsewhere.notApplicable ?? "", /not a production stack/);
  });

  it("refuses a credentials section it cannot read", async () => {
    const graph = graphWith(stringify({ version: 1, credentials: { github: "x" }, routes: [{ host: "api.github.com" }] }), [
      "api.github.com",
    ]);
    const { violations } = await runStackPolicy(productionGithubAppNarrowed, graph, { stack: "prod" });
    assert.deepEqual(violations, [
      "Cannot check the credential sources of 'dev-reviewer-egress-proxy': /etc/egress-proxy/live/current/routes.yaml: " +
        "credentials is not a mapping of sources, each with a kind.",
    ]);
  });
});

describe("credential sources and the other route policies", () => {
  it("gates-allow-same-hosts: pipelock may allow the mint hosts besides the routes, and nothing more", async () => {
    const routes = routesYaml({ github: GITHUB_APP, bedrock: AWS_ROLE });
    const mint = [...ROUTE_HOSTS, "sts.amazonaws.com"];
    assert.deepEqual((await runStackPolicy(gatesAllowSameHosts, graphWith(routes, mint))).violations, []);
    const { violations } = await runStackPolicy(gatesAllowSameHosts, graphWith(routes, [...mint, "oauth2.googleapis.com"]));
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /allows \[oauth2.googleapis.com\], which no egress-proxy route declares and no credential source mints at/,
    );
  });

  it("gates-allow-same-hosts: a mint host pipelock does not allow is refused like a route host", async () => {
    const { violations } = await runStackPolicy(
      gatesAllowSameHosts,
      graphWith(routesYaml({ github: GITHUB_APP, bedrock: AWS_ROLE }), ROUTE_HOSTS),
    );
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /route hosts \[sts.amazonaws.com\] of 'dev-reviewer-egress-proxy' are not in pipelock's api_allowlist/);
  });

  it("routes-keys-known: knows the SigV4 and minted credential keys", async () => {
    const graph = graphWith(routesYaml({ github: GITHUB_APP, bedrock: AWS_ROLE }, { staticRoute: true }), ROUTE_HOSTS);
    assert.deepEqual((await runStackPolicy(routesKeysKnown, graph)).violations, []);
  });
});
