/**
 * Interrupting a real `pulumi up` at a chosen moment, and what to look at afterwards: the CLI
 * started as a job of its own (its own process group, as a terminal starts it) so that it can be
 * sent Ctrl-C's SIGINT or killed, the engine's container events that pick the moment, a sampler
 * of a gate's configuration volume, the gates' reload lines, the backend's lock files, and the
 * stack's state beside what the engine holds.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LABEL_KEYS } from "../../../components/vocabulary";
import { runDetached } from "./docker";
import { mustRun, run } from "./process";
import { e2eRun } from "./run-env";
import { TestStack } from "./stack";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  seconds: number;
}

/** A `pulumi up` running as a job of its own. */
export interface RunningUp {
  /**
   * SIGINT goes to the job's process group, as Ctrl-C sends it: the CLI (each plugin runs in a
   * process group of its own, so the CLI stops them). SIGKILL goes to the CLI and every process
   * under it, plugins included, as a CI runner's cgroup kill or a lost machine ends them: killing
   * the CLI alone leaves its plugins running, orphaned, finishing the steps under way and never
   * exiting. Returns the pids it signalled.
   */
  interrupt(signal: "SIGINT" | "SIGKILL"): number[];
  exited: Promise<Exit>;
  pid: number;
}

/** Starts `pulumi up --yes --skip-preview` of `stack` in its own process group, with the stack's environment. */
export function startUp(stack: TestStack): RunningUp {
  const { argv, cwd, env } = stack.command(["up", "--yes", "--skip-preview", "--color", "never"]);
  const started = Date.now();
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, output, seconds: (Date.now() - started) / 1000 }));
  });
  return {
    pid: child.pid!,
    exited,
    interrupt: (signal) => {
      const pids = signal === "SIGINT" ? [child.pid!] : [child.pid!, ...descendants(child.pid!)];
      process.kill(-child.pid!, signal);
      for (const pid of pids.slice(1)) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // it exited since the scan
        }
      }
      return pids;
    },
  };
}

/** The processes under `pid` (children, theirs, ...), from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after its ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while read
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** One container event of the engine, as `docker events --format '{{json .}}'` prints it. */
export interface ContainerEvent {
  action: string;
  name: string;
  role: string;
  at: number;
}

/** The engine's container events for one stack, from now on; `next` resolves on the first one `match` accepts. */
export function watchContainers(stack: string): {
  next(match: (e: ContainerEvent) => boolean, timeoutMs: number): Promise<ContainerEvent>;
  stop(): void;
} {
  const child = spawn(
    "docker",
    ["events", "--filter", "type=container", "--filter", `label=${LABEL_KEYS.stack}=${stack}`, "--format", "{{json .}}"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const seen: ContainerEvent[] = [];
  const waiting: { match: (e: ContainerEvent) => boolean; resolve: (e: ContainerEvent) => void }[] = [];
  let rest = "";
  child.stdout.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const json = JSON.parse(line) as { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
      const event = {
        action: json.Action,
        name: json.Actor.Attributes.name ?? "",
        role: json.Actor.Attributes[LABEL_KEYS.role] ?? "",
        at: json.timeNano / 1e6,
      };
      seen.push(event);
      for (const w of waiting.filter((w) => w.match(event))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(event);
      }
    }
  });
  return {
    next: (match, timeoutMs) =>
      new Promise((resolve, reject) => {
        const found = seen.find(match);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error(`no matching container event of ${stack} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      }),
    stop: () => child.kill(),
  };
}

/**
 * Runs `pulumi up` of `stack` and sends `signal` to it as soon as the engine reports a container
 * event `when` accepts; returns the event, how long after it the signal went, and how the CLI ended.
 */
export async function interruptUp(
  stack: TestStack,
  signal: "SIGINT" | "SIGKILL",
  when: (e: ContainerEvent) => boolean,
): Promise<{ event: ContainerEvent; exit: Exit; pid: number; signalled: number[]; secondsToExit: number }> {
  const events = watchContainers(stack.name);
  try {
    const up = startUp(stack);
    const event = await Promise.race([
      events.next(when, 240_000),
      up.exited.then((exit) => {
        throw new Error(`up ended (code ${exit.code}) before the moment to interrupt it:\n${exit.output.slice(-3000)}`);
      }),
    ]);
    const signalled = up.interrupt(signal);
    const at = Date.now();
    const exit = await up.exited;
    return { event, exit, pid: up.pid, signalled, secondsToExit: (Date.now() - at) / 1000 };
  } finally {
    events.stop();
  }
}

/** The lock files of a stack in the run's file backend (a run holds one while it runs). */
export function lockFiles(stack: string): string[] {
  const dir = path.join(TestStack.backendDir, ".pulumi", "locks", "organization");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((project) => path.join(dir, project, stack))
    .filter((d) => fs.existsSync(d))
    .flatMap((d) =>
      fs
        .readdirSync(d)
        .filter((f) => f.endsWith(".json"))
        .map((f) => path.join(d, f)),
    );
}

/** The bottle's Docker objects as "kind name": what the engine holds (test helpers left out) and what the state records. */
export async function stateAndEngine(stack: TestStack): Promise<{ engine: string[]; state: string[] }> {
  const filter = `label=${LABEL_KEYS.stack}=${stack.name}`;
  const list = async (argv: string[], kind: string) =>
    (await mustRun(argv))
      .split("\n")
      .filter(Boolean)
      .filter((line) => !line.split(" ")[1]?.startsWith("test-"))
      .map((line) => `${kind} ${line.split(" ")[0]}`);
  const role = `{{.Label "${LABEL_KEYS.role}"}}`;
  const engine = [
    ...(await list(["docker", "ps", "-a", "--filter", filter, "--format", `{{.Names}} ${role}`], "container")),
    ...(await list(["docker", "network", "ls", "--filter", filter, "--format", `{{.Name}} ${role}`], "network")),
    ...(await list(["docker", "volume", "ls", "--filter", filter, "--format", `{{.Name}} ${role}`], "volume")),
  ].sort();
  const kinds: Record<string, string> = {
    "docker:index/container:Container": "container",
    "docker:index/network:Network": "network",
    "docker:index/volume:Volume": "volume",
  };
  const exported = JSON.parse(await stack.exportState()) as { deployment: { resources?: { type: string; outputs?: { name?: string } }[] } };
  const state = (exported.deployment.resources ?? [])
    .filter((r) => kinds[r.type] !== undefined && r.outputs?.name)
    .map((r) => `${kinds[r.type]} ${r.outputs!.name}`)
    .sort();
  return { engine, state };
}

/** One sample of a gate's configuration volume: where `current` points, and the sha256 of its document ("none" when unreadable). */
export interface VolumeSample {
  at: number;
  generation: string;
  hash: string;
}

/**
 * A container reading a gate's configuration volume every 100 ms, as the gate's uid (the files
 * are 0400): where `current` points and the sha256 of the document in it, one line each.
 */
export async function startVolumeSampler(
  stack: string,
  volume: string,
  uid: number,
  document: string,
): Promise<{ stop(): Promise<VolumeSample[]> }> {
  const name = `${volume}-sampler`;
  const script = [
    "while :; do",
    `  g=$(readlink /live/current || echo none); h=$(sha256sum /live/current/${document} 2>/dev/null | cut -c1-64)`,
    '  echo "$(date +%s.%N) $g $h"',
    "  sleep 0.1",
    "done",
  ].join("\n");
  await mustRun([
    ...runDetached(name, stack, "test-sampler"),
    "--user",
    `${uid}:${uid}`,
    "--network",
    "none",
    "--read-only",
    "-v",
    `${volume}:/live:ro`,
    "--entrypoint",
    "sh",
    e2eRun().images.egressProxy,
    "-c",
    script,
  ]); // fmt: skip
  return {
    stop: async () => {
      const logs = await mustRun(["docker", "logs", name]);
      await run(["docker", "rm", "-f", name]);
      return logs
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [at = "0", generation = "", hash = ""] = line.split(" ");
          return { at: Number(at) * 1000, generation, hash: hash || "none" };
        });
    },
  };
}

/** A gate's `config_reload` lines (both gates print them) since it started: status and the hash it confirmed. */
export async function reloadLines(container: string): Promise<{ status: string; hash?: string }[]> {
  const logs = await run(["docker", "logs", container]);
  return `${logs.stdout}\n${logs.stderr}`
    .split("\n")
    .filter((line) => line.includes('"config_reload"'))
    .map((line) => {
      const json = JSON.parse(line.slice(line.indexOf("{"))) as { status: string; config_hash?: string };
      return { status: json.status, ...(json.config_hash && { hash: json.config_hash }) };
    });
}
