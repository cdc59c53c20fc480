/**
 * Writes what test/bench/pipelock-profile/run profiles into the directory given as the only
 * argument: the dev example's first bottle's pipelock.yaml (planned offline, as `pulumi up`
 * would upload it, without TLS interception) and the bodies the chain benchmark sends (test/bench/chain.ts): Messages API
 * requests of 100 KB and 1 MiB, the 1 MiB one's next turn, and a 1 MiB JSON answer shaped like
 * the test upstream's `/json/<n>`. The git pack is the run script's (git makes it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { planStack } from "../../../scripts/plan/plan";
import { messagesRequest, nextTurn } from "../messages";

const MiB = 1024 * 1024;

/** The test upstream's JSON answer of about `bytes` bytes (test/e2e/images/upstream/server.py). */
function jsonAnswer(bytes: number): string {
  const item = JSON.stringify({ name: "package", version: "1.0.0", description: "a json field" });
  return `[${Array(Math.max(1, Math.floor(bytes / (item.length + 1))))
    .fill(item)
    .join(",")}]`;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: bodies.ts <directory>");
  const plan = await planStack("dev");
  const [bottle, files] = Object.entries(plan.files)[0]!;
  // The scanners' settings as uploaded; interception off, since its CA is not here and the
  // profile opens no connections.
  const config = parse(files["pipelock.yaml"]!) as { tls_interception: object };
  config.tls_interception = { enabled: false };
  fs.writeFileSync(path.join(dir, "pipelock.yaml"), stringify(config));
  const m1m = messagesRequest(MiB);
  const written = {
    "m100k.json": messagesRequest(100 * 1024),
    "m1m.json": m1m,
    "next-m1m.json": nextTurn(m1m),
    "answer1m.json": jsonAnswer(MiB),
  };
  for (const [file, text] of Object.entries(written)) fs.writeFileSync(path.join(dir, file), text);
  console.error(`bodies: pipelock.yaml of the dev example's bottle "${bottle}", ${Object.keys(written).join(", ")} in ${dir}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
