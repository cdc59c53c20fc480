/**
 * Credential sources in the reach: read from routes.yaml's `credentials`, printed, and diffed
 * (a wider narrowing widens, a narrower one narrows).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type CredentialReach, credentialReach, describeCredential } from "../../../scripts/plan/credential-reach";
import { diffCredentials, describeRoute } from "../../../scripts/plan/reach-diff";
import { documentsUnjudged, routeReach } from "../../../scripts/plan/reach";

const app = (repositories: string[], permissions: Record<string, string>, extra: Partial<CredentialReach> = {}): CredentialReach => ({
  kind: "github_app",
  identity: "app 1 installation 2",
  mintUrl: "https://api.github.com",
  repositories,
  permissions,
  ...extra,
});
const role = (arn: string, sessionSeconds = 3600): CredentialReach => ({
  kind: "aws",
  identity: `role ${arn}`,
  mintUrl: "https://sts.amazonaws.com (us-east-1)",
  sessionSeconds,
});
const STATIC: CredentialReach = { kind: "aws", identity: "static keys" };
const google = (scopes: string[]): CredentialReach => ({
  kind: "google_service_account",
  identity: "service account",
  mintUrl: "https://oauth2.googleapis.com/token",
  scopes,
});
const READ = { contents: "read", metadata: "read" };

describe("credentialReach: a source of routes.yaml as a reach", () => {
  const cases: [string, Record<string, unknown>, CredentialReach][] = [
    [
      "a GitHub App",
      {
        kind: "github_app",
        app_id: "1",
        installation_id: "2",
        api_url: "https://api.github.com",
        private_key_env: "EGRESS_PROXY_TOKEN_0",
        repositories: ["acme/lib", "acme/app"],
        permissions: { contents: "read", metadata: "read" },
      },
      app(["acme/app", "acme/lib"], READ),
    ],
    [
      "AWS with a role",
      {
        kind: "aws",
        access_key_id_env: "EGRESS_PROXY_TOKEN_0",
        secret_access_key_env: "EGRESS_PROXY_TOKEN_1",
        role_arn: "arn:aws:iam::1:role/r",
        sts_url: "https://sts.amazonaws.com",
        sts_region: "us-east-1",
        session_seconds: 3600,
      },
      role("arn:aws:iam::1:role/r"),
    ],
    ["AWS static keys", { kind: "aws", access_key_id_env: "EGRESS_PROXY_TOKEN_0", secret_access_key_env: "EGRESS_PROXY_TOKEN_1" }, STATIC],
    [
      "a Google service account",
      {
        kind: "google_service_account",
        key_env: "EGRESS_PROXY_TOKEN_0",
        scopes: ["b", "a"],
        token_url: "https://oauth2.googleapis.com/token",
      },
      google(["a", "b"]),
    ],
  ];
  for (const [name, raw, expected] of cases) test(name, () => assert.deepEqual(credentialReach(raw), expected));
});

describe("describeCredential and describeRoute", () => {
  const cases: [CredentialReach, string][] = [
    [
      app(["acme/app"], { contents: "write", metadata: "read" }),
      "github_app app 1 installation 2; repositories acme/app; permissions contents: write, metadata: read; minted at https://api.github.com",
    ],
    [
      app([], READ),
      "github_app app 1 installation 2; EVERY repository of the installation (no narrowing); permissions contents: read, metadata: read; minted at https://api.github.com",
    ],
    [role("arn:aws:iam::1:role/r"), "aws role arn:aws:iam::1:role/r; sessions of 3600 s; minted at https://sts.amazonaws.com (us-east-1)"],
    [STATIC, "aws static keys; never expires"],
    [google(["s"]), "google_service_account service account; scopes s; minted at https://oauth2.googleapis.com/token"],
  ];
  for (const [credential, text] of cases) test(text, () => assert.equal(describeCredential(credential), text));

  test("a SigV4 route and a minted header credential", () => {
    const sigv4 = routeReach({
      host: "bedrock-runtime.us-east-1.amazonaws.com",
      ports: [443],
      methods: ["POST"],
      auth: { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock", credential: "bedrock" },
    });
    assert.equal(
      describeRoute(sigv4),
      "port 443; POST; any path; SigV4 for bedrock in us-east-1, minted credential bedrock; pipelock reads all",
    );
    const minted = routeReach({
      host: "github.com",
      ports: [443],
      methods: ["GET"],
      auth: { header: "Authorization", prefix: "", basic_username: "x-access-token", token: "github", credential: "github" },
    });
    assert.equal(
      describeRoute(minted),
      "port 443; GET; any path; minted credential github in Authorization (Basic, user x-access-token); pipelock reads all",
    );
  });
});

describe("diffCredentials: which way a source moved", () => {
  const cases: [string, Record<string, CredentialReach>, Record<string, CredentialReach>, [string, string, string][]][] = [
    ["unchanged", { g: app(["acme/app"], READ) }, { g: app(["acme/app"], READ) }, []],
    ["a new source widens", {}, { s: STATIC }, [["widens", "credential s", "new source: aws static keys; never expires"]]],
    ["a removed source narrows", { s: STATIC }, {}, [["narrows", "credential s", "removed"]]],
    [
      "more repositories widen",
      { g: app(["acme/app"], READ) },
      { g: app(["acme/app", "acme/lib"], READ) },
      [["widens", "credential g", "repositories + acme/lib"]],
    ],
    [
      "fewer repositories narrow",
      { g: app(["acme/app", "acme/lib"], READ) },
      { g: app(["acme/app"], READ) },
      [["narrows", "credential g", "repositories - acme/lib"]],
    ],
    [
      "no narrowing at all widens",
      { g: app(["acme/app"], READ) },
      { g: app([], READ) },
      [["widens", "credential g", "repositories: EVERY repository of the installation (was acme/app)"]],
    ],
    [
      "a narrowing where there was none narrows",
      { g: app([], READ) },
      { g: app(["acme/app"], READ) },
      [["narrows", "credential g", "repositories: only acme/app (was every repository)"]],
    ],
    [
      "a higher permission widens, a new one too",
      { g: app(["acme/app"], READ) },
      { g: app(["acme/app"], { contents: "write", issues: "read", metadata: "read" }) },
      [
        ["widens", "credential g", "permission contents: read -> write"],
        ["widens", "credential g", "permission issues: none -> read"],
      ],
    ],
    [
      "a lower or dropped permission narrows",
      { g: app(["acme/app"], { contents: "write", issues: "read", metadata: "read" }) },
      { g: app(["acme/app"], READ) },
      [
        ["narrows", "credential g", "permission contents: write -> read"],
        ["narrows", "credential g", "permission issues: read -> none"],
      ],
    ],
    [
      "another installation widens",
      { g: app(["acme/app"], READ) },
      { g: app(["acme/app"], READ, { identity: "app 1 installation 3" }) },
      [
        [
          "widens",
          "credential g",
          "github_app app 1 installation 2; repositories acme/app; permissions contents: read, metadata: read; minted at https://api.github.com -> github_app app 1 installation 3; repositories acme/app; permissions contents: read, metadata: read; minted at https://api.github.com: check what it grants",
        ],
      ],
    ],
    [
      "a different role widens",
      { b: role("arn:aws:iam::1:role/a") },
      { b: role("arn:aws:iam::1:role/b") },
      [
        [
          "widens",
          "credential b",
          "aws role arn:aws:iam::1:role/a; sessions of 3600 s; minted at https://sts.amazonaws.com (us-east-1) -> aws role arn:aws:iam::1:role/b; sessions of 3600 s; minted at https://sts.amazonaws.com (us-east-1): check what it grants",
        ],
      ],
    ],
    [
      "static keys instead of a role widen",
      { b: role("arn:aws:iam::1:role/a") },
      { b: STATIC },
      [
        [
          "widens",
          "credential b",
          "aws role arn:aws:iam::1:role/a; sessions of 3600 s; minted at https://sts.amazonaws.com (us-east-1) -> aws static keys; never expires: check what it grants",
        ],
      ],
    ],
    [
      "longer sessions widen, shorter narrow",
      { a: role("arn:aws:iam::1:role/a"), b: role("arn:aws:iam::1:role/b") },
      { a: role("arn:aws:iam::1:role/a", 7200), b: role("arn:aws:iam::1:role/b", 900) },
      [
        ["widens", "credential a", "3600 -> 7200 seconds a session lasts"],
        ["narrows", "credential b", "3600 -> 900 seconds a session lasts"],
      ],
    ],
    [
      "more scopes widen, fewer narrow",
      { v: google(["a"]) },
      { v: google(["b"]) },
      [
        ["widens", "credential v", "scopes + b"],
        ["narrows", "credential v", "scopes - a"],
      ],
    ],
  ];
  for (const [name, before, after, expected] of cases) {
    test(name, () =>
      assert.deepEqual(
        diffCredentials(before, after).map(({ effect, subject, detail }) => [effect, subject, detail]),
        expected,
      ),
    );
  }
});

describe("a source's keys in the reach diff's tables", () => {
  test("every key the renderer writes is judged; an unknown one is named", () => {
    const routesYaml = [
      "version: 1",
      "credentials:",
      "  g: { kind: github_app, app_id: '1', installation_id: '2', api_url: 'https://api.github.com', private_key_env: E0, repositories: [], permissions: {}, surprise: 1 }",
      "  b: { kind: aws, access_key_id_env: E1, secret_access_key_env: E2, role_arn: r, sts_url: u, sts_region: us-east-1, session_seconds: 900 }",
      "  v: { kind: google_service_account, key_env: E3, scopes: [s], token_url: u }",
      "routes: []",
    ].join("\n");
    assert.deepEqual(documentsUnjudged({ "routes.yaml": routesYaml }).unknown, ["routes.yaml credentials[g].surprise"]);
  });
});
