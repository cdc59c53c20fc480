/**
 * A gate that crashes: its process killed with SIGKILL from the host (no `docker stop`, no
 * signal it could handle), while a loop in the agent sends an allowed request every 100 ms.
 * The engine restarts the same container by its restart policy; the bottle must come back by
 * itself with the same configuration, and stay closed meanwhile: every request the upstream
 * saw came through pipelock, the agent reaches nothing directly, and a refused host is still
 * refused. Each case prints how long the bottle was out and how many requests failed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GATE_PROCESS } from "../../components/kubernetes/pods";
import { containerOf, inspect, ipOn, startTestUpstream, tcpProbe, UNREACHABLE } from "./support/docker";
import { curlIn, header, recorded, unique } from "./support/inside";
import { failuresOf, underLoad } from "./support/loop";
import { exec, mustRun, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack, type TestStackConfig, destroyLeavingNothing } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";

const BOTTLE = "crash";

/** Each gate killed, and the route whose requests it carries. */
const CASES = [
  { role: "egress-proxy", host: "upstream.test" },
  { role: "pipelock", host: "inspect.upstream.test" },
  { role: "pipelock-bulk", host: "upstream.test" },
] as const;

function config(): TestStackConfig {
  const { images } = e2eRun();
  const auth = { header: "Authorization", prefix: "Bearer ", token: "github" };
  return {
    bottles: [
      {
        name: BOTTLE,
        routes: [
          { host: "upstream.test", ports: [443], methods: ["GET"], paths: ["/allowed/"], auth },
          // The inspect lane: pipelock carries it, where upstream.test takes pipelock-bulk.
          { host: "inspect.upstream.test", ports: [443], methods: ["GET"], paths: ["/allowed/"], auth, bulk: false },
        ],
        agent: { image: images.probe, command: ["sleep", "infinity"], user: "1000:1000", workspace: { keep: false } },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: ["upstream.test", "inspect.upstream.test"] } },
      },
    ],
  };
}

/** The host's pid of the gate's own process in `container` (not the container's init). */
async function gateProcess(container: string, role: (typeof CASES)[number]["role"]): Promise<number> {
  const top = await mustRun(["docker", "top", container, "-eo", "pid,comm"]);
  const found = top
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === GATE_PROCESS[role]);
  assert.equal(found.length, 1, `one ${GATE_PROCESS[role]} process in ${container}:\n${top}`);
  return Number(found[0]![0]);
}

const restarts = async (container: string) => (await inspect<{ RestartCount: number }>("container", container)).RestartCount;

describe("a gate killed as by a crash: the bottle comes back by itself, closed all along", () => {
  let stack: TestStack;
  const upstream = `e2e-${e2eRun().id}-faults-upstream`;
  const agent = () => `${stack.name}-${BOTTLE}-agent`;
  const outboundNet = () => `${stack.name}-${BOTTLE}-outbound-net`;
  const inAgent = (argv: string[]) => exec(agent(), argv, { timeoutMs: 40_000 });

  before(async () => {
    stack = await TestStack.create("faults", config(), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up failed:\n${tail(up.output)}`);
    await startTestUpstream(upstream, stack.name, outboundNet(), ["upstream.test", "inspect.upstream.test"]);
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    await destroyLeavingNothing(stack);
  });

  for (const { role, host } of CASES) {
    it(`${role}'s process killed with SIGKILL: the same container is back with its configuration, and nothing got past it`, async () => {
      const container = await containerOf(stack.name, BOTTLE, role);
      const restartsBefore = await restarts(container);
      const loopPath = `/allowed/${unique("crash-")}`;
      let killedAt = 0;
      let directProbe = "";
      const seen = await underLoad(agent(), `https://${host}${loopPath}`, async () => {
        const pid = await gateProcess(container, role);
        killedAt = Date.now() / 1000;
        await mustRun(["kill", "-KILL", String(pid)]);
        // While the gate is down: still no way out but through it.
        directProbe = await tcpProbe(agent(), "python3", await ipOn(upstream, outboundNet()), 443);
        await waitFor(`${role} to come back`, 60_000, async () => {
          const answer = await curlIn(inAgent, ["-o", "/dev/null", "--max-time", "5", `https://${host}${loopPath}`]);
          return answer.status === "200" ? true : undefined;
        });
      });

      // A request in flight at the kill may still complete: the bottle is back at the first
      // answer after the outage's last failure.
      const { failed } = failuresOf(seen);
      const lastFailure = failed.at(-1);
      const back = seen.find((s) => s.at > killedAt && s.status === "200" && (!lastFailure || s.at > lastFailure.at));
      assert.ok(back, `the loop saw no answer after the kill: ${JSON.stringify(seen.slice(-5))}`);
      console.log(
        `# figure: ${role} killed (SIGKILL): the loop's requests answered again ${(back.at - killedAt).toFixed(2)} s after the kill; ` +
          `${failed.length} of ${seen.length} requests failed (${[...new Set(failed.map((s) => s.status))].join(", ")})`,
      );
      assert.ok(back.at - killedAt < 30, `back after ${(back.at - killedAt).toFixed(1)} s`);
      assert.deepEqual(
        failed.filter((s) => s.at < killedAt),
        [],
        "requests failed before the kill",
      );

      assert.equal(await containerOf(stack.name, BOTTLE, role), container, "the container was replaced, not restarted");
      assert.equal(await restarts(container), restartsBefore + 1, "the engine restarted the container once");
      assert.match(directProbe, UNREACHABLE);

      // Every request that reached the upstream came from the lane's pipelock, with the injected credential.
      const lane = host === "upstream.test" ? "pipelock-bulk" : "pipelock";
      const pipelock = await ipOn(await containerOf(stack.name, BOTTLE, lane), outboundNet());
      const reached = (await recorded(upstream)).filter((rec) => rec.path === loopPath);
      assert.ok(reached.length > 0);
      assert.deepEqual([...new Set(reached.map((rec) => rec.client))], [pipelock]);
      assert.deepEqual([...new Set(reached.flatMap((rec) => header(rec, "authorization")))], [`Bearer ${TEST_TOKENS.github}`]);

      // The same routes as before the crash.
      const refusedPath = await curlIn(inAgent, ["https://upstream.test/denied/"]);
      assert.equal(refusedPath.status, "403");
      assert.match(refusedPath.body, /^egress-proxy: path not allowed/);
      const refusedHost = await curlIn(inAgent, ["https://example.org/"]);
      assert.match(refusedHost.body, /^egress-proxy: host not in allowlist: example\.org/);
    });
  }
});
