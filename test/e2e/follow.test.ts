/**
 * Tier 4, `npm run bottle -- logs --follow` on a deployed bottle (stack `follow`: the lanes
 * stack of lanes.test.ts, bottle `lane`: agent, egress proxy, pipelock, pipelock-bulk): the
 * gates' decision lines arrive while it runs, from both gates, in the decision-line schema
 * (`--json`); the bottle's health checks stay out of it; Ctrl-C ends it with exit 0 and no
 * stack trace, and a gate that goes away is said to.
 */
import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn } from "node:child_process";
import * as fs from "node:fs";
import type { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import type { DecisionLine, GateLine } from "../../scripts/bottle/decision-lines";
import { containerOf, startTestUpstream } from "./support/docker";
import { curlIn, unique } from "./support/inside";
import { exec, REPO_ROOT, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { lanesStack } from "./stacks";

const AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE";
/** How long a decision may take to reach `logs --follow` (the merge holds lines 250 ms). */
const ARRIVAL_MS = 15_000;

/** `logs --follow` running: what it printed so far, and its end. */
interface Follower {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

describe("npm run bottle -- logs --follow: both gates, live", () => {
  const { id } = e2eRun();
  let stack: TestStack;
  const upstream = `e2e-${id}-follow-upstream`;
  const started: Follower[] = [];
  const agentCurl = (args: string[]) => curlIn((argv) => exec(`${stack.name}-lane-agent`, argv, { timeoutMs: 60_000 }), args);

  /** `npm run bottle -- logs ...` as the README runs it (node itself, so the signal reaches it as a terminal's Ctrl-C would). */
  const follow = (...args: string[]): Follower => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/bottle.ts", "logs", stack.name, "lane", "--file", stack.configFile, ...args],
      {
        cwd: REPO_ROOT,
        // Its own process group, like a terminal's foreground job: Ctrl-C is a SIGINT to the group.
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const f = { child, stdout: () => stdout, stderr: () => stderr, exited };
    started.push(f);
    return f;
  };
  const linesOf = (f: Follower): GateLine[] =>
    f
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as GateLine);
  const decisionsOf = (f: Follower): DecisionLine[] => linesOf(f).filter((l): l is DecisionLine => l.kind === "decision");
  /** Waits for a decision line of the follower that `match` accepts; the seconds it took since `since`. */
  const arrives = async (f: Follower, what: string, since: number, match: (d: DecisionLine) => boolean) => {
    const found = await waitFor(`${what} in logs --follow`, ARRIVAL_MS, async () => decisionsOf(f).find(match));
    return { found, seconds: (Date.now() - since) / 1000 };
  };
  const interrupt = async (f: Follower) => {
    process.kill(-f.child.pid!, "SIGINT");
    return await Promise.race([
      f.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`logs --follow did not end on SIGINT:\n${f.stderr()}`)), 10_000)),
    ]);
  };
  /** The `docker logs --follow` processes a follower started. */
  const toolsOf = async (f: Follower) =>
    (await run(["ps", "--ppid", String(f.child.pid), "-o", "pid=,args="])).stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([, ...args]) => args.join(" ").startsWith("docker logs --follow"))
      .map(([pid]) => Number(pid));

  before(async () => {
    stack = await TestStack.create("follow", lanesStack(), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    await startTestUpstream(upstream, stack.name, `${stack.name}-lane-outbound-net`, ["upstream.test"]);
  });

  after(async () => {
    // A follower a failed test left running.
    for (const f of started) if (f.child.exitCode === null && f.child.signalCode === null) process.kill(-f.child.pid!, "SIGKILL");
    await run(["docker", "rm", "-f", upstream]);
    if (stack) await stack.remove();
  });

  it("an allowed and a refused request reach it from both gates as they happen; health checks stay out; Ctrl-C: exit 0, no stack trace", async () => {
    const f = follow("--follow", "--json");
    // The backlog first (the gates' start-up lines): then it is following.
    await waitFor("the backlog", ARRIVAL_MS, async () => (linesOf(f).length > 0 ? true : undefined));

    const allowedPath = unique("/follow-allowed-");
    const sent = Date.now();
    const allowed = await agentCurl([`https://upstream.test${allowedPath}`]);
    assert.equal(allowed.status, "200", allowed.run.stderr);
    const egressAllow = await arrives(
      f,
      "the egress proxy's allow",
      sent,
      (d) => d.log === "egress-proxy" && d.decision === "allow" && d.path === allowedPath,
    );
    assert.deepEqual(
      [egressAllow.found.gate, egressAllow.found.host, egressAllow.found.method, egressAllow.found.token],
      ["egress-proxy", "upstream.test", "GET", "github"],
    );
    // pipelock (intercepting the inspect lane) or pipelock-bulk (passing a bulk tunnel through) let the tunnel through.
    const pipelockAllow = await arrives(
      f,
      "a pipelock's allow of the tunnel",
      sent,
      (d) => d.log !== "egress-proxy" && d.decision === "allow" && d.host === "upstream.test",
    );
    assert.equal(pipelockAllow.found.port, 443);

    const refusedPath = unique("/follow-refused-");
    const refusedAt = Date.now();
    // --data: a POST.
    const refused = await agentCurl([
      "-H",
      "Content-Type: application/json",
      "--data",
      `{"key": "${AWS_KEY}"}`,
      `https://upstream.test${refusedPath}`,
    ]);
    assert.equal(refused.status, "403");
    assert.match(refused.body, /^pipelock: /);
    const pipelockDeny = await arrives(f, "pipelock's refusal", refusedAt, (d) => d.log === "pipelock" && d.decision === "deny");
    assert.equal(pipelockDeny.found.reason, "body_dlp");
    assert.match(pipelockDeny.found.detail ?? "", /AWS/);
    assert.doesNotMatch(f.stdout(), new RegExp(AWS_KEY), "the secret itself is in no line");
    const passedOn = await arrives(
      f,
      "the egress proxy's record of pipelock's refusal",
      refusedAt,
      (d) => d.log === "egress-proxy" && d.gate === "pipelock" && d.decision === "deny" && d.path === refusedPath,
    );
    console.log(
      `# figure: logs --follow: from curl's start to its line seen (curl's own time included, polled every 0.5 s): ${egressAllow.seconds.toFixed(2)} s (egress proxy) and ` +
        `${pipelockAllow.seconds.toFixed(2)} s (pipelock) for an allowed request, ${passedOn.seconds.toFixed(2)} s for pipelock's refusal`,
    );

    // At least one health check (every 5 s) ran while it followed: none of its lines is shown.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const everything = await run(
      [process.execPath, "--import", "tsx", "scripts/bottle.ts", "logs", stack.name, "lane", "--file", stack.configFile, "--json", "--all"],
      { cwd: REPO_ROOT },
    );
    assert.equal(everything.code, 0, everything.stderr);
    const shown = new Set(f.stdout().split("\n"));
    const hidden = everything.stdout.split("\n").filter((l) => l !== "" && !shown.has(l));
    console.log(`# note: lines only --all shows (the bottle's probes), by kind: ${JSON.stringify(probeKinds(hidden))}`);
    for (const line of linesOf(f)) {
      assert.ok(!(line.kind === "decision" && line.reason === "healthcheck"), `a health check's line was shown: ${JSON.stringify(line)}`);
      assert.ok(
        !(line.kind === "message" && /\[127\.0\.0\.1:\d+\] client/.test(line.text)),
        `a health check's connection was shown: ${JSON.stringify(line)}`,
      );
    }

    const tools = await toolsOf(f);
    assert.equal(tools.length, 3, "it follows each gate's log (egress proxy, pipelock, pipelock-bulk)");
    const code = await interrupt(f);
    assert.equal(code, 0, f.stderr());
    assert.doesNotMatch(f.stderr(), /\n\s+at |Error:/, "no stack trace");
    // Ended with it (a zombie until init reaps it has no command line left).
    const running = (pid: number) => fs.existsSync(`/proc/${pid}`) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") !== "";
    await waitFor("its docker logs processes to end", 5_000, async () => (tools.some(running) ? undefined : true));
  });

  it("a gate that goes away ends its log with a line saying so; the others go on; text lines prefixed with time and gate", async () => {
    const f = follow("-f", "--since", "1s");
    const path = unique("/follow-text-");
    await waitFor("the docker logs processes", ARRIVAL_MS, async () => ((await toolsOf(f)).length === 3 ? true : undefined));
    await run(["docker", "stop", await containerOf(stack.name, "lane", "pipelock-bulk")], { timeoutMs: 30_000 });
    await waitFor("the line saying pipelock-bulk's log ended", 30_000, async () =>
      /bottle: the pipelock-bulk log ended .*status/.test(f.stderr()) ? true : undefined,
    );
    await agentCurl([`https://not-routed.test${path}`]);
    await waitFor("the egress proxy's refusal, as text", ARRIVAL_MS, async () =>
      f
        .stdout()
        .split("\n")
        .find((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z egress-proxy {2}\{"decision": "deny".*"not-routed\.test"/.test(l)),
    );
    assert.equal(await interrupt(f), 0, f.stderr());
  });
});

/** The hidden lines' kinds (a decision's reason, or a message's shape without its numbers), counted. */
function probeKinds(lines: string[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const text of lines) {
    const line = JSON.parse(text) as GateLine;
    const what =
      line.kind === "decision"
        ? `${line.decision} ${line.reason}`
        : line.kind === "message"
          ? line.text.replace(/[\d.:]+/g, "N")
          : "reload";
    const kind = `${line.log} ${what}`;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}
