/**
 * Tier 4, what an operator sees: stack `watch` (stacks.ts), deployed by a real `pulumi up`, and a
 * real Prometheus scraping both gates with the shipped scrape config
 * (observability/prometheus/scrape-docker.yml, only narrowed to this stack and made faster). The
 * agent makes a known set of requests; PromQL must count exactly those, by gate, decision, host
 * and token name; pipelock's own counters see its DLP block; and the agent reaches no metrics
 * endpoint of either gate. The shipped dashboard is then drawn from this Prometheus in Chromium.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { snapshot } from "../../scripts/dashboard/snapshot";
import { containerOf, ipOn, runDetached, startTestUpstream, tcpProbe, UNREACHABLE } from "./support/docker";
import { curlIn, unique } from "./support/inside";
import { commandPath, exec, mustRun, REPO_ROOT, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack, destroyLeavingNothing } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";
import { watchStack } from "./stacks";

const BOTTLE = "seen";
const SCRAPE_SECONDS = 2;
// Shaped like the real thing; pipelock's DLP patterns match it. TEST-ONLY value.
const AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("what the gates do, seen by a real Prometheus", () => {
  const { id, workDir } = e2eRun();
  let stack: TestStack;
  let prometheusUrl = "";
  let startedAt = 0;
  const upstream = `e2e-${id}-watch-upstream`;
  const prometheus = `e2e-${id}-watch-prometheus`;
  const agent = () => `${stack.name}-${BOTTLE}-agent`;
  const agentCurl = (args: string[]) => curlIn((argv) => exec(agent(), argv, { timeoutMs: 60_000 }), args);
  /** A POST from the agent whose body holds an AWS key: pipelock's DLP refuses it. */
  const postSecret = (url: string) => agentCurl(["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", `key=${AWS_KEY}`, url]);

  const query = async (promql: string): Promise<Sample[]> => {
    const response = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await response.json()) as { status: string; error?: string; data: { result: Sample[] } };
    assert.equal(body.status, "success", `${promql}: ${body.error}`);
    return body.data.result;
  };
  /** The value of a query that sums to one number; 0 when it has no series. */
  const numberOf = async (promql: string) => Number((await query(promql))[0]?.value[1] ?? 0);
  /** Waits (a scrape or two) until each query has its expected value; fails with what it last saw. */
  const expectCounts = async (expected: Record<string, number>) => {
    let seen: Record<string, number> = {};
    try {
      await waitFor("Prometheus to count the requests", 30_000, async () => {
        seen = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (q) => [q, await numberOf(q)] as const)));
        return Object.entries(expected).every(([q, v]) => seen[q] === v) ? true : undefined;
      });
    } catch {
      assert.deepEqual(seen, expected);
    }
  };
  const inStack = (selector: string) => `stack="${stack.name}",bottle="${BOTTLE}"${selector ? `,${selector}` : ""}`;

  before(async () => {
    startedAt = Math.floor(Date.now() / 1000);
    stack = await TestStack.create("watch", watchStack(), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    await startTestUpstream(upstream, stack.name, `${stack.name}-${BOTTLE}-outbound-net`, ["upstream.test", "ssrf.upstream.test"]);
    prometheusUrl = await startPrometheus(prometheus, stack.name, path.join(workDir, "watch-prometheus"));
    await mustRun(["docker", "network", "connect", `${stack.name}-${BOTTLE}-egress-net`, prometheus]);
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream, prometheus]);
    await destroyLeavingNothing(stack);
  });

  it("the shipped scrape config finds each gate on the egress-side network, and each is up", async () => {
    const targets = await waitFor("Prometheus to scrape the three gates", 60_000, async () => {
      const up = await query(`up{${inStack("")}}`);
      return up.length === 3 && up.every((s) => s.value[1] === "1") ? up : undefined;
    });
    assert.deepEqual(targets.map((s) => s.metric.gate).sort(), ["egress-proxy", "pipelock", "pipelock-bulk"]);
    for (const target of targets) {
      const [host, port] = target.metric.instance!.split(":");
      const role = target.metric.gate!;
      assert.equal(host, await ipOn(await containerOf(stack.name, BOTTLE, role), `${stack.name}-${BOTTLE}-egress-net`), role);
      assert.equal(port, role === "egress-proxy" ? "9464" : "9465", role);
    }
  });

  it("counts exactly the agent's requests: by gate, decision, host and method; credentials by token name", async () => {
    const marker = unique("m");
    for (let i = 0; i < 5; i++) assert.equal((await agentCurl([`https://upstream.test/allowed/${marker}/${i}`])).status, "200");
    for (let i = 0; i < 3; i++) assert.equal((await agentCurl([`https://upstream.test/denied/${marker}/${i}`])).status, "403");
    for (let i = 0; i < 2; i++) assert.notEqual((await agentCurl([`https://elsewhere.example.com/${marker}`])).status, "200");
    // Routed by the egress proxy, refused by pipelock (a private address it was not told to trust).
    assert.notEqual((await agentCurl([`https://ssrf.upstream.test/allowed/${marker}`])).status, "200");
    const requests = (selector: string) => `sum(bot_bottle_egress_requests_total{${inStack(selector)}})`;
    await expectCounts({
      [requests('gate="egress-proxy",decision="allow",host="upstream.test",method="GET"')]: 5,
      [requests('gate="egress-proxy",decision="deny",host="upstream.test",method="GET"')]: 3,
      [requests('gate="egress-proxy",decision="deny",host="(no route)",method="CONNECT"')]: 2,
      [requests('gate="pipelock",decision="deny",host="ssrf.upstream.test"')]: 1,
      [`sum(bot_bottle_egress_credentials_injected_total{${inStack('token="github"')}})`]: 5,
      [`sum(bot_bottle_egress_chain_seconds_count{${inStack("")}})`]: 5,
    });
    const exposition = (await query(`{${inStack("")},__name__=~"bot_bottle_egress_.+"}`)).map((s) => JSON.stringify(s.metric)).join("\n");
    for (const value of Object.values(TEST_TOKENS)) assert.ok(!exposition.includes(value), "a token value in the metrics");
    assert.ok(!exposition.includes(marker), "a raw path in the metrics' labels");
  });

  it("pipelock's own counters see its DLP block, and the egress proxy counts it as pipelock's refusal", async () => {
    const before = await numberOf(`sum(pipelock_tls_request_blocked_total{${inStack('reason="body_dlp"')}})`);
    const r = await postSecret("https://upstream.test/allowed/dlp");
    assert.equal(r.status, "403", r.body);
    await expectCounts({
      [`sum(pipelock_tls_request_blocked_total{${inStack('reason="body_dlp"')}})`]: before + 1,
      [`sum(bot_bottle_egress_requests_total{${inStack('gate="pipelock",decision="deny",host="upstream.test",method="POST"')}})`]: 1,
    });
  });

  it("the agent reaches no metrics endpoint of either gate, directly or through the egress proxy", async () => {
    const egressProxy = await containerOf(stack.name, BOTTLE, "egress-proxy");
    const pipelock = await containerOf(stack.name, BOTTLE, "pipelock");
    // By the egress proxy's name on the agent's network: its metrics listen on the other one only.
    assert.equal(await tcpProbe(agent(), "python3", "egress-proxy", 9464, 3), "failed: ECONNREFUSED");
    for (const [container, network, port] of [
      [egressProxy, "egress-net", 9464],
      [pipelock, "egress-net", 9465],
      [pipelock, "egress-net", 8888],
      [pipelock, "outbound-net", 9465],
    ] as const) {
      const ip = await ipOn(container, `${stack.name}-${BOTTLE}-${network}`);
      assert.match(await tcpProbe(agent(), "python3", ip, port, 3), UNREACHABLE, `${container} ${network} :${port}`);
    }
    for (const url of ["http://egress-proxy:9464/metrics", "http://pipelock:9465/metrics", "http://pipelock:8888/metrics"]) {
      const r = await agentCurl([url]);
      assert.equal(r.status, "403", `${url}: ${r.body}`);
      assert.match(r.body, /^egress-proxy: /, url);
    }
  });

  it("a route change: the egress proxy counts one good reload, and the routes document in force is the new one", async () => {
    const inForce = async () => (await query(`bot_bottle_egress_config_info{${inStack("")}} == 1`)).map((s) => s.metric.sha256);
    const [before] = await inForce();
    assert.match(before ?? "", /^[0-9a-f]{64}$/);
    stack.writeConfig(watchStack({ extraPath: true }));
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    const reloads = (result: string) => `sum(bot_bottle_egress_reloads_total{${inStack(`result="${result}"`)}})`;
    await expectCounts({ [reloads("ok")]: 1, [reloads("rejected")]: 0 });
    const [after] = await inForce();
    assert.ok(after !== undefined && after !== before, `the routes document in force: ${before} before, ${after} after`);
  });

  it("the shipped dashboard draws every panel from this Prometheus (the README's screenshot)", async () => {
    // Half a minute of an agent's everyday traffic, so the panels show lines and not one burst.
    const marker = unique("d");
    for (let i = 0; i < 30; i++) {
      await agentCurl([`https://upstream.test/allowed/${marker}/${i}`]);
      if (i % 3 === 0) await agentCurl([`https://upstream.test/denied/${marker}/${i}`]);
      if (i % 10 === 5) await postSecret(`https://upstream.test/allowed/${marker}`);
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    await new Promise((resolve) => setTimeout(resolve, 2 * SCRAPE_SECONDS * 1000));
    const end = Math.ceil(Date.now() / 1000);
    const png = process.env.E2E_DASHBOARD_PNG ?? path.join(workDir, "dashboard.png");
    const panels = await snapshot({
      prometheus: prometheusUrl,
      range: { start: startedAt, end, step: SCRAPE_SECONDS },
      given: { stack: [stack.name], bottle: [BOTTLE] },
      scrapeSeconds: SCRAPE_SECONDS,
      png,
      html: png.replace(/\.png$/, ".html"),
    });
    console.log(`# figure: dashboard drawn from the run's Prometheus: ${png} (${(fs.statSync(png).size / 1024).toFixed(0)} KiB)`);
    assert.deepEqual(
      panels.filter((panel) => panel.series.length === 0).map((panel) => panel.title),
      [],
    );
  });
});

/**
 * A Prometheus for this stack: Debian's binary in the run's probe image, as root (it reads the
 * engine's socket for docker_sd), on the default bridge with its port published on loopback; the
 * test attaches it to the bottle's egress-side network, as the README says to. Returns its URL.
 */
async function startPrometheus(name: string, stack: string, dir: string): Promise<string> {
  const shipped = parse(fs.readFileSync(path.join(REPO_ROOT, "observability/prometheus/scrape-docker.yml"), "utf8")) as {
    scrape_configs: { scrape_interval: string; docker_sd_configs: { refresh_interval: string; filters: unknown[] }[] }[];
  };
  const job = shipped.scrape_configs[0]!;
  job.scrape_interval = `${SCRAPE_SECONDS}s`;
  job.docker_sd_configs[0]!.refresh_interval = "2s";
  // Only this stack's gates: other runs' stacks share the engine.
  job.docker_sd_configs[0]!.filters.push({ name: "label", values: [`bot-bottle.stack=${stack}`] });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "prometheus.yml"), stringify({ global: { scrape_interval: `${SCRAPE_SECONDS}s` }, ...shipped }));
  const binary = await commandPath("prometheus");
  await mustRun([
    ...runDetached(name, stack, "test-prometheus"),
    "--user",
    "0:0",
    "-p",
    "127.0.0.1::9090",
    "-v",
    `${binary}:/usr/local/bin/prometheus:ro`,
    "-v",
    `${dir}:/etc/prometheus:ro`,
    "-v",
    "/var/run/docker.sock:/var/run/docker.sock",
    "--entrypoint",
    "/usr/local/bin/prometheus",
    e2eRun().images.probe,
    "--config.file=/etc/prometheus/prometheus.yml",
    "--storage.tsdb.path=/tmp/prometheus",
    "--web.listen-address=0.0.0.0:9090",
  ]); // fmt: skip
  const port = (await mustRun(["docker", "port", name, "9090/tcp"])).trim().split(":").pop();
  const url = `http://127.0.0.1:${port}`;
  await waitFor("Prometheus to be ready", 30_000, async () =>
    (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? true : undefined,
  );
  return url;
}
