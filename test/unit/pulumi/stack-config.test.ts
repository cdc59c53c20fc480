import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { generate, isPlaceholder, unkept } from "../../../scripts/stack-config";

const PLACEHOLDER = "v1:placeholder-set-with-pulumi-config-set-secret";
const TRACKED = `# a comment the human wrote
config:
  bot-bottle:bottles:
    - name: coder
      routes:
        - { host: api.github.com, auth: { header: Authorization, token: github } }   # kept as written
  bot-bottle:tokens:
    github:
      secure: ${PLACEHOLDER}
    anthropic:
      secure: ${PLACEHOLDER}
`;
const noState = () => assert.fail("the state is read only when no file has a salt");

describe("generate: the stack config file Pulumi reads, made from the tracked one", () => {
  test("is the tracked document (its comments too), with the state's salt when no file has one", () => {
    const text = generate(TRACKED, undefined, () => "v1:salt");
    assert.deepEqual(parse(text), { ...parse(TRACKED), encryptionsalt: "v1:salt" });
    assert.match(text, /^# a comment the human wrote\n/);
  });

  test("keeps the previous copy's encrypted tokens for the tracked file's placeholders, and its salt", () => {
    const previous = generate(TRACKED, undefined, () => "v1:salt").replace(
      `github:\n      secure: ${PLACEHOLDER}`,
      "github:\n      secure: v1:cipher",
    );
    const doc = parse(generate(TRACKED, previous, noState));
    assert.deepEqual(doc.config["bot-bottle:tokens"], { github: { secure: "v1:cipher" }, anthropic: { secure: PLACEHOLDER } });
    assert.equal(doc.encryptionsalt, "v1:salt");
  });

  test("takes a route edited in the tracked file, and drops a token it no longer names", () => {
    const previous = `${TRACKED.replace(`github:\n      secure: ${PLACEHOLDER}`, "github:\n      secure: v1:cipher")}encryptionsalt: v1:salt\n`;
    const edited = TRACKED.replace("api.github.com", "uploads.github.com").replace(/ {4}github:\n {6}secure: \S+\n/, "");
    const doc = parse(generate(edited, previous, noState));
    assert.equal(doc.config["bot-bottle:bottles"][0].routes[0].host, "uploads.github.com");
    assert.deepEqual(doc.config["bot-bottle:tokens"], { anthropic: { secure: PLACEHOLDER } });
  });

  test("a salt committed in the tracked file wins; tokens encrypted under another salt are not kept", () => {
    const previous = `${TRACKED.replace(`github:\n      secure: ${PLACEHOLDER}`, "github:\n      secure: v1:cipher")}encryptionsalt: v1:old\n`;
    const doc = parse(generate(`${TRACKED}encryptionsalt: v1:committed\n`, previous, noState));
    assert.equal(doc.encryptionsalt, "v1:committed");
    assert.equal(doc.config["bot-bottle:tokens"].github.secure, PLACEHOLDER);
  });

  test("a token the tracked file holds encrypted is its own", () => {
    const tracked = `${TRACKED.replace(`github:\n      secure: ${PLACEHOLDER}`, "github:\n      secure: v1:committed-cipher")}encryptionsalt: v1:salt\n`;
    const previous = `${TRACKED.replace(`github:\n      secure: ${PLACEHOLDER}`, "github:\n      secure: v1:cipher")}encryptionsalt: v1:salt\n`;
    assert.equal(parse(generate(tracked, previous, noState)).config["bot-bottle:tokens"].github.secure, "v1:committed-cipher");
  });

  test("isPlaceholder: only the committed placeholder", () => {
    assert.equal(isPlaceholder({ secure: PLACEHOLDER }), true);
    assert.equal(isPlaceholder({ secure: "v1:abc" }), false);
    assert.equal(isPlaceholder("placeholder"), false);
  });
});

describe("unkept: what a config command changed that the next generate drops", () => {
  const generated = `${TRACKED}encryptionsalt: v1:salt\n`;
  test("nothing for a token's value or the salt", () => {
    assert.deepEqual(unkept(TRACKED, generated.replace(`github:\n      secure: ${PLACEHOLDER}`, "github:\n      secure: v1:cipher")), []);
  });
  test("a changed key, and a token the tracked file does not name", () => {
    const changed = generated
      .replace("name: coder", "name: other")
      .replace("  bot-bottle:tokens:\n", "  bot-bottle:tokens:\n    extra:\n      secure: v1:x\n");
    assert.deepEqual(
      unkept(
        TRACKED,
        `${changed}  aws:region: us-east-1\n`.replace(
          "encryptionsalt: v1:salt\n  aws:region: us-east-1\n",
          "  aws:region: us-east-1\nencryptionsalt: v1:salt\n",
        ),
      ),
      ["aws:region", "bot-bottle:bottles", "bot-bottle:tokens.extra"],
    );
  });
});
