import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 8);
const ROOT = path.resolve(__dirname, "..", "..", "..");
const run = promisify(execFile);

interface PlanJson {
  resources: { type: string; name: string; parent?: string; inputs: Record<string, unknown>; secretInputs: string[] }[];
  files: Record<string, Record<string, string>>;
}

async function plan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "scripts/plan.ts", ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Paths of every string in `value` that contains `needle`. */
function pathsContaining(value: unknown, needle: string, at = ""): string[] {
  if (typeof value === "string") return value.includes(needle) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => pathsContaining(v, needle, `${at}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => pathsContaining(v, needle, at ? `${at}.${k}` : k));
  }
  return [];
}

const stacks = fs.readdirSync(ROOT).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);

describe("npm run plan", () => {
  test("there are example stacks for dev, staging and prod", () => {
    assert.deepEqual(stacks.sort(), ["dev", "prod", "staging"]);
  });

  for (const stack of stacks) {
    test(`plans the ${stack} stack with every secret hidden`, async () => {
      const { code, stdout, stderr } = await plan("--stack", stack, "--json");
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as PlanJson;
      const config = parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")).config;
      const bottles = (config["bot-bottle:bottles"] as { name: string }[]).map((b) => b.name);
      assert.deepEqual(Object.keys(result.files).sort(), [...bottles].sort());
      for (const bottle of bottles) {
        assert.match(result.files[bottle]!["routes.yaml"]!, /^version: 1\n/);
        assert.match(result.files[bottle]!["pipelock.yaml"]!, /mode: strict/);
        for (const role of ["egress-proxy", "pipelock", "agent"]) {
          assert.ok(result.resources.some((r) => r.inputs.name === `${stack}-${bottle}-${role}`), `${bottle} ${role}`);
        }
      }
      for (const r of result.resources) {
        // "[secret]" may only stand where the program itself marked the input secret.
        for (const where of pathsContaining(r.inputs, "[secret]")) {
          assert.ok(r.secretInputs.some((s) => where === s || where.startsWith(`${s}.`) || where.startsWith(`${s}[`)), `${r.name}: ${where}`);
        }
        assert.deepEqual(pathsContaining(r.inputs, "plan-secret-"), [], `${r.name} shows a placeholder`);
      }
      const egress = result.resources.find((r) => r.inputs.name === `${stack}-${bottles[0]}-egress-proxy`)!;
      assert.ok(egress.secretInputs.includes("envs") && egress.secretInputs.includes("uploads"));
      const tokenVars = (egress.inputs.envs as string[]).filter((e) => e.startsWith("EGRESS_PROXY_TOKEN_"));
      assert.ok(tokenVars.length > 0);
      for (const e of tokenVars) assert.match(e, /^EGRESS_PROXY_TOKEN_\d+=\[secret\]$/);
    });
  }

  test("the text plan lists resources with their parents and the rendered files", async () => {
    const { code, stdout } = await plan("--stack", "dev");
    assert.equal(code, 0);
    assert.match(stdout, /Plan for stack "dev": \d+ resources/);
    assert.match(stdout, /\+ docker:index\/container:Container {2}coder-agent {2}\(parent: coder\)/);
    assert.match(stdout, /--- bottle coder: routes\.yaml\nversion: 1/);
    assert.doesNotMatch(stdout, /plan-secret-|PRIVATE KEY/);
  });

  test("prod targets its remote Docker engine through an explicit provider", async () => {
    const result = JSON.parse((await plan("--stack", "prod", "--json")).stdout) as PlanJson;
    const provider = result.resources.find((r) => r.type === "pulumi:providers:docker");
    assert.equal(provider?.inputs.host, "ssh://deploy@bottles-prod.internal");
  });

  test("reordering bottles renames nothing: engines' providers and images are named from their hosts", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const stackFile = (bottles: string[]) => {
      const file = path.join(dir, `Pulumi.order-${bottles.join("-")}.yaml`);
      const entry = (name: string) =>
        `    - { name: ${name}, docker: { host: "ssh://deploy@${name}.example.com" }, routes: [{ host: api.github.com }] }`;
      fs.writeFileSync(file, ["config:", "  bot-bottle:bottles:", ...bottles.map(entry)].join("\n"));
      return file;
    };
    const names = async (bottles: string[]) => {
      const { code, stdout, stderr } = await plan("--stack", "order", "--file", stackFile(bottles), "--json");
      assert.equal(code, 0, stderr);
      return (JSON.parse(stdout) as PlanJson).resources.map((r) => `${r.type}::${r.name}`).sort();
    };
    const forward = await names(["east", "west"]);
    assert.deepEqual(await names(["west", "east"]), forward);
    assert.ok(forward.includes(`pulumi:providers:docker::docker-deploy-east-example-com-${hash("ssh://deploy@east.example.com")}`), forward.join("\n"));
    assert.ok(forward.includes(`docker:index/image:Image::egress-proxy-image-deploy-west-example-com-${hash("ssh://deploy@west.example.com")}`));
  });

  test("a bad config prints every problem with its path and exits 1, without a stack trace", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const file = path.join(dir, "Pulumi.broken.yaml");
    fs.writeFileSync(
      file,
      [
        "config:",
        "  bot-bottle:bottles:",
        "    - name: coder",
        "      routes:",
        "        - host: https://api.github.com",
        "        - host: pypi.mirror.example.com",
        "          methods: [FETCH]",
        "          auth: { header: Authorization, token: github }",
        "  bot-bottle:tokens:",
        "    github: ghp_plaintextTokenValue",
      ].join("\n"),
    );
    const { code, stdout, stderr } = await plan("--stack", "broken", "--file", file, "--json");
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.match(stderr, /bottles\[0\]\.routes\[0\]\.host: expected a bare host name/);
    assert.match(stderr, /bottles\[0\]\.routes\[1\]\.methods\[0\]: expected one of/);
    assert.match(stderr, /tokens\.github: is stored in plain text/);
    assert.doesNotMatch(stderr, /ghp_plaintextTokenValue/);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  });

  test("an unknown stack names the stacks there are", async () => {
    const { code, stderr } = await plan("--stack", "nope");
    assert.equal(code, 1);
    assert.match(stderr, /no stack file .*Pulumi\.nope\.yaml; stacks here: dev, prod, staging/);
  });
});
