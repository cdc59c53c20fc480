import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { type PlannedResource, RESOURCE_TYPES } from "../../../components/vocabulary";
import { copyCheckout } from "../../support/checkout-copy";

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 8);
const ROOT = path.resolve(__dirname, "..", "..", "..");
const run = promisify(execFile);

interface PlanJson {
  resources: PlannedResource[];
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

/** The dev stack the reach-diff tests start from (committed in their scratch repository). */
const DEV_BEFORE = `config:
  bot-bottle:bottles:
    - name: coder
      routes:
        - { host: api.anthropic.com, ports: [443], auth: { header: x-api-key, token: anthropic } }
        - host: api.github.com
          ports: [443]
          paths: ["/repos/acme/", "/user", "/rate_limit"]
          auth: { header: Authorization, prefix: "Bearer ", token: github }
        - { host: pypi.mirror.example.com, ports: [443], methods: [GET, HEAD] }
      agent: { image: node:22-bookworm-slim }
  bot-bottle:tokens:
    anthropic:
      secure: v1:placeholder
    github:
      secure: v1:placeholder
`;

const stacks = fs.readdirSync(ROOT).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);

describe("npm run plan", () => {
  test("there are example stacks for dev, staging and prod (Docker) and cluster (Kubernetes)", () => {
    assert.deepEqual(stacks.sort(), ["cluster", "dev", "prod", "staging"]);
  });

  for (const stack of stacks) {
    test(`plans the ${stack} stack with every secret hidden`, async () => {
      const { code, stdout, stderr } = await plan("--stack", stack, "--json");
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as PlanJson;
      const config = parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")).config;
      const bottles = (config["bot-bottle:bottles"] as { name: string }[]).map((b) => b.name);
      const kubernetes = config["bot-bottle:backend"] === "kubernetes";
      assert.deepEqual(Object.keys(result.files).sort(), [...bottles].sort());
      for (const bottle of bottles) {
        assert.match(result.files[bottle]!["routes.yaml"]!, /^version: 1\n/);
        assert.match(result.files[bottle]!["pipelock.yaml"]!, /mode: strict/);
        if (kubernetes) {
          for (const role of ["agent", "egress-proxy", "pipelock"]) {
            assert.ok(
              result.resources.some((r) => r.type === RESOURCE_TYPES.k8sDeployment && r.name === `${bottle}-${role}`),
              `${bottle} ${role}`,
            );
          }
          continue;
        }
        assert.ok(
          result.resources.some((r) => r.inputs.name === `${stack}-${bottle}-agent`),
          `${bottle} agent`,
        );
        for (const role of ["egress-proxy", "pipelock"]) {
          assert.ok(
            result.resources.some((r) => r.type === RESOURCE_TYPES.container && r.name === `${bottle}-${role}`),
            `${bottle} ${role}`,
          );
        }
      }
      for (const r of result.resources) {
        // "[secret]" may only stand where the program itself marked the input secret.
        for (const where of pathsContaining(r.inputs, "[secret]")) {
          assert.ok(
            r.secretInputs.some((s) => where === s || where.startsWith(`${s}.`) || where.startsWith(`${s}[`)),
            `${r.name}: ${where}`,
          );
        }
        assert.deepEqual(pathsContaining(r.inputs, "plan-secret-"), [], `${r.name} shows a placeholder`);
      }
      if (kubernetes) {
        // The tokens are the Secret's data, secret as a whole; every value in it hidden.
        const secret = result.resources.find((r) => r.type === RESOURCE_TYPES.k8sSecret && r.name === `${bottles[0]}-egress-proxy-tokens`)!;
        assert.deepEqual(secret.secretInputs, ["stringData"]);
        const tokens = JSON.parse(String((secret.inputs.stringData as Record<string, unknown>)["tokens.json"])) as Record<string, string>;
        assert.ok(Object.keys(tokens).length > 0);
        for (const [variable, value] of Object.entries(tokens))
          assert.deepEqual([variable, value], [variable.match(/^EGRESS_PROXY_TOKEN_\d+$/)?.[0], "[secret]"]);
        return;
      }
      const egress = result.resources.find((r) => r.type === RESOURCE_TYPES.container && r.name === `${bottles[0]}-egress-proxy`)!;
      assert.ok(egress.secretInputs.includes("uploads"));
      assert.deepEqual(
        (egress.inputs.envs as string[]).filter((e) => e.startsWith("EGRESS_PROXY_TOKEN_")),
        [],
      );
      const apply = result.resources.find((r) => r.name === `${bottles[0]}-egress-proxy-config-apply`)!;
      const tokens = JSON.parse(String((apply.inputs.environment as Record<string, unknown>).BOTTLE_TOKENS)) as Record<string, string>;
      assert.ok(Object.keys(tokens).length > 0);
      for (const [variable, value] of Object.entries(tokens))
        assert.deepEqual([variable, value], [variable.match(/^EGRESS_PROXY_TOKEN_\d+$/)?.[0], "[secret]"]);
    });
  }

  test("the text plan lists resources with their parents and the rendered files", async () => {
    const { code, stdout } = await plan("--stack", "dev");
    assert.equal(code, 0);
    assert.match(stdout, /^Plan of stack "dev": 1 bottle, \d+ resources\n/);
    assert.match(stdout, /\n== bottle coder\n/);
    assert.match(stdout, /\n {2}\+ docker:index\/container:Container {2}coder-agent\n/);
    assert.match(stdout, /\n--- routes\.yaml\nversion: 1/);
    assert.doesNotMatch(stdout, /plan-secret-|PRIVATE KEY/);
  });

  test("prod targets its remote Docker engine through an explicit provider", async () => {
    const result = JSON.parse((await plan("--stack", "prod", "--json")).stdout) as PlanJson;
    const provider = result.resources.find((r) => r.type === RESOURCE_TYPES.dockerProvider);
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
    assert.ok(
      forward.includes(`pulumi:providers:docker::docker-deploy-east-example-com-${hash("ssh://deploy@east.example.com")}`),
      forward.join("\n"),
    );
    assert.ok(
      forward.includes(`docker:index/image:Image::egress-proxy-image-deploy-west-example-com-${hash("ssh://deploy@west.example.com")}`),
    );
  });

  describe("--diff <git ref>: how the working tree changes each agent's reach", () => {
    // A copy of the repository's files in a git repository of its own, so the test can commit
    // a "before" and edit an "after" without touching the real one.
    let copy: string;
    const dev = () => path.join(copy, "Pulumi.dev.yaml");
    const diff = async (...extra: string[]) => {
      try {
        const { stdout } = await run(
          process.execPath,
          ["--import", "tsx", "scripts/plan.ts", "--stack", "dev", "--diff", "HEAD", ...extra],
          { cwd: copy },
        );
        return { code: 0, stdout };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout + e.stderr };
      }
    };
    before(async () => {
      copy = copyCheckout("plan-diff-", { linkInstalled: true });
      // The "before": a dev stack of the test's own, so the example stack can change freely.
      fs.writeFileSync(dev(), DEV_BEFORE);
      const git = (...args: string[]) => run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: copy });
      await git("init", "-q");
      fs.appendFileSync(path.join(copy, ".git", "info", "exclude"), "node_modules\npolicy/node_modules\n.tools\n");
      await git("add", "-A");
      await git("commit", "-qm", "before");
    });
    after(() => fs.rmSync(copy, { recursive: true, force: true }));
    // Each test edits the stack from its committed state.
    beforeEach(() => fs.writeFileSync(dev(), DEV_BEFORE));

    test("nothing changed: says so and exits 0", async () => {
      const { code, stdout } = await diff();
      assert.equal(code, 0, stdout);
      assert.match(
        stdout,
        /^Stack "dev", HEAD -> working tree: leaves the agents' reach as it was \(0 widening, 0 narrowing, 0 other changes\)\n$/,
      );
    });

    test("a host directory mounted into the agent widens: exit 3", async () => {
      fs.writeFileSync(
        dev(),
        DEV_BEFORE.replace(
          "agent: { image: node:22-bookworm-slim }",
          "agent: { image: node:22-bookworm-slim, workspace: { hostPath: /home/me/src/app } }",
        ),
      );
      const { code, stdout } = await diff();
      assert.equal(code, 3, stdout);
      assert.match(stdout, /\+ WIDENS +agent: host directories it mounts \+ \/home\/me\/src\/app\n/);
    });

    test("the text plan shows the host directory in the agent's reach", async () => {
      fs.writeFileSync(
        dev(),
        DEV_BEFORE.replace(
          "agent: { image: node:22-bookworm-slim }",
          "agent: { image: node:22-bookworm-slim, workspace: { hostPath: /home/me/src/app } }",
        ),
      );
      const { stdout } = await run(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", "dev"], { cwd: copy });
      assert.match(stdout, /\n {2}host directories the agent mounts \(it can change them\): \/home\/me\/src\/app\nworkloads\n/);
    });

    test("a key the reach does not know in the working tree's plan: refused, naming it, exit 1", async () => {
      const renderer = path.join(copy, "components", "egress-proxy", "routes.ts");
      const original = fs.readFileSync(renderer, "utf8");
      fs.writeFileSync(renderer, original.replace("host: route.host,", 'host: route.host,\n      mirror_to: ["backup.example.com"],'));
      try {
        const { code, stdout } = await diff();
        assert.equal(code, 1, stdout);
        assert.match(
          stdout,
          /^error: the reach diff does not know what these do to the agents' reach, so it cannot judge the change: coder: routes\.yaml routes\[api\.anthropic\.com\]\.mirror_to; /m,
        );
        assert.match(stdout, /Say what each does first \(a route's keys: components\/config\/route-contract\.ts;/);
      } finally {
        fs.writeFileSync(renderer, original);
      }
    });

    test("a new route and a swapped token widen: listed first, exit 3; --json says the same", async () => {
      fs.writeFileSync(
        dev(),
        DEV_BEFORE.replace("token: github }", "token: github-write }")
          .replace("    github:\n", "    github-write:\n")
          .replace("methods: [GET, HEAD] }", "methods: [GET] }\n        - { host: api.example.com, methods: [POST] }"),
      );
      const { code, stdout } = await diff();
      assert.equal(code, 3, stdout);
      assert.equal(
        stdout,
        [
          'Stack "dev", HEAD -> working tree: WIDENS the agents\' reach (2 widening, 1 narrowing, 0 other changes)',
          "",
          "bottle coder",
          "  + WIDENS   route api.github.com: injects token github-write instead of github (in Authorization): check what it grants",
          "  + WIDENS   route api.example.com: new route: ports 80, 443; POST; any path; no credential; pipelock reads all",
          "  - narrows  route pypi.mirror.example.com: methods - HEAD",
          "",
        ].join("\n"),
      );
      const json = await diff("--json");
      assert.equal(json.code, 3);
      assert.deepEqual(JSON.parse(json.stdout).counts, { widens: 2, narrows: 1, changes: 0 });
    });

    test("narrowing only exits 0", async () => {
      fs.writeFileSync(dev(), DEV_BEFORE.replace('paths: ["/repos/acme/", "/user", "/rate_limit"]', 'paths: ["/repos/acme/"]'));
      const { code, stdout } = await diff();
      assert.equal(code, 0, stdout);
      assert.match(
        stdout,
        /narrows the agents' reach \(0 widening, 1 narrowing, 0 other changes\)\n\nbottle coder\n {2}- narrows {2}route api.github.com: paths - \/rate_limit, \/user\n$/,
      );
    });

    test("npm run review: one comment for every stack, the widening one called out; exit 3", async () => {
      fs.writeFileSync(dev(), DEV_BEFORE.replace("methods: [GET, HEAD] }", "methods: [GET, HEAD, POST] }"));
      // Relative, as the README writes it: the policy pack runs elsewhere (npm --prefix policy).
      const out = path.join(copy, "review");
      const result = await run(process.execPath, ["--import", "tsx", "scripts/review.ts", "--base", "HEAD", "--out", "review"], {
        cwd: copy,
      }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
      assert.equal(result.code, 3, result.stdout);
      assert.equal(fs.readFileSync(path.join(out, "widens"), "utf8"), "true\n");
      const comment = fs.readFileSync(path.join(out, "comment.md"), "utf8");
      assert.match(
        comment,
        /^<!-- bot-bottle-review -->\n## bot-bottle review against `HEAD`\n\n\*\*Widens\*\* what agents can reach in dev: review each widening line below\./,
      );
      assert.match(comment, /\| dev \| \*\*widens\*\* \| 0 mandatory, 2 advisory violations \|/);
      assert.match(comment, /\| prod \| HEAD -> working tree: leaves the agents' reach as it was/);
      assert.match(comment, /\+ WIDENS {3}route pypi\.mirror\.example\.com: methods \+ POST/);
      assert.match(comment, /<details><summary>Plan<\/summary>/);
      assert.doesNotMatch(comment, /plan-secret-|PRIVATE KEY/);
    });

    test("npm run review without the policy pack's dependencies says how to install them; exit 2", async () => {
      const link = path.join(copy, "policy", "node_modules");
      fs.rmSync(link);
      try {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "review-"));
        const result = await run(process.execPath, ["--import", "tsx", "scripts/review.ts", "--base", "HEAD", "--out", out], {
          cwd: copy,
        }).then(
          () => ({ code: 0, stderr: "" }),
          (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
        );
        assert.equal(result.code, 2, result.stderr);
        assert.equal(
          result.stderr,
          "error: the policy pack's dependencies are not installed (policy/node_modules/@pulumi/policy is missing): run npm ci (its postinstall installs policy/ too), or npm --prefix policy ci\n",
        );
        assert.equal(fs.existsSync(path.join(out, "comment.md")), false);
      } finally {
        fs.symlinkSync(path.join(ROOT, "policy", "node_modules"), link, "dir");
      }
    });

    test("a ref that is not a commit is an error that says how to get it", async () => {
      const { code, stdout } = await run(
        process.execPath,
        ["--import", "tsx", "scripts/plan.ts", "--stack", "dev", "--diff", "origin/nope"],
        { cwd: copy },
      ).then(
        () => ({ code: 0, stdout: "" }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stdout: e.stderr }),
      );
      assert.equal(code, 1);
      assert.match(stdout, /error: "origin\/nope" is not a commit here \(fetch it first/);
    });
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

  /** A stack file with `text` in a directory of its own. */
  const stackFile = (stack: string, text: string) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plan-")), `Pulumi.${stack}.yaml`);
    fs.writeFileSync(file, text);
    return file;
  };

  test("a stack file that is not valid YAML: file, line and column, and no stack trace", async () => {
    const file = stackFile(
      "broken",
      "config:\n  bot-bottle:bottles:\n    - name: coder\n      routes: [ {host: a.example.com}\n  foo: bar\n",
    );
    const { code, stderr } = await plan("--stack", "broken", "--file", file);
    assert.equal(code, 1);
    assert.equal(stderr, `error: ${file}:5:3: Flow sequence in block collection must be sufficiently indented and end with a ] (YAML)\n`);
  });

  test("a misspelt config key: the nearest valid one is suggested", async () => {
    const file = stackFile(
      "typo",
      "config:\n  bot-bottle:botles: []\n  bot-bottle:bottles:\n    - name: coder\n      routes: [{ host: a.example.com, method: [GET] }]\n",
    );
    const { code, stderr } = await plan("--stack", "typo", "--file", file);
    assert.equal(code, 1);
    assert.match(stderr, /bot-bottle:botles: unknown config key \(did you mean bot-bottle:bottles\?\)/);
    assert.match(stderr, /bottles\[0\]\.routes\[0\]\.method: unknown key \(did you mean "methods"\?\)/);
  });

  test("an unknown stack names the stacks there are", async () => {
    const { code, stderr } = await plan("--stack", "nope");
    assert.equal(code, 1);
    assert.match(stderr, /no stack file .*Pulumi\.nope\.yaml; stacks here: cluster, dev, prod, staging/);
  });
});
