import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { asRun, readmeBlocks } from "../../support/readme-blocks";

const README = fs.readFileSync(path.resolve(__dirname, "..", "..", "..", "README.md"), "utf8");

describe("readmeBlocks", () => {
  test("the README: every block with a language is marked, every skip says why", () => {
    assert.deepEqual(readmeBlocks(README).problems, []);
  });

  const cases: [string, string, Partial<ReturnType<typeof readmeBlocks>>][] = [
    [
      "a marked block",
      "<!-- clean-room: run build -->\n```sh\nnpm ci\n```\n",
      { run: [{ step: "build", lang: "sh", line: 3, text: "npm ci\n" }], problems: [] },
    ],
    [
      "a skipped block",
      "<!-- clean-room: skip interactive; proven by x.test.ts -->\n```sh\nx\n```\n",
      { skipped: [{ lang: "sh", line: 3, reason: "interactive; proven by x.test.ts" }], problems: [] },
    ],
    ["output needs no mark", "```\nerror: x\n```\n", { run: [], skipped: [], problems: [] }],
    [
      "an unmarked block",
      "text\n```ts\nx\n```\n",
      { problems: ["line 2: a ts block without a clean-room mark (run <step>, or skip <why>) on the line before it"] },
    ],
    [
      "a mark not right before its block",
      "<!-- clean-room: run a -->\n\n```sh\nx\n```\n",
      {
        problems: [
          "line 1: a clean-room mark with no code block right after it",
          "line 3: a sh block without a clean-room mark (run <step>, or skip <why>) on the line before it",
        ],
      },
    ],
    [
      "a skip without a reason",
      "<!-- clean-room: skip -->\n```sh\nx\n```\n",
      { problems: ["line 1: a skip must say why (and what proves the block instead)"] },
    ],
    [
      "a step named twice",
      "<!-- clean-room: run a -->\n```sh\nx\n```\n<!-- clean-room: run a -->\n```sh\ny\n```\n",
      { problems: ['line 5: step "a" is marked twice'] },
    ],
    ["a block that never ends", "<!-- clean-room: run a -->\n```sh\nx\n", { problems: ["line 2: a code block that never ends"] }],
  ];
  for (const [what, markdown, expected] of cases) {
    test(what, () => {
      const found = readmeBlocks(markdown);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(found[key as keyof typeof found], value, key);
    });
  }
});

describe("asRun", () => {
  const values = {
    variables: { PULUMI_CONFIG_PASSPHRASE: "p w", BOT_BOTTLE_TOKEN_GITHUB: "t'1" },
    paths: { "/path/to/a.tgz": "/tmp/room/a.tgz" },
    stack: "e2e-1-readme",
    names: { "acme/pipelock:1": "test/pipelock:e2e-1" },
  };
  const cases: [string, string, string][] = [
    [
      "placeholders filled, quoted",
      "PULUMI_CONFIG_PASSPHRASE=... BOT_BOTTLE_TOKEN_GITHUB=... scripts/up dev\n",
      "PULUMI_CONFIG_PASSPHRASE='p w' BOT_BOTTLE_TOKEN_GITHUB='t'\\''1' scripts/up e2e-1-readme -- --yes\n",
    ],
    ["a path", "npm install /path/to/a.tgz\n", "npm install /tmp/room/a.tgz\n"],
    [
      "the stack, in commands and before comments",
      "npm run bottle -- status dev   # now\nnpm run plan -- --stack dev\n",
      "npm run bottle -- status e2e-1-readme   # now\nnpm run plan -- --stack e2e-1-readme\n",
    ],
    ["not inside words", "cd devtools && echo /dev/null\n", "cd devtools && echo /dev/null\n"],
    [
      "confirmations",
      "scripts/up dev                  # again\nscripts/pulumi destroy\nscripts/pulumi preview --diff\n",
      "scripts/up e2e-1-readme -- --yes                  # again\nscripts/pulumi destroy --yes\nscripts/pulumi preview --diff\n",
    ],
    [
      "no confirmation inside a comment",
      "scripts/up dev   # (or scripts/pulumi up)\n",
      "scripts/up e2e-1-readme -- --yes   # (or scripts/pulumi up)\n",
    ],
    ["names the clean room needs its own of", "build --tag acme/pipelock:1\n", "build --tag test/pipelock:e2e-1\n"],
  ];
  for (const [what, text, expected] of cases) test(what, () => assert.equal(asRun(text, values), expected));

  test("a placeholder without a value is an error naming it", () => {
    assert.throws(() => asRun("X=... /path/to/b.tgz\n", values), /^Error: no clean-room value for X=\.\.\., \/path\/to\/b\.tgz$/);
  });
});
