/**
 * `npm run bottle -- <command> <stack> [<bottle>] [options] [-- args]`: working in a bottle
 * that `pulumi up` made, on its engine (the stack file's `docker.host`, else the local one) or
 * its Kubernetes cluster (`backend: kubernetes`: kubectl with the stack file's kubeconfig and
 * context, in the bottle's namespace).
 *
 *   shell   a shell in the agent, as its user, in its workspace; `-- <command>` runs one
 *   claude  Claude Code in the agent, in its workspace; `-- <args>` are Claude Code's
 *   status  containers, health, process limits, CA expiry, and the self-test run now (on
 *           Kubernetes: the pods, their readiness and restarts, and the last self-test Job)
 *   logs    both gates' logs merged in time order, newest last (`--since 30m`)
 *   blocked what both gates refused, grouped (`--since`, `--json`); `--suggest` prints the
 *           stack file change that would allow what the routes refused, `--write` applies it
 *
 * Options: `--file <stack file>` (default Pulumi.<stack>.yaml here).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblems, validateStackConfig } from "../components/index";
import { readStackFile } from "../infra/stack-file";
import { DEPLOYED_BACKENDS } from "./bottle/backends";
import {
  applySuggestions,
  egressProxyRefusals,
  formatRefusals,
  groupRefusals,
  hostSuggestions,
  pipelockRefusals,
  unifiedDiff,
} from "./bottle/blocked";
import type { BottleRef, Cli, DeployedBottle } from "./bottle/deployed";
import { bottlesOfStackFile, chooseBottle, logLines, mergeLogs } from "./bottle/inspect";
import { exitAfterOutput } from "./lib/exit";
import { shellArgv } from "./bottle/shell";

const USAGE =
  "usage: npm run bottle -- <shell|claude|status|logs|blocked> <stack> [<bottle>] [--file <stack file>] [--since <duration>] " +
  "[--json] [--suggest] [--write] [-- args]";

class UsageError extends Error {}

/** A bottle a command names, and the bottle itself on its backend. */
type Target = BottleRef & { deployed: DeployedBottle };

const cli: Cli = {
  run: (tool, args, opts) =>
    spawnSync(tool, args, {
      env: opts.env,
      encoding: "utf8",
      stdio: opts.interactive ? "inherit" : ["pipe", "pipe", "pipe"],
      maxBuffer: 256 * 1024 * 1024,
    }),
  env: process.env,
  tty: Boolean(process.stdin.isTTY && process.stdout.isTTY),
};

function logs(target: Target, since: string | undefined): number {
  const gates = Object.entries(target.deployed.gateLogs({ timestamps: true, ...(since !== undefined && { since }) })).map(([gate, text]) =>
    logLines(text, gate),
  );
  for (const line of mergeLogs(...gates)) console.log(`${line.time} ${line.gate.padEnd(13)} ${line.text}`);
  return 0;
}

function blocked(target: Target, options: { since?: string; json?: boolean; suggest?: boolean; write?: boolean }): number {
  const log = target.deployed.gateLogs({ ...(options.since !== undefined && { since: options.since }) });
  const refusals = [
    ...egressProxyRefusals(log["egress-proxy"] ?? ""),
    ...pipelockRefusals(log.pipelock ?? ""),
    ...pipelockRefusals(log["pipelock-bulk"] ?? ""),
  ];
  const groups = groupRefusals(refusals);
  const suggestions = hostSuggestions(refusals);
  const before = fs.readFileSync(target.stackFile, "utf8");
  const applied = options.suggest || options.write ? applySuggestions(before, target.bottle, suggestions) : undefined;
  const file = path.relative(process.cwd(), target.stackFile) || target.stackFile;
  const diff = applied ? unifiedDiff(file, before, applied.text) : "";
  if (options.json) {
    console.log(
      JSON.stringify(
        { stack: target.stack, bottle: target.bottle, refused: groups, ...(applied && { suggestions, diff, notes: applied.notes }) },
        null,
        2,
      ),
    );
  } else {
    process.stdout.write(
      formatRefusals(groups, { stack: target.stack, bottle: target.bottle, ...(options.since && { since: options.since }) }),
    );
    if (applied) {
      process.stdout.write(
        diff
          ? `\nThe narrowest change that allows what the routes refused (review it; nothing is written${options.write ? " yet" : " without --write"}):\n\n${diff}`
          : "\nNothing to suggest: no refusal is one a route could allow.\n",
      );
      for (const note of applied.notes) console.log(`note: ${note}`);
    }
  }
  if (options.write && applied && diff) {
    const { config } = readStackFile(applied.text, () => "placeholder");
    const validated = validateStackConfig({ ...config, bottles: config.bottles });
    if (!validated.ok) throw new Error(`the suggestion does not validate, nothing written:\n${formatProblems(validated.problems)}`);
    fs.writeFileSync(target.stackFile, applied.text);
    console.log(`\nwrote ${file}; review it, then: scripts/pulumi up (or scripts/up ${target.stack})`);
  }
  return 0;
}

function target(stack: string, bottle: string | undefined, file: string | undefined): Target {
  const stackFile = file ?? path.resolve(`Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) throw new UsageError(`no stack file ${stackFile} (give one with --file)`);
  const bottles = bottlesOfStackFile(fs.readFileSync(stackFile, "utf8"));
  const name = chooseBottle(bottles, bottle, stack);
  const engine = bottles.get(name)!;
  const ref = { stack, bottle: name, stackFile };
  return { ...ref, deployed: DEPLOYED_BACKENDS[engine.backend].open(ref, engine, cli) };
}

function parseOwnArgs(own: string[]) {
  try {
    return parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        file: { type: "string" },
        since: { type: "string" },
        json: { type: "boolean" },
        suggest: { type: "boolean" },
        write: { type: "boolean" },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
}

function main(): number {
  const dashdash = process.argv.indexOf("--", 2);
  const own = dashdash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashdash);
  const rest = dashdash === -1 ? [] : process.argv.slice(dashdash + 1);
  const parsed = parseOwnArgs(own);
  const { values, positionals } = parsed;
  const [command, stack, bottle] = positionals;
  if (!command || !stack || !["shell", "claude", "status", "logs", "blocked"].includes(command)) throw new UsageError(USAGE);
  const t = target(stack, bottle, values.file ? path.resolve(values.file) : undefined);
  switch (command) {
    case "shell":
      return t.deployed.execInAgent(shellArgv(rest));
    case "claude":
      return t.deployed.execInAgent(["claude", ...rest]);
    case "status":
      return t.deployed.status();
    case "blocked":
      return blocked(t, values);
    default:
      return logs(t, values.since);
  }
}

try {
  exitAfterOutput(main());
} catch (err) {
  console.error(`bottle: ${(err as Error).message}`);
  exitAfterOutput(err instanceof UsageError ? 2 : 1);
}
