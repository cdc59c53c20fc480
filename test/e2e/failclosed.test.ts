/**
 * Tier 4, failing closed: stack `failclosed` (stacks.ts) runs an egress proxy that can never
 * load its routes (a TEST image: the real one started on an invalid routes file). `pulumi up`
 * must fail on the egress proxy's health, the agent must never be created, and nothing on the
 * agent network may get through. Stack `unpullable` names a pipelock image the engine cannot
 * pull: `up` must say how to provide it and fail before anything of the bottle is made.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { containerOf, labelled, tcpProbe } from "./support/docker";
import { exec, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { type OpResult, tail, TestStack } from "./support/stack";
import { failClosedStack, unpullableStack } from "./stacks";
import { LABEL_KEYS } from "../../components/vocabulary";

describe("an egress proxy that cannot load its routes fails the deployment closed", () => {
  let stack: TestStack;
  let up: OpResult;
  const probe = `e2e-${e2eRun().id}-failclosed-probe`;

  before(async () => {
    stack = await TestStack.create("failclosed", failClosedStack());
    up = await stack.up();
    console.log(`# figure: fail-closed up gave up after ${up.seconds.toFixed(1)} s (the egress proxy's health wait)`);
  });

  after(async () => {
    await run(["docker", "rm", "-f", probe]);
    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    assert.deepEqual(await labelled(stack.name), [], "left behind by destroy after a half-failed up");
    await stack.remove();
  });

  it("up fails on the egress proxy's health, and the proxy's log names the cause", async () => {
    assert.equal(up.ok, false, "up must fail");
    assert.match(up.output, /Container::gamma-egress-proxy: 1 error occurred:\s+\* container failed to be in healthy state/);
    const logs = await run(["docker", "logs", await containerOf(stack.name, "gamma", "egress-proxy")]);
    assert.match(`${logs.stdout}${logs.stderr}`, /egress-proxy: refusing to start: routes: .*broken-routes\.yaml: routes: required list/);
  });

  it("the agent is never created, and a stand-in on its network gets nothing through", async () => {
    const objects = await labelled(stack.name);
    assert.ok(!objects.includes(`container ${stack.name}-gamma-agent`), `the agent must not exist: ${objects.join(", ")}`);
    const started = await run([
      "docker",
      "run",
      "-d",
      "--name",
      probe,
      "--label",
      `${LABEL_KEYS.stack}=${stack.name}`,
      "--network",
      `${stack.name}-gamma-agent-net`,
      e2eRun().images.probe,
    ]); // fmt: skip
    assert.equal(started.code, 0, started.stderr);
    const curl = await exec(
      probe,
      [
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-x",
        "http://egress-proxy:9099",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://upstream.test/",
      ],
      { timeoutMs: 30_000 },
    );
    assert.notEqual(curl.code, 0, `a request through the failed egress proxy succeeded: ${curl.stdout}`);
    assert.match(await tcpProbe(probe, "python3", "1.1.1.1", 443), /^failed: (ENETUNREACH|EHOSTUNREACH|timeout)$/);
  });
});

describe("a pipelock image the engine cannot pull fails the deployment before anything is made", () => {
  let stack: TestStack;
  let up: OpResult;

  before(async () => {
    stack = await TestStack.create("unpullable", unpullableStack());
    up = await stack.up();
  });

  after(async () => {
    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    await stack.remove();
  });

  it("up fails on the pull, having said how to provide the image", async () => {
    assert.equal(up.ok, false, "up must fail");
    assert.match(up.output, /docker:index:RemoteImage delta-pipelock-image \*\*creating failed\*\*/);
    assert.match(
      up.output,
      /the pipelock image registry\.invalid\/pipelock:absent-\S+ is not on the engine: up pulls it from its registry\. If the engine cannot reach that registry, the pull fails \(and nothing of the bottle is made\); then build pipelock's image from its source on the engine \(bot-bottle's scripts\/pipelock\/build-image <tag> does\) and set the bottle's pipelock\.image to that tag\./,
    );
  });

  it("nothing of the bottle is on the engine: no network, volume or container", async () => {
    assert.deepEqual(await labelled(stack.name), []);
  });
});
