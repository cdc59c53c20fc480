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
import { SELF_TEST_SCRIPT, selfTestEnvironment } from "../../components/docker/self-test/self-test";
import { curlIn, header, recordedFor as upstreamRecordedFor, unique } from "./support/inside";
import {
  containerOf,
  containersOf,
  filesContaining,
  ipOn,
  labelled,
  network,
  reachEvidence,
  startTestUpstream,
  tcpProbe,
  UNREACHABLE,
} from "./support/docker";
import { exec, mustRun, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { mainStack, sideStack } from "./stacks";

const VENV_PY = "/opt/venv/bin/python"; // python in the egress-proxy image
const PUBLIC_IP = "1.1.1.1"; // a connect attempt only, from the isolated bottle; must fail

describe("bottles deployed by pulumi up, checked from inside", () => {
  const { id } = e2eRun();
  let main: TestStack;
  let side: TestStack;
  let mainUp = "";
  // Docker names: <stack>-<bottle>-<role>, but the gates' are Pulumi's (found by their labels).
  const names = async (stack: string, bottle: string) => ({
    agent: `${stack}-${bottle}-agent`,
    egressProxy: await containerOf(stack, bottle, "egress-proxy"),
    pipelock: await containerOf(stack, bottle, "pipelock"),
    /** Where a route of the bottle takes the bulk lane. */
    pipelockBulk: (await containersOf(stack, bottle, "pipelock-bulk"))[0],
    agentNet: `${stack}-${bottle}-agent-net`,
    egressNet: `${stack}-${bottle}-egress-net`,
    outboundNet: `${stack}-${bottle}-outbound-net`,
  });
  let alpha: Awaited<ReturnType<typeof names>>;
  const upstream = `e2e-${id}-upstream`;

  const recordedFor = (urlPath: string) => upstreamRecordedFor(upstream, urlPath);
  const agentCurl = (args: string[]) => curlIn((argv) => exec(alpha.agent, argv, { timeoutMs: 40_000 }), args);

  before(async () => {
    [main, side] = await Promise.all([TestStack.create("main", mainStack(), TEST_TOKENS), TestStack.create("side", sideStack())]);
    const [mainResult, sideResult] = await Promise.all([main.up(), side.up()]);
    assert.ok(mainResult.ok, `up ${main.name} failed:\n${tail(mainResult.output)}`);
    assert.ok(sideResult.ok, `up ${side.name} failed:\n${tail(sideResult.output)}`);
    alpha = await names(main.name, "alpha");
    mainUp = mainResult.output;
    console.log(`# figure: pulumi up, stack main (2 bottles, 7 containers, prebuilt images): ${mainResult.seconds.toFixed(1)} s`);
    console.log(`# figure: pulumi up, stack side (1 bottle, 3 containers), beside it: ${sideResult.seconds.toFixed(1)} s`);

    await startTestUpstream(upstream, main.name, alpha.outboundNet, [
      "upstream.test",
      "llm.upstream.test",
      "ssrf.upstream.test",
      "pass.upstream.test",
    ]);
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
      assert.match(mainUp, /alpha-self-test.*bot-bottle self-test: ok \(3 direct routes closed, no external DNS, unrouted host refused\)/);
      assert.doesNotMatch(mainUp, /beta-self-test/);
    });

    it("fails when the bottle leaks (the same script, for a container on a plain bridge network)", async () => {
      const leaky = `e2e-${id}-leaky-net`;
      const stranger = `e2e-${id}-leaky-agent`;
      await mustRun(["docker", "network", "create", "--label", `bot-bottle.stack=${main.name}`, leaky]);
      try {
        await mustRun([
          "docker",
          "run",
          "-d",
          "--name",
          stranger,
          "--label",
          `bot-bottle.stack=${main.name}`,
          "--network",
          leaky,
          e2eRun().images.probe,
        ]);
        const r = spawnSync("/bin/sh", ["-c", SELF_TEST_SCRIPT], {
          env: {
            ...process.env,
            ...selfTestEnvironment({
              stack: main.name,
              bottle: "selftest",
              agentContainer: stranger,
              proxyUrl: "http://egress-proxy:9099",
              processLimits: `${stranger}=512`,
              noDnsContainers: stranger,
              probeImage: e2eRun().images.egressProxy,
            }),
          },
          encoding: "utf8",
          timeout: 120_000,
        });
        assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`FAIL: ${stranger} has a process limit of '<nil>', expected 512`));
        assert.match(r.stderr, new RegExp(`FAIL: ${stranger} resolves through \\[\\] instead of inside its own namespace`));
        // The host answers through a plain bridge's gateway, and there is no egress proxy there.
        assert.match(r.stderr, /FAIL: direct TCP to [\d.]+:9 reached something/);
        assert.match(r.stderr, /FAIL: the egress proxy's name egress-proxy does not resolve/);
        assert.match(r.stderr, /FAIL: the egress proxy did not answer at http:\/\/egress-proxy:9099/);
      } finally {
        await run(["docker", "rm", "-f", stranger]);
        await run(["docker", "network", "rm", leaky]);
      }
    });
  });

  describe("allowed routes, through the egress proxy and pipelock", () => {
    it("HTTPS: 200, and the upstream saw the GitHub-shaped credential exactly once, from pipelock-bulk (a download's lane)", async () => {
      const p = unique("/allowed/https-");
      const res = await agentCurl([`https://upstream.test${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1, "the upstream should have seen the request exactly once");
      assert.equal(recs[0]!.scheme, "https");
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
      // A GET without a body takes the bulk lane: it left through pipelock-bulk.
      assert.ok(alpha.pipelockBulk, "bottle alpha has a pipelock-bulk");
      assert.equal(recs[0]!.client, await ipOn(alpha.pipelockBulk, alpha.outboundNet));
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
      assert.equal(
        (await agentCurl(["-X", "POST", "--data-binary", '{"key": "nothing secret"}', `https://upstream.test${ok}`])).status,
        "200",
      );
      assert.deepEqual(header((await recordedFor(ok))[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
    });

    it("SSRF: a routed host with a private address that pipelock does not trust is refused by pipelock, with its reason", async () => {
      const p = unique("/ssrf-");
      const res = await agentCurl([`https://ssrf.upstream.test${p}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.contentType, /^text\/plain/);
      // pipelock's own words for its refusal of the tunnel (mitmproxy drops them; the egress proxy keeps them).
      const line = /^pipelock: CONNECT blocked: SSRF blocked: ssrf\.upstream\.test resolves to internal IP [0-9.]+$/m;
      assert.match(res.body, line);
      assert.equal(res.body.trim().split("\n").length, 1, "the reason is one line");
      assert.deepEqual(await recordedFor(p), []);
      const decision = (await run(["docker", "logs", alpha.egressProxy])).stdout
        .split("\n")
        .filter((l) => l.startsWith("{") && l.includes(p))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .at(-1);
      assert.deepEqual(
        { decision: decision?.decision, by: decision?.by, reason: decision?.reason },
        { decision: "deny", by: "pipelock", reason: "ssrf" },
      );
      const git = await exec(alpha.agent, ["git", "ls-remote", `https://ssrf.upstream.test${p}/acme/app.git`], { timeoutMs: 40_000 });
      assert.notEqual(git.code, 0);
      assert.match(git.stderr, new RegExp(`^remote: ${line.source.slice(1)}`, "m"));
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
      // What the routes could allow names the command a human runs to allow it.
      const hint = ` \\(to allow it, a human runs: npm run bottle -- blocked ${main.name} alpha --suggest\\)$`;
      await refused([`http://not-routed.test${p}`], p, new RegExp(`^egress-proxy: host not in allowlist: not-routed\\.test${hint}`));
    });

    it("host not in the routes (HTTPS): refused inside the tunnel it accepts, so curl and git print the line", async () => {
      const p = unique("/allowed/other-host-tls-");
      const line = `egress-proxy: host not in allowlist: not-routed\\.test \\(to allow it, a human runs: npm run bottle -- blocked ${main.name} alpha --suggest\\)`;
      await refused([`https://not-routed.test${p}`], p, new RegExp(`^${line}$`));
      assert.equal((await agentCurl([`https://not-routed.test${p}`])).connect, "200", "the CONNECT is accepted, its request refused");
      const git = await exec(alpha.agent, ["git", "ls-remote", `https://not-routed.test${p}/acme/app.git`], { timeoutMs: 40_000 });
      assert.notEqual(git.code, 0);
      assert.match(git.stderr, new RegExp(`^remote: ${line}$`, "m"));
    });

    it("path outside the allowlist", async () => {
      const p = unique("/forbidden/");
      await refused([`https://upstream.test${p}`], p, /^egress-proxy: path not allowed for upstream\.test: \/forbidden\//);
    });

    it("forbidden method", async () => {
      const p = unique("/allowed/delete-");
      await refused(
        ["-X", "DELETE", `https://upstream.test${p}`],
        p,
        /^egress-proxy: method not allowed for upstream\.test: DELETE \(to allow it, a human runs: npm run bottle -- blocked \S+ alpha --suggest\)$/,
      );
    });
  });

  describe("the agent holds no credential", () => {
    // Run as the process's own uid: with every capability dropped, even root cannot read
    // another uid's /proc/PID/environ. The token comes in on stdin.
    const IN_ENVIRON =
      "import sys; s=sys.stdin.buffer.read().strip(); print(s in open('/proc/1/environ','rb').read(), s in open('/proc/self/environ','rb').read())";

    for (const [name, token] of Object.entries(TEST_TOKENS)) {
      it(`no ${name} token in the agent's environment (PID 1 and a new process) or filesystem`, async () => {
        const env = await exec(alpha.agent, ["python3", "-c", IN_ENVIRON], { user: "1000:1000", input: token });
        assert.equal(env.stdout.trim(), "False False", env.stderr);
        assert.deepEqual(await filesContaining(alpha.agent, token), []);
      });
    }

    it("the egress proxy holds the token in its tokens file only, in no process's environment (and the searches work)", async () => {
      const uid = (await run(["docker", "inspect", "-f", "{{.Config.User}}", alpha.egressProxy])).stdout.trim();
      const env = await exec(alpha.egressProxy, [VENV_PY, "-c", IN_ENVIRON], { user: uid, input: TEST_TOKENS.github });
      assert.equal(env.stdout.trim(), "False False", env.stderr);
      const IN_TOKENS =
        "import sys; s=sys.stdin.buffer.read().strip(); print(s in open('/etc/egress-proxy/live/current/tokens.json','rb').read())";
      const file = await exec(alpha.egressProxy, [VENV_PY, "-c", IN_TOKENS], { user: uid, input: TEST_TOKENS.github });
      assert.equal(file.stdout.trim(), "True", file.stderr);
      // Control: the environment search finds a token in a process's environment.
      const CHILD = `import subprocess, sys; s=sys.stdin.buffer.read().strip(); print(subprocess.run([sys.executable, "-c", ${JSON.stringify(IN_ENVIRON)}], input=s, env={"T": s.decode()}, capture_output=True).stdout.decode().strip())`;
      const child = await exec(alpha.agent, ["python3", "-c", CHILD], { user: "1000:1000", input: TEST_TOKENS.github });
      assert.equal(child.stdout.trim(), "False True", child.stderr);
      // And the export scan finds files we know: the egress proxy's CA certificate in the agent
      // (also as its system trust store).
      const ca = (await exec(alpha.agent, ["cat", "/etc/bot-bottle/egress-proxy-ca.pem"])).stdout.split("\n")[1]!;
      assert.deepEqual(await filesContaining(alpha.agent, ca), [
        "/etc/bot-bottle/egress-proxy-ca.pem",
        "/etc/ssl/certs/ca-certificates.crt",
      ]);
    });
  });

  describe("no bypass", () => {
    it("control: the probe connects where a path exists (pipelock -> upstream, egress proxy -> pipelock, agent -> egress proxy)", async () => {
      // pipelock's image has no shell or Python: probe from a container in its network namespace.
      const probe = await run([
        "docker",
        "run",
        "--rm",
        "--network",
        `container:${alpha.pipelock}`,
        "--entrypoint",
        VENV_PY,
        e2eRun().images.egressProxy,
        "-c",
        "import socket; socket.create_connection(('upstream.test', 443), timeout=5).close(); print('connected')",
      ]); // fmt: skip
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
      const results = await Promise.all(
        targets.map(async ([what, host, port]) => [what, `${host}:${port}`, await tcpProbe(alpha.agent, "python3", host, port)] as const),
      );
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
          return { what: `${what} ${ip}:9 from ${from}`, from, ip, result };
        }),
      );
      for (const { what, from, ip, result } of await Promise.all(probes)) {
        if (!UNREACHABLE.test(result)) assert.fail(`${what}: ${result}\n${await reachEvidence(from, ip, 9)}`);
      }
    });

    it("from the egress proxy: direct TCP to the upstream fails (only pipelock can leave)", async () => {
      const targets = [await ipOn(upstream, alpha.outboundNet), "upstream.test", PUBLIC_IP];
      const results = await Promise.all(targets.map((host) => tcpProbe(alpha.egressProxy, VENV_PY, host, 443)));
      for (const [i, result] of results.entries()) assert.match(result, UNREACHABLE, `${targets[i]}:443 from the egress proxy: ${result}`);
    });
  });

  describe("hardening: attacks from inside the agent", () => {
    const refusedWith = async (args: string[], p: string, status: string, reason: RegExp) => {
      const res = await agentCurl(args);
      assert.equal(res.status, status, `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), reason);
      assert.deepEqual(await recordedFor(p), [], "the upstream must have seen nothing");
    };

    it("a credential travels only inside TLS: plain HTTP to 443, plain HTTP in a CONNECT tunnel and TLS to 80 are refused", async () => {
      const p1 = unique("/allowed/cleartext-443-");
      await refusedWith([`http://upstream.test:443${p1}`], p1, "403", /^egress-proxy: plain HTTP to port 443: upstream\.test:443$/);
      const p2 = unique("/allowed/cleartext-tunnel-");
      await refusedWith(
        ["--proxytunnel", `http://upstream.test:443${p2}`],
        p2,
        "403",
        /^egress-proxy: plain HTTP inside a CONNECT tunnel: upstream\.test:443$/,
      );
      const p3 = unique("/allowed/tls-80-");
      await refusedWith([`https://upstream.test:80${p3}`], p3, "403", /^egress-proxy: TLS to port 80: upstream\.test:80$/);
    });

    it("a route without methods allows the usual ones only: TRACE and invented methods are refused", async () => {
      const ok = unique("/v1/messages-delete-");
      assert.equal((await agentCurl(["-X", "DELETE", `https://llm.upstream.test${ok}`])).status, "200");
      for (const method of ["TRACE", "TRACK", "FOO"]) {
        const p = unique(`/v1/${method.toLowerCase()}-`);
        await refusedWith(
          ["-X", method, `https://llm.upstream.test${p}`],
          p,
          "403",
          new RegExp(`^egress-proxy: method not allowed for llm\\.upstream\\.test: ${method}$`),
        );
      }
    });

    it("a Transfer-Encoding other than chunked is refused with 400 before the upstream", async () => {
      const p = unique("/allowed/te-");
      // HTTP/1.1: over HTTP/2 (what curl negotiates by default) the header cannot be sent at all.
      const res = await agentCurl([
        "--http1.1",
        "-X",
        "POST",
        "-H",
        "Transfer-Encoding: gzip, chunked",
        "--data-binary",
        "0123456789",
        `https://upstream.test${p}`,
      ]);
      assert.equal(res.status, "400", `${res.body}\n${res.run.stderr}`);
      assert.deepEqual(await recordedFor(p), []);
    });

    it("a body of ten times the egress proxy's memory is answered 413, and the proxy neither dies nor restarts", async () => {
      const memory = Number((await run(["docker", "inspect", "-f", "{{.HostConfig.Memory}}", alpha.egressProxy])).stdout.trim());
      const bytes = 10 * memory;
      for (const [how, header] of [
        ["streamed (chunked)", []],
        ["announced (Content-Length)", ["-H", `Content-Length: ${bytes}`]],
      ] as const) {
        const p = unique("/allowed/big-");
        const r = await exec(
          alpha.agent,
          [
            "sh",
            "-c",
            `head -c ${bytes} /dev/zero | curl -sS -o /dev/null -w '%{http_code}' --max-time 120 -X PUT ${header.map((h) => `'${h}'`).join(" ")} -T - https://upstream.test${p}`,
          ],
          { timeoutMs: 180_000 },
        ); // fmt: skip
        assert.equal(r.stdout.trim(), "413", `${how}: ${r.stdout} ${r.stderr}`);
        assert.deepEqual(await recordedFor(p), [], how);
      }
      const state = (
        await mustRun(["docker", "inspect", "-f", "{{.RestartCount}} {{.State.OOMKilled}} {{.State.Status}}", alpha.egressProxy])
      ).trim();
      assert.equal(state, "0 false running");
      assert.equal((await agentCurl([`https://upstream.test${unique("/allowed/after-big-")}`])).status, "200");
    });

    it("forking to the agent's process limit leaves the gates' processes and other containers alone", async () => {
      const limit = Number((await mustRun(["docker", "inspect", "-f", "{{.HostConfig.PidsLimit}}", alpha.agent])).trim());
      assert.equal(limit, 512, "the limits command applied the agent's process limit");
      for (const gate of [alpha.egressProxy, alpha.pipelock]) {
        assert.equal((await mustRun(["docker", "inspect", "-f", "{{.HostConfig.PidsLimit}}", gate])).trim(), "256", gate);
      }
      const uids = await Promise.all(
        [alpha.agent, alpha.egressProxy, alpha.pipelock].map(
          async (c) => (await mustRun(["docker", "inspect", "-f", "{{.Config.User}}", c])).trim().split(":")[0],
        ),
      );
      assert.equal(new Set(uids).size, 3, `every role has a uid of its own: ${uids.join(", ")}`);

      // Children sleep; the parent reports how many it got and holds them for a while.
      const bomb = [
        "import os, sys, time",
        "kids = []",
        "try:",
        "    while len(kids) < 100000:",
        "        pid = os.fork()",
        "        if pid == 0:",
        "            time.sleep(60); os._exit(0)",
        "        kids.append(pid)",
        "except OSError as e:",
        "    print('at limit', len(kids), e.strerror, flush=True)",
        "time.sleep(25)",
        "for k in kids: os.kill(k, 9)",
      ].join("\n");
      const forking = exec(alpha.agent, ["python3", "-c", bomb], { timeoutMs: 120_000 });
      // While the agent is at its limit: the egress proxy still starts processes, and answers.
      await new Promise((r) => setTimeout(r, 8000));
      const health = await exec(alpha.egressProxy, ["/opt/venv/bin/python", "/opt/egress-proxy/healthcheck.py"]);
      assert.equal(health.code, 0, `the egress proxy's own processes: ${health.stderr}`);
      const neighbour = `e2e-${id}-fork-neighbour`;
      await mustRun([
        "docker",
        "run",
        "-d",
        "--name",
        neighbour,
        "--label",
        `bot-bottle.stack=${main.name}`,
        "--network",
        alpha.agentNet,
        e2eRun().images.probe,
      ]);
      try {
        const p = unique("/allowed/during-fork-");
        const through = await exec(
          neighbour,
          [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
            "-x",
            "http://egress-proxy:9099",
            `http://not-routed.test${p}`,
          ],
          { timeoutMs: 40_000 },
        );
        assert.equal(through.stdout.trim(), "403", `the egress proxy answers others while the agent is at its limit: ${through.stderr}`);
      } finally {
        await run(["docker", "rm", "-f", neighbour]);
      }
      const report = await forking;
      const forked = Number(/at limit (\d+)/.exec(report.stdout)?.[1]);
      assert.ok(
        forked > 400 && forked < limit,
        `the agent forked ${forked} times before its limit of ${limit}: ${report.stdout}${report.stderr}`,
      );
    });

    it("DNS: an external name fails within seconds and no DNS packet leaves the agent's namespace", async () => {
      const name = `bb-${randomUUID().slice(0, 12)}.example.com`;
      // A sidecar in the agent's network namespace captures what leaves through its interface.
      const capture = run(
        [
          "docker",
          "run",
          "--rm",
          "--network",
          `container:${alpha.agent}`,
          "--user",
          "0",
          "--cap-add",
          "NET_RAW",
          "--cap-add",
          "NET_ADMIN",
          "--entrypoint",
          "timeout",
          e2eRun().images.probe,
          "12",
          "tcpdump",
          "-i",
          "eth0",
          "-n",
          "-l",
          "port 53 or port 9099",
        ],
        { timeoutMs: 60_000 },
      ); // fmt: skip
      await new Promise((r) => setTimeout(r, 3000)); // tcpdump is listening
      const started = Date.now();
      const lookup = await exec(alpha.agent, ["getent", "hosts", name], { timeoutMs: 30_000 });
      const took = Date.now() - started;
      assert.notEqual(lookup.code, 0, `${name} resolved: ${lookup.stdout}`);
      assert.ok(took < 5000, `the lookup took ${took} ms to fail`);
      // Control: something the capture must see leaving eth0 (a connection to the egress proxy).
      assert.equal(await tcpProbe(alpha.agent, "python3", "egress-proxy", 9099), "connected");
      const captured = (await capture).stdout.split("\n").filter(Boolean);
      assert.ok(
        captured.some((l) => l.includes(".9099")),
        `the capture saw the control connection: ${captured.join("\n")}`,
      );
      assert.deepEqual(
        captured.filter((l) => l.includes(".53:") || l.includes(".53 ") || l.includes(name)),
        [],
        "a DNS packet left the agent's namespace",
      );
      console.log(`# figure: an external name fails to resolve in the agent after ${took} ms`);
    });

    it("the self-test checked the process limits and DNS on up", () => {
      assert.match(mainUp, /alpha-self-test.*no external DNS/);
    });
  });

  describe("bottles and stacks do not see each other", () => {
    it("each bottle network holds only its own bottle's containers", async () => {
      for (const [stack, bottle] of [
        [main.name, "alpha"],
        [main.name, "beta"],
        [side.name, "alpha"],
      ] as const) {
        const n = await names(stack, bottle);
        for (const net of [n.agentNet, n.egressNet, n.outboundNet]) {
          const members = Object.values((await network(net)).Containers).map((c) => c.Name);
          const strangers = members.filter((m) => ![n.agent, n.egressProxy, n.pipelock, n.pipelockBulk, upstream].includes(m));
          assert.deepEqual(strangers, [], `${net} holds ${members.join(", ")}`);
        }
      }
    });

    it("from alpha's agent, the other bottle's and the other stack's proxies are unreachable", async () => {
      const beta = await names(main.name, "beta");
      const sideAlpha = await names(side.name, "alpha");
      const others: [string, string, number][] = [
        ["main/beta egress proxy", await ipOn(beta.egressProxy, beta.agentNet), 9099],
        ["main/beta pipelock", await ipOn(beta.pipelock, beta.egressNet), 8888],
        ["side/alpha egress proxy", await ipOn(sideAlpha.egressProxy, sideAlpha.agentNet), 9099],
        ["side/alpha pipelock", await ipOn(sideAlpha.pipelock, sideAlpha.egressNet), 8888],
      ];
      const results = await Promise.all(others.map(([, ip, port]) => tcpProbe(alpha.agent, "python3", ip, port)));
      for (const [i, result] of results.entries())
        assert.match(result, /^failed: (ENETUNREACH|EHOSTUNREACH|timeout)$/, `${others[i]![0]}: ${result}`);
      // The fixed alias resolves to this bottle's own egress proxy only.
      const resolved = await exec(alpha.agent, ["getent", "ahostsv4", "egress-proxy"]);
      const ips = new Set(
        resolved.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(/\s+/)[0]),
      );
      assert.deepEqual([...ips], [await ipOn(alpha.egressProxy, alpha.agentNet)]);
    });
  });
});
