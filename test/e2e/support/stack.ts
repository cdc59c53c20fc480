/**
 * A test stack of the REAL program (infra/index.ts), driven through Pulumi's Automation API
 * with the real CLI and providers: `up`, `preview`, `refresh`, `destroy`, `stack export`.
 *
 * The run's project directory holds the repository's Pulumi.yaml with `main` pointing at the
 * program, and the stack files, exactly as a user's checkout holds them: the program runs as
 * it does for `pulumi up` there, and the repository's own stack files are never touched.
 * Isolation: every stack of a run is named `e2e-<run>-<name>` (so its Docker objects are
 * `e2e-<run>-<name>-<bottle>-<role>`), lives in the run's own file backend with a passphrase
 * made for the run, and uses a private PULUMI_HOME: a user's own login and stacks are never
 * touched.
 */
import assert from "node:assert/strict";
import { type EngineEvent, LocalWorkspace, type OpType, Stack, type UpdateSummary } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { labelled } from "./docker";
import { e2eRun } from "./run-env";
import { REPO_ROOT, run } from "./process";

/** The `bot-bottle:` config of a test stack, as it would be written in a stack file. */
export interface TestStackConfig {
  bottles: unknown[];
  backend?: unknown;
  docker?: unknown;
  kubernetes?: unknown;
}

export interface OpResult {
  ok: boolean;
  /** Everything the CLI printed (stdout, then stderr). */
  output: string;
  seconds: number;
  /** What the operation did or found, by kind ("create", "same", "update", "delete", ...). */
  changes: Record<string, number>;
}

export interface PreviewResult extends OpResult {
  /** What the engine would do to each resource, by `<type>::<name>`. */
  steps: Map<string, OpType>;
}

const CLI_ENV_KEYS = ["PATH", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_SKIP_UPDATE_CHECK", "DOCKER_HOST"];

/** Writes a Pulumi.yaml in `dir` once: the repository's, with `main` pointing at `main` (default: the program). */
function writeProject(dir: string, main?: string): void {
  const file = path.join(dir, "Pulumi.yaml");
  if (fs.existsSync(file)) return;
  const project = parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { main: string };
  project.main = main ?? path.join(REPO_ROOT, project.main);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${file}.${process.pid}`, stringify(project));
  fs.renameSync(`${file}.${process.pid}`, file); // test files start in parallel: never a half-written file
}

/** Where a test stack's project is, and the Pulumi home its CLI uses. */
export interface TestProject {
  /** A directory with a Pulumi.yaml. Defaults to the run's copy of the repository's program. */
  dir?: string;
  /** A program to run in place of the repository's (with its Pulumi.yaml otherwise): its Pulumi.yaml is written in `dir`. */
  main?: string;
  /** Defaults to the run's private Pulumi home. */
  pulumiHome?: string;
}

export class TestStack {
  /** The stack's name, also the first part of its Docker names. */
  readonly name: string;
  /** Its stack file, `Pulumi.<name>.yaml` beside the project's Pulumi.yaml. */
  readonly configFile: string;

  private constructor(
    private readonly stack: Stack,
    private readonly env: Record<string, string>,
    private readonly projectDir: string,
  ) {
    this.name = stack.name;
    this.configFile = path.join(projectDir, `Pulumi.${stack.name}.yaml`);
  }

  /** The file backend holding every stack of this run (history and backups included). */
  static get backendDir(): string {
    return path.join(e2eRun().workDir, "state");
  }

  /** The run's copy of the program's project: Pulumi.yaml (the repository's, `main` made absolute) and stack files. */
  static get programDir(): string {
    return path.join(e2eRun().workDir, "project");
  }

  /**
   * Creates `e2e-<run>-<shortName>` with `config` (the program's `bot-bottle:` keys; none for
   * another project) and each token stored as a secret.
   */
  static async create(
    shortName: string,
    config: TestStackConfig | undefined,
    tokens: Readonly<Record<string, string>> = {},
    project: TestProject = {},
  ): Promise<TestStack> {
    const runInfo = e2eRun();
    fs.mkdirSync(TestStack.backendDir, { recursive: true });
    if (project.dir === undefined || project.main !== undefined) writeProject(project.dir ?? TestStack.programDir, project.main);
    const projectDir = project.dir ?? TestStack.programDir;
    const env: Record<string, string> = {
      ...Object.fromEntries(CLI_ENV_KEYS.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []))),
      PULUMI_BACKEND_URL: `file://${TestStack.backendDir}`,
      PULUMI_CONFIG_PASSPHRASE: runInfo.passphrase,
      PULUMI_HOME: project.pulumiHome ?? runInfo.pulumiHome,
      PULUMI_SKIP_UPDATE_CHECK: "1",
    };
    const workspace = await LocalWorkspace.create({ workDir: projectDir, envVars: env, secretsProvider: "passphrase" });
    const stack = await Stack.create(`e2e-${runInfo.id}-${shortName}`, workspace);
    fs.appendFileSync(path.join(runInfo.workDir, "stacks.txt"), `${stack.name}\n`);
    const testStack = new TestStack(stack, env, projectDir);
    if (config) testStack.writeConfig(config);
    for (const [name, value] of Object.entries(tokens)) await testStack.setToken(name, value);
    return testStack;
  }

  /** Sets plain (not secret) config values of the stack's project. */
  async setConfig(values: Readonly<Record<string, string>>): Promise<void> {
    await this.stack.setAllConfig(Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value }])));
  }

  /** Replaces the stack's `bot-bottle:` keys but its tokens, which stay as they are. */
  writeConfig(config: TestStackConfig): void {
    const file = (parse(fs.readFileSync(this.configFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const current = file.config ?? {};
    file.config = {
      "bot-bottle:bottles": config.bottles,
      ...(config.backend !== undefined && { "bot-bottle:backend": config.backend }),
      ...(config.docker !== undefined && { "bot-bottle:docker": config.docker }),
      ...(config.kubernetes !== undefined && { "bot-bottle:kubernetes": config.kubernetes }),
      ...(current["bot-bottle:tokens"] !== undefined && { "bot-bottle:tokens": current["bot-bottle:tokens"] }),
    };
    fs.writeFileSync(this.configFile, stringify(file));
  }

  /** Sets `tokens.<name>` as a secret; the value goes to the CLI on stdin, never in its argv. */
  async setToken(name: string, value: string): Promise<void> {
    await this.setSecret(`tokens.${name}`, value);
  }

  /** Sets a secret config value (a `--path`); the value goes to the CLI on stdin, never in its argv. */
  async setSecret(key: string, value: string): Promise<void> {
    const r = await this.cli(["config", "set", "--secret", "--path", key], value);
    if (r.code !== 0) throw new Error(`pulumi config set ${key} failed:\n${r.stderr}`);
  }

  async up(): Promise<OpResult> {
    return this.op(async (onOutput) => (await this.stack.up({ onOutput, color: "never" })).summary);
  }

  /** A preview with the detailed diff; optionally with the project's policy pack. */
  async preview(opts: { policyPack?: boolean } = {}): Promise<PreviewResult> {
    const steps = new Map<string, OpType>();
    const onEvent = (event: EngineEvent) => {
      const meta = event.resourcePreEvent?.metadata;
      if (meta) steps.set(shortUrn(meta.urn), meta.op);
    };
    const result = await this.op(async (onOutput) => {
      await this.stack.preview({
        onOutput,
        onEvent,
        diff: true,
        color: "never",
        ...(opts.policyPack && { policyPacks: [path.join(REPO_ROOT, "policy")] }),
      });
      return undefined;
    });
    return { ...result, steps };
  }

  /** `pulumi refresh`: `changes` counts the drift it found ("update", "delete") beside "same". */
  async refresh(): Promise<OpResult> {
    return this.op(async (onOutput) => (await this.stack.refresh({ onOutput, color: "never" })).summary);
  }

  async destroy(): Promise<OpResult> {
    return this.op(async (onOutput) => (await this.stack.destroy({ onOutput, color: "never" })).summary);
  }

  /** `pulumi stack export`, as anyone with the state would see it (secrets stay encrypted). */
  async exportState(): Promise<string> {
    const r = await this.cli(["stack", "export"]);
    if (r.code !== 0) throw new Error(`pulumi stack export failed:\n${r.stderr}`);
    return r.stdout;
  }

  /** The stack's outputs, secrets included (decrypted by the engine for this test). */
  async outputs(): Promise<Record<string, unknown>> {
    return Object.fromEntries(Object.entries(await this.stack.outputs()).map(([k, v]) => [k, v.value]));
  }

  /** Destroys what is left and removes the stack from the backend; never throws. */
  async remove(): Promise<void> {
    await this.destroy();
    await this.cli(["stack", "rm", "--yes", "--force"]);
  }

  private async op(body: (onOutput: (out: string) => void) => Promise<UpdateSummary | undefined>): Promise<OpResult> {
    let output = "";
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    try {
      const summary = await body((out) => (output += out));
      return { ok: true, output, seconds: seconds(), changes: { ...summary?.resourceChanges } };
    } catch (err) {
      // The Automation API's CommandError carries the CLI's stderr in its message.
      return { ok: false, output: `${output}\n${(err as Error).message}`, seconds: seconds(), changes: {} };
    }
  }

  /** A Pulumi CLI command on this stack, as the Automation API runs it: argv, directory and environment. */
  command(args: string[]): { argv: string[]; cwd: string; env: Record<string, string> } {
    return { argv: ["pulumi", ...args, "--stack", this.name, "--non-interactive"], cwd: this.projectDir, env: { ...this.env } };
  }

  /** Runs a Pulumi CLI command on this stack (`input` on stdin). */
  cli(args: string[], input?: string) {
    const { argv, cwd, env } = this.command(args);
    return run(argv, { cwd, env, ...(input !== undefined && { input }), timeoutMs: 300_000 });
  }
}

/** The end of a long CLI output, for assertion messages. */
/**
 * An `after` hook's end of a test stack: destroy it, fail naming what the destroy left on the
 * local engine (everything labelled with the stack), and remove the stack from the backend.
 */
export async function destroyLeavingNothing(stack: TestStack | undefined, leftBehind = "left behind by destroy"): Promise<void> {
  if (!stack) return;
  const destroyed = await stack.destroy();
  assert.ok(destroyed.ok, tail(destroyed.output));
  assert.deepEqual(await labelled(stack.name), [], leftBehind);
  await stack.remove();
}

export function tail(text: string, chars = 4000): string {
  // The errors are in "Diagnostics:", which a stack's long outputs can push out of the tail.
  const diagnostics = /\nDiagnostics:\n[\s\S]*?(?=\nOutputs:|\nResources:|$)/.exec(text)?.[0] ?? "";
  const end = text.length > chars ? `...${text.slice(-chars)}` : text;
  return diagnostics && !end.includes(diagnostics) ? `${diagnostics.slice(0, chars)}\n${end}` : end;
}

/** `urn:pulumi:<stack>::<project>::<parent types$>type::name` -> `type::name`. */
export function shortUrn(urn: string): string {
  const [, , qualifiedType = "", ...name] = urn.split("::");
  return `${qualifiedType.split("$").at(-1)}::${name.join("::")}`;
}
