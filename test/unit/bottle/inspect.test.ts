import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bottlesOfStackFile, chooseBottle, logLines, mergeLogs } from "../../../scripts/bottle/inspect";

describe("npm run bottle: which bottle, on which engine", () => {
  const stackFile = [
    "config:",
    "  bot-bottle:docker: { host: ssh://deploy@box.example.com }",
    "  bot-bottle:bottles:",
    "    - { name: coder, routes: [{ host: api.github.com }] }",
    "    - { name: reviewer, docker: { host: tcp://other.example.com:2376 }, routes: [{ host: api.github.com }] }",
  ].join("\n");

  test("each bottle's engine: its own docker.host, else the stack's", () => {
    assert.deepEqual(
      [...bottlesOfStackFile(stackFile)],
      [
        ["coder", { backend: "docker", host: "ssh://deploy@box.example.com" }],
        ["reviewer", { backend: "docker", host: "tcp://other.example.com:2376" }],
      ],
    );
    assert.deepEqual([...bottlesOfStackFile("config:\n  bot-bottle:bottles: [{ name: solo }]\n")], [["solo", { backend: "docker" }]]);
  });

  test("a Kubernetes bottle: the stack's cluster, each field overridden by the bottle's; a bottle may stay on Docker", () => {
    const file = [
      "config:",
      "  bot-bottle:backend: kubernetes",
      "  bot-bottle:kubernetes: { context: prod, kubeconfig: /etc/kube/bottles }",
      "  bot-bottle:bottles:",
      "    - { name: coder }",
      "    - { name: reviewer, kubernetes: { context: staging } }",
      "    - { name: local, backend: docker }",
    ].join("\n");
    assert.deepEqual(
      [...bottlesOfStackFile(file)],
      [
        ["coder", { backend: "kubernetes", context: "prod", kubeconfig: "/etc/kube/bottles" }],
        ["reviewer", { backend: "kubernetes", context: "staging", kubeconfig: "/etc/kube/bottles" }],
        ["local", { backend: "docker" }],
      ],
    );
  });

  const cases: [string, string[], string | undefined, string | RegExp][] = [
    ["the named bottle", ["coder", "reviewer"], "reviewer", "reviewer"],
    ["the only bottle when none is named", ["solo"], undefined, "solo"],
    ["an unknown bottle", ["coder"], "nope", /stack "dev" has no bottle "nope"; its bottles: coder/],
    ["no name among several", ["coder", "reviewer"], undefined, /stack "dev" has 2 bottles \(coder, reviewer\): name one/],
  ];
  for (const [what, names, named, expected] of cases) {
    test(what, () => {
      const bottles = new Map(names.map((n) => [n, undefined]));
      if (typeof expected === "string") assert.equal(chooseBottle(bottles, named, "dev"), expected);
      else assert.throws(() => chooseBottle(bottles, named, "dev"), expected);
    });
  }
});

describe("npm run bottle: the gates' logs", () => {
  test("both gates' lines merged in time order, newest last", () => {
    const egress = logLines(
      '2026-12-02T10:00:01.000000002Z {"decision": "allow"}\n2026-12-02T10:00:03.5Z {"decision": "deny"}\n',
      "egress-proxy",
    );
    // Docker trims a timestamp's trailing zeros: 10:00:02Z is before 10:00:02.1Z.
    const pipelock = logLines(
      '2026-12-02T10:00:01.000000001Z {"level":"info"}\n\n2026-12-02T10:00:02Z {"level":"warn"}\n2026-12-02T10:00:02.1Z {"level":"error"}\n',
      "pipelock",
    );
    assert.deepEqual(
      mergeLogs(egress, pipelock).map((l) => `${l.gate} ${l.text}`),
      [
        'pipelock {"level":"info"}',
        'egress-proxy {"decision": "allow"}',
        'pipelock {"level":"warn"}',
        'pipelock {"level":"error"}',
        'egress-proxy {"decision": "deny"}',
      ],
    );
  });
});
