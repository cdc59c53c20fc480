/**
 * `npm run bottle` on each backend: where it finds a bottle's workloads, with the engine's
 * tools replaced by a recorder that answers the lookups as an engine with that bottle would.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import { after, describe, test } from "node:test";
import { type Backend, SELF_TEST_SCRIPT } from "../../../components/index";
import { DEPLOYED_BACKENDS } from "../../../scripts/bottle/backends";
import type { Cli, Engine, Followed } from "../../../scripts/bottle/deployed";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bottle-backends-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const stackFile = path.join(dir, "Pulumi.dev.yaml");
fs.writeFileSync(stackFile, "config:\n  bot-bottle:bottles:\n    - { name: coder, agent: { workspace: { path: /work } } }\n");
const ref = { stack: "dev", bottle: "coder", stackFile };

/** What a tool answers: its output, or its exit status and output. */
type Answer = string | { status: number; stdout: string };

/** A Docker engine running the bottle: its containers by label, what inspect says of them, no CA readable. */
const dockerEngine = (args: string[]): Answer => {
  if (args[0] === "ps") return "c1\nc2\nc3\n";
  if (args[0] === "exec" && args.includes("cat")) return { status: 1, stdout: "" };
  if (args[0] !== "inspect") return "";
  const container = (name: string, role: string, extra: object = {}) => ({
    Name: `/${name}`,
    Config: { Labels: { "bot-bottle.role": role }, Image: `${role}-image`, User: role === "agent" ? "1000:1000" : "" },
    State: { Status: "running", StartedAt: "2026-12-02T10:00:00Z" },
    HostConfig: {},
    ...extra,
  });
  return JSON.stringify([
    container("dev-coder-agent", "agent", {
      Mounts: [{ Type: "volume", Name: "dev-coder-workspace", Source: "/var/lib/docker/volumes/x", Destination: "/work" }],
    }),
    container("coder-egress-proxy-1a2b", "egress-proxy"),
    container("coder-pipelock-3c4d", "pipelock"),
  ]);
};

/** A cluster running the bottle: its Deployments (no pipelock-bulk: no route takes the bulk lane), their pods, a passed self-test. */
const cluster = (args: string[]): Answer => {
  if (args.includes("deployments")) return "agent egress-proxy pipelock";
  if (args.includes("job")) return "1";
  if (!args.includes("pods")) return "";
  const pod = (role: string) => ({
    metadata: { name: `${role}-5d8f`, labels: { "bot-bottle.role": role } },
    status: { phase: "Running", containerStatuses: [{ name: role, ready: true, restartCount: 0 }] },
  });
  return JSON.stringify({ items: ["agent", "egress-proxy", "pipelock"].map(pod) });
};

/** A followed tool that prints nothing and never ends. */
const following = (): Followed =>
  Object.assign(new EventEmitter(), { stdout: new PassThrough(), stderr: new PassThrough(), kill: () => true });

/** `kubectl logs` of a workload of the bottle in the test's cluster. */
const kubectlLogs = (role: string, ...flags: string[]) => [
  "kubectl",
  "--context",
  "kind-dev",
  "logs",
  "-n",
  "dev-coder",
  `deploy/${role}`,
  "-c",
  role,
  ...flags,
];

/** A Cli whose tools answer as `engine` does, recording each call and its environment. */
function recording(engine: (args: string[]) => Answer): { cli: Cli; calls: string[][]; envs: NodeJS.ProcessEnv[] } {
  const calls: string[][] = [];
  const envs: NodeJS.ProcessEnv[] = [];
  const cli: Cli = {
    run: (tool, args, opts) => {
      calls.push([tool, ...args]);
      envs.push(opts.env);
      const answer = engine(args);
      return typeof answer === "string" ? { status: 0, stdout: answer, stderr: "" } : { ...answer, stderr: "" };
    },
    follow: (tool, args, opts) => {
      calls.push([tool, ...args]);
      envs.push(opts.env);
      return following();
    },
    env: {},
    tty: false,
  };
  return { cli, calls, envs };
}

const cases: {
  backend: Backend;
  engine: Engine;
  answers: (args: string[]) => Answer;
  lookups: string[][];
  shell: string[];
  logs: string[][];
  follow: string[][];
  status: string[][];
}[] = [
  {
    backend: "docker",
    engine: { backend: "docker", host: "ssh://deploy@box.example.com" },
    answers: dockerEngine,
    lookups: [
      ["docker", "ps", "-aq", "--filter", "label=bot-bottle.stack=dev", "--filter", "label=bot-bottle.bottle=coder"],
      ["docker", "inspect", "c1", "c2", "c3"],
    ],
    shell: ["docker", "exec", "-i", "--user", "1000:1000", "--workdir", "/work", "dev-coder-agent", "sh", "-c", "id"],
    logs: [
      ["docker", "logs", "--since", "5m", "coder-egress-proxy-1a2b"],
      ["docker", "logs", "--since", "5m", "coder-pipelock-3c4d"],
    ],
    follow: [
      ["docker", "logs", "--follow", "--timestamps", "--since", "5m", "coder-egress-proxy-1a2b"],
      ["docker", "logs", "--follow", "--timestamps", "--since", "5m", "coder-pipelock-3c4d"],
    ],
    status: [
      ["docker", "ps", "-aq", "--filter", "label=bot-bottle.stack=dev", "--filter", "label=bot-bottle.bottle=coder"],
      ["docker", "inspect", "c1", "c2", "c3"],
      ["docker", "exec", "dev-coder-agent", "cat", "/etc/bot-bottle/egress-proxy-ca.pem"],
      ["/bin/sh", "-c", SELF_TEST_SCRIPT],
    ],
  },
  {
    backend: "kubernetes",
    engine: { backend: "kubernetes", context: "kind-dev" },
    answers: cluster,
    lookups: [["kubectl", "--context", "kind-dev", "get", "deployments", "-n", "dev-coder", "-o", "jsonpath={.items[*].metadata.name}"]],
    shell: [
      "kubectl",
      "--context",
      "kind-dev",
      "exec",
      "-i",
      "-n",
      "dev-coder",
      "deploy/agent",
      "-c",
      "agent",
      "--",
      "sh",
      "-c",
      'cd "$0" 2>/dev/null; exec "$@"',
      "/work",
      "sh",
      "-c",
      "id",
    ],
    logs: [kubectlLogs("egress-proxy", "--since", "5m"), kubectlLogs("pipelock", "--since", "5m")],
    follow: [
      kubectlLogs("egress-proxy", "--follow", "--timestamps", "--since", "5m"),
      kubectlLogs("pipelock", "--follow", "--timestamps", "--since", "5m"),
    ],
    status: [
      ["kubectl", "--context", "kind-dev", "get", "pods", "-n", "dev-coder", "-o", "json"],
      ["kubectl", "--context", "kind-dev", "get", "job", "self-test", "-n", "dev-coder", "-o", "jsonpath={.status.succeeded}"],
    ],
  },
];

describe("npm run bottle finds a bottle's workloads on each backend", () => {
  for (const { backend, engine, answers, lookups, shell, logs, follow, status } of cases) {
    test(`${backend}: a shell runs in the agent, in its workspace`, () => {
      const { cli, calls } = recording(answers);
      assert.equal(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).execInAgent(["sh", "-c", "id"]), 0);
      assert.deepEqual(calls, [...(backend === "docker" ? lookups : []), shell]);
    });

    test(`${backend}: the logs of the gates the bottle runs`, () => {
      const { cli, calls } = recording(answers);
      assert.deepEqual(Object.keys(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).gateLogs({ since: "5m" })), [
        "egress-proxy",
        "pipelock",
      ]);
      assert.deepEqual(calls, [...lookups, ...logs]);
    });

    test(`${backend}: the logs of the gates the bottle runs, followed with the engine's timestamps`, () => {
      const { cli, calls } = recording(answers);
      assert.deepEqual(Object.keys(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).followGateLogs({ since: "5m" })), [
        "egress-proxy",
        "pipelock",
      ]);
      assert.deepEqual(calls, [...lookups, ...follow]);
    });

    test(`${backend}: status looks at every workload and the self-test`, (t) => {
      t.mock.method(console, "log", () => undefined);
      t.mock.method(process.stdout, "write", () => true);
      const { cli, calls } = recording(answers);
      assert.equal(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).status(), 0);
      assert.deepEqual(calls, status);
    });
  }

  test("docker: every call goes to the bottle's engine; the self-test checks the resolver of all but the pipelocks", (t) => {
    t.mock.method(console, "log", () => undefined);
    t.mock.method(process.stdout, "write", () => true);
    const { cli, envs } = recording(dockerEngine);
    DEPLOYED_BACKENDS.docker.open(ref, cases[0]!.engine, cli).status();
    assert.deepEqual(new Set(envs.map((env) => env.DOCKER_HOST)), new Set(["ssh://deploy@box.example.com"]));
    assert.equal(envs.at(-1)!.BOTTLE_NO_DNS_CONTAINERS, "dev-coder-agent coder-egress-proxy-1a2b");
  });
});
