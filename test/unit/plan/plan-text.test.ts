import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const GOLDEN = path.join(__dirname, "plan-dev.golden.txt");

// The reviewer's plan, exactly: its layout is what a pull-request comment shows. After a
// deliberate change, regenerate it with UPDATE_GOLDEN=1 and review the difference.
test("the text plan of the dev stack, exactly", () => {
  const text = execFileSync(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", "dev"], { cwd: ROOT, encoding: "utf8" });
  if (process.env.UPDATE_GOLDEN === "1") fs.writeFileSync(GOLDEN, text);
  assert.equal(text, fs.readFileSync(GOLDEN, "utf8"));
});

// A reader slower than the plan (a pipe holds 64 KiB): the whole JSON still arrives.
test("the JSON plan reaches a slow reader of a pipe whole", () => {
  const node = JSON.stringify(process.execPath);
  const json = execFileSync("/bin/sh", ["-c", `${node} --import tsx scripts/plan.ts --stack staging --json | (sleep 1; cat)`], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.ok(json.length > 65536, `the plan is ${json.length} bytes: too small to show a pipe's limit`);
  assert.ok(Array.isArray((JSON.parse(json) as { resources: unknown[] }).resources));
});
