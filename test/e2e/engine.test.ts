/**
 * Tier 4, what only the real engine can show, on stack `life` (stacks.ts): the policy pack on
 * a fresh and on a deployed stack, secrets at rest (state, history, backups, `stack export`,
 * CLI output) after `up` and after a token rotation, the blast radius of route and token
 * changes from the engine's own diff, drift found by `refresh`, and what `destroy` leaves.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { exec, mustRun, run } from "./support/process";
import { containerOf, labelled } from "./support/docker";
import { type OpResult, tail, TestStack } from "./support/stack";
import { ROTATED_GITHUB_TOKEN, TEST_TOKENS } from "./support/tokens";
import { lifecycleStack } from "./stacks";

/** Every file under `dir`, with its path. */
function filesUnder(dir: string): { file: string; text: string }[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).flatMap((entry) => {
    if (!entry.isFile()) return [];
    const file = path.join(entry.parentPath, entry.name);
    return [{ file, text: fs.readFileSync(file).toString("latin1") }];
  });
}

/** The base64 body lines of the PEM private key in `text`: any of them in a file means the key leaked. */
function keyLines(text: string): string[] {
  const block = /-----BEGIN [A-Z ]*PRIVATE KEY-----\n([\s\S]*?)-----END [A-Z ]*PRIVATE KEY-----/.exec(text);
  assert.ok(block, "a PEM private key");
  return block[1]!.split("\n").filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line));
}

/** One file out of a container through `docker cp` (works on images without a shell). */
async function fileOf(container: string, file: string): Promise<string> {
  const tar = await run(["docker", "cp", `${container}:${file}`, "-"]);
  assert.equal(tar.code, 0, tar.stderr);
  return tar.stdout;
}

describe("the real engine: policy, secrets at rest, blast radius, drift, destroy", () => {
  let stack: TestStack;
  let freshPolicy: OpResult;
  const outputs: string[] = [];
  const containers = async (s: TestStack) => ({
    agent: `${s.name}-solo-agent`,
    egressProxy: await containerOf(s.name, "solo", "egress-proxy"),
    pipelock: await containerOf(s.name, "solo", "pipelock"),
  });

  /** Fails naming the file if a secret appears anywhere the engine or the CLI wrote. */
  async function assertNoSecretsAtRest(secrets: Record<string, string>): Promise<void> {
    const places = [
      ...filesUnder(TestStack.backendDir),
      { file: "pulumi stack export", text: await stack.exportState() },
      ...outputs.map((text, i) => ({ file: `CLI output #${i + 1}`, text })),
    ];
    for (const [what, secret] of Object.entries(secrets)) {
      const found = places.filter((p) => p.text.includes(secret)).map((p) => p.file);
      assert.deepEqual(found, [], `${what} found in plaintext`);
    }
    const pems = places.filter((p) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(p.text)).map((p) => p.file);
    assert.deepEqual(pems, [], "a PEM private key in plaintext");
  }

  /** The CA private keys the bottle's containers hold, as the lines that would show in a leak. */
  async function caKeys(): Promise<Record<string, string>> {
    const { egressProxy, pipelock } = await containers(stack);
    const egressKey = keyLines(await fileOf(egressProxy, "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem"));
    const pipelockKey = keyLines(await fileOf(pipelock, "/etc/pipelock/ca-key.pem"));
    assert.ok(egressKey.length > 5 && pipelockKey.length > 0, "both CA keys were read from the containers");
    return Object.fromEntries([
      ...egressKey.map((line, i) => [`egress-proxy CA key line ${i}`, line]),
      ...pipelockKey.map((line, i) => [`pipelock CA key line ${i}`, line]),
    ]);
  }

  before(async () => {
    stack = await TestStack.create("life", lifecycleStack(), { github: TEST_TOKENS.github });
    freshPolicy = await stack.preview({ policyPack: true });
    outputs.push(freshPolicy.output);
    const up = await stack.up();
    outputs.push(up.output);
    assert.ok(up.ok, `up failed:\n${tail(up.output)}`);
    console.log(
      `# figure: pulumi up, stack life (1 bottle, 4 containers, egress-proxy image built by the program): ${up.seconds.toFixed(1)} s`,
    );
  });

  after(async () => {
    await stack?.remove();
  });

  describe("the policy pack in pulumi preview", () => {
    it("passes on a fresh stack", () => {
      assert.ok(freshPolicy.ok, tail(freshPolicy.output));
      assert.doesNotMatch(freshPolicy.output, /\[mandatory\]/);
    });

    it("passes on the deployed stack (it reads declared inputs, not provider-filled outputs)", async () => {
      const deployed = await stack.preview({ policyPack: true });
      outputs.push(deployed.output);
      assert.ok(deployed.ok, tail(deployed.output));
      assert.doesNotMatch(deployed.output, /\[mandatory\]/);
      assert.match(deployed.output, /bot-bottle@v/, "the pack ran");
    });
  });

  describe("secrets at rest", () => {
    it("after up: no token and no CA private key in the backend (history and backups), the export or CLI output", async () => {
      await assertNoSecretsAtRest({ "the github token": TEST_TOKENS.github, ...(await caKeys()) });
    });
  });

  describe("blast radius, from the engine's own preview", () => {
    // Routes and tokens are live configuration: no container (gates included) and no CA changes.
    const unchanged = (steps: Map<string, string>) =>
      [...steps].filter(([urn, op]) => op !== "same" && (urn.startsWith("docker:index/container:Container::") || urn.startsWith("tls:")));
    const changed = (steps: Map<string, string>) =>
      [...steps]
        .filter(([, op]) => op !== "same")
        .map(([urn, op]) => `${op} ${urn}`)
        .sort();

    for (const [what, change] of [
      ["adding a path", { extraPath: true }],
      ["adding a route", { extraRoute: true }],
    ] as const) {
      it(`${what} replaces no container and no CA: the gates' live config is updated`, async () => {
        stack.writeConfig(lifecycleStack(change));
        try {
          const preview = await stack.preview();
          outputs.push(preview.output);
          assert.ok(preview.ok, tail(preview.output));
          assert.deepEqual(unchanged(preview.steps), []);
          assert.ok(
            changed(preview.steps).some((step) => step.startsWith("update command:local:Command::solo-egress-proxy-config-apply")),
            changed(preview.steps).join("\n"),
          );
          console.log(`# blast radius of ${what}: ${changed(preview.steps).join(", ")}`);
        } finally {
          stack.writeConfig(lifecycleStack());
        }
      });
    }

    it("rotating a token replaces no container and no CA; after up, the new token is in force and nothing is at rest", async () => {
      await stack.setToken("github", ROTATED_GITHUB_TOKEN);
      const preview = await stack.preview();
      outputs.push(preview.output);
      assert.ok(preview.ok, tail(preview.output));
      assert.deepEqual(unchanged(preview.steps), []);
      console.log(`# blast radius of rotating a token: ${changed(preview.steps).join(", ")}`);

      const agentBefore = (await mustRun(["docker", "inspect", "-f", "{{.Id}}", (await containers(stack)).agent])).trim();
      const up = await stack.up();
      outputs.push(up.output);
      assert.ok(up.ok, tail(up.output));
      console.log(`# figure: pulumi up of a token rotation: ${up.seconds.toFixed(1)} s`);
      assert.equal(
        (await mustRun(["docker", "inspect", "-f", "{{.Id}}", (await containers(stack)).agent])).trim(),
        agentBefore,
        "the agent was not replaced",
      );
      const uid = (await mustRun(["docker", "inspect", "-f", "{{.Config.User}}", (await containers(stack)).egressProxy])).trim();
      // In the egress proxy's tokens file (its uid's only), and in no container's environment.
      const inFile =
        "import sys; s=sys.stdin.buffer.read().strip(); print(s in open('/etc/egress-proxy/live/current/tokens.json','rb').read(), s in open('/proc/1/environ','rb').read())";
      const rotated = await exec((await containers(stack)).egressProxy, ["/opt/venv/bin/python", "-c", inFile], {
        user: uid,
        input: ROTATED_GITHUB_TOKEN,
      });
      assert.equal(rotated.stdout.trim(), "True False", rotated.stderr);
      await assertNoSecretsAtRest({
        "the old github token": TEST_TOKENS.github,
        "the new github token": ROTATED_GITHUB_TOKEN,
        ...(await caKeys()),
      });
    });
  });

  describe("drift", () => {
    it("refresh finds nothing after up, finds an agent stopped by hand, and the next up starts it again", async () => {
      const clean = await stack.refresh();
      outputs.push(clean.output);
      assert.ok(clean.ok, tail(clean.output));
      assert.deepEqual(Object.keys(clean.changes), ["same"], JSON.stringify(clean.changes));

      const { agent } = await containers(stack);
      const id = (await mustRun(["docker", "inspect", "-f", "{{.Id}}", agent])).trim();
      await mustRun(["docker", "stop", agent]);
      const drifted = await stack.refresh();
      outputs.push(drifted.output);
      assert.ok(drifted.ok, tail(drifted.output));
      // The provider records a stopped container as `mustRun: false`: an update to undo.
      assert.equal(drifted.changes.update, 1, `refresh saw no drift: ${JSON.stringify(drifted.changes)}`);
      assert.match(drifted.output, /~ +docker:index:Container solo-agent/);
      console.log(`# drift after stopping the agent by hand: refresh reports ${JSON.stringify(drifted.changes)}`);

      const repaired = await stack.up();
      outputs.push(repaired.output);
      assert.ok(repaired.ok, tail(repaired.output));
      assert.deepEqual(repaired.changes, { same: repaired.changes.same, update: 1 }, tail(repaired.output));
      const after = (await mustRun(["docker", "inspect", "-f", "{{.Id}} {{.State.Status}}", agent])).trim();
      assert.equal(after, `${id} running`, "the same agent container runs again (updated in place, not replaced)");
    });
  });

  describe("destroy", () => {
    it("removes every labelled container, network and volume; a second destroy is a no-op", async () => {
      const first = await stack.destroy();
      outputs.push(first.output);
      assert.ok(first.ok, tail(first.output));
      assert.deepEqual(await labelled(stack.name), []);
      const second = await stack.destroy();
      assert.ok(second.ok, tail(second.output));
      assert.deepEqual(
        Object.keys(second.changes).filter((k) => k !== "same"),
        [],
        JSON.stringify(second.changes),
      );
      console.log(`# figure: pulumi destroy, stack life: ${first.seconds.toFixed(1)} s`);
    });
  });
});
