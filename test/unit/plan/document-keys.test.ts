import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ReachRule } from "../../../components/index";
import { keyTableOf, type KeyTable, ROUTE_KEYS, unjudgedKeys } from "../../../scripts/plan/document-keys";

describe("unjudgedKeys", () => {
  const table: KeyTable = {
    host: "read",
    mode: "compared",
    listen: "ignored: a port",
    auth: { token: "read", prefix: "ignored: text" },
  };
  const cases: [string, unknown, ReturnType<typeof unjudgedKeys>][] = [
    [
      "read and ignored keys: nothing",
      { host: "a", listen: "0.0.0.0:1", auth: { token: "t", prefix: "Bearer " } },
      { values: {}, unknown: [] },
    ],
    ["a compared key: its value", { mode: "strict" }, { values: { mode: '"strict"' }, unknown: [] }],
    ["an unknown key: its whole value, and named", { mirror: { to: ["x"] } }, { values: { mirror: '{"to":["x"]}' }, unknown: ["mirror"] }],
    [
      "an unknown key inside a table",
      { auth: { token: "t", scope: "all" } },
      { values: { "auth.scope": '"all"' }, unknown: ["auth.scope"] },
    ],
    [
      "a key named like an Object method is unknown",
      { constructor: 1, toString: 2 },
      { values: { constructor: "1", toString: "2" }, unknown: ["constructor", "toString"] },
    ],
    ["a scalar where a table is expected: nothing to walk", { auth: true }, { values: {}, unknown: [] }],
    ["not a document", ["a"], { values: {}, unknown: [] }],
  ];
  for (const [what, document, expected] of cases) {
    test(what, () => assert.deepEqual(unjudgedKeys(document, table), expected));
  }

  test("paths are prefixed with where the document sits", () => {
    assert.deepEqual(unjudgedKeys({ extra: 1 }, table, "routes[github.com]."), {
      values: { "routes[github.com].extra": "1" },
      unknown: ["routes[github.com].extra"],
    });
  });
});

describe("keyTableOf", () => {
  const cases: [string, [string, ReachRule][], KeyTable][] = [
    ["a key read into the reach", [["host", { reads: "host" }]], { host: "read" }],
    ["a key ignored, with why", [["prefix", { ignored: "text" }]], { prefix: "ignored: text" }],
    [
      "dotted keys nest; a key read by its keys is their table",
      [
        ["git", "its keys"],
        ["git.push", "its keys"],
        ["git.push.refs", { reads: "push.refs" }],
      ],
      { git: { push: { refs: "read" } } },
    ],
    ["a key read by its keys that has none is absent (unknown to the reach)", [["auth", "its keys"]], {}],
  ];
  for (const [what, keys, expected] of cases) {
    test(what, () => assert.deepEqual(keyTableOf(new Map(keys)), expected));
  }

  test("ROUTE_KEYS: the route contract's keys, as the reach diff reads them", () => {
    assert.deepEqual(ROUTE_KEYS, {
      host: "read",
      ports: "read",
      methods: "read",
      path_allowlist: "read",
      git: { repositories: "read", push: { refs: "read", create: "read", delete: "read", tags: "read" } },
      auth: {
        header: "read",
        prefix: "ignored: the text before the token in its header, not what the token grants",
        basic_username: "read",
        sigv4: { service: "read", region: "read" },
        token: "read",
        token_env: "read",
        credential: "read",
      },
      insecure_cleartext_ports: "read",
      bulk: "read",
    });
  });
});
