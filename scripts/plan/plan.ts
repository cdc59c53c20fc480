/**
 * The offline plan: runs the real program (infra/index.ts) under Pulumi's mocks with one
 * stack's config file and records every resource it declares. Needs no Pulumi CLI, no
 * Docker and no network. Encrypted config values cannot be read here: each is replaced by a
 * placeholder, as is every private key, and all of them are shown as `[secret]`.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { readStackFile } from "../../infra/stack-file";
import { mapSecretInputs } from "./secret-inputs";

/** A resource the program declared, with its inputs as the engine would receive them. */
export interface PlannedResource {
  type: string;
  name: string;
  /** The parent resource's name; absent for resources directly under the stack. */
  parent?: string;
  inputs: Record<string, unknown>;
  /** Input paths the program marked secret (e.g. `envs`, `uploads[2].content`). */
  secretInputs: string[];
}

export interface Plan {
  stack: string;
  resources: PlannedResource[];
  /** Per bottle, the rendered files as uploaded to its containers. */
  files: Record<string, Record<string, string>>;
}

export const SECRET = "[secret]";
const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Thrown for a stack that cannot be planned; the message is meant for the user. */
export class PlanError extends Error {}

/**
 * Plans one stack. `stackFile` defaults to `Pulumi.<stack>.yaml` in the project root. Runs
 * the program once per process (Pulumi's runtime state is global).
 */
export async function planStack(stack: string, stackFile = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`)): Promise<Plan> {
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
  const { config, unknownKeys } = readStackFile(fs.readFileSync(stackFile, "utf8"), placeholder);
  const engineConfig: Record<string, string> = {};
  if (config.bottles !== undefined) engineConfig["bot-bottle:bottles"] = JSON.stringify(config.bottles);
  if (config.docker !== undefined) engineConfig["bot-bottle:docker"] = JSON.stringify(config.docker);
  if (config.tokens !== undefined) {
    engineConfig["bot-bottle:tokens"] = JSON.stringify(
      Object.fromEntries(Object.entries(config.tokens).map(([name, entry]) => [name, entry.value])),
    );
  }
  for (const key of unknownKeys) engineConfig[key] = "null";

  const registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
  const parents = new Map<string, string>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: { ...args.inputs, ...mockOutputs(args.type, args.name, args.inputs, secrets) } };
      },
      call: (args) => args.inputs,
    },
    "bot-bottle",
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(engineConfig, Object.keys(engineConfig).filter((k) => k.endsWith(":tokens")));

  // The program reads token secrecy from this file, and paths from the project root.
  process.env.BOT_BOTTLE_STACK_FILE = path.resolve(stackFile);
  const cwd = process.cwd();
  process.chdir(REPO_ROOT);
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation(({ type, name, opts }) => {
        // The SDK keeps a resource's name and type on these (internal, pinned) fields.
        const parent = opts.parent as { __name?: string; __pulumiType?: string } | undefined;
        if (parent?.__name && parent.__pulumiType !== "pulumi:pulumi:Stack") parents.set(`${type}::${name}`, parent.__name);
        return undefined;
      });
      const program = path.join(REPO_ROOT, "infra", "index.ts");
      return await import(program);
    });
    await pulumi.runtime.disconnect();
  } catch (err) {
    if (err instanceof pulumi.RunError) throw new PlanError(err.message);
    throw err;
  } finally {
    process.chdir(cwd);
  }

  const resources = registered
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map(({ type, name, inputs }) => {
      const secretInputs: string[] = [];
      const parent = parents.get(`${type}::${name}`);
      return {
        type,
        name,
        ...(parent && { parent }),
        inputs: redact(inputs, secretInputs, secrets),
        secretInputs,
      };
    });
  return { stack, resources, files: renderedFiles(resources) };
}

/** What the providers would compute, as deterministic stand-ins. */
function mockOutputs(type: string, name: string, inputs: Record<string, unknown>, secrets: Set<string>): Record<string, unknown> {
  const digest = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
  switch (type) {
    case "tls:index/privateKey:PrivateKey": {
      const pem = `-----BEGIN PRIVATE KEY-----\nplan-secret-${name}\n-----END PRIVATE KEY-----\n`;
      secrets.add(pem);
      return { privateKeyPem: pem, publicKeyPem: `public key of ${name}` };
    }
    case "tls:index/selfSignedCert:SelfSignedCert":
      return { certPem: `-----BEGIN CERTIFICATE-----\n(certificate of ${name})\n-----END CERTIFICATE-----\n` };
    case "docker:index/image:Image":
      return { repoDigest: digest(name), imageName: inputs.imageName };
    case "docker:index/remoteImage:RemoteImage":
      return { imageId: digest(String(inputs.name)), repoDigest: String(inputs.name) };
    default:
      return {};
  }
}

/**
 * Unwraps the mocks' secret markers, recording where they were, and replaces every known
 * secret value (inside any string) with `[secret]`.
 */
function redact(inputs: Record<string, unknown>, secretPaths: string[], secrets: ReadonlySet<string>): Record<string, unknown> {
  // Longest first: one placeholder can be a prefix of another (tokens.github, tokens.github-readonly).
  const known = [...secrets].sort((a, b) => b.length - a.length);
  return mapSecretInputs(
    inputs,
    (inner, at) => {
      secretPaths.push(at);
      return inner;
    },
    (text) => known.reduce((out, secret) => out.split(secret).join(SECRET), text),
  ) as Record<string, unknown>;
}

function renderedFiles(resources: PlannedResource[]): Record<string, Record<string, string>> {
  const files: Record<string, Record<string, string>> = {};
  for (const r of resources) {
    if (r.type !== "docker:index/container:Container") continue;
    const labels = (r.inputs.labels ?? []) as { label: string; value: string }[];
    const bottle = labels.find((l) => l.label === "bot-bottle.bottle")?.value;
    const role = labels.find((l) => l.label === "bot-bottle.role")?.value;
    if (!bottle || (role !== "egress-proxy" && role !== "pipelock")) continue;
    for (const upload of (r.inputs.uploads ?? []) as { file: string; content?: string }[]) {
      const base = path.posix.basename(upload.file);
      if (base === "routes.yaml" || base === "pipelock.yaml") {
        (files[bottle] ??= {})[base] = upload.content ?? "";
      }
    }
  }
  return files;
}
