import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

function typescriptFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (["node_modules", "dist", ".work", ".tools"].includes(entry.name) || entry.name.startsWith(".venv")) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return typescriptFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

// components/ is also the package (components/package.json, main: dist/index.js): importing the
// directory itself would load whatever was last built into components/dist, not the sources.
test("the program, scripts and tests import components/index, never the package directory", () => {
  const offending = ["infra", "scripts", "test"].flatMap((dir) =>
    typescriptFiles(path.join(ROOT, dir)).filter((file) => /(from |import\()"(\.\.\/)+components"/.test(fs.readFileSync(file, "utf8"))),
  );
  assert.deepEqual(
    offending.map((f) => path.relative(ROOT, f)),
    [],
  );
});
