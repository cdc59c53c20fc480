/**
 * `pulumi up` interrupted (Ctrl-C's SIGINT to its job, and SIGKILL to it: a closed terminal, a
 * cancelled CI job) during the gates' creation and during a live-config apply, and two `up`s of
 * one stack at once, on the file backend. After each: what the backend holds (lock files,
 * pending operations), what scripts/stuck-stack.ts says and whether its commands recover the
 * stack, that `refresh` makes the state the engine's truth, that the next `up` converges (a
 * preview after it changes nothing), and that no gate served without a configuration or a
 * mixed one. Each case prints the seconds it took to converge.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { BottleArgs } from "../../components/index";
import { containerOf, containersOf, startTestUpstream } from "./support/docker";
import {
  type ContainerEvent,
  interruptUp,
  lockFiles,
  reloadLines,
  startUp,
  startVolumeSampler,
  stateAndEngine,
  type VolumeSample,
} from "./support/interrupt";
import { underLoad } from "./support/loop";
import { mustRun, REPO_ROOT, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack, type TestStackConfig, destroyLeavingNothing } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { pendingOperations } from "../../scripts/stuck-stack";

const BOTTLE = "cut";
const GATES = ["egress-proxy", "pipelock"] as const;

/**
 * The bottle: `paths` are its first route's, `moreHost` adds a second route (a change of every
 * gate's document). pipelock trusts both test hosts from the start (a settings change would
 * replace it instead of reloading it).
 */
function config(paths: string[], moreHost = false): TestStackConfig {
  const { images } = e2eRun();
  const routes: BottleArgs["routes"] = [
    { host: "upstream.test", ports: [443], methods: ["GET"], paths, auth: { header: "Authorization", prefix: "Bearer ", token: "github" } },
    ...(moreHost ? [{ host: "more.upstream.test", ports: [443], methods: ["GET" as const] }] : []),
  ];
  return {
    bottles: [
      {
        name: BOTTLE,
        routes,
        agent: { image: images.probe, command: ["sleep", "infinity"], user: "1000:1000", workspace: { keep: false } },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: ["upstream.test", "more.upstream.test"] } },
      },
    ],
  };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The sha256 of each gate's document as the stack's outputs render it (what a reload confirms). */
async function documentHashes(stack: TestStack): Promise<Record<(typeof GATES)[number], string>> {
  const bottles = (await stack.outputs()).bottles as Record<string, { routesYaml: string; pipelockYaml: string }>;
  return { "egress-proxy": sha256(bottles[BOTTLE]!.routesYaml), pipelock: sha256(bottles[BOTTLE]!.pipelockYaml) };
}

/** scripts/stuck-stack.ts on the stack, as scripts/pulumi runs it before `operation`. */
async function stuckStack(stack: TestStack, operation: string) {
  const { cwd, env } = stack.command([]);
  return run(["node", "--import", "tsx", `${REPO_ROOT}/scripts/stuck-stack.ts`, stack.name, operation], { cwd, env });
}

/** The commands a message prints, in order, as argv: `scripts/pulumi ... --stack S` as the CLI's arguments (TestStack adds the stack), `docker ...` as they are. */
function printedCommands(message: string): { pulumi?: string[]; docker?: string[] }[] {
  return message.split("\n").flatMap((line): { pulumi?: string[]; docker?: string[] }[] => {
    const printed = /^ {4}(scripts\/pulumi|docker) (.*)$/.exec(line);
    if (!printed) return [];
    const words = (printed[2]!.match(/'[^']*'|\S+/g) ?? []).map((word) => word.replace(/^'(.*)'$/, "$1"));
    return printed[1] === "docker" ? [{ docker: ["docker", ...words] }] : [{ pulumi: words.slice(0, words.indexOf("--stack")) }];
  });
}

/** Every gate container of the bottle: did it run on its configuration (never refusing to start, never restarted)? */
async function gateStarts(stack: TestStack): Promise<string[]> {
  const problems: string[] = [];
  for (const role of GATES) {
    for (const container of await containersOf(stack.name, BOTTLE, role)) {
      const [status = "", restarts = ""] = (await mustRun(["docker", "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", container]))
        .trim()
        .split(" ");
      const logs = await run(["docker", "logs", container]);
      if (/refusing to start/.test(logs.stdout + logs.stderr)) problems.push(`${container}: ${(logs.stdout + logs.stderr).slice(0, 500)}`);
      if (!["created", "running"].includes(status) || restarts !== "0")
        problems.push(`${container} is ${status} after ${restarts} restarts`);
    }
  }
  return problems;
}

/** Asserts that the state records exactly the bottle's objects the engine holds (but `keptVolumes`, left for the next up). */
async function assertStateIsTheTruth(stack: TestStack, when: string, keptVolumes: string[] = []): Promise<void> {
  const { engine, state } = await stateAndEngine(stack);
  const expected = engine.filter((object) => !keptVolumes.map((name) => `volume ${name}`).includes(object));
  assert.deepEqual(state, expected, `${when}: the state and the engine differ`);
}

/** `up`, then a preview that must change nothing; returns the seconds of both. */
async function converge(stack: TestStack): Promise<number> {
  const up = await stack.up();
  assert.ok(up.ok, `the next up failed:\n${tail(up.output)}`);
  const preview = await stack.preview();
  assert.ok(preview.ok, tail(preview.output));
  const changed = [...preview.steps].filter(([, op]) => op !== "same").map(([urn, op]) => `${op} ${urn}`);
  assert.deepEqual(changed, [], "a preview after the converging up still has changes");
  return up.seconds + preview.seconds;
}

/**
 * What a run cut off by `signal` left, checked and recovered as a user would: no lock after
 * SIGINT, the killed run's stale lock after SIGKILL; scripts/stuck-stack.ts names it and the
 * pending operations, and the commands it prints (run as printed) make the state the engine's
 * truth. Returns the seconds the recovery took before the converging `up`.
 */
async function recover(stack: TestStack, signal: "SIGINT" | "SIGKILL", pid: number): Promise<number> {
  const started = Date.now();
  const locks = lockFiles(stack.name);
  const pending = pendingOperations(JSON.parse(await stack.exportState()));
  console.log(
    `# ${stack.name} after ${signal}: ${locks.length} lock file(s), pending: ${pending.map((p) => `${p.operation} ${p.urn.split("::").at(-1)}`).join(", ") || "none"}`,
  );
  const said = await stuckStack(stack, "up");
  if (signal === "SIGINT") {
    // Ctrl-C: the CLI finishes the steps under way, records them and unlocks.
    assert.deepEqual(locks, [], "a run stopped by SIGINT left a lock");
    assert.deepEqual(pending, [], "a run stopped by SIGINT left pending operations");
    assert.equal(said.code, 0, said.stderr);
    return (Date.now() - started) / 1000;
  }
  console.log(`# what scripts/pulumi says before the next up:\n${said.stderr.replace(/^/gm, "#   ")}`);
  assert.ok(pending.length > 0, "the kill cut no step under way");
  assert.equal(locks.length, 1, "a killed run leaves its lock");
  assert.equal((JSON.parse(fs.readFileSync(locks[0]!, "utf8")) as { pid: number }).pid, pid, "the lock names the killed CLI");
  assert.equal(said.code, 1, said.stderr);
  assert.match(said.stderr, new RegExp(`locked by pulumi \\(pid ${pid}, .*\\), and that process is gone`));
  assert.ok(said.stderr.includes(locks[0]!), said.stderr);
  for (const op of pending) assert.ok(said.stderr.includes(op.urn.split("::").at(-1)!), `${op.urn} is not named:\n${said.stderr}`);
  const blocked = await stack.up();
  assert.equal(blocked.ok, false, "an up over the stale lock ran");
  assert.match(blocked.output, /the stack is currently locked by 1 lock\(s\)/);
  // As a user would: each command printed, in order, but the `up` (converge runs it).
  for (const { pulumi, docker } of printedCommands(said.stderr).filter((c) => c.pulumi?.[0] !== "up")) {
    const r = pulumi ? await stack.cli(pulumi) : await run(docker!);
    assert.equal(r.code, 0, `${(pulumi ?? docker!).join(" ")}:\n${r.stderr}${r.stdout}`);
  }
  assert.deepEqual(lockFiles(stack.name), [], "the printed commands left the lock");
  assert.deepEqual(pendingOperations(JSON.parse(await stack.exportState())), [], "the printed commands left pending operations");
  const keptVolumes = /Keep the volume\(s\) (.*): the next up takes them over/.exec(said.stderr)?.[1]?.split(", ") ?? [];
  await assertStateIsTheTruth(stack, `after the printed recovery of ${signal}`, keptVolumes);
  const again = await stuckStack(stack, "up");
  assert.equal(again.code, 0, again.stderr);
  return (Date.now() - started) / 1000;
}

// The two stacks run side by side: the file's time is the longer one's.
describe("pulumi up interrupted, and two at once", { concurrency: 2 }, () => {
  for (const signal of ["SIGINT", "SIGKILL"] as const) {
    describe(`pulumi up interrupted by ${signal}`, { concurrency: 1 }, () => {
      let stack: TestStack;
      const upstream = `e2e-${e2eRun().id}-int-${signal.toLowerCase()}-upstream`;

      before(async () => {
        stack = await TestStack.create(`int-${signal.toLowerCase()}`, config(["/allowed/"]), TEST_TOKENS);
      });

      after(async () => {
        await run(["docker", "rm", "-f", upstream]);
        await destroyLeavingNothing(stack, "destroy left objects of the stack (a container no state knew of?)");
      });

      it("during the gates' creation: the next up converges, refresh shows the truth, no gate ran without its configuration", async () => {
        const isGate = (e: ContainerEvent) => e.action === "create" && (GATES as readonly string[]).includes(e.role);
        const { event, exit, pid, signalled, secondsToExit } = await interruptUp(stack, signal, isGate);
        assert.notEqual(exit.code, 0, `the interrupted up succeeded:\n${tail(exit.output)}`);
        console.log(
          `# ${stack.name}: ${signal} to ${signalled.length} process(es) at the creation of ${event.name}; the CLI ended ${secondsToExit.toFixed(1)} s later (code ${exit.code}, signal ${exit.signal})\n${tail(exit.output, 1500)}`,
        );
        assert.deepEqual(await gateStarts(stack), [], "a gate started without its configuration");
        const recovering = await recover(stack, signal, pid);
        const refreshed = await stack.refresh();
        assert.ok(refreshed.ok, tail(refreshed.output));
        await assertStateIsTheTruth(stack, "after refresh");
        const seconds = recovering + refreshed.seconds + (await converge(stack));
        await assertStateIsTheTruth(stack, "after the converging up");
        for (const role of GATES) await containerOf(stack.name, BOTTLE, role); // exactly one of each
        assert.deepEqual(await gateStarts(stack), []);
        console.log(
          `# figure: up interrupted by ${signal} during the gates' creation: converged in ${seconds.toFixed(1)} s (recovery, refresh, up, preview)`,
        );
      });

      it("during a live-config apply: each gate serves the old or the new document, never none or a mix; the next up converges", async () => {
        await startTestUpstream(upstream, stack.name, `${stack.name}-${BOTTLE}-outbound-net`, ["upstream.test", "more.upstream.test"]);
        const agent = `${stack.name}-${BOTTLE}-agent`;
        const gates = {
          "egress-proxy": await containerOf(stack.name, BOTTLE, "egress-proxy"),
          pipelock: await containerOf(stack.name, BOTTLE, "pipelock"),
        };
        const old = await documentHashes(stack);
        const samplers = {
          "egress-proxy": await startVolumeSampler(stack.name, `${stack.name}-${BOTTLE}-egress-proxy-config`, 65533, "routes.yaml"),
          pipelock: await startVolumeSampler(stack.name, `${stack.name}-${BOTTLE}-pipelock-config`, 65532, "pipelock.yaml"),
        };
        let seconds = 0;
        let cut: ContainerEvent | undefined;
        // The change: a second path (the egress proxy's routes) and a second route (every gate's document).
        const seen = await underLoad(agent, "https://upstream.test/also/loop", async () => {
          stack.writeConfig(config(["/allowed/", "/also/"], true));
          const interrupted = await interruptUp(stack, signal, (e) => e.action === "start" && e.role === "live-config-writer");
          cut = interrupted.event;
          console.log(
            `# ${stack.name}: ${signal} as the live-config writer ${interrupted.event.name} started; the CLI ended ${interrupted.secondsToExit.toFixed(1)} s later (code ${interrupted.exit.code})`,
          );
          seconds = await recover(stack, signal, interrupted.pid);
          seconds += await converge(stack);
        });
        const fresh = await documentHashes(stack);
        for (const role of GATES) assert.notEqual(fresh[role], old[role], `the change did not reach ${role}'s document`);
        for (const role of GATES) {
          const samples: VolumeSample[] = await samplers[role].stop();
          const allowed = new Set([old[role], fresh[role]]);
          const odd = samples.filter((s) => !allowed.has(s.hash));
          assert.ok(samples.length > 20, `${role}: ${samples.length} samples`);
          assert.deepEqual(odd.slice(0, 5), [], `${role}'s volume held a document that is neither the old nor the new one`);
          assert.equal(samples.at(-1)!.hash, fresh[role], `${role}'s volume does not end on the new document`);
          const reloads = await reloadLines(gates[role]);
          assert.deepEqual(
            reloads.filter((r) => r.status !== "success" || !allowed.has(r.hash ?? "")),
            [],
            `${role} confirmed another document`,
          );
          assert.equal(reloads.at(-1)?.hash, fresh[role], `${role} does not end serving the new document`);
          assert.equal(await containerOf(stack.name, BOTTLE, role), gates[role], `${role} was replaced`);
        }
        // From the agent: the old behaviour (refused by the egress proxy) until the new one (allowed), nothing else.
        const outcomes = seen.map((s) =>
          s.status === "200" && s.exit === "0"
            ? "new"
            : s.status === "403" && /egress-proxy: path not allowed/.test(s.error)
              ? "old"
              : `other: ${s.status} ${s.exit} ${s.error}`,
        );
        assert.deepEqual(
          outcomes.filter((o) => o.startsWith("other")),
          [],
          "the agent saw neither the old nor the new behaviour",
        );
        assert.equal(outcomes.at(-1), "new");
        assert.ok(outcomes.indexOf("new") > outcomes.lastIndexOf("old"), "the agent saw the old behaviour after the new one");
        await assertStateIsTheTruth(stack, "after the converging up");
        console.log(
          `# figure: up interrupted by ${signal} during a live-config apply (at ${cut?.name}): converged in ${seconds.toFixed(1)} s; ${seen.length} requests from the agent, ${outcomes.filter((o) => o === "old").length} old, ${outcomes.filter((o) => o === "new").length} new, 0 other`,
        );
      });

      if (signal === "SIGINT") {
        it("two ups of the stack at once: one wins, the other is refused naming the lock, the state stays whole", async () => {
          stack.writeConfig(config(["/allowed/", "/also/", "/third/"], true));
          const first = startUp(stack);
          const second = startUp(stack);
          // Once the loser is out, scripts/pulumi's check names the winner's lock, still held.
          await Promise.race([first.exited, second.exited]);
          const said = await stuckStack(stack, "up");
          const [a, b] = await Promise.all([first.exited, second.exited]);
          assert.equal(said.code, 1, said.stderr);
          assert.match(said.stderr, new RegExp(`locked by a run that is still going: pulumi \\(pid (?:${first.pid}|${second.pid}), `));
          const results = [a, b].map((e) => e.code);
          console.log(
            `# ${stack.name}: two ups at once ended with codes ${results.join(" and ")} in ${a.seconds.toFixed(1)} and ${b.seconds.toFixed(1)} s`,
          );
          const won = [a, b].filter((e) => e.code === 0);
          const lost = [a, b].filter((e) => e.code !== 0);
          assert.equal(won.length, 1, `not exactly one up won:\n${tail(a.output, 1500)}\n---\n${tail(b.output, 1500)}`);
          assert.match(
            lost[0]!.output,
            /error: the stack is currently locked by 1 lock\(s\)\. Either wait for the other process\(es\) to end or delete the lock file with `pulumi cancel`\./,
          );
          assert.match(
            lost[0]!.output,
            new RegExp(
              `\\.pulumi/locks/organization/[^/]+/${stack.name}/[0-9a-f-]+\\.json.*: created by \\S+ \\(pid (?:${first.pid}|${second.pid})\\)`,
            ),
          );
          const exported = JSON.parse(await stack.exportState()) as { deployment: { resources: unknown[] } };
          assert.deepEqual(pendingOperations(exported), []);
          assert.ok(exported.deployment.resources.length > 10);
          assert.deepEqual(lockFiles(stack.name), []);
          const bottles = (await stack.outputs()).bottles as Record<string, { routesYaml: string }>;
          assert.match(bottles[BOTTLE]!.routesYaml, /\/third\//, "the winner's change is not complete in the state");
          await converge(stack);
          await assertStateIsTheTruth(stack, "after two ups at once");
        });
      }
    });
  }
});
