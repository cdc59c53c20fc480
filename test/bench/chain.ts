/**
 * Benchmark (not a test): the whole chain agent -> egress proxy -> pipelock -> upstream against
 * the same requests sent directly, on a bottle deployed by the real engine, side by side in one
 * run. Run it with `npm run bench:chain` (test/e2e/run.ts prepares the images and cleans up).
 *
 * First, with bot-bottle's defaults: the time to a healthy bottle (the first `pulumi up`);
 * requests/second and p50/p99 of small requests at 16 and 64 concurrent connections (curl
 * --parallel) through both gates (from the agent), through pipelock alone (a client on the
 * egress network) and direct (a client on the outbound network); and a route change applied
 * by `pulumi up` under a loop of requests from the agent (failures counted).
 * Then, for each pipelock variant (the settings under test), one `pulumi up`, and with curl
 * inside the agent and inside the direct client, every figure the median of several runs:
 *   - a streamed (SSE) answer of 40 events 25 ms apart: time to first byte and total time;
 *   - a 10 MiB download (application/octet-stream) and a 1 MiB JSON document: total time;
 * all printed with the ratio to direct. Each part also prints one `# result: {json}` line
 * (test/bench/run.ts gathers them).
 */
import { containerOf, tcpProbe } from "../e2e/support/docker";
import { failuresOf, underLoad } from "../e2e/support/loop";
import { exec, mustRun, run, waitFor } from "../e2e/support/process";
import { e2eRun } from "../e2e/support/run-env";
import { tail, TestStack, TestStackConfig } from "../e2e/support/stack";

type PipelockSettings = Record<string, unknown>;

const VARIANTS: { name: string; settings: PipelockSettings }[] = [
  { name: "bot-bottle defaults", settings: {} },
  { name: "answers up to 16 MiB intercepted", settings: { tls_interception: { max_response_bytes: 16 * 1024 * 1024 } } },
  { name: "response scanning off", settings: { response_scanning: { enabled: false } } },
  { name: "upstream.test passed through (no interception)", settings: { tls_interception: { passthrough_domains: ["upstream.test"] } } },
];

const REQUESTS = [
  { name: "SSE, 40 events 25 ms apart", path: "/sse/40/25", runs: 7 },
  { name: "10 MiB download", path: `/bytes/${10 * 1024 * 1024}`, runs: 5 },
  { name: "1 MiB JSON", path: `/json/${1024 * 1024}`, runs: 5 },
];

const CONCURRENCY = [16, 64];
const LOAD_REQUESTS = 640;

function config(settings: PipelockSettings, extraPath = false): TestStackConfig {
  const { images } = e2eRun();
  return {
    bottles: [
      {
        name: "b",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET", "HEAD"], ...(extraPath && { paths: ["/", "/also/"] }) }],
        // pipelock's and the egress proxy's per-host limits would otherwise answer 429 to the load.
        requestsPerMinute: 1_000_000,
        agent: { image: images.probe, command: ["sleep", "infinity"] },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: ["upstream.test"], ...settings } },
        selfTest: false,
      },
    ],
  };
}

interface Sample {
  ttfb: number;
  total: number;
  status: string;
  bytes: number;
}

async function curl(container: string, url: string, extra: string[]): Promise<Sample> {
  const r = await exec(container, ["curl", "-s", "-o", "/dev/null", "--max-time", "300", ...extra, "-w", "%{time_starttransfer} %{time_total} %{http_code} %{size_download}", url], { timeoutMs: 320_000 });
  const [ttfb = "0", total = "0", status = "000", bytes = "0"] = r.stdout.trim().split(" ");
  return { ttfb: Number(ttfb), total: Number(total), status, bytes: Number(bytes) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

interface Load {
  rps: number;
  p50: number;
  p99: number;
}

/** `LOAD_REQUESTS` small requests over `connections` parallel kept-alive connections, by curl in `container`. */
async function load(container: string, connections: number, extra: string[]): Promise<Load> {
  const started = process.hrtime.bigint();
  const r = await exec(
    container,
    ["curl", "-s", "-o", "/dev/null", "--parallel", "--parallel-immediate", "--parallel-max", String(connections), ...extra, "-w", "%{http_code} %{time_total}\n", `https://upstream.test/load/[1-${LOAD_REQUESTS}]`],
    { timeoutMs: 300_000 },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const lines = r.stdout.trim().split("\n").map((l) => l.split(" "));
  const bad = lines.filter(([code]) => code !== "200");
  if (lines.length !== LOAD_REQUESTS || bad.length > 0) throw new Error(`load from ${container}: ${lines.length} answers, ${bad.length} not 200 (${bad[0]?.join(" ")})\n${r.stderr}`);
  const times = lines.map(([, total]) => Number(total));
  return { rps: LOAD_REQUESTS / seconds, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

async function main(): Promise<void> {
  const { id, images } = e2eRun();
  const upstream = `e2e-${id}-bench-upstream`;
  const direct = `e2e-${id}-bench-direct`;
  const pipelockClient = `e2e-${id}-bench-pipelock-client`;
  const stack = await TestStack.create("bench", config(VARIANTS[0]!.settings));
  const rows: string[] = [];
  try {
    for (const [i, variant] of VARIANTS.entries()) {
      stack.writeConfig(config(variant.settings));
      const up = await stack.up();
      if (!up.ok) throw new Error(`up failed:\n${tail(up.output)}`);
      const agent = `${stack.name}-b-agent`;
      if (i === 0) {
        const outbound = `${stack.name}-b-outbound-net`;
        await mustRun(["docker", "run", "-d", "--name", upstream, "--label", `bot-bottle.stack=${stack.name}`, "--network", outbound, "--network-alias", "upstream.test", images.upstream]);
        await mustRun(["docker", "run", "-d", "--name", direct, "--label", `bot-bottle.stack=${stack.name}`, "--network", outbound, images.probe]);
        await waitFor("the upstream", 20_000, async () => ((await tcpProbe(upstream, "python3", "127.0.0.1", 443, 2)) === "connected" ? true : undefined));
        // The direct client trusts the test upstream's CA, as pipelock does.
        await mustRun(["docker", "cp", `${e2eRun().workDir}/pki/ca.pem`, `${direct}:/tmp/upstream-ca.pem`]);
        console.log(`# pulumi up of the bench bottle: ${up.seconds.toFixed(1)} s`);
        console.log(`# result: ${JSON.stringify({ part: "healthy", seconds: up.seconds })}`);
        await mustRun(["docker", "run", "-d", "--name", pipelockClient, "--label", `bot-bottle.stack=${stack.name}`, "--network", `${stack.name}-b-egress-net`, images.probe]);
        const pipelock = await containerOf(stack.name, "b", "pipelock");
        await mustRun(["sh", "-c", `docker cp ${pipelock}:/etc/pipelock/ca.pem - | docker cp - ${pipelockClient}:/tmp/`]);
        console.log("\n| connections | path | req/s | ratio to direct | p50 ms | p99 ms |\n| ---: | --- | ---: | ---: | ---: | ---: |");
        for (const connections of CONCURRENCY) {
          const figures = {
            "both gates (agent)": await load(agent, connections, []),
            "pipelock alone": await load(pipelockClient, connections, ["--proxy", "http://pipelock:8888", "--cacert", "/tmp/ca.pem"]),
            direct: await load(direct, connections, ["--cacert", "/tmp/upstream-ca.pem"]),
          };
          for (const [path, f] of Object.entries(figures)) {
            console.log(`| ${connections} | ${path} | ${f.rps.toFixed(0)} | ${(f.rps / figures.direct.rps).toFixed(2)}x | ${(f.p50 * 1000).toFixed(1)} | ${(f.p99 * 1000).toFixed(1)} |`);
          }
          console.log(`# result: ${JSON.stringify({ part: "load", connections, ...figures })}`);
        }
        stack.writeConfig(config(variant.settings, true));
        let changeSeconds = 0;
        const seen = await underLoad(agent, "https://upstream.test/loop", async () => {
          const change = await stack.up();
          if (!change.ok) throw new Error(`up failed:\n${tail(change.output)}`);
          changeSeconds = change.seconds;
        });
        const { failed, span } = failuresOf(seen);
        console.log(`\n# a route change under a request every 100 ms: ${failed.length} of ${seen.length} requests failed over ${span.toFixed(1)} s (pulumi up ${changeSeconds.toFixed(1)} s)`);
        console.log(`# result: ${JSON.stringify({ part: "change", requests: seen.length, failed: failed.length, upSeconds: changeSeconds })}`);
      }
      for (const request of REQUESTS) {
        const url = `https://upstream.test${request.path}`;
        const through: Sample[] = [];
        const straight: Sample[] = [];
        for (let n = 0; n < request.runs; n++) {
          through.push(await curl(agent, url, []));
          straight.push(await curl(direct, url, ["--cacert", "/tmp/upstream-ca.pem"]));
        }
        const statuses = [...new Set(through.map((s) => s.status))].join("/");
        const t = { ttfb: median(through.map((s) => s.ttfb)), total: median(through.map((s) => s.total)) };
        const d = { ttfb: median(straight.map((s) => s.ttfb)), total: median(straight.map((s) => s.total)) };
        rows.push(
          `| ${variant.name} | ${request.name} | ${statuses} | ${ms(t.ttfb)} / ${ms(d.ttfb)} (${(t.ttfb / d.ttfb).toFixed(1)}x) | ${ms(t.total)} / ${ms(d.total)} (${(t.total / d.total).toFixed(1)}x) |`,
        );
        console.log(rows.at(-1));
        console.log(`# result: ${JSON.stringify({ part: "stream", variant: variant.name, request: request.name, statuses, chain: t, direct: d })}`);
      }
    }
  } finally {
    await run(["docker", "rm", "-f", upstream, direct, pipelockClient]);
    await stack.remove();
  }
  console.log("\n| pipelock settings | request | status through the chain | time to first byte, chain / direct | total time, chain / direct |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
