/**
 * What an interrupted or concurrent Pulumi run left on a stack, and the exact commands that
 * recover it. `scripts/pulumi` runs it before `up`, `destroy`, `preview` and `refresh`:
 *
 *   - a lock (file backend only: `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`):
 *     Pulumi writes one per run and deletes it at the end; a run killed with SIGKILL (a closed
 *     terminal, a cancelled CI job, the OOM killer) leaves it, and every later run of the stack
 *     is refused. Held by a process still running here: wait. Held by a process of this host
 *     that is gone: stale, and this says how to remove it. Held elsewhere: this host cannot tell;
 *   - pending operations (any backend: `pulumi stack export`): a run killed while the engine
 *     was creating, updating or deleting a resource records it, and no one knows whether it
 *     happened. `up` keeps them and would create a pending create again (a container the killed
 *     run made is left beside the new one, unknown to the state, holding its volumes), so `up`
 *     and `destroy` stop here until a refresh settles them. A container or network a pending
 *     create left on the engine is to be removed, a volume kept for the next up to take over,
 *     and the pending creates cleared.
 *
 * Nothing is deleted or changed here: it prints what happened and the commands, and exits 1
 * when the operation must not run: a lock before `up`, `destroy` or `refresh` (a preview takes
 * no lock), pending operations before `up` or `destroy`.
 *
 *   node --import tsx scripts/stuck-stack.ts STACK OPERATION    (in the project's directory)
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { exitAfterOutput } from "./lib/exit";

/** An operation Pulumi recorded as started and not finished. */
export interface PendingOperation {
  urn: string;
  /** Pulumi's word: "creating", "updating", "deleting", "reading", "importing". */
  operation: string;
  /** The resource's type token, e.g. `docker:index/container:Container`. */
  type: string;
  /** The object's name on the engine, when the resource has one among its inputs. */
  name?: string;
  /** The Docker engine of its provider (`docker.host`, DOCKER_HOST's form), when the provider names one. */
  dockerHost?: string;
}

/** The operations a `pulumi stack export` (deployment version 3) records as pending. Pure. */
export function pendingOperations(exported: unknown): PendingOperation[] {
  const deployment = (exported as { deployment?: { pending_operations?: unknown; resources?: unknown } } | null)?.deployment;
  const pending = deployment?.pending_operations;
  if (!Array.isArray(pending)) return [];
  const resources = Array.isArray(deployment?.resources) ? (deployment.resources as { urn?: unknown; inputs?: { host?: unknown } }[]) : [];
  return pending.flatMap((entry) => {
    const op = entry as { type?: unknown; resource?: { urn?: unknown; type?: unknown; inputs?: { name?: unknown }; provider?: unknown } };
    const urn = op.resource?.urn;
    if (typeof urn !== "string" || typeof op.type !== "string") return [];
    const name = op.resource?.inputs?.name;
    // A provider reference is "<provider's URN>::<its id>".
    const provider = typeof op.resource?.provider === "string" ? op.resource.provider.split("::").slice(0, -1).join("::") : undefined;
    const host = resources.find((r) => r.urn === provider)?.inputs?.host;
    return [
      {
        urn,
        operation: op.type,
        type: typeof op.resource?.type === "string" ? op.resource.type : "",
        ...(typeof name === "string" && { name }),
        ...(typeof host === "string" && { dockerHost: host }),
      },
    ];
  });
}

/** A DIY backend's lock file: who started the run that holds the stack. */
export interface StackLock {
  file: string;
  pid: number;
  username: string;
  hostname: string;
  timestamp: string;
}

/** A lock file's content (`{"pid":…,"username":…,"hostname":…,"timestamp":…}`), or why it is not one. Pure. */
export function parseLock(file: string, text: string): StackLock | { file: string; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { file, problem: "not JSON" };
  }
  const { pid, username, hostname, timestamp } = (json ?? {}) as Record<string, unknown>;
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return { file, problem: "no pid" };
  if (typeof hostname !== "string" || hostname === "") return { file, problem: "no hostname" };
  return { file, pid, hostname, username: typeof username === "string" ? username : "?", timestamp: String(timestamp ?? "?") };
}

/** Whether the run holding a lock is still going: "running" or "gone" on this host; "elsewhere" cannot be told. */
export type LockHolder = "running" | "gone" | "elsewhere";

/** Pure: `isPulumi(pid)` says whether that pid is a running `pulumi` process of this host. */
export function lockHolder(lock: StackLock, thisHost: string, isPulumi: (pid: number) => boolean): LockHolder {
  if (lock.hostname !== thisHost) return "elsewhere";
  return isPulumi(lock.pid) ? "running" : "gone";
}

/** The Docker object kinds of the docker provider's resource types. */
export const DOCKER_KINDS: Readonly<Record<string, "container" | "network" | "volume">> = {
  "docker:index/container:Container": "container",
  "docker:index/network:Network": "network",
  "docker:index/volume:Volume": "volume",
};

export interface Findings {
  stack: string;
  operation: string;
  locks: { lock: StackLock; holder: LockHolder }[];
  unreadableLocks: { file: string; problem: string }[];
  pending: PendingOperation[];
  /** Per pending create's URN: the id of the object on the engine, if it is there. */
  onEngine: Readonly<Record<string, string>>;
}

/** The operations that must not run over pending operations (they would act on a state that is not the truth). */
const SETTLE_FIRST = new Set(["up", "destroy"]);
/** The operations that take the stack's lock (a preview reads the state without it). */
const TAKES_LOCK = new Set(["up", "destroy", "refresh"]);

/** What to tell the user, and whether `operation` must stop. Pure. */
export function advice(f: Findings): { stop: boolean; message: string } {
  const lines: string[] = [];
  const cmd = (args: string) => `    scripts/pulumi ${args} --stack ${f.stack}`;
  let stop = false;
  for (const { lock, holder } of f.locks) {
    stop ||= TAKES_LOCK.has(f.operation);
    const who = `pulumi (pid ${lock.pid}, ${lock.username}@${lock.hostname}, since ${lock.timestamp})`;
    if (holder === "running") {
      lines.push(`stack ${f.stack} is locked by a run that is still going: ${who}, lock file ${lock.file}.`);
      lines.push("  Wait for it to end: two runs of one stack at once are refused (the second would overwrite the first's state).");
      continue;
    }
    lines.push(
      holder === "gone"
        ? `stack ${f.stack} is locked by ${who}, and that process is gone: it was killed before it could unlock (lock file ${lock.file}).`
        : `stack ${f.stack} is locked by ${who}, on another host: this one cannot tell whether it still runs (lock file ${lock.file}).`,
    );
    if (holder === "elsewhere") lines.push(`  Ask on ${lock.hostname}; only once that run is over:`);
    lines.push("  Remove the stale lock (it changes no resource; any pending operations below remain to be settled):");
    lines.push(cmd("cancel --yes"));
    lines.push(`  or remove that one file: rm '${lock.file}'`);
  }
  for (const { file, problem } of f.unreadableLocks) {
    stop ||= TAKES_LOCK.has(f.operation);
    lines.push(
      `stack ${f.stack} has a lock file Pulumi did not write as expected (${problem}): ${file}. Look at it; remove it only if no run is going.`,
    );
  }
  if (f.pending.length > 0) {
    stop ||= SETTLE_FIRST.has(f.operation);
    lines.push(
      `the last run of stack ${f.stack} was interrupted with ${f.pending.length} operation(s) unfinished; each may or may not have happened on the engine:`,
    );
    for (const op of f.pending) {
      const where = op.urn in f.onEngine ? `, on the engine as ${f.onEngine[op.urn]}` : op.name ? ", not on the engine" : "";
      lines.push(`  - ${op.operation} ${op.type} ${op.name ?? op.urn.split("::").at(-1)}${where}`);
    }
    const creates = f.pending.filter((op) => op.operation === "creating");
    const made = creates.filter((op) => op.urn in f.onEngine);
    // What the killed run made is removed, not adopted: `--import-pending-creates` did not keep
    // a container that never started, nor a network, in the state (docker provider 5.1): the
    // refresh dropped them and they stayed on the engine. The next up makes them again.
    // Containers go first (they hold the networks). A volume is kept: it may be a kept
    // workspace, and the next up takes it over by name (Docker's volume create returns it).
    for (const kind of ["container", "network"] as const) {
      const removed = made.filter((op) => DOCKER_KINDS[op.type] === kind);
      for (const host of new Set(removed.map((op) => op.dockerHost ?? ""))) {
        const names = removed.filter((op) => (op.dockerHost ?? "") === host).map((op) => op.name);
        lines.push(`  Remove the ${kind}(s) the interrupted creates left on the engine (in no state; the next up makes them again):`);
        lines.push(`    docker ${host ? `-H ${host} ` : ""}${kind} rm ${kind === "container" ? "-f " : ""}${names.join(" ")}`);
      }
    }
    const kept = made.filter((op) => DOCKER_KINDS[op.type] === "volume");
    if (kept.length > 0) lines.push(`  Keep the volume(s) ${kept.map((op) => op.name).join(", ")}: the next up takes them over by name.`);
    lines.push("  Settle them with a refresh, which reads every resource back from the engine:");
    lines.push(cmd(`refresh --yes${creates.length > 0 ? " --clear-pending-creates" : ""}`));
    lines.push(`  then bring the stack to its config again:\n${cmd("up")}`);
    if (stop && f.locks.length === 0)
      lines.push(`  (scripts/pulumi ${f.operation} waits for this: it would act on a state that is not the truth.)`);
  }
  return { stop, message: lines.join("\n") };
}

// --------------------------------------------------------------------------- reading them

/** The file backend's directory, from PULUMI_BACKEND_URL (`file://~` is the home directory); undefined for other backends. */
export function fileBackendDir(url: string, home: string): string | undefined {
  if (!url.startsWith("file://")) return undefined;
  const dir = url.slice("file://".length).split("?")[0]!;
  return dir === "~" || dir.startsWith("~/") ? path.join(home, dir.slice(1)) : dir;
}

function readLocks(backendDir: string, project: string, stack: string): ReturnType<typeof parseLock>[] {
  const dir = path.join(backendDir, ".pulumi", "locks", "organization", project, stack);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => parseLock(path.join(dir, name), fs.readFileSync(path.join(dir, name), "utf8")));
}

function isPulumiProcess(pid: number): boolean {
  try {
    return path.basename(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "") === "pulumi";
  } catch {
    return false;
  }
}

/** The id of a pending create's object on its engine, or undefined when it is not there. */
function dockerIdOf(op: PendingOperation): string | undefined {
  const kind = DOCKER_KINDS[op.type];
  if (kind === undefined || op.name === undefined) return undefined;
  const format = kind === "volume" ? "{{.Name}}" : "{{.Id}}";
  const r = spawnSync("docker", [...(op.dockerHost ? ["-H", op.dockerHost] : []), kind, "inspect", "-f", format, op.name], {
    encoding: "utf8",
  });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

function main(argv: string[]): number {
  const [stack, operation] = argv;
  if (stack === undefined || operation === undefined) {
    console.error("usage: node --import tsx scripts/stuck-stack.ts STACK OPERATION");
    return 2;
  }
  let exported: unknown;
  try {
    exported = JSON.parse(
      execFileSync("pulumi", ["stack", "export", "--stack", stack], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
    );
  } catch {
    return 0; // no such stack yet, or no state to read: Pulumi says so itself
  }
  const project = (parse(fs.readFileSync("Pulumi.yaml", "utf8")) as { name: string }).name;
  const backendDir = fileBackendDir(process.env.PULUMI_BACKEND_URL ?? "", os.homedir());
  const read = backendDir === undefined ? [] : readLocks(backendDir, project, stack);
  const pending = pendingOperations(exported);
  const onEngine = Object.fromEntries(
    pending
      .filter((op) => op.operation === "creating")
      .flatMap((op) => {
        const id = dockerIdOf(op);
        return id === undefined ? [] : [[op.urn, id]];
      }),
  );
  const { stop, message } = advice({
    stack,
    operation,
    locks: read.flatMap((l) => ("pid" in l ? [{ lock: l, holder: lockHolder(l, os.hostname(), isPulumiProcess) }] : [])),
    unreadableLocks: read.flatMap((l) => ("problem" in l ? [l] : [])),
    pending,
    onEngine,
  });
  if (message) console.error(`stuck-stack: ${message}`);
  return stop ? 1 : 0;
}

if (require.main === module) exitAfterOutput(main(process.argv.slice(2)));
