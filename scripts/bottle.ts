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
 *   logs    both gates' logs merged in time order, newest last (`--since 30m`); `--follow`
 *           (`-f`) keeps printing them as they come, until Ctrl-C; `--json` prints each line
 *           in the decision-line schema (docs/decision-log.md); `--all` shows the bottle's own
 *           probes (health checks, the self-test), hidden by default
 *   blocked what both gates refused, grouped (`--since`, `--json`); `--suggest` prints the
 *           stack file change that would allow what the routes refused, `--write` applies it
 *
 * Options: `--file <stack file>` (default Pulumi.<stack>.yaml here).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblems, validateStackConfig } from "../components/index";
import { readStackFile } from "../infra/stack-file";
import { DEPLOYED_BACKENDS } from "./bottle/backends";
import { applySuggestions, formatRefusals, groupRefusals, hostSuggestions, refusalsOf, unifiedDiff } from "./bottle/blocked";
import { gateLine, isProbe } from "./bottle/decision-lines";
import type { BottleRef, Cli, DeployedBottle, Gate } from "./bottle/deployed";
import { followGates } from "./bottle/follow";
import { bottlesOfStackFile, chooseBottle, type LogLine, logLines, mergeLogs } from "./bottle/inspect";
import { exitAfterOutput } from "./lib/exit";
import { shellArgv } from "./bottle/shell";

const USAGE =
  "usage: npm run bottle -- <shell|claude|status|logs|blocked> <stack> [<bottle>] [--file <stack file>] [--since <duration>] " +
  "[--follow] [--json] [--all] [--suggest] [--write] [-- args]";

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
  follow: (tool, args, opts) => spawn(tool, args, { env: opts.env, stdio: ["ignore", "pipe", "pipe"], detached: true }),
  env: process.env,
  tty: Boolean(process.stdin.isTTY && process.stdout.isTTY),
};

/** How long `logs --follow` holds a line for another gate's earlier one to arrive. */
const FOLLOW_WINDOW_MS = 250;

interface LogsOptions {
  since?: string;
  follow?: boolean;
  json?: boolean;
  all?: boolean;
}

/** A gate's line as `logs` prints it: the engine's time, the gate and the text, or its decision line as JSON; nothing for a probe unless `--all`. */
function printed(line: LogLine, options: LogsOptions): string | undefined {
  const read = gateLine(line);
  if (!options.all && isProbe(read)) return undefined;
  return options.json ? JSON.stringify(read) : `${line.time} ${line.gate.padEnd(13)} ${line.text}`;
}

function logs(target: Target, options: LogsOptions): number | Promise<number> {
  const since = options.since !== undefined ? { since: options.since } : {};
  const print = (line: LogLine) => {
    const text = printed(line, options);
    if (text !== undefined) console.log(text);
  };
  if (options.follow) return followLogs(target, since, print);
  const gates = Object.entries(target.deployed.gateLogs({ timestamps: true, ...since })).map(([gate, text]) =>
    logLines(text, gate as Gate),
  );
  for (const line of mergeLogs(...gates)) print(line);
  return 0;
}

/** `logs --follow`: until Ctrl-C (exit 0), or until every gate's log has ended (exit 1). */
function followLogs(target: Target, since: { since?: string }, print: (line: LogLine) => void): Promise<number> {
  const following = followGates(
    target.deployed.followGateLogs(since),
    {
      line: print,
      ended: (gate, code) =>
        console.error(
          `bottle: the ${gate} log ended (exit ${code ?? "by signal"}): its container stopped or went away; ` +
            `npm run bottle -- status ${target.stack} ${target.bottle} shows it`,
        ),
    },
    { windowMs: FOLLOW_WINDOW_MS },
  );
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    following.stop();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return following.done.then(() => {
    if (interrupted) return 0;
    console.error("bottle: every gate's log ended");
    return 1;
  });
}

function blocked(target: Target, options: { since?: string; json?: boolean; suggest?: boolean; write?: boolean }): number {
  const log = target.deployed.gateLogs({ timestamps: true, ...(options.since !== undefined && { since: options.since }) });
  const refusals = refusalsOf(Object.entries(log).flatMap(([gate, text]) => logLines(text, gate as Gate).map(gateLine)));
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
        follow: { type: "boolean", short: "f" },
        all: { type: "boolean" },
        suggest: { type: "boolean" },
        write: { type: "boolean" },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
}

function main(): number | Promise<number> {
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
      return logs(t, values);
  }
}

function failed(err: unknown): void {
  console.error(`bottle: ${(err as Error).message}`);
  exitAfterOutput(err instanceof UsageError ? 2 : 1);
}

try {
  Promise.resolve(main()).then(exitAfterOutput, failed);
} catch (err) {
  failed(err);
}
