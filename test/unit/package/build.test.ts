import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

test("scripts/package/build in a checkout without npm ci says to run it (instead of npx fetching another tsc)", () => {
  const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-build-"));
  try {
    fs.mkdirSync(path.join(checkout, "scripts", "package"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "scripts", "package", "build"), path.join(checkout, "scripts", "package", "build"));
    const r = spawnSync("bash", [path.join(checkout, "scripts", "package", "build")], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /node_modules\/\.bin\/tsc is missing\): run npm ci first/);
    assert.equal(fs.existsSync(path.join(checkout, "dist")), false, "nothing written");
  } finally {
    fs.rmSync(checkout, { recursive: true, force: true });
  }
});
