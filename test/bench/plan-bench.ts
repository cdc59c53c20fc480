/**
 * Benchmark (not a test): plans generated stacks of 1, 10 and 100 bottles, each in a fresh
 * process, and prints wall time, peak memory and resource counts, and one `# result: {json}`
 * line per size (test/bench/run.ts gathers them).
 *   npm run bench:plan
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";

const SIZES = [1, 10, 100];

function stackFile(bottles: number): string {
  const config = {
    config: {
      "bot-bottle:bottles": Array.from({ length: bottles }, (_, i) => ({
        name: `bottle-${i}`,
        routes: [
          { host: "api.anthropic.com", ports: [443], auth: { header: "x-api-key", token: "anthropic" } },
          {
            host: "api.github.com",
            ports: [443],
            methods: ["GET"],
            paths: [`/repos/acme/repo-${i}/`],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          { host: "npm.mirror.example.com", ports: [443], methods: ["GET", "HEAD"] },
        ],
        agent: { image: "node:22-bookworm-slim", command: ["sleep", "infinity"] },
      })),
      "bot-bottle:tokens": { anthropic: { secure: "v1:x" }, github: { secure: "v1:x" } },
    },
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plan-bench-")), `Pulumi.bench${bottles}.yaml`);
  fs.writeFileSync(file, stringify(config));
  return file;
}

/** Runs in the child: one plan, then its own figures as JSON. */
async function measureOne(bottles: number, file: string): Promise<void> {
  const { planStack } = await import("../../scripts/plan/plan");
  const start = process.hrtime.bigint();
  const plan = await planStack(`bench${bottles}`, file);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(JSON.stringify({ bottles, resources: plan.resources.length, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}

function main(): void {
  console.log("bottles  resources  plan wall ms  ms/bottle  peak RSS MB");
  for (const bottles of SIZES) {
    const out = execFileSync(process.execPath, ["--import", "tsx", __filename, "--one", String(bottles), stackFile(bottles)], {
      encoding: "utf8",
    });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { resources: number; ms: number; maxRssMb: number };
    console.log(
      `${String(bottles).padStart(7)}  ${String(r.resources).padStart(9)}  ${r.ms.toFixed(0).padStart(12)}  ${(r.ms / bottles).toFixed(1).padStart(9)}  ${r.maxRssMb.toFixed(0).padStart(11)}`,
    );
    console.log(`# result: ${JSON.stringify({ part: "plan", bottles, ...r })}`);
  }
}

if (process.argv[2] === "--one") void measureOne(Number(process.argv[3]), process.argv[4]!);
else main();
