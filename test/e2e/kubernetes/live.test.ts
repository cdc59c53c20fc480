/**
 * Stack `klive` on the test cluster: a change is live when `up` returns, and the bottle comes
 * back by itself, still closed, from a gate's crash and from a restart of the node's kubelet.
 *
 * - `up` waits until both gates have loaded the new document (kubernetes/live-wait): the first
 *   request the agent sends after `up` returns already sees an added route, and a removed one
 *   refused; a gate that refuses its document fails `up` at once, naming the bottle, gate and pod,
 *   and keeps serving what it had.
 * - Faults: the gate's main process killed (SIGKILL from inside its pod, as a crash: not a pod
 *   delete) and kubelet restarted (test/k8s/cluster restart-kubelet), each under two loops in
 *   the agent, one sending an allowed request after another (100 ms apart), one a request to a
 *   host no route allows and a direct connection to the upstream: the seconds until an allowed
 *   request answers again are measured, and nothing of the second loop ever gets through.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { EGRESS_PROXY_PYTHON } from "../../../components/egress-proxy/workload";
import { curlIn, recordedFor, unique } from "../support/inside";
import {
  CLUSTER_SCRIPT,
  type ClusterInfo,
  destroyOnCluster,
  type Kubectl,
  removeTestInternet,
  startTestInternet,
  testCluster,
} from "../support/kubernetes";
import { mustRun, REPO_ROOT, waitFor } from "../support/process";
import { e2eRun } from "../support/run-env";
import { tail, TestStack } from "../support/stack";
import { TEST_TOKENS } from "../support/tokens";
import { liveStack } from "../stacks";
import { REFUSED_KEY } from "./refused-document/transform";

/** What the agent saw at one moment of a fault: an allowed request's status, or whether the bottle was still closed. */
interface Tick {
  at: number;
  /** The allowed loop: the request's HTTP status ("000": no answer). The closed loop: the unrouted host's. */
  status: string;
  /** The closed loop only: a direct TCP connection to the upstream, "connected" or why not. */
  direct?: string;
}

const LOOPS = "/tmp/fault";

/**
 * The fault loops (sh in the agent), each writing one line per iteration to `${LOOPS}.<name>`
 * until `${LOOPS}.stop` exists: `allowed` requests an allowed URL every 100 ms ("<time>
 * <status>"); `closed` requests a host no route allows and connects directly to the upstream
 * ("<time> <status> <connected or why not>").
 */
function faultLoops(allowedUrl: string, refusedUrl: string, upstreamIp: string): Record<"allowed" | "closed", string> {
  const request = (url: string) => `curl -s -o /dev/null --max-time 5 -w '%{http_code}' ${url}`;
  const probe =
    "import socket,sys\ntry:\n socket.create_connection((sys.argv[1],443),timeout=0.5).close();print('connected')\nexcept OSError as e:\n print('failed:'+type(e).__name__)";
  const loop = (name: string, line: string) =>
    [`while [ ! -e ${LOOPS}.stop ]; do`, `  ${line} >> ${LOOPS}.${name}`, "  sleep 0.1", "done"].join("\n");
  return {
    allowed: loop("allowed", `echo "$(date +%s.%N) $(${request(allowedUrl)})"`),
    closed: loop("closed", `echo "$(date +%s.%N) $(${request(refusedUrl)}) $(python3 -c "${probe}" ${upstreamIp})"`),
  };
}

/**
 * Kills the gate's main process, called `name`, from a sidecar with the gate's uid in its pod
 * (one process namespace), as a crash would: the oldest process of that name (the readiness
 * probe may be running another, `pipelock healthcheck`).
 */
const KILL = `
import os, signal, sys
def started(pid):
    try:
        if open(f"/proc/{pid}/comm").read().strip() == sys.argv[1]:
            return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
    except OSError:
        pass
    return None
found = {pid: t for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (t := started(pid)) is not None}
main = min(found, key=found.get)
os.kill(main, signal.SIGKILL)
print(main)
`;

describe("Kubernetes: live when up returns; back by itself, still closed, after a gate's crash and a kubelet restart", () => {
  const { id, images, workDir } = e2eRun();
  let cluster: ClusterInfo;
  let kubectl: Kubectl;
  let stack: TestStack;
  let upstreamIp = "";
  const names = { upstream: `live-${id}.upstream.test`, added: `added-${id}.upstream.test` };
  const internet = `e2e-${id}-klive`;
  const volume = `e2e-${id}-klive-workspace`;
  const ns = () => `${stack.name}-solo`;
  const agent = () => kubectl.shell(ns(), "agent");
  const agentCurl = (args: string[]) => curlIn((argv) => agent().exec(argv), args);
  const upstreamRecorded = (urlPath: string) => recordedFor(`${internet}-upstream`, urlPath);
  const configure = (change: { added?: boolean }) => stack.writeConfig(liveStack(cluster, names, volume, change));

  /** `up`, which must pass; its output. */
  async function up(what: string): Promise<{ output: string; seconds: number }> {
    const result = await stack.up();
    assert.ok(result.ok, `up (${what}) failed:\n${tail(result.output)}`);
    return result;
  }

  /** The gate's lines that confirm a document: what the wait reads. */
  const confirmations = async (role: string) =>
    (await kubectl.must(["logs", "-n", ns(), `deploy/${role}`, "-c", role]))
      .split("\n")
      .filter((l) => /"event":"(config_reload|startup)"/.test(l));

  /** The document's sha256 in a confirming line. */
  const configHash = (line: string) => /"config_hash":"([0-9a-f]{64})"/.exec(line)?.[1];

  /** The restart counts of the bottle's containers, by pod and container. */
  const restarts = async () =>
    Object.fromEntries(
      (await kubectl.json(["get", "pods", "-n", ns()])).items.flatMap((p: any) =>
        p.status.containerStatuses.map((c: any) => [`${p.metadata.name}/${c.name}`, c.restartCount as number]),
      ),
    ) as Record<string, number>;

  /** Runs `fault` under the fault loops until allowed requests have answered for `settle` s after it; what each loop saw, and when the fault began. */
  async function underFault(fault: () => Promise<void>, settle = 5): Promise<{ allowed: Tick[]; closed: Tick[]; began: number }> {
    const scripts = faultLoops(
      `https://${names.upstream}${unique("/allowed/fault-")}`,
      `https://${names.added}${unique("/refused-")}`,
      upstreamIp,
    );
    await agent().exec(["sh", "-c", `rm -f ${LOOPS}.*`]);
    for (const script of Object.values(scripts)) await agent().start(script);
    const ticks = async (name: string) =>
      (await agent().exec(["cat", `${LOOPS}.${name}`])).stdout
        .split("\n")
        .filter(Boolean)
        .map((line): Tick => {
          const [at = "0", status = "", direct] = line.split(" ");
          return { at: Number(at), status, ...(direct !== undefined && { direct }) };
        });
    await waitFor("the fault loops' first ticks", 30_000, async () =>
      (await ticks("allowed")).length >= 5 && (await ticks("closed")).length >= 2 ? true : undefined,
    );
    const began = Date.now() / 1000;
    await fault();
    await waitFor(`allowed requests answering for ${settle} s after the fault`, 180_000, async () => {
      const seen = (await ticks("allowed")).filter((t) => t.at > began);
      const lastFailure = seen.filter((t) => t.status !== "200").at(-1)?.at ?? began;
      return seen.some((t) => t.at > lastFailure + settle) ? true : undefined;
    });
    await agent().exec(["touch", `${LOOPS}.stop`]);
    const since = (list: Tick[]) => list.filter((t) => t.at > began - 1);
    return { allowed: since(await ticks("allowed")), closed: since(await ticks("closed")), began };
  }

  /**
   * Seconds from `began` to the first allowed answer after the last failure (0: none failed), and
   * the failures as `<status>@+<seconds>`, at the loop's pace (the median seconds between requests).
   */
  function recovery({ allowed, began }: { allowed: Tick[]; began: number }): { seconds: number; failures: string; pace: number } {
    const gaps = allowed.slice(1).map((t, i) => t.at - allowed[i]!.at);
    const pace = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0;
    const failed = allowed.filter((t) => t.at > began && t.status !== "200");
    const failures = failed.map((t) => `${t.status}@+${(t.at - began).toFixed(1)}`).join(" ") || "none";
    if (failed.length === 0) return { seconds: 0, failures, pace };
    const back = allowed.find((t) => t.at > failed.at(-1)!.at && t.status === "200")!;
    return { seconds: back.at - began, failures, pace };
  }

  /** Nothing got through meanwhile: no direct connection, and the unrouted host answered nothing but a refusal. */
  function assertStayedClosed(closed: Tick[]): void {
    assert.ok(closed.length >= 5, `too few ticks of the closed loop: ${closed.length}`);
    assert.deepEqual(
      closed.filter((t) => !/^failed:(TimeoutError|ConnectionRefusedError|OSError)$/.test(t.direct ?? "")),
      [],
      "the agent connected directly (or the probe did not run)",
    );
    assert.deepEqual(
      closed.filter((t) => t.status !== "403" && t.status !== "000"),
      [],
      "the unrouted host answered otherwise than refused",
    );
  }

  before(async () => {
    ({ cluster, kubectl } = await testCluster([images.egressProxy, images.pipelock, images.probe]));
    upstreamIp = await startTestInternet(internet, internet, images.upstream);
    await kubectl.setTestHosts(`e2e-${id}-klive`, [`${upstreamIp} ${names.upstream} ${names.added}`]);
    await kubectl.hostPathVolume(volume, { dir: path.join(workDir, "klive-workspace"), stack: internet, reclaimPolicy: "Delete" });
    stack = await TestStack.create("klive", liveStack(cluster, names, volume), TEST_TOKENS, {
      dir: path.join(workDir, "klive"),
      main: path.join(REPO_ROOT, "test", "e2e", "kubernetes", "refused-document", "program.ts"),
    });
    const first = await up("the first");
    console.log(`# figure: pulumi up on Kubernetes, stack klive (1 bottle, 4 pods, the gates' waits): ${first.seconds.toFixed(1)} s`);
    // A pod started with the document confirms it by its startup line: the first up waited for both gates.
    for (const role of ["egress-proxy", "pipelock"]) {
      const line = new RegExp(
        `bot-bottle live config: ${stack.name}/solo ${role}: sha256 ([0-9a-f]{64}) loaded by 1 pod\\(s\\): ${role}-\\S+`,
      );
      const hash = line.exec(first.output)?.[1];
      assert.ok(hash, `no confirmation of ${role} in the output of up:\n${tail(first.output)}`);
      // The hash the wait computed is the one the gate logged at start (of the file it read).
      assert.ok(
        (await confirmations(role)).some((l) => l.includes('"event":"startup"') && l.includes(`"config_hash":"${hash}"`)),
        role,
      );
    }
  });

  after(async () => {
    if (stack) await destroyOnCluster(stack, kubectl);
    if (kubectl) {
      await kubectl.run(["delete", "persistentvolume", volume, "--ignore-not-found"]);
      await kubectl.setTestHosts(`e2e-${id}-klive`, []);
    }
    await removeTestInternet(internet);
  });

  describe("live when up returns: the agent's first request after it sees the change (no retry, no wait)", () => {
    it("an added route: both gates reloaded it before up returned; the first request answers 200", async () => {
      const p = unique("/added-");
      configure({ added: true });
      const changed = await up("a route added");
      const first = await agentCurl([`https://${names.added}${p}`]);
      assert.equal(first.status, "200", `the first request after up: ${first.status} ${first.body}`);
      assert.equal((await upstreamRecorded(p)).length, 1);
      for (const role of ["egress-proxy", "pipelock"]) {
        assert.match(changed.output, new RegExp(`bot-bottle live config: ${stack.name}/solo ${role}: sha256 [0-9a-f]{64} loaded by 1 pod`));
      }
      console.log(`# figure: route added on Kubernetes, live when up returned: up ${changed.seconds.toFixed(1)} s`);
    });

    it("a removed route: the first request after up is refused by the egress proxy, and nothing reaches the upstream", async () => {
      const p = unique("/removed-");
      configure({});
      const changed = await up("a route removed");
      const first = await agentCurl([`https://${names.added}${p}`]);
      assert.equal(first.status, "403", `the first request after up: ${first.status} ${first.body}`);
      assert.match(first.body, new RegExp(`^egress-proxy: host not in allowlist: ${names.added.replace(/\./g, "\\.")}`));
      assert.deepEqual(await upstreamRecorded(p), []);
      console.log(`# figure: route removed on Kubernetes, live when up returned: up ${changed.seconds.toFixed(1)} s`);
    });

    it("a document the egress proxy refuses: up fails at once naming the bottle, gate and pod, and the gate keeps what it had", async () => {
      configure({ added: true });
      await stack.setConfig({ "live:refuse": "true" });
      const refused = await stack.up();
      assert.equal(refused.ok, false, `up passed with a refused document:\n${tail(refused.output)}`);
      assert.match(
        refused.output,
        new RegExp(
          `bot-bottle live config: ${stack.name}/solo egress-proxy: pod egress-proxy-\\S+ refused the new configuration \\(sha256 [0-9a-f]{64}; its lines above\\): it keeps serving its previous one until it restarts, and then refuses to start; fix the configuration and run up again`,
        ),
      );
      assert.match(refused.output, new RegExp(`status.{1,6}rejected.*${REFUSED_KEY}`), "the gate's own line");
      // Once kubelet swapped the files (5 s on the test cluster), not after the 120 s bound.
      assert.ok(refused.seconds < 90, `up took ${refused.seconds.toFixed(1)} s to fail`);
      console.log(`# figure: a document the egress proxy refuses on Kubernetes: up failed after ${refused.seconds.toFixed(1)} s`);
      const p = unique("/kept-");
      assert.equal((await agentCurl([`https://${names.added}${p}`])).status, "403", "the refused document's route is not in force");
      assert.equal(
        (await agentCurl([`https://${names.upstream}${unique("/allowed/kept-")}`])).status,
        "200",
        "the gate serves what it had",
      );

      configure({ added: true });
      const fixed = await up("the document fixed");
      assert.equal((await agentCurl([`https://${names.added}${unique("/fixed-")}`])).status, "200", "the first request after the fixed up");
      assert.match(
        fixed.output,
        new RegExp(`bot-bottle live config: ${stack.name}/solo egress-proxy: sha256 [0-9a-f]{64} loaded by 1 pod`),
      );
      configure({});
      await up("back to one route");
    });
  });

  describe("faults: the bottle comes back by itself, with the same configuration, and stays closed meanwhile", () => {
    for (const [role, process] of [
      ["egress-proxy", "mitmdump"],
      ["pipelock", "pipelock"],
    ] as const) {
      it(`${role}'s process killed (SIGKILL, a crash): its container restarts, allowed requests answer again, nothing else got through`, async () => {
        const before = await restarts();
        const inForce = configHash((await confirmations(role)).at(-1)!);
        const seen = await underFault(async () => {
          // From the reloader sidecar: the gate's uid, the pod's process namespace.
          await kubectl.must(["exec", "-n", ns(), `deploy/${role}`, "-c", "reloader", "--", EGRESS_PROXY_PYTHON, "-c", KILL, process]);
        });
        const { seconds, failures, pace } = recovery(seen);
        console.log(
          `# figure: ${role} killed on Kubernetes: allowed requests answer again ${seconds.toFixed(1)} s after the kill (a request every ${pace.toFixed(2)} s; failed: ${failures}); closed throughout (${seen.closed.length} checks)`,
        );
        assertStayedClosed(seen.closed);
        const afterKill = await restarts();
        const restarted = Object.keys(afterKill).filter((c) => afterKill[c] !== before[c]);
        assert.equal(restarted.length, 1, JSON.stringify({ before, afterKill }));
        assert.match(restarted[0]!, new RegExp(`^${role}-[^/]+/${role}$`));
        // The same configuration: its startup line confirms the document in force, and the routes answer as before.
        const restartedWith = (await confirmations(role)).at(-1)!;
        assert.match(restartedWith, /"event":"startup"/);
        assert.equal(configHash(restartedWith), inForce);
        assert.equal((await agentCurl([`https://${names.added}${unique("/still-refused-")}`])).status, "403");
      });
    }

    it("the node's kubelet restarted: the pods run on, the bottle answers and stays closed", async () => {
      const before = await restarts();
      let restartSeconds = 0;
      const seen = await underFault(async () => {
        const started = Date.now();
        await mustRun([CLUSTER_SCRIPT, "restart-kubelet"], { timeoutMs: 120_000 });
        restartSeconds = (Date.now() - started) / 1000;
      }, 10);
      const { seconds, failures, pace } = recovery(seen);
      console.log(
        `# figure: kubelet restarted on Kubernetes (${restartSeconds.toFixed(1)} s): allowed requests answering ${seconds.toFixed(1)} s after the restart began (a request every ${pace.toFixed(2)} s; failed: ${failures}); closed throughout (${seen.closed.length} checks)`,
      );
      assertStayedClosed(seen.closed);
      assert.deepEqual(await restarts(), before, "a pod was replaced or a container restarted");
      // And the node still swaps mounted files: a change is live when up returns.
      configure({ added: true });
      await up("a route added after the kubelet restart");
      assert.equal((await agentCurl([`https://${names.added}${unique("/after-kubelet-")}`])).status, "200");
    });
  });
});
