/**
 * What a bottle's credential sources render: routes.yaml's `credentials` and the routes' auth,
 * the token variables, pipelock's allowlist, passthrough and scanned headers, the egress proxy's
 * tokens file and trust.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { type BottleSpec, validateStackConfig } from "../../../components/config";
import { renderRoutesYaml, tokenEnvNames } from "../../../components/egress-proxy/routes";
import { describeEgressProxy, SYSTEM_ROOTS } from "../../../components/egress-proxy/workload";
import { passthroughHosts, pipelockSettingsKey, renderPipelockYaml } from "../../../components/pipelock/config";
import { CREDENTIAL_ROUTES, CREDENTIAL_SOURCES } from "../../support/feature-bottles";

const TOKENS = Object.fromEntries(
  ["github-app-key", "aws-access-key-id", "aws-secret-access-key", "vertex-sa-key", "anthropic"].map((n) => [
    n,
    { secret: true, value: "v" },
  ]),
);

/** The contract's bottle (all three kinds), plus a static token on another route. */
function contractBottle(credentials: Record<string, unknown> = {}, extraRoutes: unknown[] = []): BottleSpec {
  const result = validateStackConfig({
    tokens: TOKENS,
    bottles: [
      {
        name: "coder",
        credentials: { ...CREDENTIAL_SOURCES, ...credentials },
        routes: [...CREDENTIAL_ROUTES, { host: "api.anthropic.com", auth: { header: "x-api-key", token: "anthropic" } }, ...extraRoutes],
      },
    ],
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value.bottles[0]!;
}

describe("routes.yaml with credential sources", () => {
  const routes = parse(renderRoutesYaml(contractBottle()));

  test("token variables are numbered over every tokens entry used, static or a source's secret, in name order", () => {
    assert.deepEqual(
      [...tokenEnvNames(contractBottle())],
      [
        ["anthropic", "EGRESS_PROXY_TOKEN_0"],
        ["aws-access-key-id", "EGRESS_PROXY_TOKEN_1"],
        ["aws-secret-access-key", "EGRESS_PROXY_TOKEN_2"],
        ["github-app-key", "EGRESS_PROXY_TOKEN_3"],
        ["vertex-sa-key", "EGRESS_PROXY_TOKEN_4"],
      ],
    );
  });

  test("the credentials section: each source, its secrets' variables, a GitHub App's narrowing", () => {
    assert.deepEqual(routes.credentials, {
      bedrock: {
        kind: "aws",
        access_key_id_env: "EGRESS_PROXY_TOKEN_1",
        secret_access_key_env: "EGRESS_PROXY_TOKEN_2",
        role_arn: "arn:aws:iam::123456789012:role/bedrock-agent",
        sts_url: "https://sts.amazonaws.com",
        sts_region: "us-east-1",
        session_seconds: 3600,
      },
      github: {
        kind: "github_app",
        app_id: "123456",
        installation_id: "7890123",
        api_url: "https://api.github.com",
        private_key_env: "EGRESS_PROXY_TOKEN_3",
        repositories: ["acme/app"],
        permissions: { contents: "write", metadata: "read", pull_requests: "write" },
      },
      vertex: {
        kind: "google_service_account",
        key_env: "EGRESS_PROXY_TOKEN_4",
        scopes: ["https://www.googleapis.com/auth/cloud-platform"],
        token_url: "https://oauth2.googleapis.com/token",
      },
    });
  });

  test("each route's auth: a minted credential by name, a static token by variable; header or SigV4", () => {
    assert.deepEqual(
      routes.routes.map((r: { host: string; auth: unknown }) => [r.host, r.auth]),
      [
        ["api.github.com", { header: "Authorization", prefix: "Bearer ", token: "github", credential: "github" }],
        ["github.com", { header: "Authorization", prefix: "", basic_username: "x-access-token", token: "github", credential: "github" }],
        [
          "bedrock-runtime.us-east-1.amazonaws.com",
          { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock", credential: "bedrock" },
        ],
        ["us-east5-aiplatform.googleapis.com", { header: "Authorization", prefix: "Bearer ", token: "vertex", credential: "vertex" }],
        ["api.anthropic.com", { header: "x-api-key", prefix: "", token: "anthropic", token_env: "EGRESS_PROXY_TOKEN_0" }],
      ],
    );
  });

  test("AWS keys that sign themselves: no STS keys at all", () => {
    const spec = contractBottle({ bedrock: { aws: { accessKeyId: "aws-access-key-id", secretAccessKey: "aws-secret-access-key" } } });
    assert.deepEqual(parse(renderRoutesYaml(spec)).credentials.bedrock, {
      kind: "aws",
      access_key_id_env: "EGRESS_PROXY_TOKEN_1",
      secret_access_key_env: "EGRESS_PROXY_TOKEN_2",
    });
  });

  test("no credentials section without sources; the Google token host passes through", () => {
    const plain = { ...contractBottle(), credentials: undefined, routes: contractBottle().routes.slice(4) };
    assert.equal(parse(renderRoutesYaml(plain)).credentials, undefined);
    assert.deepEqual(routes.passthrough, ["oauth2.googleapis.com"]);
  });
});

describe("pipelock.yaml with credential sources", () => {
  const spec = contractBottle();
  const pipelock = parse(renderPipelockYaml(spec));

  test("the mint hosts join the routes' hosts in the allowlist, each once", () => {
    assert.deepEqual(pipelock.api_allowlist, [
      "api.github.com",
      "github.com",
      "bedrock-runtime.us-east-1.amazonaws.com",
      "us-east5-aiplatform.googleapis.com",
      "api.anthropic.com",
      "oauth2.googleapis.com",
      "sts.amazonaws.com",
    ]);
  });

  test("the Google token host is passed through unread, after the bottle's own passthrough hosts", () => {
    assert.deepEqual(pipelock.tls_interception.passthrough_domains, ["oauth2.googleapis.com"]);
    const withOwn = {
      ...spec,
      pipelock: { ...spec.pipelock, settings: { tls_interception: { passthrough_domains: ["api.anthropic.com"] } } },
    };
    assert.deepEqual(passthroughHosts(withOwn), ["api.anthropic.com", "oauth2.googleapis.com"]);
    assert.deepEqual(parse(renderPipelockYaml(withOwn)).tls_interception.passthrough_domains, [
      "api.anthropic.com",
      "oauth2.googleapis.com",
    ]);
  });

  test("no DLP pattern is added or exempted: pipelock's JWT pattern keeps its default everywhere", () => {
    assert.deepEqual(pipelock.dlp, { include_defaults: true, scan_env: true });
  });

  test("a SigV4 route leaves Authorization out of the scanned headers; x-api-key too (a static header route)", () => {
    assert.deepEqual(pipelock.request_body_scanning.sensitive_headers, ["Cookie", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key"]);
    const sigv4Only = { ...spec, routes: spec.routes.filter((r) => r.auth?.sigv4) };
    assert.deepEqual(parse(renderPipelockYaml(sigv4Only)).request_body_scanning.sensitive_headers, [
      "Cookie",
      "X-Api-Key",
      "X-Token",
      "Proxy-Authorization",
      "X-Goog-Api-Key",
    ]);
  });

  test("a source changes what a reload cannot: another mint host replaces pipelock", () => {
    const ghes = contractBottle({
      github: {
        githubApp: { appId: "123456", installationId: "7890123", privateKey: "github-app-key", apiUrl: "https://ghe.example.com/api/v3" },
      },
    });
    assert.notEqual(pipelockSettingsKey(ghes), pipelockSettingsKey(spec));
    assert.ok(parse(renderPipelockYaml(ghes)).api_allowlist.includes("ghe.example.com"));
  });
});

describe("the egress proxy's workload with credential sources", () => {
  const workload = describeEgressProxy("dev", contractBottle());

  test("its tokens file holds every entry used, sources' secrets included", () => {
    assert.deepEqual(workload.live?.tokens?.variables, {
      EGRESS_PROXY_TOKEN_0: "anthropic",
      EGRESS_PROXY_TOKEN_1: "aws-access-key-id",
      EGRESS_PROXY_TOKEN_2: "aws-secret-access-key",
      EGRESS_PROXY_TOKEN_3: "github-app-key",
      EGRESS_PROXY_TOKEN_4: "vertex-sa-key",
    });
  });

  test("it trusts the public roots for the passed-through token host, with no bulk lane or passthrough route", () => {
    const spec = contractBottle();
    const inspected = { ...spec, routes: spec.routes.map((r) => ({ ...r, bulk: false })) };
    const extraCa = (bottle: BottleSpec) => describeEgressProxy("dev", bottle).env.find((e) => e.name === "EGRESS_PROXY_UPSTREAM_EXTRA_CA");
    assert.deepEqual(extraCa(inspected), { name: "EGRESS_PROXY_UPSTREAM_EXTRA_CA", value: SYSTEM_ROOTS });
    const { vertex: _, ...others } = spec.credentials!;
    const noGoogle = { ...inspected, credentials: others, routes: inspected.routes.filter((r) => r.auth?.token !== "vertex") };
    assert.equal(extraCa(noGoogle), undefined);
  });
});
