/**
 * End-to-end suite (tier 4, test/e2e/README.md): realizes the REAL program's stacks on the
 * local Docker engine with the test harness, then checks from inside the containers that the
 * bottle holds. pipelock is played by a clearly-labelled STAND-IN (images/pipelock-standin)
 * until the real binary can be built; nothing here tests pipelock's own behaviour.
 *
 * Stacks: e2e (bottles alpha with an agent, and beta), e2e-side (a second stack beside it),
 * e2e-failclosed (an egress proxy given an invalid routes file by TEST fault injection).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { SELF_TEST_PROBE, SELF_TEST_SCRIPT } from "../../components/self-test/self-test";
import { engineAnswers, engineVersion } from "./harness/docker-api";
import { TEST_TOKENS } from "./harness/test-tokens";
import { E2E_DIR, exec, filesContaining, harness, ipOn, labelled, network, Run, run, tcpProbe, waitFor, WORK_DIR } from "./support";

const STACKS = { main: "e2e", side: "e2e-side", failClosed: "e2e-failclosed" } as const;
const UPSTREAM = "e2e-upstream";
const FAIL_PROBE = "e2e-failclosed-probe";
const AGENT = "e2e-alpha-agent";
const EGRESS = "e2e-alpha-egress-proxy";
const PIPELOCK = "e2e-alpha-pipelock"; // the stand-in
const VENV_PY = "/opt/venv/bin/python"; // python in the egress-proxy and stand-in images
const PUBLIC_IP = "1.1.1.1"; // a connect attempt only, from the isolated agent; must fail
const state = (stack: string) => path.join(WORK_DIR, `${stack}.state.json`);
const stackFile = (stack: string) => path.join(E2E_DIR, `Pulumi.${stack}.yaml`);

interface Recorded {
  scheme: string;
  client: string;
  method: string;
  host: string;
  path: string;
  headers: [string, string][];
}

/** What the test upstream recorded for `path` (a unique path per test). */
async function recordedFor(urlPath: string): Promise<Recorded[]> {
  const r = await exec(UPSTREAM, ["cat", "/var/log/upstream/requests.jsonl"]);
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Recorded)
    .filter((rec) => rec.path === urlPath);
}

/** curl from the agent (its env points it at the egress proxy and its CA); body then status. */
async function agentCurl(args: string[]): Promise<{ body: string; status: string; connect: string; run: Run }> {
  const r = await exec(AGENT, ["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code} %{http_connect}", ...args], { timeoutMs: 40_000 });
  const lines = r.stdout.split("\n");
  const [status = "", connect = ""] = (lines.pop() ?? "").split(" ");
  return { body: lines.join("\n"), status, connect, run: r };
}

const header = (rec: Recorded, name: string) => rec.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
const unique = (prefix: string) => `${prefix}${randomUUID().slice(0, 8)}`;

describe("a bottle realized on a real Docker engine", async () => {
  if (!(await engineAnswers())) {
    const why = "no Docker engine answers on /var/run/docker.sock (start one: scripts/docker/ensure-engine)";
    if (process.env.BOTTLE_E2E === "required") {
      it("needs a Docker engine (BOTTLE_E2E=required)", () => assert.fail(why));
    } else {
      it(`end-to-end suite SKIPPED: ${why}; set BOTTLE_E2E=required to make this an error`, { skip: true }, () => {});
    }
    return;
  }

  const suiteStart = Date.now();
  let mainUp: Run;
  let failClosedUp: Promise<Run>;
  let failClosedStart = 0;

  before(async () => {
    console.log(`# engine: Docker ${await engineVersion()}`);
    // Leftovers of an interrupted run would collide on names.
    await run(["docker", "rm", "-f", UPSTREAM, FAIL_PROBE]);
    for (const stack of Object.values(STACKS)) {
      const r = await harness(["cleanup", "--stack", stack]);
      assert.equal(r.code, 0, r.stderr);
    }
    // The fail-closed bottle waits out the egress proxy's health timeout: start it first, in parallel.
    failClosedStart = Date.now();
    failClosedUp = harness([
      "up", "--stack", STACKS.failClosed, "--file", stackFile(STACKS.failClosed), "--state", state(STACKS.failClosed),
      "--fault-upload", `${STACKS.failClosed}-gamma-egress-proxy:/etc/egress-proxy/routes.yaml`,
    ]); // fmt: skip
    const started = Date.now();
    const [main, side] = await Promise.all(
      [STACKS.main, STACKS.side].map((s) => harness(["up", "--stack", s, "--file", stackFile(s), "--state", state(s)])),
    );
    mainUp = main!;
    assert.equal(main!.code, 0, `up ${STACKS.main} failed:\n${main!.stderr}`);
    assert.equal(side!.code, 0, `up ${STACKS.side} failed:\n${side!.stderr}`);
    for (const r of [main!, side!]) console.log(`# figure: ${/stack \S+ realized in [\d.]+ s/.exec(r.stdout)?.[0] ?? "(no timing printed)"}`);
    console.log(`# figure: both stacks healthy (e2e: 2 bottles, 5 containers; e2e-side: 1 bottle, 2 containers): ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const up = await run([
      "docker", "run", "-d", "--name", UPSTREAM, "--label", `bot-bottle.stack=${STACKS.main}`, "--label", "bot-bottle.role=test-upstream",
      "--network", `${STACKS.main}-alpha-outbound-net`, "--network-alias", "upstream.test", "--network-alias", "llm.upstream.test",
      "bot-bottle-test/upstream:e2e",
    ]); // fmt: skip
    assert.equal(up.code, 0, up.stderr);
    await waitFor("the test upstream to listen", 20_000, async () =>
      (await tcpProbe(UPSTREAM, "python3", "127.0.0.1", 443, 2)) === "connected" ? true : undefined,
    );
  });

  after(async () => {
    // Fallback: whatever a failed test left behind goes, by label.
    await run(["docker", "rm", "-f", UPSTREAM, FAIL_PROBE]);
    await failClosedUp?.catch(() => undefined);
    for (const stack of Object.values(STACKS)) await harness(["cleanup", "--stack", stack]);
    console.log(`# figure: suite duration: ${((Date.now() - suiteStart) / 1000).toFixed(1)} s`);
  });

  describe("self-test on every up", () => {
    it("ran after alpha's containers were healthy and passed (beta has no agent, so no self-test)", () => {
      assert.match(mainUp.stdout, /command alpha-self-test: bot-bottle self-test: ok \(3 direct routes closed, unrouted host refused\)/);
      assert.doesNotMatch(mainUp.stdout, /command beta-self-test/);
    });

    it("fails the deployment when the agent network leaks (probe on a plain bridge network)", async () => {
      const leaky = "e2e-selftest-leaky-net";
      await run(["docker", "network", "rm", leaky]);
      const created = await run(["docker", "network", "create", "--label", `bot-bottle.stack=${STACKS.main}`, leaky]);
      assert.equal(created.code, 0, created.stderr);
      try {
        const r = spawnSync("/bin/sh", ["-c", SELF_TEST_SCRIPT], {
          env: {
            ...process.env,
            BOTTLE_STACK: STACKS.main,
            BOTTLE_NAME: "selftest",
            BOTTLE_AGENT_NETWORK: leaky,
            BOTTLE_PROBE_IMAGE: "bot-bottle/egress-proxy:local",
            BOTTLE_PROXY_URL: "http://egress-proxy:9099",
            BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
          },
          encoding: "utf8",
          timeout: 120_000,
        });
        assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
        // The host answers through a plain bridge's gateway, and there is no egress proxy there.
        assert.match(r.stderr, /FAIL: direct TCP to [\d.]+:9 reached something/);
        assert.match(r.stderr, /FAIL: the egress proxy did not answer at http:\/\/egress-proxy:9099/);
      } finally {
        await run(["docker", "network", "rm", leaky]);
      }
    });
  });

  describe("allowed routes, end to end through the egress proxy and the pipelock stand-in", () => {
    it("HTTPS: 200, and the upstream saw the GitHub-shaped credential exactly once, from the stand-in", async () => {
      const p = unique("/allowed/https-");
      const res = await agentCurl([`https://upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1, "the upstream should have seen the request exactly once");
      assert.equal(recs[0]!.scheme, "https");
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
      // Only pipelock (here: its stand-in) joins the outbound network: the request came from it.
      assert.equal(recs[0]!.client, await ipOn(PIPELOCK, `${STACKS.main}-alpha-outbound-net`));
    });

    it("HTTPS with a second credential route: the sk-ant- key arrives in x-api-key exactly once", async () => {
      const p = unique("/v1/messages-");
      const res = await agentCurl(["-X", "POST", "-d", "{}", `https://llm.upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.deepEqual(header(recs[0]!, "x-api-key"), [TEST_TOKENS.anthropic]);
      assert.deepEqual(header(recs[0]!, "Authorization"), [], "the other route's credential must not leak here");
    });

    it("plain HTTP (port 80 listed on purpose): 200, credential injected exactly once", async () => {
      const p = unique("/allowed/http-");
      const res = await agentCurl([`http://upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.scheme, "http");
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
    });

    it("a client-sent Authorization is replaced, not forwarded beside the injected one", async () => {
      const p = unique("/allowed/replace-");
      const res = await agentCurl(["-H", "Authorization: Bearer agent-chosen-value", `https://upstream.test${p}`]);
      assert.equal(res.status, "200", res.body);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
    });

    it("the traffic traverses the pipelock stand-in: its log shows the allowed request", async () => {
      const p = unique("/allowed/traverse-");
      assert.equal((await agentCurl([`https://upstream.test${p}`])).status, "200");
      const logs = await run(["docker", "logs", PIPELOCK]);
      const lines = logs.stdout.split("\n").filter((l) => l.includes(`https://upstream.test${p}`));
      assert.equal(lines.length, 1, `stand-in log:\n${logs.stdout.slice(-2000)}`);
      assert.equal((JSON.parse(lines[0]!) as { event: string }).event, "allowed");
    });
  });

  describe("refusals by the egress proxy: 403 with its reason, nothing reaches the upstream", () => {
    const refused = async (args: string[], p: string, reason: RegExp) => {
      const res = await agentCurl(args);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), reason);
      assert.equal(res.body.trim().split("\n").length, 1, "the reason is one line");
      assert.deepEqual(await recordedFor(p), [], "the upstream must have seen nothing");
    };

    it("host not in the routes (plain HTTP)", async () => {
      const p = unique("/allowed/other-host-");
      await refused([`http://not-routed.test${p}`], p, /^egress-proxy: host not in allowlist: not-routed\.test$/);
    });

    it("host not in the routes (HTTPS): the CONNECT is refused with 403", async () => {
      const p = unique("/allowed/other-host-tls-");
      const res = await agentCurl([`https://not-routed.test${p}`]);
      assert.equal(res.connect, "403", `${res.body}\n${res.run.stderr}`);
      assert.notEqual(res.status, "200");
      assert.deepEqual(await recordedFor(p), []);
    });

    it("path outside the allowlist", async () => {
      const p = unique("/forbidden/");
      await refused([`https://upstream.test${p}`], p, /^egress-proxy: path not allowed for upstream\.test: \/forbidden\//);
    });

    it("forbidden method", async () => {
      const p = unique("/allowed/delete-");
      await refused(["-X", "DELETE", `https://upstream.test${p}`], p, /^egress-proxy: method not allowed for upstream\.test: DELETE$/);
    });
  });

  describe("the agent holds no credential", () => {
    // Run as the process's own uid: with every capability dropped, even root cannot read
    // another uid's /proc/PID/environ. The token comes in on stdin.
    const IN_ENVIRON = "import sys; s=sys.stdin.buffer.read().strip(); print(s in open('/proc/1/environ','rb').read(), s in open('/proc/self/environ','rb').read())";

    for (const [name, token] of Object.entries(TEST_TOKENS)) {
      it(`no ${name} token in the agent's environment (PID 1 and a new process) or filesystem`, async () => {
        const env = await exec(AGENT, ["python3", "-c", IN_ENVIRON], { user: "1000:1000", input: token });
        assert.equal(env.stdout.trim(), "False False", env.stderr);
        assert.deepEqual(await filesContaining(AGENT, token), []);
      });
    }

    it("control: the same searches find the token where it must be (the egress proxy)", async () => {
      const env = await exec(EGRESS, [VENV_PY, "-c", IN_ENVIRON], { user: "1000:1000", input: TEST_TOKENS.github });
      assert.equal(env.stdout.trim(), "True True", env.stderr);
      // And the export scan finds a file we know: the egress proxy's CA certificate in the agent.
      const ca = (await exec(AGENT, ["cat", "/etc/bot-bottle/egress-proxy-ca.pem"])).stdout.split("\n")[1]!;
      assert.deepEqual(await filesContaining(AGENT, ca), ["/etc/bot-bottle/egress-proxy-ca.pem"]);
    });
  });

  describe("no bypass", () => {
    // Connect errors that mean "no way there"; ECONNREFUSED would mean the address was reachable.
    const unreachable = /^failed: (ENETUNREACH|EHOSTUNREACH|timeout|dns .*)$/;

    it("control: the probe connects where a path exists (stand-in -> upstream, egress proxy -> stand-in)", async () => {
      assert.equal(await tcpProbe(PIPELOCK, VENV_PY, "upstream.test", 443), "connected");
      assert.equal(await tcpProbe(EGRESS, VENV_PY, "pipelock", 8888), "connected");
      assert.equal(await tcpProbe(AGENT, "python3", "egress-proxy", 9099), "connected");
    });

    it("from the agent: direct TCP to the upstream, the stand-in and a public IP fails", async () => {
      const outbound = `${STACKS.main}-alpha-outbound-net`;
      const targets: [string, string, number][] = [
        ["upstream by address", await ipOn(UPSTREAM, outbound), 443],
        ["upstream by name", "upstream.test", 443],
        ["stand-in on the egress network", await ipOn(PIPELOCK, `${STACKS.main}-alpha-egress-net`), 8888],
        ["stand-in on the outbound network", await ipOn(PIPELOCK, outbound), 8888],
        ["public IP", PUBLIC_IP, 443],
      ];
      const results = await Promise.all(targets.map(async ([what, host, port]) => [what, `${host}:${port}`, await tcpProbe(AGENT, "python3", host, port)] as const));
      for (const [what, where, result] of results) assert.match(result, unreachable, `${what} (${where}) from the agent: ${result}`);
    });

    // A container on a plain internal network reaches the host's own listening ports through
    // its bridge's address (moby/moby#47356): the bottle's internal networks have no host
    // address (inhibit_ipv4). ECONNREFUSED here would mean the host answered.
    it(
      "from the agent and the egress proxy: direct TCP to the host (its gateway addresses) fails",
      async () => {
        const gateways: [string, string][] = [
          ["agent network gateway", (await network(`${STACKS.main}-alpha-agent-net`)).IPAM.Config[0]!.Gateway!],
          ["egress network gateway", (await network(`${STACKS.main}-alpha-egress-net`)).IPAM.Config[0]!.Gateway!],
          ["outbound network gateway", (await network(`${STACKS.main}-alpha-outbound-net`)).IPAM.Config[0]!.Gateway!],
          ["default bridge gateway", (await network("bridge")).IPAM.Config[0]!.Gateway!],
        ];
        // Port 9 (discard): nothing listens there, so a refusal proves reachability without talking to a service.
        for (const [from, python] of [[AGENT, "python3"], [EGRESS, VENV_PY]] as const) {
          for (const [what, ip] of gateways) {
            const result = await tcpProbe(from, python, ip, 9);
            assert.match(result, unreachable, `${what} ${ip}:9 from ${from}: ${result}`);
          }
        }
      },
    );

    it("from the agent: external DNS names do not resolve", async (t) => {
      const started = Date.now();
      const r = await exec(AGENT, ["timeout", "15", "getent", "hosts", "example.com"], { timeoutMs: 30_000 });
      const how = r.code === 124 ? "timed out after 15 s" : `failed with exit ${r.code} in ${Date.now() - started} ms`;
      t.diagnostic(`external DNS from the agent on Docker ${await engineVersion()}: ${how}`);
      assert.notEqual(r.code, 0, `example.com resolved from the agent: ${r.stdout}`);
      assert.equal(r.stdout.trim(), "");
    });

    it("from the egress proxy: direct TCP to the upstream fails (only the pipelock container can leave)", async () => {
      const targets = [await ipOn(UPSTREAM, `${STACKS.main}-alpha-outbound-net`), "upstream.test", PUBLIC_IP];
      const results = await Promise.all(targets.map((host) => tcpProbe(EGRESS, VENV_PY, host, 443)));
      results.forEach((result, i) => assert.match(result, unreachable, `${targets[i]}:443 from the egress proxy: ${result}`));
    });
  });

  describe("bottles and stacks do not see each other", () => {
    it("each bottle network holds only its own bottle's containers", async () => {
      for (const [stack, bottle] of [[STACKS.main, "alpha"], [STACKS.main, "beta"], [STACKS.side, "alpha"]] as const) {
        for (const role of ["agent-net", "egress-net", "outbound-net"]) {
          const names = Object.values((await network(`${stack}-${bottle}-${role}`)).Containers).map((c) => c.Name);
          const strangers = names.filter((n) => !n.startsWith(`${stack}-${bottle}-`) && n !== UPSTREAM);
          assert.deepEqual(strangers, [], `${stack}-${bottle}-${role} holds ${names.join(", ")}`);
        }
      }
    });

    it("from alpha's agent, the other bottle's and the other stack's proxies are unreachable", async () => {
      const others: [string, string, number][] = [
        ["e2e/beta egress proxy", await ipOn(`${STACKS.main}-beta-egress-proxy`, `${STACKS.main}-beta-agent-net`), 9099],
        ["e2e/beta stand-in", await ipOn(`${STACKS.main}-beta-pipelock`, `${STACKS.main}-beta-egress-net`), 8888],
        ["e2e-side/alpha egress proxy", await ipOn(`${STACKS.side}-alpha-egress-proxy`, `${STACKS.side}-alpha-agent-net`), 9099],
        ["e2e-side/alpha stand-in", await ipOn(`${STACKS.side}-alpha-pipelock`, `${STACKS.side}-alpha-egress-net`), 8888],
      ];
      const results = await Promise.all(others.map(([, ip, port]) => tcpProbe(AGENT, "python3", ip, port)));
      results.forEach((result, i) => assert.match(result, /^failed: (ENETUNREACH|EHOSTUNREACH|timeout)$/, `${others[i]![0]}: ${result}`));
      // The fixed alias resolves to this bottle's own egress proxy only.
      const resolved = await exec(AGENT, ["getent", "ahostsv4", "egress-proxy"]);
      const ips = new Set(resolved.stdout.split("\n").filter(Boolean).map((l) => l.split(/\s+/)[0]));
      assert.deepEqual([...ips], [await ipOn(EGRESS, `${STACKS.main}-alpha-agent-net`)]);
    });
  });

  describe("fail closed", () => {
    it("an egress proxy given an invalid routes file never becomes healthy; the agent is never created and its network reaches nothing", async () => {
      const r = await failClosedUp;
      console.log(`# figure: fail-closed up gave up after ${((Date.now() - failClosedStart) / 1000).toFixed(1)} s (the component's waitTimeout)`);
      assert.notEqual(r.code, 0, "up must fail");
      assert.match(r.stderr, /container e2e-failclosed-gamma-egress-proxy did not become healthy within \d+s/);
      assert.match(r.stderr, /egress-proxy: refusing to start: routes:/, "the failure names the cause");
      const objects = await labelled(STACKS.failClosed);
      assert.ok(!objects.includes(`container /${STACKS.failClosed}-gamma-agent`), `the agent must not exist: ${objects.join(", ")}`);
      // A stand-in for the agent on the bottle's agent network: the proxy does not answer, nothing else is reachable.
      const probe = await run([
        "docker", "run", "-d", "--name", FAIL_PROBE, "--label", `bot-bottle.stack=${STACKS.failClosed}`,
        "--network", `${STACKS.failClosed}-gamma-agent-net`, "bot-bottle-test/probe:e2e",
      ]); // fmt: skip
      assert.equal(probe.code, 0, probe.stderr);
      const curl = await exec(FAIL_PROBE, ["curl", "-sS", "--max-time", "10", "-x", "http://egress-proxy:9099", "-o", "/dev/null", "-w", "%{http_code}", "http://upstream.test/"], { timeoutMs: 30_000 });
      assert.notEqual(curl.code, 0, `a request through the failed egress proxy succeeded: ${curl.stdout}`);
      assert.match(await tcpProbe(FAIL_PROBE, "python3", PUBLIC_IP, 443), /^failed: (ENETUNREACH|EHOSTUNREACH|timeout)$/);
      await run(["docker", "rm", "-f", FAIL_PROBE]);
    });
  });

  describe("teardown", () => {
    it("destroy removes every labelled container, network and volume, also after a half-failed up; a second destroy is a no-op", async () => {
      await run(["docker", "rm", "-f", UPSTREAM, FAIL_PROBE]); // test objects, not the program's
      for (const stack of Object.values(STACKS)) {
        const first = await harness(["destroy", "--state", state(stack)]);
        assert.equal(first.code, 0, `destroy ${stack}: ${first.stderr}`);
        assert.deepEqual(await labelled(stack), [], `left behind by destroy of ${stack}`);
        const second = await harness(["destroy", "--state", state(stack)]);
        assert.equal(second.code, 0, `second destroy ${stack}: ${second.stderr}`);
      }
    });
  });
});
