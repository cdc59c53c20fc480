/**
 * scripts/lib/pulumi.sh says which docker provider the program needs and checks it: one on
 * PATH must have uploads[].owner/group in its schema (the program sets them), else every
 * script stops before Pulumi runs, naming what is needed. The answer is cached per binary, and a
 * script started by another inherits the setup without saying or checking it again.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

function schema(uploadFields: string[]): string {
  const properties = Object.fromEntries(uploadFields.map((f) => [f, { type: "string" }]));
  return JSON.stringify({ name: "docker", version: "5.1.0", types: { "docker:index/ContainerUpload:ContainerUpload": { properties } } });
}

/** Sources pulumi.sh in a checkout of its own, with a fake CLI whose docker provider has `uploadFields`. */
function source(checkout: string, uploadFields: string[], script = "source scripts/lib/pulumi.sh && echo SOURCED") {
  const bin = path.join(checkout, "bin");
  fs.writeFileSync(path.join(bin, "schema.json"), schema(uploadFields));
  const r = spawnSync("bash", ["-c", script], {
    cwd: checkout,
    encoding: "utf8",
    env: { PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: checkout },
  });
  const calls = fs.existsSync(path.join(bin, "calls")) ? fs.readFileSync(path.join(bin, "calls"), "utf8").trim().split("\n") : [];
  fs.rmSync(path.join(bin, "calls"), { force: true });
  return {
    ...r,
    schemaReads: calls.filter((c) => c.startsWith("package get-schema")).length,
    versionCalls: calls.filter((c) => c === "version").length,
  };
}

test("a docker provider on PATH without uploads[].owner/group stops every script; one with them passes, checked once", () => {
  const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-providers-"));
  try {
    fs.mkdirSync(path.join(checkout, "scripts", "lib"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "scripts/lib/pulumi.sh"), path.join(checkout, "scripts/lib/pulumi.sh"));
    const bin = path.join(checkout, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      `#!/bin/sh\necho "$*" >>"${bin}/calls"\ncase "$1" in version) echo v3.259.0 ;; package) cat "${bin}/schema.json" ;; *) exit 1 ;; esac\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(bin, "pulumi-resource-docker"), "#!/bin/sh\n# provider 1\n", { mode: 0o755 });

    const without = source(checkout, ["content", "file", "source"]);
    assert.notEqual(without.status, 0);
    assert.doesNotMatch(without.stdout, /SOURCED/);
    assert.match(without.stderr, /docker provider .*pulumi-resource-docker \(sha256 [0-9a-f]{64}\) has no uploads\[\]\.owner\/group/);
    assert.match(without.stderr, /needs pulumi-resource-docker >= 5\.2\.0 \(or 5\.1\.0 with the upload owner\/group patch\)/);

    const withFields = source(checkout, ["content", "file", "group", "owner", "source"]);
    assert.equal(withFields.status, 0, withFields.stderr);
    assert.match(withFields.stdout, /SOURCED/);
    assert.equal(withFields.schemaReads, 1);
    assert.equal(source(checkout, ["content", "file", "group", "owner", "source"]).schemaReads, 0, "the answer is cached for this binary");

    // A script another one started (as scripts/up starts scripts/pulumi) inherits the setup.
    const nested = source(
      checkout,
      ["content", "file", "group", "owner", "source"],
      'source scripts/lib/pulumi.sh && bash -c "source scripts/lib/pulumi.sh && echo NESTED"',
    );
    assert.equal(nested.status, 0, nested.stderr);
    assert.match(nested.stdout, /NESTED/);
    assert.equal(nested.stderr.match(/^pulumi: CLI 3\.259\.0 at /gm)?.length, 1, "one banner, not one per script");
    assert.equal(nested.versionCalls, 1);

    fs.writeFileSync(path.join(bin, "pulumi-resource-docker"), "#!/bin/sh\n# provider 2\n", { mode: 0o755 });
    assert.notEqual(source(checkout, ["content"]).status, 0, "another binary is checked again");
  } finally {
    fs.rmSync(checkout, { recursive: true, force: true });
  }
});
