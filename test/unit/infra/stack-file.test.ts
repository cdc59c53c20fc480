import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readStackFile } from "../../../infra/stack-file";

describe("readStackFile", () => {
  const text = `
config:
  aws:region: us-east-1
  bot-bottle:bottles:
    - name: coder
      routes: [{ host: api.github.com }]
  bot-bottle:tokens:
    github: { secure: v1:abc }
    leaked: ghp_plaintext
  bot-bottle:dockr: { host: ssh://x }
`;
  const { config, unknownKeys } = readStackFile(text, (path) => `<${path}>`);

  test("marks only secure: entries as secret and never keeps their ciphertext", () => {
    assert.deepEqual(config.tokens, {
      github: { secret: true, value: "<tokens.github>" },
      leaked: { secret: false, value: "ghp_plaintext" },
    });
  });

  test("reads bottles as written and ignores other namespaces", () => {
    assert.deepEqual(config.bottles, [{ name: "coder", routes: [{ host: "api.github.com" }] }]);
  });

  test("reports bot-bottle keys it does not know", () => {
    assert.deepEqual(unknownKeys, ["bot-bottle:dockr"]);
  });

  test("an empty file has no config", () => {
    assert.deepEqual(readStackFile("", () => "").config, {});
  });
});
