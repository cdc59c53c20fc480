/**
 * `npm run bottle` on each backend: where it finds a bottle's workloads, with the engine's
 * tools replaced by a recorder that answers the lookups as an engine with that bottle would.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import type { Backend } from "../../../components/index";
import { DEPLOYED_BACKENDS } from "../../../scripts/bottle/backends";
import type { Cli, Engine } from "../../../scripts/bottle/deployed";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bottle-backends-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const stackFile = path.join(dir, "Pulumi.dev.yaml");
fs.writeFileSync(stackFile, "config:\n  bot-bottle:bottles:\n    - { name: coder, agent: { workspace: { path: /work } } }\n");
const ref = { stack: "dev", bottle: "coder", stackFile };

/** A Docker engine running the bottle: its containers by label, and what inspect says of them. */
const dockerEngine = (args: string[]): string => {
  if (args[0] === "ps") return "c1\nc2\nc3\n";
  if (args[0] !== "inspect") return "";
  const container = (name: string, role: string, extra: object = {}) => ({
    Name: `/${name}`,
    Config: { Labels: { "bot-bottle.role": role }, Image: `${role}-image`, User: role === "agent" ? "1000:1000" : "" },
    State: { Status: "running", StartedAt: "2026-12-02T10:00:00Z" },
    HostConfig: {},
    ...extra,
  });
  return JSON.stringify([
    container("dev-coder-agent", "agent", { Mounts: [{ Type: "volume", Name: "dev-coder-workspace", Source: "/var/lib/docker/volumes/x", Destination: "/work" }] }),
    container("coder-egress-proxy-1a2b", "egress-proxy"),
    container("coder-pipelock-3c4d", "pipelock"),
  ]);
};

/** A cluster running the bottle: its Deployments (no pipelock-bulk: no route takes the bulk lane). */
const cluster = (args: string[]): string => (args.includes("deployments") ? "agent egress-proxy pipelock" : "");

/** A Cli whose tools answer as `engine` does, recording each call. */
function recording(engine: (args: string[]) => string): { cli: Cli; calls: string[][]; hosts: (string | undefined)[] } {
  const calls: string[][] = [];
  const hosts: (string | undefined)[] = [];
  const cli: Cli = {
    run: (tool, args, opts) => {
      calls.push([tool, ...args]);
      hosts.push(opts.env.DOCKER_HOST);
      return { status: 0, stdout: engine(args), stderr: "" };
    },
    env: {},
    tty: false,
  };
  return { cli, calls, hosts };
}

const cases: { backend: Backend; engine: Engine; answers: (args: string[]) => string; lookups: string[][]; shell: string[]; logs: string[][] }[] = [
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
  },
  {
    backend: "kubernetes",
    engine: { backend: "kubernetes", context: "kind-dev" },
    answers: cluster,
    lookups: [["kubectl", "--context", "kind-dev", "get", "deployments", "-n", "dev-coder", "-o", "jsonpath={.items[*].metadata.name}"]],
    shell: ["kubectl", "--context", "kind-dev", "exec", "-i", "-n", "dev-coder", "deploy/agent", "-c", "agent", "--", "sh", "-c", 'cd "$0" 2>/dev/null; exec "$@"', "/work", "sh", "-c", "id"],
    logs: [
      ["kubectl", "--context", "kind-dev", "logs", "-n", "dev-coder", "deploy/egress-proxy", "-c", "egress-proxy", "--since", "5m"],
      ["kubectl", "--context", "kind-dev", "logs", "-n", "dev-coder", "deploy/pipelock", "-c", "pipelock", "--since", "5m"],
    ],
  },
];

describe("npm run bottle finds a bottle's workloads on each backend", () => {
  for (const { backend, engine, answers, lookups, shell, logs } of cases) {
    test(`${backend}: a shell runs in the agent, in its workspace`, () => {
      const { cli, calls } = recording(answers);
      assert.equal(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).execInAgent(["sh", "-c", "id"]), 0);
      assert.deepEqual(calls, [...(backend === "docker" ? lookups : []), shell]);
    });

    test(`${backend}: the logs of the gates the bottle runs`, () => {
      const { cli, calls } = recording(answers);
      assert.deepEqual(Object.keys(DEPLOYED_BACKENDS[backend].open(ref, engine, cli).gateLogs({ since: "5m" })), ["egress-proxy", "pipelock"]);
      assert.deepEqual(calls, [...lookups, ...logs]);
    });
  }

  test("docker: every call goes to the bottle's engine", () => {
    const { cli, hosts } = recording(dockerEngine);
    DEPLOYED_BACKENDS.docker.open(ref, cases[0]!.engine, cli).gateLogs({});
    assert.deepEqual(new Set(hosts), new Set(["ssh://deploy@box.example.com"]));
  });
});
