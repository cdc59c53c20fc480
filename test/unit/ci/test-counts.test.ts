/**
 * The totals `scripts/test` prints come from the runners' own count lines only
 * (scripts/lib/test-counts.awk): a test's output that merely says "1 error" or "0 failed" (a
 * Pulumi run failed on purpose, a figure) must not count.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, test } from "node:test";

const COUNTS = path.resolve(__dirname, "..", "..", "..", "scripts", "lib", "test-counts.awk");

const counts = (log: string) => execFileSync("awk", ["-f", COUNTS], { input: log, encoding: "utf8" }).trim();

describe("scripts/test's counts", () => {
  const cases: [string, string, string][] = [
    ["node's lines", "ℹ tests 9\nℹ pass 7\nℹ fail 2\n", "7 2"],
    ["pytest's summary, bordered", "======================= 863 passed, 2 warnings in 58.83s =======================\n", "863 0"],
    ["pytest's summary, quiet", "1 failed, 862 passed, 2 errors in 59.43s\n", "862 3"],
    ["pytest's summary with its wall clock", "=== 5 passed, 1 error in 61.20s (0:01:01) ===\n", "5 1"],
    ["several steps add up", "ℹ pass 3\nℹ fail 0\n12 passed in 1.00s\nℹ pass 4\n", "19 0"],
    [
      "a failed Pulumi run inside a test is no count",
      "  pulumi:pulumi:Stack x **creating failed** 1 error; 4 warnings\n    1 errored\nResources:\n    3 created\n",
      "0 0",
    ],
    ["a figure is no count", "# figure: a route change: 164 requests, 164 answered 200, 0 failed\n# 2 passed the check\n", "0 0"],
    ["counts only at the start of a line", "  ℹ pass 5\nsaw ℹ fail 1\n", "0 0"],
    ["nothing printed", "", "0 0"],
  ];
  for (const [what, log, expected] of cases) {
    test(what, () => assert.equal(counts(log), expected));
  }
});
