/**
 * Tier 4, a stack on two engines: bottle `here` on the local engine and bottle `there` on a
 * remote one reached only over SSH (support/remote-engine.ts: a real sshd, the docker CLI's SSH
 * transport as the docker provider, the program's commands and `npm run bottle` use it). `up`
 * with the self-test on both, the agent's traffic through both gates of the remote bottle,
 * `npm run bottle` against it, a route change under load, the remote engine restarted (the
 * bottle comes back by itself, still closed; the seconds it took are printed), and `destroy`
 * leaving nothing on either engine.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { containerOf, ipOn, labelled, startTestUpstream, tcpProbe, UNREACHABLE } from "./support/docker";
import { curlIn, header, recordedFor, unique } from "./support/inside";
import { dockerShell, failuresOf, underLoad } from "./support/loop";
import { exec, mustRun, run, waitFor } from "./support/process";
import { loadImages, type RemoteEngine, restartEngine, startRemoteEngine, stopRemoteEngine, waitForEngine } from "./support/remote-engine";
import { e2eRun } from "./support/run-env";
import { runBottle } from "./support/bottle-command";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { remoteStack } from "./stacks";

/** One TCP connect from the test machine: "connected" or the error's code. */
function connectFromHere(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 5000 });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.on("connect", () => done("connected"));
    socket.on("timeout", () => done("timeout"));
    socket.on("error", (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

const PUBLIC_IP = "1.1.1.1"; // a connect attempt only, from the isolated bottle; must fail
const GATES = ["egress-proxy", "pipelock", "pipelock-bulk"] as const;

describe("a stack on two engines, the remote one over SSH", () => {
  const { id, images } = e2eRun();
  let remote: RemoteEngine;
  let stack: TestStack;
  let firstUp = "";
  const localUpstream = `e2e-${id}-remote-here-upstream`;
  const remoteUpstream = `e2e-${id}-remote-there-upstream`;
  const name = (bottle: string, role: string) => `${stack.name}-${bottle}-${role}`;
  /** A command in the remote bottle's agent, over SSH. */
  const inThere = (argv: string[]) => exec(name("there", "agent"), argv, { env: remote.env, timeoutMs: 60_000 });
  const inHere = (argv: string[]) => exec(name("here", "agent"), argv, { timeoutMs: 60_000 });

  /** `npm run bottle -- <args>` as a user runs it: the engine comes from the stack file, never from DOCKER_HOST. */
  const bottle = (...args: string[]) => runBottle(stack.configFile, args);

  /** The remote gates, by their labels. */
  const remoteGates = async () => Promise.all(GATES.map((role) => containerOf(stack.name, "there", role, remote.env)));

  before(async () => {
    const started = Date.now();
    remote = await startRemoteEngine();
    console.log(`# figure: remote host started, its engine answering over SSH: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const loaded = await loadImages(remote, [images.egressProxy, images.pipelock, images.probe, images.upstream]);
    console.log(`# figure: the run's 4 images loaded into the remote engine over SSH: ${loaded.toFixed(1)} s`);
    // The program, its commands and `npm run bottle` find the ssh wrapper first on PATH.
    process.env.PATH = remote.path;
    stack = await TestStack.create("remote", remoteStack(remote.host), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    firstUp = up.output;
    console.log(`# figure: pulumi up, stack remote (1 bottle here, 1 over SSH): ${up.seconds.toFixed(1)} s`);
    await Promise.all([
      startTestUpstream(localUpstream, stack.name, name("here", "outbound-net"), ["upstream.test"]),
      startTestUpstream(remoteUpstream, stack.name, name("there", "outbound-net"), ["upstream.test", "more.upstream.test"], remote.env),
    ]);
  });

  after(async () => {
    await run(["docker", "rm", "-f", localUpstream]);
    if (remote) await run(["docker", "rm", "-f", remoteUpstream], { env: remote.env });
    if (stack) await stack.remove();
    if (remote) await stopRemoteEngine(remote);
  });

  it("up deployed both bottles, each on its engine, and the self-test passed on both", async () => {
    for (const bottleName of ["here", "there"]) {
      assert.match(firstUp, new RegExp(`${bottleName}-self-test.*bot-bottle self-test: ok \\(`), `${bottleName}'s self-test`);
    }
    // Each bottle's objects are on its own engine only ("container there-pipelock-1a2b3c4", "network <stack>-there-agent-net").
    const of = (bottleName: string, objects: string[]) => objects.filter((o) => new RegExp(`[ -]${bottleName}-`).test(o));
    const [local, far] = [await labelled(stack.name), await labelled(stack.name, remote.env)];
    assert.deepEqual([of("there", local), of("here", far)], [[], []]);
    assert.ok(of("there", far).includes(`container ${name("there", "agent")}`), far.join(", "));
    assert.ok(of("here", local).includes(`container ${name("here", "agent")}`), local.join(", "));
    assert.equal(
      (await inHere(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/allowed/here"])).stdout,
      "200",
    );
  });

  it("the remote engine answers over SSH only: no TCP listener for Docker, and the key opens no shell and root no login", async () => {
    const address = remote.host.replace(/^ssh:\/\/deploy@/, "");
    for (const port of [2375, 2376]) assert.equal(await connectFromHere(address, port), "ECONNREFUSED", `${address}:${port}`);
    // The key is pinned to `docker system dial-stdio`: asked for a command, it gets the engine's API instead.
    const shell = await run(["ssh", address, "id"], { env: remote.env, timeoutMs: 30_000 });
    assert.equal(shell.code, 0, shell.stderr);
    assert.doesNotMatch(shell.stdout, /uid=/);
    const root = await run(["ssh", "-l", "root", address, "true"], { env: remote.env, timeoutMs: 30_000 });
    assert.notEqual(root.code, 0);
    assert.match(root.stderr, /Permission denied \(publickey\)/);
  });

  it("the remote agent, through both gates: an allowed request carries the credential, a host out of the routes is refused", async () => {
    const path = `/allowed/${unique("remote-")}`;
    const allowed = await curlIn(inThere, [`https://upstream.test${path}`]);
    assert.equal(allowed.status, "200", allowed.run.stderr);
    const seen = await recordedFor(remoteUpstream, path, remote.env);
    assert.equal(seen.length, 1);
    assert.deepEqual(header(seen[0]!, "authorization"), [`Bearer ${TEST_TOKENS.github}`]);
    // It came from one of the remote pipelocks (a bodyless GET takes the bulk lane): the second gate sent it.
    const pipelocks = await Promise.all(
      ["pipelock", "pipelock-bulk"].map(async (role) =>
        ipOn(await containerOf(stack.name, "there", role, remote.env), name("there", "outbound-net"), remote.env),
      ),
    );
    assert.ok(pipelocks.includes(seen[0]!.client), `the upstream saw ${seen[0]!.client}, not a pipelock (${pipelocks.join(", ")})`);

    await assertRefused();
  });

  /** A host outside the routes: the egress proxy refuses the request inside the tunnel, and the upstream sees nothing. */
  async function assertRefused(): Promise<void> {
    const path = `/${unique("refused-")}`;
    const refused = await curlIn(inThere, [`https://not-routed.upstream.test${path}`]);
    assert.equal(refused.status, "403", `${refused.body}\n${refused.run.stderr}`);
    assert.match(refused.body, /^egress-proxy: host not in allowlist: not-routed\.upstream\.test /);
    assert.deepEqual(await recordedFor(remoteUpstream, path, remote.env), [], "the upstream saw nothing");
  }

  /** From the remote agent nothing connects but its egress proxy (control: that one does). */
  async function assertClosed(): Promise<void> {
    const pipelock = await containerOf(stack.name, "there", "pipelock", remote.env);
    const hostAddress = remote.host.replace(/^ssh:\/\/deploy@/, "");
    const targets: [string, string, number][] = [
      ["the upstream by address", await ipOn(remoteUpstream, name("there", "outbound-net"), remote.env), 443],
      ["the upstream by name", "upstream.test", 443],
      ["pipelock on the egress network", await ipOn(pipelock, name("there", "egress-net"), remote.env), 8888],
      ["pipelock on the outbound network", await ipOn(pipelock, name("there", "outbound-net"), remote.env), 8888],
      ["a public IP", PUBLIC_IP, 443],
      // sshd listens on every address of the remote host: a refusal here would mean a way out.
      ["the remote host's sshd", hostAddress, 22],
      ["the remote engine's default bridge (its sshd)", "10.213.0.1", 22],
    ];
    const agent = name("there", "agent");
    const results = await Promise.all(targets.map(([, host, port]) => tcpProbe(agent, "python3", host, port, 5, remote.env)));
    for (const [i, result] of results.entries()) {
      const [what, host, port] = targets[i]!;
      assert.match(result, UNREACHABLE, `${what} (${host}:${port}) from the remote agent: ${result}`);
    }
    assert.equal(await tcpProbe(agent, "python3", "egress-proxy", 9099, 5, remote.env), "connected", "control: the egress proxy");
  }

  it("the remote agent reaches nothing directly: not the upstream, pipelock, a public address or the remote host", assertClosed);

  it("npm run bottle against the remote bottle (its engine from the stack file): shell, status, logs, blocked", async () => {
    const shell = await bottle("shell", stack.name, "there", "--", "id -u; cat /etc/hostname");
    assert.equal(shell.code, 0, shell.stderr);
    const hostname = (
      await mustRun(["docker", "inspect", "-f", "{{.Config.Hostname}}", name("there", "agent")], { env: remote.env })
    ).trim();
    assert.equal(shell.stdout, `1000\n${hostname}\n`);

    const status = await bottle("status", stack.name, "there");
    assert.equal(status.code, 0, `${status.stdout}${status.stderr}`);
    assert.match(status.stdout, new RegExp(`^bottle "there" of stack "${stack.name}" on ${remote.host}\\n`));
    const gates = await remoteGates();
    for (const [role, container] of [["agent", name("there", "agent")], ...GATES.map((gate, i) => [gate, gates[i]!])]) {
      assert.match(status.stdout, new RegExp(`\\n  ${role} +${container}: running`));
    }
    assert.match(status.stdout, /bot-bottle self-test: ok/);

    const logs = await bottle("logs", stack.name, "there");
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, / egress-proxy +\{"decision": "allow".*"token": "github", "host": "upstream\.test"/);
    assert.match(logs.stdout, / pipelock +/);

    const blocked = await bottle("blocked", stack.name, "there");
    assert.equal(blocked.code, 0, blocked.stderr);
    assert.match(blocked.stdout, /by the egress proxy \(the routes\)\n.*not-routed\.upstream\.test:443.*host not in allowlist/);
    assert.doesNotMatch(shell.stdout + status.stdout + logs.stdout + blocked.stdout, new RegExp(TEST_TOKENS.github));
  });

  it("a route change by up under load: no request of the agent fails, no gate is replaced, the new path answers right after", async () => {
    const second = () => curlIn(inThere, ["-o", "/dev/null", "https://more.upstream.test/second/x"]);
    assert.equal((await second()).status, "403", "before the change");
    const gates = await remoteGates();
    let upSeconds = 0;
    const seen = await underLoad(dockerShell(name("there", "agent"), remote.env), "https://upstream.test/allowed/loop", async () => {
      stack.writeConfig(remoteStack(remote.host, { secondPath: true }));
      const up = await stack.up();
      assert.ok(up.ok, tail(up.output));
      upSeconds = up.seconds;
    });
    assert.equal((await second()).status, "200", "right after up returned");
    const { failed, span } = failuresOf(seen);
    console.log(
      `# figure: a route change on the remote bottle: ${seen.length} requests over ${span.toFixed(1)} s (pulumi up ${upSeconds.toFixed(1)} s), ${failed.length} failed`,
    );
    assert.deepEqual(failed, [], "requests failed during the change");
    assert.ok(span >= upSeconds, `the loop covered ${span.toFixed(1)} s of a ${upSeconds.toFixed(1)} s up`);
    assert.deepEqual(await remoteGates(), gates, "a gate was replaced");
  });

  /** For a failure's message: each gate's state and last lines, and the remote engine's errors. */
  async function whyNotBack(gates: string[]): Promise<string> {
    const lines = await Promise.all(
      gates.map(async (gate) => {
        const state = await run(["docker", "inspect", "-f", "{{json .State}}", gate], { env: remote.env });
        const logs = await run(["docker", "logs", "--tail", "15", gate], { env: remote.env });
        return `${gate}: ${state.stdout.trim()}\n${logs.stdout}${logs.stderr}`;
      }),
    );
    const engine = await run(["docker", "logs", "--tail", "3000", remote.container]);
    // The agent's lookups of names that are not there are refused inside its namespace (by design): not news.
    const errors = `${engine.stdout}${engine.stderr}`
      .split("\n")
      .filter((l) => /level=(error|warning)/.test(l) && !l.includes("[resolver]"));
    return [...lines, "the remote engine's errors and warnings:", ...errors.slice(-40)].join("\n");
  }

  it("the remote engine restarted: the bottle comes back by itself, still closed", async () => {
    const gates = await remoteGates();
    const stopping = Date.now();
    await restartEngine(remote);
    const stopped = Date.now();
    const engineBack = await waitForEngine(remote, 120_000);
    // The test upstream (the "internet", no restart policy) is started again by hand; the bottle is on its own.
    await mustRun(["docker", "start", remoteUpstream], { env: remote.env });
    const state = async (container: string) =>
      (await run(["docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container], { env: remote.env })).stdout.trim();
    let last = "";
    let firstAllowed: number | undefined;
    await waitFor("the remote gates running and healthy, and an allowed request answering 200", 180_000, async () => {
      const states = await Promise.all(gates.map(state));
      const allowed = await curlIn(inThere, ["-o", "/dev/null", "https://upstream.test/allowed/back"]);
      if (allowed.status === "200") firstAllowed ??= Date.now();
      last = `gates: ${states.join(", ")}; allowed request: ${allowed.status} ${allowed.run.stderr.trim()}`;
      return states.every((s) => s === "running healthy") && allowed.status === "200" ? true : undefined;
    }).catch(async (err: Error) => assert.fail(`${err.message}; last seen: ${last}\n${await whyNotBack(gates)}`));
    const since = (at: number) => ((at - stopped) / 1000).toFixed(1);
    console.log(
      `# figure: remote engine restart: dockerd stopped in ${((stopped - stopping) / 1000).toFixed(1)} s; after the stop, ` +
        `the engine answered in ${engineBack.toFixed(1)} s, the first allowed request in ${since(firstAllowed!)} s, every gate healthy in ${since(Date.now())} s`,
    );
    assert.deepEqual(await remoteGates(), gates, "the same gate containers came back");
    await assertClosed();
    await assertRefused();
  });

  it("destroy leaves nothing labelled with the stack on either engine", async () => {
    await run(["docker", "rm", "-f", localUpstream]);
    await run(["docker", "rm", "-f", remoteUpstream], { env: remote.env });
    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    assert.deepEqual(await labelled(stack.name), [], "the local engine");
    assert.deepEqual(await labelled(stack.name, remote.env), [], "the remote engine");
  });
});
