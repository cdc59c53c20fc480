/**
 * Benchmark (not a test): the whole chain agent -> egress proxy -> pipelock -> upstream against
 * the same requests sent directly, on a bottle deployed by the real engine, side by side in one
 * run. Run it with `npm run bench:chain` (test/e2e/run.ts prepares the images and cleans up).
 *
 * For each pipelock variant (the settings under test), one `pulumi up`, then with curl inside
 * the agent (through both gates) and inside a client on the outbound network (direct), every
 * figure the median of several runs:
 *   - a streamed (SSE) answer of 40 events 25 ms apart: time to first byte and total time;
 *   - a 10 MiB download (application/octet-stream) and a 1 MiB JSON document: total time;
 * and prints them with the chain/direct ratio.
 */
import { tcpProbe } from "../e2e/support/docker";
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

function config(settings: PipelockSettings): TestStackConfig {
  const { images } = e2eRun();
  return {
    bottles: [
      {
        name: "b",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET", "HEAD"] }],
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
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

async function main(): Promise<void> {
  const { id, images } = e2eRun();
  const upstream = `e2e-${id}-bench-upstream`;
  const direct = `e2e-${id}-bench-direct`;
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
      }
    }
  } finally {
    await run(["docker", "rm", "-f", upstream, direct]);
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
