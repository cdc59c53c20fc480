/**
 * scripts/up's Pulumi steps, with the real Pulumi CLI (scripts/lib/pulumi.sh finds it: on PATH,
 * or BOT_BOTTLE_PULUMI_BUNDLE, a prerequisite of the repository) on a file backend of the test's
 * own: creating the stack, storing its tokens and every `scripts/pulumi` run leave the tracked
 * Pulumi.<stack>.yaml byte-identical, while the tokens stay config secrets that decrypt; and
 * `scripts/pulumi up` stops on a lock a killed run left, which only `cancel` removes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { copyCheckout } from "../../support/checkout-copy";

test("scripts/up's stack creation, scripts/set-tokens and scripts/pulumi never write the tracked stack file", () => {
  // A copy of the checkout: the stack file of the test's own never appears beside the examples
  // that other tests read.
  const ROOT = copyCheckout("bot-bottle-scripts-", { linkInstalled: true, git: true });
  const stack = `unit-${randomBytes(3).toString("hex")}`;
  const tracked = path.join(ROOT, `Pulumi.${stack}.yaml`);
  const generated = path.join(ROOT, ".stacks", `Pulumi.${stack}.yaml`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-stack-"));
  const env = {
    ...process.env,
    PULUMI_HOME: path.join(tmp, "home"),
    PULUMI_BACKEND_URL: `file://${tmp}`,
    PULUMI_CONFIG_PASSPHRASE: "test-only-passphrase",
    BOT_BOTTLE_TOKEN_ANTHROPIC: "sk-ant-test-only-0123",
    BOT_BOTTLE_TOKEN_GITHUB: "ghp_testonly0123",
  };
  const run = (file: string, args: string[]) => spawnSync(file, args, { cwd: ROOT, encoding: "utf8", env });
  const ok = (file: string, args: string[]) => {
    const r = run(file, args);
    assert.equal(r.status, 0, `${file} ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    fs.copyFileSync(path.join(ROOT, "Pulumi.dev.yaml"), tracked);
    const bytes = fs.readFileSync(tracked);
    ok("bash", ["-c", `source scripts/lib/stack.sh && stack_ensure ${stack}`]);
    ok("scripts/set-tokens", [stack]);
    const config = JSON.parse(ok("scripts/pulumi", ["config", "--stack", stack, "--show-secrets", "--json"])) as Record<
      string,
      { value: string; secret: boolean }
    >;
    assert.deepEqual(JSON.parse(config["bot-bottle:tokens"]!.value), { anthropic: "sk-ant-test-only-0123", github: "ghp_testonly0123" });
    assert.equal(config["bot-bottle:tokens"]!.secret, true);
    assert.deepEqual(fs.readFileSync(tracked), bytes, "the tracked stack file is byte-identical");
    const text = fs.readFileSync(generated, "utf8");
    assert.doesNotMatch(text, /sk-ant-test-only|ghp_testonly/, "no token in plain text");
    assert.equal(fs.statSync(generated).mode & 0o777, 0o600);

    // A setting outside the tokens is refused: the tracked file is where a human edits it.
    const refused = run("scripts/pulumi", ["config", "set", "--stack", stack, "--path", "bottles[0].name", "other"]);
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      new RegExp(`bot-bottle:bottles changed in \\.stacks/Pulumi\\.${stack}\\.yaml only.*edit Pulumi\\.${stack}\\.yaml`),
    );

    // An edit of the tracked file (as `npm run bottle -- blocked --write` makes) is what the next run reads; the tokens stay.
    fs.writeFileSync(tracked, bytes.toString().replace("api.anthropic.com", "api2.anthropic.com"));
    const again = JSON.parse(ok("scripts/pulumi", ["config", "--stack", stack, "--show-secrets", "--json"])) as typeof config;
    assert.match(again["bot-bottle:bottles"]!.value, /api2\.anthropic\.com/);
    assert.deepEqual(JSON.parse(again["bot-bottle:tokens"]!.value), { anthropic: "sk-ant-test-only-0123", github: "ghp_testonly0123" });
    assert.equal(run("git", ["status", "--porcelain", "--", ".stacks"]).stdout, "", "the generated file is gitignored");

    // A lock left by a killed run (Pulumi's file, a pid no process of this host has): `up` is
    // refused before Pulumi runs, naming the lock and the command; the lock stays until asked.
    const locks = path.join(tmp, ".pulumi", "locks", "organization", "bot-bottle", stack);
    const lock = path.join(locks, "0b5e7a1c-stale.json");
    fs.mkdirSync(locks, { recursive: true });
    fs.writeFileSync(lock, JSON.stringify({ pid: 4194305, username: "ci", hostname: os.hostname(), timestamp: "2026-12-06T18:11:02Z" }));
    const refusedUp = run("scripts/pulumi", ["up", "--yes", "--stack", stack]);
    assert.equal(refusedUp.status, 1, refusedUp.stderr);
    assert.match(refusedUp.stderr, new RegExp(`stack ${stack} is locked by pulumi \\(pid 4194305, ci@.*\\), and that process is gone`));
    assert.ok(refusedUp.stderr.includes(`scripts/pulumi cancel --yes --stack ${stack}`), refusedUp.stderr);
    assert.doesNotMatch(refusedUp.stdout + refusedUp.stderr, /Updating \(|Previewing update/, "Pulumi ran");
    assert.ok(fs.existsSync(lock), "the lock was removed without being asked");
    ok("scripts/pulumi", ["cancel", "--yes", "--stack", stack]);
    assert.equal(fs.existsSync(lock), false, "pulumi cancel removes the stale lock");
  } finally {
    fs.rmSync(ROOT, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
