import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { type ConfigProblem, formatProblems, nearestKey, type StackSpec, validateStackConfig } from "../components/index";
import { CONFIG_KEYS, readStackFile, StackFileError, tokenEntries } from "./stack-file";

// Internal to the SDK (pinned): whether the engine holds a config key as a secret.
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/** The validated stack config and the token values, each a secret Output. */
export interface LoadedStackConfig {
  spec: StackSpec;
  tokens: Record<string, pulumi.Output<string>>;
}

/**
 * Reads `bot-bottle:*` from the stack's config, validates it and fails the program with
 * every problem (and no stack trace) when it is wrong. Whether each token is stored
 * encrypted is read from the stack file (`BOT_BOTTLE_STACK_FILE`, set by the offline plan,
 * or `Pulumi.<stack>.yaml` beside the program); without one (config from an ESC
 * environment) the engine's secret flag for `bot-bottle:tokens` decides.
 */
export function loadStackConfig(): LoadedStackConfig {
  const stack = pulumi.getStack();
  const problems: ConfigProblem[] = [];
  const read = (key: string): unknown => {
    const raw = pulumi.runtime.getConfig(`bot-bottle:${key}`);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      return raw; // a plain string; the schema reports it as the wrong type
    }
  };
  for (const key of Object.keys(pulumi.runtime.allConfig())) {
    const name = key.startsWith("bot-bottle:") ? key.slice("bot-bottle:".length) : undefined;
    if (name !== undefined && !(CONFIG_KEYS as readonly string[]).includes(name)) {
      const meant = nearestKey(name, CONFIG_KEYS);
      problems.push({
        path: key,
        message: meant
          ? `unknown config key (did you mean bot-bottle:${meant}?)`
          : `unknown config key; expected one of ${CONFIG_KEYS.map((k) => `bot-bottle:${k}`).join(", ")}`,
      });
    }
  }

  const tokenValues = read("tokens");
  const tokens = tokenEntries(tokenValues, () => "");
  const stackFile = process.env.BOT_BOTTLE_STACK_FILE ?? path.join(process.cwd(), `Pulumi.${stack}.yaml`);
  const fileTokens = fs.existsSync(stackFile) ? tokensOfStackFile(stackFile) : undefined;
  const engineSecret = isConfigSecret("bot-bottle:tokens");
  for (const [name, entry] of Object.entries(tokens)) {
    entry.secret = fileTokens ? (fileTokens[name]?.secret ?? engineSecret) : engineSecret;
  }
  if (tokenValues !== undefined && (typeof tokenValues !== "object" || tokenValues === null || Array.isArray(tokenValues))) {
    problems.push({ path: "tokens", message: "expected a mapping of token names to secret values" });
  }

  const validated = validateStackConfig({
    bottles: read("bottles"),
    backend: read("backend"),
    docker: read("docker"),
    kubernetes: read("kubernetes"),
    tokens,
  });
  if (!validated.ok) problems.push(...validated.problems);
  if (problems.length > 0 || !validated.ok) {
    throw new pulumi.RunError(`invalid bot-bottle config for stack "${stack}" (${path.basename(stackFile)}):\n${formatProblems(problems)}`);
  }
  return {
    spec: validated.value,
    tokens: Object.fromEntries(Object.entries(tokens).map(([name, entry]) => [name, pulumi.secret(String(entry.value))])),
  };
}

/** The token entries of a stack file, or a RunError naming the file's line and column. */
function tokensOfStackFile(file: string): Record<string, { secret: boolean; value: unknown }> {
  try {
    return readStackFile(fs.readFileSync(file, "utf8"), () => "").config.tokens ?? {};
  } catch (err) {
    if (err instanceof StackFileError) throw new pulumi.RunError(`${path.basename(file)}:${err.message}`);
    throw err;
  }
}
