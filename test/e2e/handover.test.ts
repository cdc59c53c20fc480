/**
 * Changing a running bottle's routes or rotating its token while the agent works. The gates are
 * replaced start-first: the replacements join the networks under the same aliases, then the old
 * egress proxy stops accepting connections, finishes the requests in flight and exits. A loop
 * in the agent sends an allowed request every 100 ms while the real `pulumi up` applies each
 * change. No request the gates accepted may fail (none cut, no 502); what can still fail is a
 * connection refused before anything was sent, in the moment the engine's DNS still names the
 * old egress proxy after it stopped listening (README, "Changing a running bottle"). Each
 * case prints how many.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { BottleArgs } from "../../components/index";
import { containerOf, labelled, tcpProbe } from "./support/docker";
import { exec, mustRun, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack, TestStackConfig } from "./support/stack";
import { ROTATED_GITHUB_TOKEN, TEST_TOKENS } from "./support/tokens";

const LOOP_LOG = "/tmp/loop.log";
const LOOP_STOP = "/tmp/loop.stop";
// One line per request: "<unix time> <HTTP status> <curl exit code> <curl's error, the body if not 200>".
const LOOP = [
  `while [ ! -e ${LOOP_STOP} ]; do`,
  `  out=$(curl -sS -o /tmp/loop.body --max-time 20 -w '%{http_code}' https://upstream.test/allowed/loop 2>/tmp/loop.err); code=$?`,
  `  [ "$out" = 200 ] || head -c 300 /tmp/loop.body >> /tmp/loop.err`,
  `  echo "$(date +%s.%N) $out $code $(tr '\\n' ' ' </tmp/loop.err)" >> ${LOOP_LOG}`,
  "  sleep 0.1",
  "done",
].join("\n");

function config(change: { newPath?: boolean; newHost?: boolean } = {}): TestStackConfig {
  const { images } = e2eRun();
  const paths = ["/allowed/", ...(change.newPath ? ["/also/"] : [])];
  const routes: BottleArgs["routes"] = [
    { host: "upstream.test", ports: [443], methods: ["GET"], paths, auth: { header: "Authorization", prefix: "Bearer ", token: "github" } },
    ...(change.newHost ? [{ host: "more.upstream.test", ports: [443], methods: ["GET" as const] }] : []),
  ];
  return {
    bottles: [
      {
        name: "swap",
        routes,
        agent: { image: images.probe, command: ["sleep", "infinity"], user: "1000:1000", workspace: { keep: false } },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: ["upstream.test", "more.upstream.test"] } },
      },
    ],
  };
}

interface Sample {
  at: number;
  status: string;
  exit: string;
  error: string;
}

describe("a route change and a token rotation, applied by pulumi up while the agent works: no accepted request fails", () => {
  let stack: TestStack;
  const upstream = `e2e-${e2eRun().id}-handover-upstream`;
  const agent = () => `${stack.name}-swap-agent`;

  async function samples(): Promise<Sample[]> {
    const log = await exec(agent(), ["cat", LOOP_LOG]);
    return log.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [at = "0", status = "", exit = "", ...error] = line.split(" ");
        return { at: Number(at), status, exit, error: error.join(" ").trim() };
      });
  }

  /** Runs `change` with the loop going; returns the requests made meanwhile. */
  async function underLoad(change: () => Promise<void>): Promise<Sample[]> {
    await exec(agent(), ["rm", "-f", LOOP_LOG, LOOP_STOP]);
    await mustRun(["docker", "exec", "-d", agent(), "sh", "-c", LOOP]);
    await waitFor("the loop's first requests", 20_000, async () => ((await samples()).length >= 5 ? true : undefined));
    await change();
    await exec(agent(), ["touch", LOOP_STOP]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return samples();
  }

  /**
   * Fails on any failure but a connection refused before anything was sent (curl 7: could not
   * connect; 5: could not resolve the proxy) and, with `pipelockReplaced`, the egress proxy's
   * 502 for a connection pipelock refused as it stopped (README: the limit of a handover).
   */
  function assertNoAcceptedRequestFailed(what: string, seen: Sample[], seconds: number, pipelockReplaced = false): Sample[] {
    const failed = seen.filter((s) => s.status !== "200" || s.exit !== "0");
    const refusedByStoppedPipelock = (s: Sample) => pipelockReplaced && s.status === "502" && /Connect call failed \(&#x27;[\d.]+&#x27;, 8888\)/.test(s.error);
    const unsent = failed.filter((s) => (s.status === "000" && (s.exit === "7" || s.exit === "5")) || refusedByStoppedPipelock(s));
    const span = seen.length > 1 ? seen.at(-1)!.at - seen[0]!.at : 0;
    const window = unsent.length > 0 ? unsent.at(-1)!.at - unsent[0]!.at : 0;
    console.log(
      `# figure: ${what}: ${seen.length} requests from the agent over ${span.toFixed(1)} s (pulumi up ${seconds.toFixed(1)} s): ` +
        `${seen.length - failed.length} answered 200, ${unsent.length} refused at connect within ${window.toFixed(1)} s, ${failed.length - unsent.length} other failures`,
    );
    assert.deepEqual(
      failed.filter((s) => !unsent.includes(s)),
      [],
      `requests the gates accepted failed during ${what}`,
    );
    assert.ok(seen.length - failed.length > 0.8 * seen.length, `only ${seen.length - failed.length} of ${seen.length} answered`);
    return failed;
    // The loop ran across the whole up, not beside it.
    assert.ok(span >= seconds, `the loop covered ${span.toFixed(1)} s of a ${seconds.toFixed(1)} s up`);
  }

  before(async () => {
    stack = await TestStack.create("handover", config(), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up failed:\n${tail(up.output)}`);
    await mustRun([
      "docker", "run", "-d", "--name", upstream, "--label", `bot-bottle.stack=${stack.name}`, "--label", "bot-bottle.role=test-upstream",
      "--network", `${stack.name}-swap-outbound-net`, "--network-alias", "upstream.test", "--network-alias", "more.upstream.test",
      e2eRun().images.upstream,
    ]); // fmt: skip
    await waitFor("the test upstream to listen", 20_000, async () => ((await tcpProbe(upstream, "python3", "127.0.0.1", 443, 2)) === "connected" ? true : undefined));
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    if (!stack) return;
    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    assert.deepEqual(await labelled(stack.name), []);
    await stack.remove();
  });

  it("a new path (the egress proxy replaced, start-first): no accepted request fails, and the path is allowed after", async () => {
    let seconds = 0;
    const seen = await underLoad(async () => {
      stack.writeConfig(config({ newPath: true }));
      const up = await stack.up();
      assert.ok(up.ok, tail(up.output));
      seconds = up.seconds;
    });
    assertNoAcceptedRequestFailed("a route change (new path)", seen, seconds);
    const added = await exec(agent(), ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "https://upstream.test/also/x"]);
    assert.equal(added.stdout, "200", added.stderr);
  });

  it("a new host (both gates replaced, start-first): the only failures are refused connections, and the host is reachable after", async () => {
    const before = { egressProxy: await containerOf(stack.name, "swap", "egress-proxy"), pipelock: await containerOf(stack.name, "swap", "pipelock") };
    let seconds = 0;
    const seen = await underLoad(async () => {
      stack.writeConfig(config({ newPath: true, newHost: true }));
      const up = await stack.up();
      assert.ok(up.ok, tail(up.output));
      seconds = up.seconds;
    });
    assertNoAcceptedRequestFailed("a route change (new host: pipelock replaced too)", seen, seconds, true);
    const after = { egressProxy: await containerOf(stack.name, "swap", "egress-proxy"), pipelock: await containerOf(stack.name, "swap", "pipelock") };
    assert.notEqual(after.egressProxy, before.egressProxy, "the egress proxy was replaced");
    assert.notEqual(after.pipelock, before.pipelock, "pipelock was replaced");
    const added = await exec(agent(), ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "https://more.upstream.test/x"]);
    assert.equal(added.stdout, "200", added.stderr);
  });

  it("a token rotation (the egress proxy replaced, start-first): no accepted request fails, then the new token is injected", async () => {
    let seconds = 0;
    const seen = await underLoad(async () => {
      await stack.setToken("github", ROTATED_GITHUB_TOKEN);
      const up = await stack.up();
      assert.ok(up.ok, tail(up.output));
      seconds = up.seconds;
    });
    assertNoAcceptedRequestFailed("a token rotation", seen, seconds);
    const log = await exec(upstream, ["sh", "-c", "tail -n 1 /var/log/upstream/requests.jsonl"]);
    const last = JSON.parse(log.stdout) as { headers: [string, string][] };
    assert.deepEqual(
      last.headers.filter(([k]) => k.toLowerCase() === "authorization").map(([, v]) => v),
      [`Bearer ${ROTATED_GITHUB_TOKEN}`],
    );
  });
});
