/**
 * Tier 4, the data plane of real bottles: stacks `main` and `side` (stacks.ts) deployed with a
 * real `pulumi up` on the Docker engine, with the real egress proxy and the real pipelock, then
 * checked from inside the agent: allowed routes with the credential injected outside the
 * agent, every refusal by either gate, no credential in the agent, no way around the gates,
 * bottles and stacks apart from each other. `pulumi destroy` at the end.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SELF_TEST_PROBE, SELF_TEST_SCRIPT } from "../../components/self-test/self-test";
import { filesContaining, ipOn, labelled, network, tcpProbe, UNREACHABLE } from "./support/docker";
import { exec, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { mainStack, sideStack } from "./stacks";

const VENV_PY = "/opt/venv/bin/python"; // python in the egress-proxy image
const PUBLIC_IP = "1.1.1.1"; // a connect attempt only, from the isolated bottle; must fail

interface Recorded {
  scheme: string;
  client: string;
  method: string;
  host: string;
  path: string;
  headers: [string, string][];
  body: string;
}

const header = (rec: Recorded, name: string) => rec.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
const unique = (prefix: string) => `${prefix}${randomUUID().slice(0, 8)}`;

describe("bottles deployed by pulumi up, checked from inside", () => {
  const { id } = e2eRun();
  let main: TestStack;
  let side: TestStack;
  let mainUp = "";
  // Docker names: <stack>-<bottle>-<role>.
  const names = (stack: string, bottle: string) => ({
    agent: `${stack}-${bottle}-agent`,
    egressProxy: `${stack}-${bottle}-egress-proxy`,
    pipelock: `${stack}-${bottle}-pipelock`,
    agentNet: `${stack}-${bottle}-agent-net`,
    egressNet: `${stack}-${bottle}-egress-net`,
    outboundNet: `${stack}-${bottle}-outbound-net`,
  });
  let alpha: ReturnType<typeof names>;
  const upstream = `e2e-${id}-upstream`;

  /** What the test upstream recorded for `path` (a unique path per test). */
  async function recordedFor(urlPath: string): Promise<Recorded[]> {
    const r = await exec(upstream, ["cat", "/var/log/upstream/requests.jsonl"]);
    if (r.code !== 0) return [];
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Recorded)
      .filter((rec) => rec.path === urlPath);
  }

  /** curl from the agent (its env points it at the egress proxy and its CA); body, status, CONNECT status. */
  async function agentCurl(args: string[]) {
    const r = await exec(alpha.agent, ["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code} %{http_connect} %{content_type}", ...args], { timeoutMs: 40_000 });
    const lines = r.stdout.split("\n");
    const [status = "", connect = "", contentType = ""] = (lines.pop() ?? "").split(" ");
    return { body: lines.join("\n"), status, connect, contentType, run: r };
  }

  before(async () => {
    [main, side] = await Promise.all([TestStack.create("main", mainStack(), TEST_TOKENS), TestStack.create("side", sideStack())]);
    alpha = names(main.name, "alpha");
    const [mainResult, sideResult] = await Promise.all([main.up(), side.up()]);
    assert.ok(mainResult.ok, `up ${main.name} failed:\n${tail(mainResult.output)}`);
    assert.ok(sideResult.ok, `up ${side.name} failed:\n${tail(sideResult.output)}`);
    mainUp = mainResult.output;
    console.log(`# figure: pulumi up, stack main (2 bottles, 5 containers, prebuilt images): ${mainResult.seconds.toFixed(1)} s`);
    console.log(`# figure: pulumi up, stack side (1 bottle, 2 containers), beside it: ${sideResult.seconds.toFixed(1)} s`);

    const started = await run([
      "docker", "run", "-d", "--name", upstream, "--label", `bot-bottle.stack=${main.name}`, "--label", "bot-bottle.role=test-upstream",
      "--network", alpha.outboundNet,
      "--network-alias", "upstream.test", "--network-alias", "llm.upstream.test", "--network-alias", "ssrf.upstream.test",
      "--network-alias", "pass.upstream.test",
      e2eRun().images.upstream,
    ]); // fmt: skip
    assert.equal(started.code, 0, started.stderr);
    await waitFor("the test upstream to listen", 20_000, async () =>
      (await tcpProbe(upstream, "python3", "127.0.0.1", 443, 2)) === "connected" ? true : undefined,
    );
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    for (const stack of [main, side]) {
      if (!stack) continue;
      const destroyed = await stack.destroy();
      assert.ok(destroyed.ok, `destroy ${stack.name}:\n${tail(destroyed.output)}`);
      assert.deepEqual(await labelled(stack.name), [], `left behind by destroy of ${stack.name}`);
      await stack.remove();
    }
  });

  describe("self-test on every up", () => {
    it("ran after alpha's containers were healthy and passed (beta has no agent, so no self-test)", () => {
      assert.match(mainUp, /alpha-self-test.*bot-bottle self-test: ok \(3 direct routes closed, unrouted host refused\)/);
      assert.doesNotMatch(mainUp, /beta-self-test/);
    });

    it("fails when the agent network leaks (the same script, probing a plain bridge network)", async () => {
      const leaky = `e2e-${id}-leaky-net`;
      const created = await run(["docker", "network", "create", "--label", `bot-bottle.stack=${main.name}`, leaky]);
      assert.equal(created.code, 0, created.stderr);
      try {
        const r = spawnSync("/bin/sh", ["-c", SELF_TEST_SCRIPT], {
          env: {
            ...process.env,
            BOTTLE_STACK: main.name,
            BOTTLE_NAME: "selftest",
            BOTTLE_AGENT_NETWORK: leaky,
            BOTTLE_PROBE_IMAGE: e2eRun().images.egressProxy,
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

  describe("allowed routes, through the egress proxy and pipelock", () => {
    it("HTTPS: 200, and the upstream saw the GitHub-shaped credential exactly once, from pipelock", async () => {
      const p = unique("/allowed/https-");
      const res = await agentCurl([`https://upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1, "the upstream should have seen the request exactly once");
      assert.equal(recs[0]!.scheme, "https");
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
      // Only pipelock joins the outbound network: the request came from it.
      assert.equal(recs[0]!.client, await ipOn(alpha.pipelock, alpha.outboundNet));
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
  });

  describe("pipelock, the second gate", () => {
    /** pipelock's JSON log lines. */
    const pipelockLog = async () =>
      (await run(["docker", "logs", alpha.pipelock])).stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);

    it("logs each plain-HTTP request it forwards (URL and status) and each tunnel it intercepts", async () => {
      const p = unique("/allowed/log-");
      assert.equal((await agentCurl([`http://upstream.test${p}`])).status, "200");
      assert.equal((await agentCurl([`https://upstream.test${p}`])).status, "200");
      const lines = await pipelockLog();
      const forwarded = lines.filter((l) => String(l.url ?? "").endsWith(`upstream.test${p}`));
      assert.equal(forwarded.length, 1, JSON.stringify(lines.slice(-10)));
      assert.equal(forwarded[0]!.status_code, 200);
      // pipelock logs an intercepted tunnel once, as an informational "anomaly" of its tls_intercept scanner.
      const intercepted = lines.filter((l) => l.scanner === "tls_intercept" && l.target === "upstream.test:443");
      assert.ok(intercepted.length > 0, JSON.stringify(lines.slice(-10)));
    });

    it("DLP: a secret in a request body is refused before the upstream; the injected credential header passes", async () => {
      const p = unique("/allowed/dlp-");
      // AWS's documented example access key id: a well-known DLP pattern.
      const res = await agentCurl(["-X", "POST", "--data-binary", '{"key": "AKIAIOSFODNN7EXAMPLE"}', `https://upstream.test${p}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), /^pipelock: blocked: /);
      assert.deepEqual(await recordedFor(p), [], "the upstream must have seen nothing");
      // The same route with a harmless body passes, with the ghp_ credential injected.
      const ok = unique("/allowed/dlp-clean-");
      assert.equal((await agentCurl(["-X", "POST", "--data-binary", '{"key": "nothing secret"}', `https://upstream.test${ok}`])).status, "200");
      assert.deepEqual(header((await recordedFor(ok))[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
    });

    it("SSRF: a routed host with a private address that pipelock does not trust is refused by pipelock, with its reason", async () => {
      const p = unique("/ssrf-");
      const res = await agentCurl([`https://ssrf.upstream.test${p}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.contentType, /^text\/plain/);
      assert.match(res.body.trim(), /^pipelock: /);
      assert.equal(res.body.trim().split("\n").length, 1, "the reason is one line");
      assert.deepEqual(await recordedFor(p), []);
      const decision = (await run(["docker", "logs", alpha.egressProxy])).stdout
        .split("\n")
        .filter((l) => l.startsWith("{") && l.includes(p))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .at(-1);
      assert.deepEqual({ decision: decision?.decision, by: decision?.by }, { decision: "deny", by: "pipelock" });
    });
  });

  describe("a host pipelock passes through", () => {
    it("answers through both gates without interception: the egress proxy trusts the host's own certificate", async () => {
      const p = unique("/pass-");
      const res = await agentCurl([`https://pass.upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.equal(recs[0]!.client, await ipOn(alpha.pipelock, alpha.outboundNet));
      const intercepted = (await run(["docker", "logs", alpha.pipelock])).stdout
        .split("\n")
        .filter((l) => l.includes('"tls_intercept"') && l.includes("pass.upstream.test:443"));
      assert.deepEqual(intercepted, [], "pipelock must not intercept a passthrough host");
    });

    it("which is the documented trade-off: pipelock's body DLP does not see what goes there", async () => {
      const p = unique("/pass-dlp-");
      const res = await agentCurl(["-X", "POST", "--data-binary", '{"key": "AKIAIOSFODNN7EXAMPLE"}', `https://pass.upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      assert.equal((await recordedFor(p)).length, 1);
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
        const env = await exec(alpha.agent, ["python3", "-c", IN_ENVIRON], { user: "1000:1000", input: token });
        assert.equal(env.stdout.trim(), "False False", env.stderr);
        assert.deepEqual(await filesContaining(alpha.agent, token), []);
      });
    }

    it("control: the same searches find the token where it must be (the egress proxy)", async () => {
      const uid = (await run(["docker", "inspect", "-f", "{{.Config.User}}", alpha.egressProxy])).stdout.trim();
      const env = await exec(alpha.egressProxy, [VENV_PY, "-c", IN_ENVIRON], { user: uid, input: TEST_TOKENS.github });
      assert.equal(env.stdout.trim(), "True True", env.stderr);
      // And the export scan finds a file we know: the egress proxy's CA certificate in the agent.
      const ca = (await exec(alpha.agent, ["cat", "/etc/bot-bottle/egress-proxy-ca.pem"])).stdout.split("\n")[1]!;
      assert.deepEqual(await filesContaining(alpha.agent, ca), ["/etc/bot-bottle/egress-proxy-ca.pem"]);
    });
  });

  describe("no bypass", () => {
    it("control: the probe connects where a path exists (pipelock -> upstream, egress proxy -> pipelock, agent -> egress proxy)", async () => {
      // pipelock's image has no shell or Python: probe from a container in its network namespace.
      const probe = await run(["docker", "run", "--rm", "--network", `container:${alpha.pipelock}`, "--entrypoint", VENV_PY, e2eRun().images.egressProxy,
        "-c", "import socket; socket.create_connection(('upstream.test', 443), timeout=5).close(); print('connected')"]); // fmt: skip
      assert.equal(probe.stdout.trim(), "connected", probe.stderr);
      assert.equal(await tcpProbe(alpha.egressProxy, VENV_PY, "pipelock", 8888), "connected");
      assert.equal(await tcpProbe(alpha.agent, "python3", "egress-proxy", 9099), "connected");
    });

    it("from the agent: direct TCP to the upstream, pipelock and a public IP fails", async () => {
      const targets: [string, string, number][] = [
        ["upstream by address", await ipOn(upstream, alpha.outboundNet), 443],
        ["upstream by name", "upstream.test", 443],
        ["pipelock on the egress network", await ipOn(alpha.pipelock, alpha.egressNet), 8888],
        ["pipelock on the outbound network", await ipOn(alpha.pipelock, alpha.outboundNet), 8888],
        ["public IP", PUBLIC_IP, 443],
      ];
      const results = await Promise.all(targets.map(async ([what, host, port]) => [what, `${host}:${port}`, await tcpProbe(alpha.agent, "python3", host, port)] as const));
      for (const [what, where, result] of results) assert.match(result, UNREACHABLE, `${what} (${where}) from the agent: ${result}`);
    });

    // A container on a plain internal network reaches the host's own listening ports through
    // its bridge's address (moby/moby#47356): the bottle's internal networks have no host
    // address (inhibit_ipv4). ECONNREFUSED here would mean the host answered.
    it("from the agent and the egress proxy: direct TCP to the host (its gateway addresses) fails", async () => {
      const gateways: [string, string][] = [
        ["agent network gateway", (await network(alpha.agentNet)).IPAM.Config[0]!.Gateway!],
        ["egress network gateway", (await network(alpha.egressNet)).IPAM.Config[0]!.Gateway!],
        ["outbound network gateway", (await network(alpha.outboundNet)).IPAM.Config[0]!.Gateway!],
        ["default bridge gateway", (await network("bridge")).IPAM.Config[0]!.Gateway!],
      ];
      // Port 9 (discard): nothing listens there, so a refusal proves reachability without talking to a service.
      const probes = [alpha.agent, alpha.egressProxy].flatMap((from) =>
        gateways.map(async ([what, ip]) => {
          const result = await tcpProbe(from, from === alpha.agent ? "python3" : VENV_PY, ip, 9);
          return [`${what} ${ip}:9 from ${from}`, result] as const;
        }),
      );
      for (const [what, result] of await Promise.all(probes)) assert.match(result, UNREACHABLE, `${what}: ${result}`);
    });

    it("from the agent: external DNS names do not resolve", async (t) => {
      const started = Date.now();
      const r = await exec(alpha.agent, ["timeout", "15", "getent", "hosts", "example.com"], { timeoutMs: 30_000 });
      const how = r.code === 124 ? "timed out after 15 s" : `failed with exit ${r.code} in ${Date.now() - started} ms`;
      t.diagnostic(`external DNS from the agent: ${how}`);
      assert.notEqual(r.code, 0, `example.com resolved from the agent: ${r.stdout}`);
      assert.equal(r.stdout.trim(), "");
    });

    it("from the egress proxy: direct TCP to the upstream fails (only pipelock can leave)", async () => {
      const targets = [await ipOn(upstream, alpha.outboundNet), "upstream.test", PUBLIC_IP];
      const results = await Promise.all(targets.map((host) => tcpProbe(alpha.egressProxy, VENV_PY, host, 443)));
      results.forEach((result, i) => assert.match(result, UNREACHABLE, `${targets[i]}:443 from the egress proxy: ${result}`));
    });
  });

  describe("bottles and stacks do not see each other", () => {
    it("each bottle network holds only its own bottle's containers", async () => {
      for (const [stack, bottle] of [[main.name, "alpha"], [main.name, "beta"], [side.name, "alpha"]] as const) {
        const n = names(stack, bottle);
        for (const net of [n.agentNet, n.egressNet, n.outboundNet]) {
          const members = Object.values((await network(net)).Containers).map((c) => c.Name);
          const strangers = members.filter((m) => !m.startsWith(`${stack}-${bottle}-`) && m !== upstream);
          assert.deepEqual(strangers, [], `${net} holds ${members.join(", ")}`);
        }
      }
    });

    it("from alpha's agent, the other bottle's and the other stack's proxies are unreachable", async () => {
      const beta = names(main.name, "beta");
      const sideAlpha = names(side.name, "alpha");
      const others: [string, string, number][] = [
        ["main/beta egress proxy", await ipOn(beta.egressProxy, beta.agentNet), 9099],
        ["main/beta pipelock", await ipOn(beta.pipelock, beta.egressNet), 8888],
        ["side/alpha egress proxy", await ipOn(sideAlpha.egressProxy, sideAlpha.agentNet), 9099],
        ["side/alpha pipelock", await ipOn(sideAlpha.pipelock, sideAlpha.egressNet), 8888],
      ];
      const results = await Promise.all(others.map(([, ip, port]) => tcpProbe(alpha.agent, "python3", ip, port)));
      results.forEach((result, i) => assert.match(result, /^failed: (ENETUNREACH|EHOSTUNREACH|timeout)$/, `${others[i]![0]}: ${result}`));
      // The fixed alias resolves to this bottle's own egress proxy only.
      const resolved = await exec(alpha.agent, ["getent", "ahostsv4", "egress-proxy"]);
      const ips = new Set(resolved.stdout.split("\n").filter(Boolean).map((l) => l.split(/\s+/)[0]));
      assert.deepEqual([...ips], [await ipOn(alpha.egressProxy, alpha.agentNet)]);
    });
  });
});
