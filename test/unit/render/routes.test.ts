import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { RouteSpec } from "../../../components/config";
import { renderRoutesYaml, tokenEnvNames } from "../../../components/egress-proxy/routes";

const github: RouteSpec = {
  host: "api.github.com",
  ports: [443],
  methods: ["GET"],
  paths: ["/repos/acme/", "/user"],
  auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
};
const anthropic: RouteSpec = {
  host: "api.anthropic.com",
  ports: [443],
  methods: ["POST"],
  auth: { header: "x-api-key", prefix: "", token: "anthropic" },
};
const mirror: RouteSpec = { host: "*.mirror.example.com", ports: [80, 443], methods: ["GET", "HEAD"] };

describe("renderRoutesYaml", () => {
  test("renders the version 1 contract exactly", () => {
    assert.equal(
      renderRoutesYaml({ routes: [github, anthropic, mirror], requestsPerMinute: 1200 }),
      `version: 1
requests_per_minute: 1200
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
`,
    );
  });

  test("lists every method explicitly, omits paths when any is allowed, and names cleartext ports", () => {
    const all: RouteSpec = { host: "a.example.com", ports: [443], methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] };
    const cleartext: RouteSpec = {
      host: "legacy.example.com",
      ports: [80],
      methods: ["GET"],
      auth: { header: "X-Key", prefix: "", token: "legacy" },
      insecureCleartextPorts: [80],
    };
    const doc = parse(renderRoutesYaml({ routes: [all, cleartext], requestsPerMinute: 60 }));
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

describe("tokenEnvNames", () => {
  test("numbers tokens by name, independent of route order, one variable per token", () => {
    const shared: RouteSpec = { host: "uploads.github.com", ports: [443], methods: ["POST"], auth: { header: "Authorization", prefix: "token ", token: "github" } };
    const forward = tokenEnvNames([github, anthropic, shared]);
    const backward = tokenEnvNames([shared, anthropic, github]);
    assert.deepEqual([...forward], [["anthropic", "EGRESS_PROXY_TOKEN_0"], ["github", "EGRESS_PROXY_TOKEN_1"]]);
    assert.deepEqual([...backward], [...forward]);
  });
});
