/**
 * Tier 4, bot-bottle as a package others install: the packed tarball (scripts/package/build)
 * is installed by a separate TypeScript program, which deploys a bottle with the real engine
 * (the egress-proxy image built from the installed package) and destroys it; and a Pulumi
 * YAML program previews a bottle from the same package, the component's schema inferred from
 * its TypeScript (PulumiPlugin.yaml).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { labelled } from "./support/docker";
import { mustRun, REPO_ROOT } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail, TestStack } from "./support/stack";
import { TEST_TOKENS } from "./support/tokens";

const CONSUMERS = path.join(__dirname, "consumers");
const rootPackage = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The consumer's own dependencies, at the versions this repository pins. */
const pinned = (...names: string[]) =>
  Object.fromEntries(names.map((n) => [n, rootPackage.dependencies[n] ?? rootPackage.devDependencies[n]!]));

/**
 * Pulumi installs the plugins a component package needs before it runs it, from Pulumi's
 * plugin site. This machine has none: the providers on PATH (the toolchain bundle) are
 * registered in a Pulumi home of this test's own, under the versions the package's SDKs ask
 * for. Where the plugin site is reachable, Pulumi downloads them instead.
 */
async function pulumiHomeWithPlugins(home: string, packageDir: string): Promise<void> {
  for (const sdk of ["docker", "tls", "command"]) {
    const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, "node_modules", "@pulumi", sdk, "package.json"), "utf8"));
    const version = (manifest.pulumi as { version: string }).version;
    const binary = (await mustRun(["sh", "-c", `command -v pulumi-resource-${sdk}`])).trim();
    await mustRun(["pulumi", "plugin", "install", "resource", sdk, version, "--file", binary], { env: { ...process.env, PULUMI_HOME: home } });
  }
}

/**
 * Without wheels, the image build downloads the pinned, hash-checked packages from the package
 * index. Containers here cannot: this machine reaches the index only through a TLS-intercepting
 * proxy whose CA they do not trust. So the same files, downloaded and hash-checked on the host
 * by scripts/egress-proxy/build-image, go where the Dockerfile looks first, as a user without
 * index access would put them.
 */
function provideWheels(into: string): void {
  const from = path.join(REPO_ROOT, "components", "egress-proxy", "image", "wheels");
  const wheels = fs.existsSync(from) ? fs.readdirSync(from).filter((f) => f.endsWith(".whl")) : [];
  assert.ok(wheels.length > 0, `no wheels in ${from}: run scripts/egress-proxy/build-image first (scripts/test does)`);
  for (const wheel of wheels) fs.copyFileSync(path.join(from, wheel), path.join(into, wheel));
}

describe("the packed package, installed and used by other programs", () => {
  const { workDir, images } = e2eRun();
  const base = path.join(workDir, "package");
  const stacks: TestStack[] = [];
  let tarball: string;
  let installed: string;

  before(async () => {
    fs.mkdirSync(base, { recursive: true });
    tarball = (await mustRun([path.join(REPO_ROOT, "scripts", "package", "build"), base], { timeoutMs: 300_000 })).trim().split("\n").at(-1)!;
    // The package as a component plugin: unpacked, with its dependencies (Pulumi YAML runs it).
    installed = path.join(base, "plugin");
    fs.mkdirSync(installed, { recursive: true });
    await mustRun(["tar", "-xzf", tarball, "-C", installed, "--strip-components=1"]);
    await mustRun(["npm", "install", "--no-audit", "--no-fund", "--silent"], { cwd: installed, timeoutMs: 600_000 });
  });

  after(async () => {
    for (const stack of stacks) await stack.remove();
  });

  it("the tarball holds compiled JavaScript, declarations, the image's build context and the plugin manifest, and no wheels", async () => {
    const files = (await mustRun(["tar", "-tzf", tarball])).split("\n");
    for (const file of ["dist/index.js", "dist/index.d.ts", "dist/egress-proxy/image/Dockerfile", "dist/egress-proxy/image/egress_routes.py", "dist/agent/image/Dockerfile", "dist/agent/image/package-lock.json", "dist/docker/self-test/self-test.sh", "dist/docker/live-config/live-config.sh", "PulumiPlugin.yaml", "index.ts", "package.json"]) {
      assert.ok(files.includes(`package/${file}`), `${file} missing from ${path.basename(tarball)}`);
    }
    assert.deepEqual(files.filter((f) => f.endsWith(".whl") || /(^|\/)(test|node_modules|_cacache)\//.test(f)), []);
  });

  it("a TypeScript program installs the tarball, deploys a bottle with it (image built from the installed package) and destroys it", async () => {
    const dir = path.join(base, "consumer-ts");
    fs.mkdirSync(dir, { recursive: true });
    for (const file of ["index.ts", "Pulumi.yaml", "tsconfig.json"]) fs.copyFileSync(path.join(CONSUMERS, "typescript", file), path.join(dir, file));
    fs.writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({ name: "bottle-consumer-ts", private: true, dependencies: { "bot-bottle": `file:${tarball}`, ...pinned("@pulumi/pulumi", "typescript", "ts-node", "@types/node") } }, null, 2),
    );
    await mustRun(["npm", "install", "--no-audit", "--no-fund", "--silent"], { cwd: dir, timeoutMs: 600_000 });
    provideWheels(path.join(dir, "node_modules", "bot-bottle", "dist", "egress-proxy", "image", "wheels"));
    // One Pulumi SDK: the package's peer is the program's own (a second copy breaks resource registration).
    assert.equal(fs.existsSync(path.join(dir, "node_modules", "bot-bottle", "node_modules", "@pulumi", "pulumi")), false);

    const stack = await TestStack.create("consumer-ts", undefined, {}, { dir });
    stacks.push(stack);
    await stack.setConfig({ agentImage: images.probe, pipelockImage: images.pipelock });
    await stack.setSecret("githubToken", TEST_TOKENS.github);
    const up = await stack.up();
    assert.ok(up.ok, tail(up.output));
    assert.match(up.output, /solo-self-test.*bot-bottle self-test: ok/);
    console.log(`# figure: consumer program up (package install done, image built from the package): ${up.seconds.toFixed(1)} s`);

    const outputs = await stack.outputs();
    assert.equal(outputs.proxyUrl, "http://egress-proxy:9099");
    assert.match(String(outputs.routesYaml), /token_env: EGRESS_PROXY_TOKEN_0/);
    const state = JSON.parse(await stack.exportState()) as { deployment: { resources: { type: string; inputs?: { build?: { context?: string } } }[] } };
    const image = state.deployment.resources.find((r) => r.type === "docker:index/image:Image");
    assert.equal(image?.inputs?.build?.context, "node_modules/bot-bottle/dist/egress-proxy/image");
    const running = await mustRun(["docker", "ps", "--filter", `label=bot-bottle.stack=${stack.name}`, "--format", "{{.Label \"bot-bottle.role\"}} {{.Names}}"]);
    const byRole = running.split("\n").filter(Boolean).sort().map((line) => line.split(" "));
    // pipelock-bulk: the route's GETs take the bulk lane (the default).
    assert.deepEqual(byRole.map(([role]) => role), ["agent", "egress-proxy", "pipelock", "pipelock-bulk"]);
    assert.equal(byRole[0]![1], `${stack.name}-solo-agent`);
    // The gates' names are Pulumi's: <resource>-<random>.
    assert.match(byRole[1]![1]!, /^solo-egress-proxy-[a-z0-9]{7}$/);
    assert.match(byRole[2]![1]!, /^solo-pipelock-[a-z0-9]{7}$/);
    assert.match(byRole[3]![1]!, /^solo-pipelock-bulk-[a-z0-9]{7}$/);

    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, tail(destroyed.output));
    assert.deepEqual(await labelled(stack.name), []);
  });

  describe("Pulumi YAML", () => {
    let dir: string;
    let yaml: TestStack;

    before(async () => {
      dir = path.join(base, "consumer-yaml");
      fs.mkdirSync(dir, { recursive: true });
      const project = fs.readFileSync(path.join(CONSUMERS, "yaml", "Pulumi.yaml"), "utf8").replace("PACKAGE_DIR", installed);
      fs.writeFileSync(path.join(dir, "Pulumi.yaml"), project);
      const home = path.join(base, "pulumi-home");
      await pulumiHomeWithPlugins(home, installed);
      yaml = await TestStack.create("consumer-yaml", undefined, {}, { dir, pulumiHome: home });
      stacks.push(yaml);
    });

    it("previews a bottle declared in YAML: the component's schema and its nested arguments come from the package", async () => {
      await yaml.setConfig({ pipelockImage: images.pipelock, host: "pypi.mirror.example.com" });
      const preview = await yaml.preview();
      assert.ok(preview.ok, tail(preview.output));
      const created = [...preview.steps].filter(([, op]) => op === "create").map(([urn]) => urn);
      for (const expected of ["bot-bottle:index:BottleStack::gate", "docker:index/container:Container::gate-egress-proxy", "docker:index/container:Container::gate-pipelock", "docker:index/network:Network::gate-agent-net"]) {
        assert.ok(created.includes(expected), `${expected} not in the preview: ${created.join(", ")}`);
      }
      assert.match(preview.output, /host\s*: "pypi\.mirror\.example\.com"/);
    });

    it("a mistake in the YAML is reported with its path and how to fix it, without a stack trace", async () => {
      await yaml.setConfig({ pipelockImage: images.pipelock, host: "*" });
      const preview = await yaml.preview();
      assert.equal(preview.ok, false);
      assert.match(preview.output, /BottleStack "gate" has invalid arguments:\s+routes\[0\]\.host: a bare "\*" would allow every host/);
      assert.doesNotMatch(preview.output, /\n\s+at .+\.js:\d+/, "no stack trace");
    });
  });
});
