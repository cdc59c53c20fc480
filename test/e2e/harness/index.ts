/**
 * TEST TOOL, not a product feature: realizes a stack of the REAL program (infra/index.ts)
 * on the local Docker engine, for the end-to-end suite (test/e2e/README.md).
 *
 * The program runs under `pulumi.runtime.setMocks` (as in scripts/plan/plan.ts), and the
 * mocks' `newResource` creates each resource for real (realize.ts). The SDK registers a
 * resource only once the outputs it depends on have resolved, so realizing inside
 * `newResource` follows the program's dependency order.
 *
 * Pulumi's runtime state is global and the program module is imported once, so each `up`
 * runs in its own process:
 *
 *   node --import tsx test/e2e/harness/index.ts up --stack e2e --file test/e2e/Pulumi.e2e.yaml --state S.json \
 *        [--fault-upload CONTAINER:FILE]
 *   node --import tsx test/e2e/harness/index.ts destroy --state S.json
 *   node --import tsx test/e2e/harness/index.ts cleanup --stack e2e        (by label, whatever made it)
 *
 * The stack file's `secure:` token values are replaced by the test-only TEST_TOKENS.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { readStackFile } from "../../../infra/stack-file";
import { cleanupByLabel, Created, destroy, Realizer, UploadFault } from "./realize";
import { TEST_TOKENS } from "./test-tokens";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

/** What a TEST fault upload writes in place of the real file: no valid routes.yaml. */
export const FAULT_CONTENT = "version: 1\nroutes: this is not a list of routes\n";

export interface UpOptions {
  stack: string;
  stackFile: string;
  statePath: string;
  faults?: UploadFault[];
  log?: (line: string) => void;
}

/** Runs the program for one stack and realizes every resource it declares. Once per process. */
export async function up(opts: UpOptions): Promise<void> {
  const placeholder = (p: string) => {
    const name = /^tokens\.(.+)$/.exec(p)?.[1];
    const value = name === undefined ? undefined : TEST_TOKENS[name];
    if (value === undefined) throw new Error(`${opts.stackFile}: no test value for secure config ${p}`);
    return value;
  };
  const { config, unknownKeys } = readStackFile(fs.readFileSync(opts.stackFile, "utf8"), placeholder);
  if (unknownKeys.length > 0) throw new Error(`${opts.stackFile}: unknown keys ${unknownKeys.join(", ")}`);
  const engineConfig: Record<string, string> = {};
  for (const key of ["bottles", "docker"] as const) {
    if (config[key] !== undefined) engineConfig[`bot-bottle:${key}`] = JSON.stringify(config[key]);
  }
  if (config.tokens !== undefined) {
    engineConfig["bot-bottle:tokens"] = JSON.stringify(Object.fromEntries(Object.entries(config.tokens).map(([n, e]) => [n, e.value])));
  }

  const realizer = new Realizer({ statePath: opts.statePath, repoRoot: REPO_ROOT, faults: opts.faults, log: opts.log });
  Object.values(TEST_TOKENS).forEach((t) => realizer.secrets.add(t));
  let failure: unknown;
  await pulumi.runtime.setMocks(
    {
      newResource: async ({ type, name, inputs }) => {
        try {
          const started = Date.now();
          const { id, outputs } = await realizer.realize(type, name, inputs);
          if (type !== "pulumi:pulumi:Stack") opts.log?.(`created ${type} ${name} (${Date.now() - started} ms)`);
          return { id, state: { ...inputs, ...outputs } };
        } catch (err) {
          failure ??= err; // the first failure is the cause; later ones are its consequences
          throw err;
        }
      },
      call: () => {
        throw new Error("the e2e harness implements no provider functions");
      },
    },
    "bot-bottle",
    opts.stack,
    false,
  );
  pulumi.runtime.setAllConfig(engineConfig, Object.keys(engineConfig).filter((k) => k.endsWith(":tokens")));
  process.env.BOT_BOTTLE_STACK_FILE = path.resolve(opts.stackFile);
  process.chdir(REPO_ROOT); // the program's build contexts are relative to the project root
  let programError: unknown;
  try {
    await pulumi.runtime.runInPulumiStack(() => import(path.join(REPO_ROOT, "infra", "index.ts")));
    await pulumi.runtime.disconnect();
  } catch (err) {
    programError = err;
  }
  const cause = failure ?? programError;
  if (cause) throw new Error(realizer.redact(cause instanceof Error ? cause.message : String(cause)));
  if (realizer.unusedFaults.length > 0) {
    throw new Error(`fault uploads matched nothing: ${realizer.unusedFaults.map((f) => `${f.container}:${f.file}`).join(", ")}`);
  }
}

/** Destroys what a state file lists (idempotent). */
export async function destroyState(statePath: string): Promise<void> {
  if (!fs.existsSync(statePath)) return;
  const { created } = JSON.parse(fs.readFileSync(statePath, "utf8")) as { created: Created[] };
  await destroy(created);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      stack: { type: "string" },
      file: { type: "string" },
      state: { type: "string" },
      "fault-upload": { type: "string", multiple: true },
    },
  });
  const log = (line: string) => console.log(`e2e-harness: ${line}`);
  const need = (key: "stack" | "file" | "state") => {
    const v = values[key];
    if (!v) throw new Error(`--${key} is required`);
    return v;
  };
  const command = positionals[0];
  const started = Date.now();
  if (command === "up") {
    const faults = (values["fault-upload"] ?? []).map((spec) => {
      const at = spec.indexOf(":");
      if (at < 1) throw new Error(`--fault-upload expects CONTAINER:FILE, got "${spec}"`);
      return { container: spec.slice(0, at), file: spec.slice(at + 1), content: FAULT_CONTENT };
    });
    await up({ stack: need("stack"), stackFile: need("file"), statePath: need("state"), faults, log });
    log(`up: stack ${values.stack} realized in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (command === "destroy") {
    await destroyState(need("state"));
    log(`destroy: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (command === "cleanup") {
    await cleanupByLabel(need("stack"));
    log(`cleanup: stack ${values.stack} done`);
  } else {
    throw new Error("usage: index.ts up|destroy|cleanup (see the header of test/e2e/harness/index.ts)");
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`e2e-harness: ERROR: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
