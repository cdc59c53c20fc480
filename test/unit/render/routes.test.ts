import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import type { PipelockSettingsSpec, RouteSpec } from "../../../components/config";
import { renderRoutesYaml, tokenEnvNames } from "../../../components/egress-proxy/routes";

const github: RouteSpec = {
  host: "api.github.com",
  ports: [443],
  methods: ["GET"],
  paths: ["/repos/acme/", "/user"],
  auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
  bulk: false,
};
const anthropic: RouteSpec = {
  host: "api.anthropic.com",
  ports: [443],
  methods: ["POST"],
  auth: { header: "x-api-key", prefix: "", token: "anthropic" },
  bulk: true,
};
const mirror: RouteSpec = { host: "*.mirror.example.com", ports: [80, 443], methods: ["GET", "HEAD"], bulk: true };
const repo: RouteSpec = {
  host: "github.com",
  ports: [443],
  methods: ["GET", "POST"],
  paths: ["/acme/app.git/info/refs", "/acme/app.git/git-upload-pack"],
  git: { repositories: ["acme/app"], push: false },
  auth: { header: "Authorization", prefix: "", username: "x-access-token", token: "github" },
  bulk: true,
};
const pipelock = (settings: PipelockSettingsSpec = {}) => ({ settings });

describe("renderRoutesYaml", () => {
  test("renders the version 1 contract exactly", () => {
    assert.equal(
      renderRoutesYaml({ routes: [github, anthropic, mirror], requestsPerMinute: 1200, pipelock: pipelock() }),
      `version: 1
requests_per_minute: 1200
bulk_lane:
  scan_headers:
    - Cookie
    - X-Token
    - Proxy-Authorization
    - X-Goog-Api-Key
  answer_scan_bytes: 5242880
routes:
  - host: api.github.com
    ports:
      - 443
    methods:
      - GET
    path_allowlist:
      - /repos/acme/
      - /user
    auth:
      header: Authorization
      prefix: "Bearer "
      token: github
      token_env: EGRESS_PROXY_TOKEN_1
  - host: api.anthropic.com
    ports:
      - 443
    methods:
      - POST
    auth:
      header: x-api-key
      prefix: ""
      token: anthropic
      token_env: EGRESS_PROXY_TOKEN_0
  - host: "*.mirror.example.com"
    ports:
      - 80
      - 443
    methods:
      - GET
      - HEAD
    bulk:
      - downloads
`,
    );
  });

  test("lists every method explicitly, omits paths when any is allowed, and names cleartext ports", () => {
    const all: RouteSpec = {
      host: "a.example.com",
      ports: [443],
      methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
      bulk: false,
    };
    const cleartext: RouteSpec = {
      host: "legacy.example.com",
      ports: [80],
      methods: ["GET"],
      auth: { header: "X-Key", prefix: "", token: "legacy" },
      insecureCleartextPorts: [80],
      bulk: false,
    };
    const doc = parse(renderRoutesYaml({ routes: [all, cleartext], requestsPerMinute: 60, pipelock: pipelock() }));
    assert.deepEqual(doc, {
      version: 1,
      requests_per_minute: 60,
      routes: [
        { host: "a.example.com", ports: [443], methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] },
        {
          host: "legacy.example.com",
          ports: [80],
          methods: ["GET"],
          auth: { header: "X-Key", prefix: "", token: "legacy", token_env: "EGRESS_PROXY_TOKEN_0" },
          insecure_cleartext_ports: [80],
        },
      ],
    });
  });
});

describe("renderRoutesYaml: the bulk lane", () => {
  const routesOf = (routes: RouteSpec[], settings: PipelockSettingsSpec = {}) =>
    parse(renderRoutesYaml({ routes, requestsPerMinute: 60, pipelock: pipelock(settings) })) as {
      bulk_lane?: { scan_headers: string[]; answer_scan_bytes: number };
      passthrough?: string[];
      routes: { host: string; bulk?: string[]; git?: unknown }[];
    };

  test("names, per route, the traffic that takes the bulk lane: git's, or downloads", () => {
    const doc = routesOf([repo, mirror, anthropic, github]);
    assert.deepEqual(
      doc.routes.map((r) => [r.host, r.bulk ?? null, r.git ?? null]),
      [
        ["github.com", ["git"], { repositories: ["acme/app"], push: false }],
        ["*.mirror.example.com", ["downloads"], null],
        // POST only: nothing is bulk. bulk: false: nothing is.
        ["api.anthropic.com", null, null],
        ["api.github.com", null, null],
      ],
    );
    // pipelock's sensitive headers but the injected ones, as in pipelock.yaml.
    assert.deepEqual(doc.bulk_lane, {
      scan_headers: ["Cookie", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key"],
      answer_scan_bytes: 5 * 1024 * 1024,
    });
  });

  test("downloads stay inspected when pipelock must hold answers to act on them", () => {
    for (const action of ["block", "strip"] as const) {
      const doc = routesOf([repo, mirror], { response_scanning: { action } });
      assert.deepEqual(
        doc.routes.map((r) => r.bulk ?? null),
        [["git"], null],
        action,
      );
    }
    assert.deepEqual(routesOf([mirror], { response_scanning: { enabled: false, action: "block" } }).routes[0]!.bulk, ["downloads"]);
  });

  test("scans answers as far as pipelock would read them, and says which hosts pipelock passes through", () => {
    assert.equal(routesOf([mirror], { tls_interception: { max_response_bytes: 1 << 20 } }).bulk_lane?.answer_scan_bytes, 1 << 20);
    assert.equal(routesOf([mirror], { response_scanning: { enabled: false } }).bulk_lane?.answer_scan_bytes, 0);
    // No route on the bulk lane: no bulk lane.
    assert.equal(routesOf([anthropic]).bulk_lane, undefined);
    assert.deepEqual(routesOf([anthropic], { tls_interception: { passthrough_domains: ["npm.example.com"] } }).passthrough, [
      "npm.example.com",
    ]);
  });
});

describe("tokenEnvNames", () => {
  test("numbers tokens by name, independent of route order, one variable per token", () => {
    const shared: RouteSpec = {
      host: "uploads.github.com",
      ports: [443],
      methods: ["POST"],
      auth: { header: "Authorization", prefix: "token ", token: "github" },
      bulk: true,
    };
    const forward = tokenEnvNames({ routes: [github, anthropic, shared] });
    const backward = tokenEnvNames({ routes: [shared, anthropic, github] });
    assert.deepEqual(
      [...forward],
      [
        ["anthropic", "EGRESS_PROXY_TOKEN_0"],
        ["github", "EGRESS_PROXY_TOKEN_1"],
      ],
    );
    assert.deepEqual([...backward], [...forward]);
  });
});
