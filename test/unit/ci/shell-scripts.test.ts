/**
 * The shell scripts never pipe into a reader that may stop reading early (`grep -q`, `grep -m`,
 * `head`) where pipefail is on: the writer then dies of SIGPIPE and the pipeline fails, so a
 * match reads as "no match" depending on timing (how `cluster load-images` once failed in CI,
 * and how `docker logs | grep -q TOKEN` could miss a leaked token). Match on captured output.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

const PIPE = String.raw`(?<!\|)\|(?![|&])\s*`;
const EARLY_EXIT_READER = new RegExp(
  PIPE + String.raw`(?:grep(?:\s+-\S+)*?\s+(?:-[A-Za-z]*[qm][A-Za-z0-9]*|--quiet|--silent|--max-count\S*)(?=\s|$)|head\b)`,
);

/** `line: text` of each line (comments aside) piping into a reader that may exit early. */
function earlyExitPipes(script: string): string[] {
  return script
    .split("\n")
    .flatMap((text, i) => (!text.trimStart().startsWith("#") && EARLY_EXIT_READER.test(text) ? [`${i + 1}: ${text.trim()}`] : []));
}

/** Tracked shell files run under pipefail: those that set it, and the libraries they source. */
function pipefailScripts(): string[] {
  const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  return files.filter((file) => {
    if (file.startsWith("scripts/lib/") && file.endsWith(".sh")) return true;
    const full = path.join(ROOT, file);
    if (!fs.statSync(full).isFile()) return false;
    const text = fs.readFileSync(full, "utf8");
    return /^#!.*\b(ba)?sh\b/.test(text) && /^\s*set -[a-z]*o pipefail/m.test(text);
  });
}

describe("shell scripts under pipefail", () => {
  test("earlyExitPipes finds exactly the pipes into readers that may stop early", () => {
    const cases: [string, boolean][] = [
      ['ctr images ls -q | grep -qxF "$name" || die', true],
      ["a | grep -q x", true],
      ["a | grep -F -q x", true],
      ["a |grep --quiet x", true],
      ["a | grep -m1 x", true],
      ["a | grep --max-count=1 x", true],
      ["a | head -n 1", true],
      ["x=$(a | sort | head -1)", true],
      ['grep -qxF -- "$name" <<<"$names"', false],
      ["grep -q x file", false],
      ["a || head -n 1 file", false],
      ["a |& tee log", false],
      ["a | grep -c x", false],
      ["a | grep -v q | wc -l", false],
      ["a | grep -e quiet", false],
      ["  # a | grep -q x (a comment)", false],
    ];
    for (const [line, flagged] of cases) assert.equal(earlyExitPipes(line).length === 1, flagged, line);
    assert.deepEqual(earlyExitPipes("ok\n  b | head\n"), ["2: b | head"]);
  });

  test("none of them pipes into grep -q, grep -m or head", () => {
    const scripts = pipefailScripts();
    for (const expected of [".ci/run", "test/k8s/cluster", "scripts/egress-proxy/test-image", "scripts/lib/node22.sh"]) {
      assert.ok(scripts.includes(expected), `${expected} is among the scripts checked`);
    }
    const found = scripts.flatMap((file) => earlyExitPipes(fs.readFileSync(path.join(ROOT, file), "utf8")).map((hit) => `${file}:${hit}`));
    assert.deepEqual(found, []);
  });
});
