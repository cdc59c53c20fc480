/**
 * The offline plan: runs the real program (infra/index.ts) under Pulumi's mocks with one
 * stack's config file and records every resource it declares. Needs no Pulumi CLI, no
 * Docker and no network. Encrypted config values cannot be read here: each is replaced by a
 * placeholder, as is every private key, and all of them are shown as `[secret]`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { LABEL_KEYS, type PlannedResource, RESOURCE_TYPES, validateStackConfig } from "../../components/index";
import { readStackFile, StackFileError } from "../../infra/stack-file";
import { MOCK_OUTPUTS, type MockedResource, runUnderMocks } from "./mocks";
import { mapSecretInputs } from "./secret-inputs";

export type { PlannedResource } from "../../components/index";

export interface Plan {
  stack: string;
  resources: PlannedResource[];
  /** Per bottle, the rendered files as uploaded to its containers. */
  files: Record<string, Record<string, string>>;
  /**
   * Stand-ins for what providers compute at `up` (image ids, certificates), each with what it
   * stands for: they look real in the inputs, and are not.
   */
  computed: Record<string, string>;
}

export const SECRET = "[secret]";
const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Thrown for a stack that cannot be planned; the message is meant for the user. */
export class PlanError extends Error {}

/**
 * Bottles per run of the program. Until a run settles, the Pulumi SDK keeps every resource's
 * outputs and promises alive (about 4 MB per bottle, README "Figures"), so a large stack is
 * planned in runs of this many bottles, which bounds the live heap whatever the stack's size,
 * and the resources they share (an engine's provider and image) are merged.
 */
export const BOTTLES_PER_RUN = 20;

/**
 * Plans one stack. `stackFile` defaults to `Pulumi.<stack>.yaml` in the project root. A stack
 * whose config is valid is planned `bottlesPerRun` bottles at a time (one program run, under
 * fresh mocks, each); an invalid one in one run, so the program reports every problem.
 */
export async function planStack(
  stack: string,
  stackFile = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`),
  bottlesPerRun = BOTTLES_PER_RUN,
): Promise<Plan> {
  if (!fs.existsSync(stackFile)) {
    const stacks = fs.readdirSync(REPO_ROOT).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
    throw new PlanError(`no stack file ${stackFile}; stacks here: ${stacks.join(", ")}`);
  }
  const secrets = new Set<string>();
  const placeholder = (p: string) => {
    const value = `plan-secret-${p}`;
    secrets.add(value);
    return value;
  };
  const { config, unknownKeys } = readStack(stackFile, placeholder);
  const engineConfig: Record<string, string> = {};
  if (config.bottles !== undefined) engineConfig["bot-bottle:bottles"] = JSON.stringify(config.bottles);
  for (const key of ["backend", "docker", "kubernetes"] as const) {
    if (config[key] !== undefined) engineConfig[`bot-bottle:${key}`] = JSON.stringify(config[key]);
  }
  if (config.tokens !== undefined) {
    engineConfig["bot-bottle:tokens"] = JSON.stringify(
      Object.fromEntries(Object.entries(config.tokens).map(([name, entry]) => [name, entry.value])),
    );
  }
  for (const key of unknownKeys) engineConfig[key] = "null";

  // The program reads token secrecy from this file, and paths from the project root.
  process.env.BOT_BOTTLE_STACK_FILE = path.resolve(stackFile);
  const cwd = process.cwd();
  process.chdir(REPO_ROOT);
  const registered: MockedResource[] = [];
  try {
    const secretKeys = Object.keys(engineConfig).filter((k) => k.endsWith(":tokens"));
    const valid =
      validateStackConfig({
        bottles: config.bottles,
        backend: config.backend,
        docker: config.docker,
        kubernetes: config.kubernetes,
        tokens: config.tokens,
      }).ok && unknownKeys.length === 0;
    const bottles = Array.isArray(config.bottles) ? (config.bottles as unknown[]) : [];
    const runs = valid && bottles.length > bottlesPerRun ? chunks(bottles, bottlesPerRun) : [undefined];
    for (const batch of runs) {
      const runConfig = batch ? { ...engineConfig, "bot-bottle:bottles": JSON.stringify(batch) } : engineConfig;
      const { resources } = await runUnderMocks({ stack, config: runConfig, secretKeys }, runProgram);
      merge(registered, resources);
    }
  } catch (err) {
    if (err instanceof pulumi.RunError) throw new PlanError(err.message);
    throw err;
  } finally {
    process.chdir(cwd);
  }
  for (const r of registered) {
    if (r.type === RESOURCE_TYPES.privateKey) secrets.add(MOCK_OUTPUTS.privateKeyPem(r.name));
  }

  const pattern = secretsPattern(secrets);
  const resources = registered.map(({ type, name, parent, inputs }) => {
    const secretInputs: string[] = [];
    return {
      type,
      name,
      ...(parent && { parent }),
      inputs: redact(withEngineName(type, name, inputs), secretInputs, pattern),
      secretInputs,
    };
  });
  return { stack, resources, files: renderedFiles(resources), computed: computedStandIns(registered) };
}

/** Runs the program (infra/index.ts) afresh: its module body is the program. */
function runProgram(): unknown {
  const program = require.resolve(path.join(REPO_ROOT, "infra", "index.ts"));
  delete require.cache[program];
  return require(program);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Adds a run's resources to the plan. A resource two runs declare (an engine's provider or
 * image, shared by bottles of different runs) is kept once; it must be declared the same.
 */
function merge(into: MockedResource[], resources: readonly MockedResource[]): void {
  const seen = new Map(into.map((r) => [`${r.type}::${r.name}`, r]));
  for (const r of resources) {
    const earlier = seen.get(`${r.type}::${r.name}`);
    if (earlier === undefined) into.push(r);
    else if (!isDeepStrictEqual(earlier, r)) throw new Error(`${r.type} ${r.name} is declared differently by two runs of the program`);
  }
}

/** A path as a user would type it: relative when under the working directory. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith("..") ? relative : path.resolve(file);
}

function readStack(file: string, placeholder: (path: string) => string): ReturnType<typeof readStackFile> {
  try {
    return readStackFile(fs.readFileSync(file, "utf8"), placeholder);
  } catch (err) {
    if (err instanceof StackFileError) throw new PlanError(`${displayPath(file)}:${err.message}`);
    throw err;
  }
}

/**
 * Unwraps the mocks' secret markers, recording where they were, and replaces every known
 * secret value (inside any string) with `[secret]`.
 */
function redact(inputs: Record<string, unknown>, secretPaths: string[], secrets: RegExp): Record<string, unknown> {
  return mapSecretInputs(
    inputs,
    (inner, at) => {
      secretPaths.push(at);
      return inner;
    },
    (text) => text.replace(secrets, SECRET),
  ) as Record<string, unknown>;
}

/**
 * One pattern for every known secret value: one pass over each string, where a pass per secret
 * made planning quadratic in the number of bottles (two CA keys each).
 */
function secretsPattern(secrets: ReadonlySet<string>): RegExp {
  // Longest first: one placeholder can be a prefix of another (tokens.github, tokens.github-readonly).
  const known = [...secrets].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return known.length > 0 ? new RegExp(known.join("|"), "g") : /(?!)/g;
}

/**
 * A container the program leaves for Pulumi to name gets the stand-in name its references
 * (env, limits, the self-test) already hold, so the plan and the policies read one name.
 */
function withEngineName(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  return type === RESOURCE_TYPES.container && inputs.name === undefined ? { ...inputs, name: MOCK_OUTPUTS.containerName(name) } : inputs;
}

function computedStandIns(registered: readonly MockedResource[]): Record<string, string> {
  const computed: Record<string, string> = {};
  for (const r of registered) {
    if (r.type === RESOURCE_TYPES.selfSignedCert) computed[MOCK_OUTPUTS.certPem(r.name)] = `certificate made at up by ${r.name}`;
    if (r.type === RESOURCE_TYPES.image) computed[MOCK_OUTPUTS.imageId(r.name)] = `id of the image ${r.name} builds at up`;
    if (r.type === RESOURCE_TYPES.remoteImage)
      computed[MOCK_OUTPUTS.imageId(String(r.inputs.name))] = `id of ${String(r.inputs.name)}, resolved at up`;
    if (r.type === RESOURCE_TYPES.k8sService) computed[MOCK_OUTPUTS.clusterIp(r.name)] = `address the cluster gives ${r.name} at up`;
  }
  return computed;
}

/**
 * The documents the gates load (routes.yaml, pipelock.yaml), per bottle: their live-config
 * commands' stdin on Docker, their ConfigMaps' data on Kubernetes.
 */
function renderedFiles(resources: PlannedResource[]): Record<string, Record<string, string>> {
  const files: Record<string, Record<string, string>> = {};
  for (const r of resources) {
    if (r.type === RESOURCE_TYPES.k8sConfigMap) {
      const bottle = ((r.inputs.metadata ?? {}) as { labels?: Record<string, string> }).labels?.[LABEL_KEYS.bottle];
      if (bottle !== undefined) files[bottle] = { ...files[bottle], ...(r.inputs.data as Record<string, string>) };
      continue;
    }
    if (r.type !== RESOURCE_TYPES.command) continue;
    const env = (r.inputs.environment ?? {}) as Record<string, string>;
    if (env.BOTTLE_DOCUMENT === undefined || env.BOTTLE_NAME === undefined) continue;
    files[env.BOTTLE_NAME] = { ...files[env.BOTTLE_NAME], [env.BOTTLE_DOCUMENT]: String(r.inputs.stdin ?? "") };
  }
  return files;
}
