/**
 * Tier 4, a bottle an engineer works in: stack `work` (stacks.ts) with the real agent image
 * (Claude Code, git, Node 22), deployed by a real `pulumi up`. From inside the agent, through
 * both gates: git clones and pushes an allowed repository with the credential injected as
 * Basic auth outside the agent, and is refused elsewhere; Claude Code answers one prompt
 * against a fake Messages API that sees the injected key; the workspace outlives the agent's
 * container and, by default, the stack. `npm run bottle` (shell, status, logs) is used as a
 * user would.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { containerOf, filesContaining, labelled, startTestUpstream } from "./support/docker";
import { header, recorded as upstreamRecorded } from "./support/inside";
import { exec, mustRun, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { runBottle } from "./support/bottle-command";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { workStack } from "./stacks";

// The fake API's answer (test/e2e/images/upstream/server.py).
const ANSWER = "Hello from the bottled test API.";

describe("an engineer's bottle: workspace, git over the gates, Claude Code", () => {
  const { id } = e2eRun();
  let stack: TestStack;
  const upstream = `e2e-${id}-work-upstream`;
  const name = (role: string) => `${stack.name}-dev-${role}`;

  /** `npm run bottle -- <args>` against this stack. */
  const bottle = (...args: string[]) => runBottle(stack.configFile, args);
  /** A command in the agent, as its user, in its workspace (through `npm run bottle -- shell`). */
  const inAgent = (command: string) => bottle("shell", stack.name, "dev", "--", command);

  const recorded = () => upstreamRecorded(upstream);

  before(async () => {
    stack = await TestStack.create("work", workStack(), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    console.log(`# figure: pulumi up, stack work (1 bottle with the Claude Code agent image, prebuilt): ${up.seconds.toFixed(1)} s`);
    await startTestUpstream(upstream, stack.name, name("outbound-net"), ["llm.upstream.test", "git.upstream.test", "ro.upstream.test"]);
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    if (stack) await stack.remove();
    await run(["docker", "volume", "rm", "-f", name("workspace")]);
  });

  it("the agent is uid 1000 in /workspace, a volume of its own that it can write", async () => {
    const r = await inAgent("id -u; pwd; touch /workspace/proof && stat -c '%u %n' /workspace /workspace/proof");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "1000\n/workspace\n1000 /workspace\n1000 /workspace/proof\n");
    const mounts = JSON.parse(await mustRun(["docker", "inspect", "-f", "{{json .Mounts}}", name("agent")])) as {
      Type: string;
      Name: string;
      Destination: string;
    }[];
    assert.deepEqual(
      mounts.map((m) => [m.Type, m.Name, m.Destination]),
      [["volume", name("workspace"), "/workspace"]],
    );
  });

  it("git clones and pushes acme/app through both gates, the credential injected as Basic auth outside the agent", async () => {
    const script = [
      "set -e",
      "git clone -q https://git.upstream.test/acme/app.git app",
      "cd app",
      "git -c user.name=agent -c user.email=agent@example.com commit -q --allow-empty -m 'from the bottle'",
      "git push -q origin HEAD:main",
      "git log --format=%s -1",
    ].join("; ");
    const r = await inAgent(script);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.trim(), "from the bottle");
    const log = await mustRun(["docker", "exec", upstream, "git", "--git-dir=/srv/git/acme/app.git", "log", "--format=%s", "main"]);
    assert.deepEqual(log.trim().split("\n"), ["from the bottle", "first commit"]);
    const expected = `Basic ${Buffer.from(`x-access-token:${TEST_TOKENS.github}`).toString("base64")}`;
    const pushes = (await recorded()).filter((rec) => rec.path === "/acme/app.git/git-receive-pack");
    assert.equal(pushes.length, 1);
    assert.deepEqual(header(pushes[0]!, "authorization"), [expected]);
    assert.deepEqual(await filesContaining(name("agent"), TEST_TOKENS.github), [], "the token is nowhere in the agent's files");
    const environ = await exec(name("agent"), ["sh", "-c", "cat /proc/1/environ | tr '\\0' '\\n'"]);
    assert.doesNotMatch(environ.stdout, new RegExp(TEST_TOKENS.github));
  });

  it("another repository, and a push on the read-only route, are refused by the egress proxy", async () => {
    const other = await inAgent("git clone -q https://git.upstream.test/acme/other.git other 2>&1");
    assert.notEqual(other.code, 0);
    assert.match(other.stdout, /403/);
    const readOnly = await inAgent(
      "set -e; git clone -q https://ro.upstream.test/acme/app.git ro; cd ro; git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m x; git push -q origin HEAD:main 2>&1",
    );
    assert.notEqual(readOnly.code, 0, "a push through the read-only route must fail");
    assert.match(readOnly.stdout, /403/);
    const refused = (await run(["docker", "logs", await containerOf(stack.name, "dev", "egress-proxy")])).stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { decision: string; reason: string; host: string; path: string | null });
    assert.ok(refused.some((d) => d.decision === "deny" && d.reason === "path not allowed" && d.path === "/acme/other.git/info/refs"));
    // A fetch-only route refuses the push at its first request: ref discovery for git-receive-pack.
    assert.ok(
      refused.some(
        (d) =>
          d.decision === "deny" &&
          d.host === "ro.upstream.test" &&
          d.reason === "not git's protocol" &&
          d.path === "/acme/app.git/info/refs",
      ),
    );
    assert.ok(
      !refused.some((d) => d.decision === "allow" && d.host === "ro.upstream.test" && d.path === "/acme/app.git/git-receive-pack"),
      "no push request allowed",
    );
  });

  it("refused -> blocked --suggest --write -> up: the same clone succeeds (two commands, the change reviewed as a diff)", async () => {
    const before = await inAgent("git clone -q https://git.upstream.test/acme/other.git other2 2>&1");
    assert.notEqual(before.code, 0);
    assert.match(before.stdout, /403/);
    const report = await bottle("blocked", stack.name, "dev", "--suggest");
    assert.equal(report.code, 0, report.stderr);
    assert.match(
      report.stdout,
      /by the egress proxy \(the routes\)\n.* git\.upstream\.test:443\/acme\/other\.git\/info\/refs {2}path not allowed/,
    );
    // The narrowest change: the repository added to the git route (stack files written by the tests are block YAML).
    assert.match(report.stdout, /\n\+ +- acme\/other\n/);
    assert.doesNotMatch(report.stdout, /\n\+ +- host: /, "no new route");
    assert.doesNotMatch(report.stdout + report.stderr, new RegExp(`${TEST_TOKENS.github}|${TEST_TOKENS.anthropic}`));
    const written = await bottle("blocked", stack.name, "dev", "--write");
    assert.equal(written.code, 0, written.stderr);
    assert.match(written.stdout, /\nwrote .*Pulumi\..*\.yaml; review it, then: scripts\/pulumi up \(or scripts\/up e2e-[0-9a-f]+-work\)\n/);
    const up = await stack.up();
    assert.ok(up.ok, tail(up.output));
    const after = await inAgent("git clone -q https://git.upstream.test/acme/other.git other2 && git -C other2 log --format=%s -1");
    assert.equal(after.code, 0, `${after.stdout}${after.stderr}`);
    assert.equal(after.stdout, "first commit\n");
  });

  it("Claude Code (claude -p) answers through both gates; the API saw the injected key, the agent holds a placeholder", async () => {
    const r = await inAgent("claude -p 'Say hello' 2>&1");
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(ANSWER));
    const calls = (await recorded()).filter((rec) => rec.host.startsWith("llm.upstream.test"));
    assert.ok(calls.length > 0);
    for (const call of calls) assert.deepEqual(header(call, "x-api-key"), [TEST_TOKENS.anthropic], `${call.method} ${call.path}`);
    const key = await inAgent('printf %s "$ANTHROPIC_API_KEY"');
    assert.equal(key.stdout, "bot-bottle-placeholder-the-egress-proxy-injects-the-real-key");
  });

  it("Claude Code prints the egress proxy's refusal, gate and reason, when its API host is not a route", async () => {
    const r = await inAgent("ANTHROPIC_BASE_URL=https://api.not-routed.test claude -p 'Say hello' 2>&1");
    assert.notEqual(r.code, 0, r.stdout);
    // Claude Code's words around the line: "Failed to authenticate. API Error: 403 <the line>".
    assert.match(r.stdout, /API Error: 403 egress-proxy: host not in allowlist: api\.not-routed\.test \(to allow it, a human runs: /);
  });

  it("npm prints the egress proxy's refusal in its status line when its registry is not a route", async () => {
    const r = await inAgent("npm view left-pad --registry https://npm.mirror.example.com/ --fetch-retries 0 2>&1");
    assert.notEqual(r.code, 0, r.stdout);
    // npm shows a refused answer's status line, never its body: the egress proxy puts the line in its reason phrase.
    assert.match(
      r.stdout,
      /403 Forbidden \(egress-proxy: host not in allowlist: npm\.mirror\.example\.com \(to allow it, a human runs: .*\)\) - GET https:\/\/npm\.mirror\.example\.com\/left-pad/,
    );
  });

  it("npm run bottle -- status: every container up, the CA's expiry, the self-test passing now; logs: both gates in time order", async () => {
    const status = await bottle("status", stack.name, "dev");
    assert.equal(status.code, 0, `${status.stdout}${status.stderr}`);
    assert.match(status.stdout, new RegExp(`^bottle "dev" of stack "${stack.name}" on `));
    for (const role of ["agent", "egress-proxy", "pipelock"]) {
      assert.match(status.stdout, new RegExp(`\\n  ${role} +${await containerOf(stack.name, "dev", role)}: running`));
    }
    assert.match(status.stdout, /egress-proxy CA: valid until \d{4}-/);
    assert.match(status.stdout, /bot-bottle self-test: ok/);
    const logs = await bottle("logs", stack.name, "dev");
    assert.equal(logs.code, 0, logs.stderr);
    const lines = logs.stdout.trim().split("\n");
    assert.ok(lines.some((l) => / egress-proxy +\{"decision": "allow".*"token": "github"/.test(l)));
    assert.ok(lines.some((l) => / pipelock +/.test(l)));
    const times = lines.map((l) => Date.parse(l.split(" ")[0]!));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      "merged in time order",
    );
  });

  it("the workspace outlives a replaced agent, and destroy keeps it (the default): the next up finds the work again", async () => {
    const before = (await mustRun(["docker", "inspect", "-f", "{{.Id}}", name("agent")])).trim();
    const config = workStack();
    (config.bottles[0] as { agent: { env: Record<string, string> } }).agent.env.EDITOR = "vi";
    stack.writeConfig(config);
    const replaced = await stack.up();
    assert.ok(replaced.ok, tail(replaced.output));
    assert.notEqual((await mustRun(["docker", "inspect", "-f", "{{.Id}}", name("agent")])).trim(), before, "the agent was replaced");
    assert.equal((await inAgent("cat app/.git/HEAD && test -f /workspace/proof && echo kept")).stdout, "ref: refs/heads/main\nkept\n");

    await mustRun(["docker", "rm", "-f", upstream]); // it sits on the bottle's outbound network
    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    assert.deepEqual(await labelled(stack.name), [`volume ${name("workspace")}`], "only the workspace is left");
    const again = await stack.up();
    assert.ok(again.ok, tail(again.output));
    assert.equal((await inAgent("test -f /workspace/proof && git -C app log --format=%s -1")).stdout, "from the bottle\n");
  });
});
