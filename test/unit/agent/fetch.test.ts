/**
 * `scripts/up` fetches the agent image's packages on every run (scripts/agent/build-image
 * --fetch-only) into the image's build context; a second fetch must leave that context, as the
 * docker provider hashes it, unchanged, or every `up` replaces the agent image and its
 * containers. Needs the npm registry (seeded from the checkout's npm-cache/ when it is filled).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { contextDigest } from "../../support/build-context";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const IMAGE = path.join("components", "agent", "image");

test("scripts/agent/build-image --fetch-only twice leaves the agent image's build context unchanged", () => {
  const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-agent-fetch-"));
  try {
    for (const file of ["scripts/agent/build-image", "scripts/lib/node22.sh"]) {
      fs.mkdirSync(path.join(checkout, path.dirname(file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(checkout, file));
    }
    fs.cpSync(path.join(ROOT, IMAGE), path.join(checkout, IMAGE), { recursive: true });
    const ctx = path.join(checkout, IMAGE);
    fs.rmSync(path.join(ctx, "npm-cache", ".package-lock.sha256"), { force: true }); // so the first fetch runs npm
    const fetch = () => {
      const r = spawnSync("bash", [path.join(checkout, "scripts/agent/build-image"), "--fetch-only"], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return contextDigest(ctx);
    };
    const first = fetch();
    assert.ok(fs.existsSync(path.join(ctx, "npm-cache", "_cacache")), "the first fetch filled the cache");
    assert.equal(fetch(), first);
  } finally {
    fs.rmSync(checkout, { recursive: true, force: true });
  }
});

test("contextDigest sees what the docker provider sees: admitted files' names, modes and contents, not ignored ones", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-context-"));
  try {
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
    fs.writeFileSync(path.join(dir, ".dockerignore"), "*\n!keep/\nkeep/logs/\n");
    fs.mkdirSync(path.join(dir, "keep", "logs"), { recursive: true });
    fs.writeFileSync(path.join(dir, "keep", "a"), "a");
    const base = contextDigest(dir);
    fs.writeFileSync(path.join(dir, "other"), "x");
    fs.writeFileSync(path.join(dir, "keep", "logs", "run.log"), "x");
    assert.equal(contextDigest(dir), base, "ignored files do not count");
    fs.chmodSync(path.join(dir, "keep", "a"), 0o755);
    const chmodded = contextDigest(dir);
    assert.notEqual(chmodded, base, "a mode change counts");
    fs.writeFileSync(path.join(dir, "keep", "a"), "b");
    assert.notEqual(contextDigest(dir), chmodded, "a content change counts");
    fs.writeFileSync(path.join(dir, ".dockerignore"), "[ab]\n");
    assert.throws(() => contextDigest(dir), /unsupported \.dockerignore pattern \[ab\]/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
