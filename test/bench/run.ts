/**
 * `npm run bench`: every performance figure of the project in one run, side by side, and the
 * goals they are held to (README, "Performance"). Not a test: it fails only if a part cannot
 * run. The parts, in this order (each also runs alone):
 *   1. the offline plan: 1, 10 and 100 bottles (test/bench/plan-bench.ts, `npm run bench:plan`);
 *   2. the egress-proxy addon against mitmproxy alone: CPU time per request, requests/second
 *      and latency at 16 and 64 connections, 10 and 10,000 routes (test/dataplane/bench.py);
 *   3. the chain on a bottle deployed by the real engine: time to a healthy bottle, load
 *      through both gates / pipelock alone / direct, a route change under load, and an agent's
 *      everyday work (clones, pushes, downloads, JSON, SSE, Messages API requests) against the
 *      same work done directly (test/bench/chain.ts, `npm run bench:chain`);
 *   4. where pipelock's time goes on the inspect lane, per body and scanner (a CPU profile of
 *      pipelock's own code: test/bench/pipelock-profile/run, `npm run bench:pipelock`).
 * Each part prints its own tables and `# result: {json}` lines; this script prints their
 * output as it comes, then the summary.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

type Result = Record<string, any>;

/** Runs a part, echoing its output; returns its `# result:` objects. */
function part(title: string, argv: string[]): Promise<Result[]> {
  console.log(`\n=== ${title}: ${argv.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${title} exited ${code}`));
      resolve(
        out.split("\n").flatMap((line) => (line.startsWith("# result: ") ? [JSON.parse(line.slice("# result: ".length)) as Result] : [])),
      );
    });
  });
}

const x = (ratio: number) => `${ratio.toFixed(3)}x`;
const met = (ok: boolean) => (ok ? "met" : "NOT met (README, Figures: the limits)");

async function main(): Promise<void> {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const plan = await part("offline plan", [npm, "run", "--silent", "bench:plan"]);
  const addonJson = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-")), "addon.json");
  await part("egress-proxy addon vs mitmproxy alone", ["test/dataplane/run-host.sh", "--bench", "--json", addonJson]);
  const addon = JSON.parse(fs.readFileSync(addonJson, "utf8")) as Result[];
  const chain = await part("the chain, on a bottle deployed by the real engine", [npm, "run", "--silent", "bench:chain"]);
  await part("pipelock's inspect lane, profiled", [npm, "run", "--silent", "bench:pipelock"]);

  const rows: string[][] = [];
  const plan100 = plan.find((r) => r.bottles === 100)!;
  rows.push(["offline plan, 100 bottles: wall time", `${(plan100.ms / 1000).toFixed(1)} s`, "< 5 s", met(plan100.ms < 5000)]);
  rows.push(["offline plan, 100 bottles: peak memory", `${plan100.maxRssMb.toFixed(0)} MB`, "< 400 MB", met(plan100.maxRssMb < 400)]);
  for (const r of addon.filter((a) => a.proxy !== "mitmdump, no addon")) {
    rows.push([
      `addon CPU per request vs mitmproxy alone: ${r.proxy.replace("mitmdump + addon, ", "")}, ${r.scheme}, ${r.clients} connections`,
      `${x(r.cpu_ratio)} (${r.cpu_us.toFixed(0)} µs; req/s ${r.rps_ratio.toFixed(2)}x)`,
      "≤ 1.02x",
      met(r.cpu_ratio <= 1.02),
    ]);
  }
  const change = chain.find((r) => r.part === "change")!;
  rows.push([
    "a route change under load: failed requests",
    `${change.failed} of ${change.requests} (up ${change.upSeconds.toFixed(1)} s)`,
    "0",
    met(change.failed === 0),
  ]);
  const healthy = chain.find((r) => r.part === "healthy")!;
  rows.push(["time to a healthy bottle (first pulumi up)", `${healthy.seconds.toFixed(1)} s`, "recorded", ""]);
  for (const r of chain.filter((c) => c.part === "load")) {
    for (const key of ["both gates (agent)", "pipelock alone"]) {
      const f = r[key];
      rows.push([
        `${key}, ${r.connections} connections: req/s, p50, p99 (ratio to direct)`,
        `${f.rps.toFixed(0)} (${(f.rps / r.direct.rps).toFixed(2)}x), ${(f.p50 * 1000).toFixed(0)} ms (${(f.p50 / r.direct.p50).toFixed(1)}x), ${(f.p99 * 1000).toFixed(0)} ms (${(f.p99 / r.direct.p99).toFixed(1)}x)`,
        "recorded",
        "",
      ]);
    }
  }
  for (const r of chain.filter((c) => c.part === "work")) {
    const measured = r.chain.ok
      ? `${r.chain.seconds.toFixed(2)} s vs ${r.direct.seconds.toFixed(2)} s direct (${(r.chain.seconds / r.direct.seconds).toFixed(1)}x)`
      : `failed: ${r.chain.detail}`;
    const ttfb =
      r.work.includes("event stream") && r.chain.ttfb !== undefined
        ? `; first byte ${(r.chain.ttfb * 1000).toFixed(0)} vs ${(r.direct.ttfb * 1000).toFixed(0)} ms`
        : "";
    rows.push([r.work, measured + ttfb, r.goal ?? "recorded", r.goal ? met(r.met) : ""]);
  }

  console.log("\n=== summary\n\n| figure | measured | goal | |\n| --- | --- | --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
