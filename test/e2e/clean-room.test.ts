/**
 * Tier 4, the README as a newcomer meets it. A copy of the checkout (what a fresh clone holds,
 * nothing installed), an empty HOME, and the README's own code blocks, extracted from README.md
 * (test/support/readme-blocks.ts: every block is marked `run <step>` or `skip <why>`), run in
 * the order a newcomer takes them: the dev stack up on an engine that reaches no container
 * registry (pipelock built from its source), the bottle seen from outside, a refusal turned into
 * a reviewed route, a token set, the preview with the policy pack, the plan, the reach diff and
 * the review, destroy; then the package built and used from TypeScript, YAML and Python.
 *
 * What the clean room fills in, and nothing else (asRun): the placeholders a reader fills in
 * (`NAME=...`, `/path/to/...`), the example stack's name (`dev` is a stack of this run's own:
 * the engine is shared), the pipelock image's tag (the same reason), and `--yes` where Pulumi
 * asks a terminal to confirm. What the machine provides, as a user's would: its network settings
 * (proxy and CA bundle variables), Node 22, npm, git, Go, Docker, Python 3 and a Pulumi CLI with
 * its providers on PATH (where no plugin site is
 * reachable, the providers installed from those files, as the README says), a Pulumi backend and
 * passphrase for the consumers' own programs, and npm's, pip's and Go's download caches (only
 * downloads, each checked against its lock file or hash).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseDocument } from "yaml";
import { copyCheckout } from "../support/checkout-copy";
import { asRun, type CleanRoomValues, type ReadmeBlock, readmeBlocks } from "../support/readme-blocks";
import { labelled } from "./support/docker";
import { pulumiHomeWithPlugins } from "./support/plugins";
import { commandPath, mustRun, REPO_ROOT, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { tail } from "./support/stack";
import { ROTATED_GITHUB_TOKEN, TEST_TOKENS } from "./support/tokens";

const blocks = readmeBlocks(fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8"));
const blockOf = (step: string): ReadmeBlock => {
  const block = blocks.run.find((b) => b.step === step);
  assert.ok(block, `README.md has no block marked "<!-- clean-room: run ${step} -->"`);
  return block;
};

/**
 * A reader's terminal: blocks run one after another in it, each where the last one left off
 * (its directory, what it exported), as a reader who types them in order would.
 */
class Session {
  private readonly state: string;
  constructor(
    readonly name: string,
    private cwd: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly values: CleanRoomValues,
  ) {
    this.state = fs.mkdtempSync(path.join(os.tmpdir(), `clean-room-${name}-`));
  }

  /** Runs a shell block (bash -euo pipefail); its directory and exports carry to the next block. */
  async run(step: string, timeoutMs = 900_000) {
    const block = blockOf(step);
    assert.equal(block.lang, "sh", `block "${step}" (README.md line ${block.line}) is ${block.lang}, not sh`);
    const exported = JSON.stringify(path.join(this.state, "env"));
    const where = path.join(this.state, "cwd");
    const script = [
      `trap 'export -p > ${exported}; pwd > ${JSON.stringify(where)}' EXIT`,
      `if [ -f ${exported} ]; then source ${exported}; fi`,
      asRun(block.text, this.values),
    ].join("\n");
    const started = Date.now();
    const r = await run(["bash", "-euo", "pipefail", "-c", script], { cwd: this.cwd, env: this.env, timeoutMs });
    if (fs.existsSync(where)) this.cwd = fs.readFileSync(where, "utf8").trim();
    console.log(
      `# figure: README block "${step}" (line ${block.line}, ${this.name}): exit ${r.code} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return { code: r.code, output: `${r.stdout}${r.stderr}` };
  }

  /** Writes a block (a program) as `file` where the session is. */
  write(step: string, file: string): void {
    fs.writeFileSync(path.join(this.cwd, file), blockOf(step).text);
  }

  close(): void {
    fs.rmSync(this.state, { recursive: true, force: true });
  }
}

/** The machine's network settings, which every user's environment carries. */
const NETWORK_SETTINGS =
  /^((https?|no|all)_proxy|(HTTPS?|NO|ALL)_PROXY|NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR)|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE|GIT_SSL_CAINFO|PIP_(CERT|INDEX_URL|EXTRA_INDEX_URL|TRUSTED_HOST|DEFAULT_TIMEOUT))$/;

describe("the README's blocks, run as written from a fresh checkout with an empty HOME", () => {
  const { id, workDir, passphrase } = e2eRun();
  const room = path.join(workDir, "clean-room");
  const home = path.join(room, "home");
  const checkout = path.join(room, "bot-bottle");
  const stack = `e2e-${id}-readme`;
  const stackFile = path.join(checkout, `Pulumi.${stack}.yaml`);
  const tarball = path.join(checkout, "dist", "bot-bottle-0.2.0.tgz");
  const pipelockTag = `bot-bottle-test/pipelock-source:${id}`;
  const values: CleanRoomValues = {
    variables: {
      PULUMI_CONFIG_PASSPHRASE: passphrase,
      BOT_BOTTLE_TOKEN_ANTHROPIC: TEST_TOKENS.anthropic,
      BOT_BOTTLE_TOKEN_GITHUB: TEST_TOKENS.github,
    },
    paths: {
      "/path/to/pipelock-2.3.0-src.tar.gz": process.env.PIPELOCK_SOURCE ?? "",
      "/path/to/bot-bottle-0.2.0.tgz": tarball,
    },
    stack,
    names: { "bot-bottle/pipelock:2.3.0-source": pipelockTag },
  };
  /** The reader's terminal in the checkout. */
  let repository: Session;
  /** A terminal beside the checkout, per consumer: a backend and passphrase of their own, the token they pass. */
  let consumer: (name: string) => Session;
  const sessions: Session[] = [];

  before(async () => {
    assert.ok(
      process.env.PIPELOCK_SOURCE,
      "PIPELOCK_SOURCE is needed: the README builds pipelock's image from it where no registry is reachable",
    );
    fs.mkdirSync(home, { recursive: true });
    copyCheckout("", { git: true, into: checkout });
    // A fresh clone has its remote's branch: the README diffs against origin/main.
    await mustRun(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], { cwd: checkout });
    // The README's stack, under this run's own name (the Docker engine is shared).
    fs.copyFileSync(path.join(checkout, "Pulumi.dev.yaml"), stackFile);
    fs.appendFileSync(path.join(workDir, "stacks.txt"), `${stack}\n`);

    const pathDirs = new Set([
      path.dirname(process.execPath),
      path.dirname(await commandPath("pulumi")),
      path.dirname(await commandPath("pulumi-resource-docker")),
      path.dirname(await commandPath("go")),
    ]);
    // The package names the Kubernetes provider too: the consumers' previews register it.
    pathDirs.add(path.dirname(await commandPath("pulumi-resource-kubernetes")));
    const caches = path.join(os.homedir(), ".cache");
    // The machine's own network settings (a proxy, the CA bundle it trusts), as any user's.
    const network = Object.fromEntries(Object.entries(process.env).filter(([name]) => NETWORK_SETTINGS.test(name)));
    const env: NodeJS.ProcessEnv = {
      ...network,
      HOME: home,
      PATH: [...pathDirs, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":"),
      LANG: "C.UTF-8",
      PULUMI_SKIP_UPDATE_CHECK: "1",
      ...(process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION && {
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION,
      }),
      ...(process.env.DOCKER_HOST && { DOCKER_HOST: process.env.DOCKER_HOST }),
      // Download caches only: what they hold is checked against the lock files and hashes.
      npm_config_cache: process.env.npm_config_cache ?? path.join(os.homedir(), ".npm"),
      PIP_CACHE_DIR: path.join(caches, "pip"),
      BOT_BOTTLE_CACHE: process.env.BOT_BOTTLE_CACHE ?? path.join(caches, "bot-bottle"),
      GOCACHE: (await mustRun(["go", "env", "GOCACHE"])).trim(),
      GOMODCACHE: (await mustRun(["go", "env", "GOMODCACHE"])).trim(),
      GITHUB_TOKEN: ROTATED_GITHUB_TOKEN,
    };
    fs.mkdirSync(path.join(room, "consumers-state"));
    const consumerEnv = {
      ...env,
      PULUMI_BACKEND_URL: `file://${path.join(room, "consumers-state")}`,
      PULUMI_CONFIG_PASSPHRASE: passphrase,
      GITHUB_TOKEN: TEST_TOKENS.github,
    };
    const open = (session: Session) => {
      sessions.push(session);
      return session;
    };
    repository = open(new Session("repository", checkout, env, values));
    consumer = (name) => open(new Session(name, room, consumerEnv, values));
  });

  after(async () => {
    for (const session of sessions) session.close();
    // What the steps made that outlives a failed step: the stack's objects (run.ts removes them
    // too), and the images this run tagged.
    for (const image of [pipelockTag, `bot-bottle/egress-proxy:${stack}`, `bot-bottle/agent:${stack}`]) {
      if ((await run(["docker", "image", "inspect", image])).code === 0) await mustRun(["docker", "rmi", image]);
    }
  });

  it("every code block of the README is marked run or skip (with why), and each step named here exists", () => {
    assert.deepEqual(blocks.problems, []);
    const steps = [
      "pipelock-image",
      "up",
      "status",
      "refusal",
      "token",
      "review",
      "destroy",
      "package",
      "ts-project",
      "ts-program",
      "ts-preview",
      "unpack",
      "yaml-project",
      "yaml-program",
      "yaml-preview",
      "python-project",
      "python-program",
      "python-preview",
    ];
    assert.deepEqual(blocks.run.map((b) => b.step).sort(), [...steps].sort());
  });

  describe("the dev stack, on an engine that reaches no container registry", () => {
    it("pipelock's image built from its source, and named on each bottle as the README says", async () => {
      const r = await repository.run("pipelock-image");
      assert.equal(r.code, 0, tail(r.output));
      const document = parseDocument(fs.readFileSync(stackFile, "utf8"));
      const bottles = document.getIn(["config", "bot-bottle:bottles"]) as { items: unknown[] };
      for (const i of bottles.items.keys()) document.setIn(["config", "bot-bottle:bottles", i, "pipelock", "image"], pipelockTag);
      fs.writeFileSync(stackFile, document.toString());
    });

    it("scripts/up: everything installed by the scripts, the bottle up and self-tested; the stack file untouched", async () => {
      const before = fs.readFileSync(stackFile);
      const r = await repository.run("up", 1_800_000);
      assert.equal(r.code, 0, tail(r.output));
      assert.match(r.output, /bot-bottle self-test: ok/);
      assert.deepEqual(fs.readFileSync(stackFile), before, "scripts/up must not write the tracked stack file");
      assert.doesNotMatch(r.output, new RegExp(`${TEST_TOKENS.github}|${TEST_TOKENS.anthropic}`));
    });

    it("npm run bottle: status and the gates' logs", async () => {
      const r = await repository.run("status");
      assert.equal(r.code, 0, tail(r.output));
      assert.match(r.output, /self-test/);
    });

    it("a refusal, as the agent sees it, turned by blocked into a reviewed route, applied by up without replacing anything", async () => {
      const r = await repository.run("refusal", 1_800_000);
      assert.equal(r.code, 0, tail(r.output));
      assert.match(
        r.output,
        new RegExp(
          `egress-proxy: host not in allowlist: registry\\.example\\.com \\(to allow it, a human runs: npm run bottle -- blocked ${stack} coder --suggest\\)`,
        ),
      );
      assert.match(fs.readFileSync(stackFile, "utf8"), /host: registry\.example\.com/);
      assert.doesNotMatch(r.output, /to replace|replaced|\+-/, "a new route is live configuration: nothing is replaced");
    });

    it("a token set on stdin; the preview with the policy pack shows it as the one change, and the plans and the review run", async () => {
      const token = await repository.run("token");
      assert.equal(token.code, 0, tail(token.output));
      const r = await repository.run("review");
      // The review's exit: 3, the clean room's stack is new to origin/main (it widens).
      assert.equal(r.code, 3, tail(r.output));
      // A token rotation is the egress proxy's live configuration: one command updated, nothing else.
      assert.match(r.output, /command:local:Command::coder-egress-proxy-config-apply/);
      assert.match(r.output, /Resources:\s+~ 1 to update\s+\d+ unchanged/);
      assert.doesNotMatch(r.output, /to (replace|create|delete)/);
      assert.match(r.output, /Plan of stack "e2e-[0-9a-f]+-readme": 1 bottle/);
      assert.match(
        fs.readFileSync(path.join(checkout, "review", "comment.md"), "utf8"),
        new RegExp(`\\*\\*Widens\\*\\* what agents can reach in ${stack}`),
      );
      assert.doesNotMatch(r.output, new RegExp(`${ROTATED_GITHUB_TOKEN}|${TEST_TOKENS.github}`));
    });

    it("destroy: nothing of the stack is left on the engine but the kept workspace", async () => {
      const r = await repository.run("destroy");
      assert.equal(r.code, 0, tail(r.output));
      assert.deepEqual(await labelled(stack), [`volume ${stack}-coder-workspace`]);
    });
  });

  describe("the package, from TypeScript, YAML and Python", () => {
    it("built in the checkout", async () => {
      const r = await repository.run("package");
      assert.equal(r.code, 0, tail(r.output));
      assert.ok(fs.existsSync(tarball), `${tarball} was not made:\n${tail(r.output)}`);
    });

    /** A consumer's three steps: its project set up, its program written, its preview. */
    async function previewConsumer(name: string, steps: { project: string; program: string; file: string; preview: string }) {
      const session = consumer(name);
      const setUp = await session.run(steps.project);
      assert.equal(setUp.code, 0, tail(setUp.output));
      session.write(steps.program, steps.file);
      const preview = await session.run(steps.preview);
      assert.equal(preview.code, 0, tail(preview.output));
      assert.doesNotMatch(preview.output, new RegExp(TEST_TOKENS.github));
      return preview.output;
    }

    it("a TypeScript program installs it and previews a bottle", async () => {
      const output = await previewConsumer("typescript", {
        project: "ts-project",
        program: "ts-program",
        file: "index.ts",
        preview: "ts-preview",
      });
      assert.match(output, /\+ {2}bot-bottle:index:BottleStack reviewer create/);
    });

    it("unpacked, its providers installed from files (no plugin site here), a YAML program previews a bottle", async () => {
      const r = await consumer("package").run("unpack");
      assert.equal(r.code, 0, tail(r.output));
      // The README's way where Pulumi's plugin site is out of reach: each provider from its file,
      // at the version the package's SDK names.
      await pulumiHomeWithPlugins(path.join(home, ".pulumi"), path.join(room, "bot-bottle-package"));
      const output = await previewConsumer("yaml", {
        project: "yaml-project",
        program: "yaml-program",
        file: "Pulumi.yaml",
        preview: "yaml-preview",
      });
      assert.match(output, /\+ {2}bot-bottle:index:BottleStack gate create/);
    });

    it("a Python program generates its SDK with pulumi package add and previews a bottle", async () => {
      const output = await previewConsumer("python", {
        project: "python-project",
        program: "python-program",
        file: "__main__.py",
        preview: "python-preview",
      });
      assert.match(output, /\+ {2}bot-bottle:index:BottleStack reviewer create/);
    });
  });
});
