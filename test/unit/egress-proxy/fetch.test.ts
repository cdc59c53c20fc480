/**
 * `scripts/up` needs only the egress proxy's pinned wheels (the program builds and tags the
 * stack's own image, bot-bottle/egress-proxy:<stack>): `build-image --fetch-only` fetches them
 * and never reaches the Docker engine, so no other stack's tag (such as :dev) is touched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

test("scripts/egress-proxy/build-image --fetch-only downloads the locked wheels and runs no docker command", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-wheels-"));
  try {
    const bin = path.join(dir, "bin");
    const calls = path.join(dir, "calls");
    fs.mkdirSync(bin);
    for (const tool of ["docker", "python"]) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>"${calls}"\n[ ${tool} = python ]\n`, { mode: 0o755 });
    }
    const r = spawnSync("bash", [path.join(ROOT, "scripts/egress-proxy/build-image"), "--fetch-only"], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, PYTHON: path.join(bin, "python") },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = fs.readFileSync(calls, "utf8").trim().split("\n");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /^python -m pip download .*--require-hashes .*-r \S+\/requirements\.txt -r \S+\/requirements-test\.txt/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("scripts/up fetches the egress proxy's wheels without building an image", () => {
  const up = fs.readFileSync(path.join(ROOT, "scripts/up"), "utf8");
  const calls = up.split("\n").filter((line) => line.includes("scripts/egress-proxy/build-image") && !line.trimStart().startsWith("#"));
  assert.deepEqual(calls, ["scripts/egress-proxy/build-image --fetch-only"]);
});
