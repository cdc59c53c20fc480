import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { planStack } from "../../../scripts/plan/plan";

/** Five bottles, three on one remote engine (its provider and image shared across runs). */
function stackFile(): string {
  const bottles = Array.from({ length: 5 }, (_, i) => ({
    name: `bottle-${i}`,
    ...(i % 2 === 0 && { docker: { host: "ssh://deploy@engine.example.com" } }),
    routes: [
      {
        host: "api.github.com",
        ports: [443],
        methods: ["GET"],
        paths: [`/repos/acme/repo-${i}/`],
        auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
      },
    ],
    agent: { image: `node:22-bookworm-slim@sha256:${"a".repeat(64)}`, command: ["sleep", "infinity"] },
  }));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plan-batches-")), "Pulumi.batches.yaml");
  fs.writeFileSync(file, stringify({ config: { "bot-bottle:bottles": bottles, "bot-bottle:tokens": { github: { secure: "v1:x" } } } }));
  return file;
}

const byName = (resources: { type: string; name: string }[]) =>
  [...resources].sort((a, b) => `${a.type}::${a.name}`.localeCompare(`${b.type}::${b.name}`));

test("a stack planned two bottles per run of the program is the stack planned in one run", async () => {
  const file = stackFile();
  const whole = await planStack("batches", file, 100);
  const batched = await planStack("batches", file, 2);
  assert.equal(whole.resources.filter((r) => r.type === "pulumi:providers:docker").length, 1);
  assert.deepEqual(byName(batched.resources), byName(whole.resources));
  assert.deepEqual(batched.files, whole.files);
  assert.deepEqual(batched.computed, whole.computed);
});
