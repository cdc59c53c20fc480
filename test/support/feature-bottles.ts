/**
 * The bottles the routes.yaml contract test runs through both languages, and the route
 * contract's test (test/unit/config/route-contract.test.ts) through every place that handles a
 * route: that test requires them to use every route option.
 */
import assert from "node:assert/strict";
import { type BottleSpec, validateBottle } from "../../components/index";

/** One credential source of each kind, each secret its own token: the example. */
export const CREDENTIAL_SOURCES = {
  github: { githubApp: { appId: "123456", installationId: "7890123", privateKey: "github-app-key" } },
  bedrock: {
    aws: {
      accessKeyId: "aws-access-key-id",
      secretAccessKey: "aws-secret-access-key",
      roleArn: "arn:aws:iam::123456789012:role/bedrock-agent",
    },
  },
  vertex: { googleServiceAccount: { key: "vertex-sa-key" } },
};

/** Routes that use each kind of credential source (named github, bedrock, vertex): the example. */
export const CREDENTIAL_ROUTES = [
  {
    host: "api.github.com",
    methods: ["GET", "POST"],
    paths: ["/repos/acme/app/pulls"],
    auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
  },
  {
    host: "github.com",
    git: { repositories: ["acme/app"], pushRules: {} },
    auth: { header: "Authorization", username: "x-access-token", token: "github" },
  },
  {
    host: "bedrock-runtime.us-east-1.amazonaws.com",
    methods: ["POST"],
    paths: ["/model/"],
    auth: { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock" },
  },
  {
    host: "us-east5-aiplatform.googleapis.com",
    methods: ["POST"],
    auth: { header: "Authorization", prefix: "Bearer ", token: "vertex" },
  },
];

/** Bottles that between them use every route feature; `raw` omits what defaults fill in. */
export const FEATURE_BOTTLES: Record<string, unknown> = {
  defaults: { routes: [{ host: "api.github.com" }, { host: "api.anthropic.com", auth: { header: "x-api-key", token: "b" } }] },
  everything: {
    requestsPerMinute: 90,
    auditMode: true,
    routes: [
      { host: "*.mirror.example.com", methods: ["GET", "HEAD"], paths: ["/simple/", "/packages"] },
      {
        host: "api.github.com",
        ports: [443, 8443],
        methods: ["GET", "POST"],
        paths: ["/repos/acme/"],
        auth: { header: "Authorization", prefix: "Bearer ", token: "b" },
      },
      { host: "legacy.example.com", ports: [80, 443], insecureCleartextPorts: [80], auth: { header: "X-Api-Key", token: "a" } },
      { host: "xn--bcher-kva.example", ports: [8080] },
      {
        host: "github.com",
        git: { repositories: ["acme/app"], push: true },
        auth: { header: "Authorization", username: "x-access-token", token: "b" },
      },
      { host: "gitlab.example.com", git: { repositories: ["group/sub/lib"] }, bulk: false },
    ],
    pipelock: { settings: { tls_interception: { passthrough_domains: ["*.mirror.example.com"], max_response_bytes: 1048576 } } },
  },
  // Answers pipelock must hold: downloads stay inspected, git still takes the bulk lane.
  blocking: {
    routes: [
      { host: "pypi.example.com", methods: ["GET"] },
      { host: "github.com", git: { repositories: ["acme/app"] } },
    ],
    pipelock: { settings: { response_scanning: { action: "block" } } },
  },
  // Every pipelock setting a bottle may set.
  settings: {
    routes: [
      { host: "api.example.com" },
      {
        host: "github.com",
        git: {
          repositories: ["acme/app"],
          pushRules: { refs: ["refs/heads/agent/*", "refs/tags/v*"], create: true, delete: true, tags: true },
        },
      },
    ],
    pipelock: {
      settings: {
        trusted_domains: ["api.example.com"],
        internal: ["10.0.0.0/8"],
        ssrf: { ip_allowlist: ["10.1.2.3"] },
        explain_blocks: true,
        forward_proxy: { max_tunnel_seconds: 600, idle_timeout_seconds: 60 },
        dlp: { patterns: [{ name: "acme key", regex: "acme_[0-9a-f]{32}", severity: "high", exempt_domains: ["api.example.com"] }] },
        seed_phrase_detection: { enabled: true, min_words: 12 },
        response_scanning: { enabled: true, action: "block" },
        tls_interception: { passthrough_domains: ["api.example.com"], max_response_bytes: 1048576 },
      },
    },
  },
  // Credentials the egress proxy mints: a GitHub App, AWS with a role (SigV4), a Google service account.
  credentials: {
    credentials: CREDENTIAL_SOURCES,
    routes: CREDENTIAL_ROUTES,
  },
  // No route on the bulk lane: no bulk_lane at all.
  inspected: {
    routes: [
      { host: "api.example.com", bulk: false },
      { host: "api.anthropic.com", methods: ["POST"] },
    ],
  },
};

/** The tokens the feature bottles name: two static tokens, and the secrets of the credential sources. */
export const FEATURE_TOKENS: readonly string[] = [
  "a",
  "b",
  "github-app-key",
  "aws-access-key-id",
  "aws-secret-access-key",
  "vertex-sa-key",
];

/** Each of them validated (the FEATURE_TOKENS exist), with its config as written. */
export function featureBottles(): Record<string, { spec: BottleSpec; raw: unknown }> {
  return Object.fromEntries(
    Object.entries(FEATURE_BOTTLES).map(([name, raw]) => {
      const result = validateBottle(name, raw, new Set(FEATURE_TOKENS));
      assert.ok(result.ok, `${name}: ${JSON.stringify(result)}`);
      return [name, { spec: result.value, raw }];
    }),
  );
}
