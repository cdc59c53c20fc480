import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyTable, unjudgedKeys } from "../../../scripts/plan/document-keys";

describe("unjudgedKeys", () => {
  const table: KeyTable = {
    host: "read",
    mode: "compared",
    listen: "ignored: a port",
    auth: { token: "read", prefix: "ignored: text" },
  };
  const cases: [string, unknown, ReturnType<typeof unjudgedKeys>][] = [
    ["read and ignored keys: nothing", { host: "a", listen: "0.0.0.0:1", auth: { token: "t", prefix: "Bearer " } }, { values: {}, unknown: [] }],
    ["a compared key: its value", { mode: "strict" }, { values: { mode: '"strict"' }, unknown: [] }],
    ["an unknown key: its whole value, and named", { mirror: { to: ["x"] } }, { values: { mirror: '{"to":["x"]}' }, unknown: ["mirror"] }],
    ["an unknown key inside a table", { auth: { token: "t", scope: "all" } }, { values: { "auth.scope": '"all"' }, unknown: ["auth.scope"] }],
    ["a key named like an Object method is unknown", { constructor: 1, toString: 2 }, { values: { constructor: "1", toString: "2" }, unknown: ["constructor", "toString"] }],
    ["a scalar where a table is expected: nothing to walk", { auth: true }, { values: {}, unknown: [] }],
    ["not a document", ["a"], { values: {}, unknown: [] }],
  ];
  for (const [what, document, expected] of cases) {
    test(what, () => assert.deepEqual(unjudgedKeys(document, table), expected));
  }

  test("paths are prefixed with where the document sits", () => {
    assert.deepEqual(unjudgedKeys({ extra: 1 }, table, "routes[github.com]."), { values: { "routes[github.com].extra": "1" }, unknown: ["routes[github.com].extra"] });
  });
});
