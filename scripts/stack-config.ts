/**
 * The stack config file the scripts hand to Pulumi (`--config-file`), so that no Pulumi run
 * writes the tracked `Pulumi.<stack>.yaml`: Pulumi writes a stack's `encryptionsalt` into the
 * config file it reads (even `pulumi config` does), and `pulumi config set --secret` rewrites
 * it whole. The tracked file stays the one a human edits; `.stacks/Pulumi.<stack>.yaml`
 * (gitignored, mode 0600) is made from it on every run, adding only what Pulumi keeps there:
 * the salt (the tracked file's, else the previous copy's, else the stack's state's) and each
 * token the tracked file leaves as a placeholder, encrypted, from the previous copy.
 *
 *   node --import tsx scripts/stack-config.ts write STACK    prints the file's path
 *   node --import tsx scripts/stack-config.ts check STACK    what a `config` command changed
 *                                                           that the next write would drop
 *   node --import tsx scripts/stack-config.ts placeholders STACK   tokens still to be set
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parseDocument } from "yaml";
import { exitAfterOutput } from "./lib/exit";

const ROOT = path.resolve(__dirname, "..");
const TOKENS = "bot-bottle:tokens";

interface StackFile {
  config?: Record<string, unknown>;
  encryptionsalt?: string;
}

class StackConfigError extends Error {}

/** A token entry that `scripts/set-tokens` (or `scripts/pulumi config set --secret`) must still set. */
export function isPlaceholder(entry: unknown): boolean {
  const secure = (entry as { secure?: unknown } | null)?.secure;
  return typeof secure === "string" && secure.includes("placeholder");
}

function read(text: string, file: string): StackFile {
  const doc = parseDocument(text);
  if (doc.errors[0]) throw new StackConfigError(`${file}: ${doc.errors[0].message}`);
  return (doc.toJS() ?? {}) as StackFile;
}

function tokensOf(file: StackFile): Record<string, unknown> {
  const tokens = file.config?.[TOKENS];
  return typeof tokens === "object" && tokens !== null ? (tokens as Record<string, unknown>) : {};
}

/**
 * The generated file's text: the tracked document (comments kept), plus the salt and the previous
 * copy's encrypted tokens for the tracked file's placeholders. A previous token is kept only
 * when it was encrypted with the same salt (else it could not be decrypted).
 */
export function generate(tracked: string, previous: string | undefined, stateSalt: () => string | undefined): string {
  const doc = parseDocument(tracked);
  if (doc.errors[0]) throw new StackConfigError(`${doc.errors[0].message}`);
  const trackedFile = (doc.toJS() ?? {}) as StackFile;
  const before = previous === undefined ? {} : read(previous, "the previous generated file");
  const salt = trackedFile.encryptionsalt ?? before.encryptionsalt ?? stateSalt();
  if (salt !== undefined && trackedFile.encryptionsalt === undefined) doc.set("encryptionsalt", salt);
  if (before.encryptionsalt !== undefined && before.encryptionsalt === salt) {
    const kept = tokensOf(before);
    for (const [name, entry] of Object.entries(tokensOf(trackedFile))) {
      if (isPlaceholder(entry) && kept[name] !== undefined && !isPlaceholder(kept[name])) {
        doc.setIn(["config", TOKENS, name], doc.createNode(kept[name]));
      }
    }
  }
  return doc.toString();
}

/**
 * What a `config` command wrote to the generated file that the next `generate` drops: any
 * config key that differs from the tracked file's, and tokens the tracked file does not name.
 */
export function unkept(tracked: string, generated: string): string[] {
  const want = read(tracked, "the tracked file");
  const have = read(generated, "the generated file");
  const keys = new Set([...Object.keys(want.config ?? {}), ...Object.keys(have.config ?? {})]);
  keys.delete(TOKENS);
  const changed = [...keys].filter((key) => !isDeepStrictEqual(want.config?.[key], have.config?.[key]));
  const named = tokensOf(want);
  const extra = Object.keys(tokensOf(have))
    .filter((name) => !(name in named))
    .map((name) => `${TOKENS}.${name}`);
  return [...changed, ...extra].sort();
}

function trackedPath(stack: string): string {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new StackConfigError(`no stack file Pulumi.${stack}.yaml`);
  return file;
}

export function generatedPath(stack: string): string {
  return path.join(ROOT, ".stacks", `Pulumi.${stack}.yaml`);
}

/** The passphrase salt the stack's state records (set when the stack was created). */
function saltOfState(stack: string): string | undefined {
  let exported: string;
  try {
    exported = execFileSync("pulumi", ["stack", "export", "--stack", stack], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? "").trim();
    throw new StackConfigError(
      `cannot read stack ${stack}'s state (${stderr || "pulumi stack export failed"}): create it with scripts/up ${stack}`,
    );
  }
  const providers = (JSON.parse(exported) as { deployment?: { secrets_providers?: { type?: string; state?: { salt?: string } } } })
    .deployment?.secrets_providers;
  return providers?.type === "passphrase" ? providers.state?.salt : undefined;
}

function write(stack: string): string {
  const tracked = fs.readFileSync(trackedPath(stack), "utf8");
  const file = generatedPath(stack);
  const previous = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  const text = generate(tracked, previous, () => saltOfState(stack));
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.partial`;
  fs.writeFileSync(partial, text, { mode: 0o600 });
  fs.renameSync(partial, file);
  return file;
}

function main(argv: string[]): number {
  const [command, stack] = argv;
  if (stack === undefined || !["write", "check", "placeholders"].includes(command ?? "")) {
    console.error("usage: node --import tsx scripts/stack-config.ts write|check|placeholders STACK");
    return 2;
  }
  try {
    if (command === "write") {
      console.log(write(stack));
      return 0;
    }
    const generated = fs.readFileSync(generatedPath(stack), "utf8");
    if (command === "placeholders") {
      for (const [name, entry] of Object.entries(tokensOf(read(generated, generatedPath(stack)))))
        if (isPlaceholder(entry)) console.log(name);
      return 0;
    }
    const dropped = unkept(fs.readFileSync(trackedPath(stack), "utf8"), generated);
    if (dropped.length === 0) return 0;
    console.error(
      `stack-config: ${dropped.join(", ")} changed in .stacks/Pulumi.${stack}.yaml only, which is made again from Pulumi.${stack}.yaml ` +
        `on every run, so the change is not kept: edit Pulumi.${stack}.yaml (only the values of the tokens it names are kept here)`,
    );
    return 1;
  } catch (e) {
    if (!(e instanceof StackConfigError) && !(e instanceof Error && "code" in e)) throw e;
    console.error(`stack-config: ${e.message}`);
    return 1;
  }
}

if (require.main === module) exitAfterOutput(main(process.argv.slice(2)));
