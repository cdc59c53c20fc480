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
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { AGENT_CA_FILE } from "../components/agent/env";
import { SELF_TEST_SCRIPT, selfTestEnvironment } from "../components/docker/self-test/self-test";
import { EGRESS_PROXY_URL } from "../components/egress-proxy/workload";
import { DEFAULT_WORKSPACE_PATH, formatProblems, validateStackConfig } from "../components/config";
import { readStackFile } from "../infra/stack-file";
import { applySuggestions, egressProxyRefusals, formatRefusals, groupRefusals, hostSuggestions, pipelockRefusals, unifiedDiff } from "./bottle/blocked";
import { bottlesOfStackFile, chooseBottle, ContainerState, containerStates, Engine, logLines, mergeLogs } from "./bottle/inspect";
import { exitAfterOutput } from "./lib/exit";
import { shellArgv } from "./bottle/shell";

const USAGE =
  "usage: npm run bottle -- <shell|claude|status|logs|blocked> <stack> [<bottle>] [--file <stack file>] [--since <duration>] " +
  "[--json] [--suggest] [--write] [-- args]";

class UsageError extends Error {}

interface Target {
  stack: string;
  bottle: string;
  stackFile: string;
  env: NodeJS.ProcessEnv;
  engine: string;
  /** A bottle on Kubernetes: kubectl's flags for its cluster, and its namespace. */
  cluster?: { flags: string[]; namespace: string };
}

function kubectl(target: Target, args: string[], opts: { interactive?: boolean } = {}) {
  return spawnSync("kubectl", [...target.cluster!.flags, ...args], {
    env: target.env,
    encoding: "utf8",
    stdio: opts.interactive ? "inherit" : ["pipe", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
}

/** kubectl's flags for a cluster: a kubeconfig given by its contents goes to a private file. */
function clusterFlags(engine: Extract<Engine, { backend: "kubernetes" }>): string[] {
  let kubeconfig = engine.kubeconfig;
  if (kubeconfig?.includes("\n")) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-kubeconfig-"));
    const file = path.join(dir, "config");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    kubeconfig = file;
  }
  return [...(kubeconfig !== undefined ? ["--kubeconfig", kubeconfig] : []), ...(engine.context !== undefined ? ["--context", engine.context] : [])];
}

/** On Kubernetes: a command in the agent's pod, in its workspace. */
function execInAgentPod(target: Target, command: string[]): number {
  const workspace = workspacePath(target);
  const tty = process.stdin.isTTY && process.stdout.isTTY;
  const inWorkspace = ["sh", "-c", 'cd "$0" 2>/dev/null; exec "$@"', workspace, ...command];
  const args = ["exec", ...(tty ? ["-it"] : ["-i"]), "-n", target.cluster!.namespace, "deploy/agent", "-c", "agent", "--", ...inWorkspace];
  return kubectl(target, args, { interactive: true }).status ?? 1;
}

function workspacePath(target: Target): string {
  const { config } = readStackFile(fs.readFileSync(target.stackFile, "utf8"), () => "placeholder");
  const bottle = (Array.isArray(config.bottles) ? config.bottles : []).find((b: { name?: unknown }) => b.name === target.bottle) as { agent?: { workspace?: { path?: string } } } | undefined;
  return bottle?.agent?.workspace?.path ?? DEFAULT_WORKSPACE_PATH;
}

/** On Kubernetes: the bottle's pods and the last self-test Job. */
function podStatus(target: Target): number {
  const { namespace } = target.cluster!;
  const pods = kubectl(target, ["get", "pods", "-n", namespace, "-o", "json"]);
  if (pods.status !== 0) throw new Error(`kubectl on ${target.engine}: ${pods.stderr.trim()}`);
  const items = (JSON.parse(pods.stdout) as { items: PodState[] }).items;
  if (items.length === 0) throw new Error(`no pod of bottle "${target.bottle}" of stack "${target.stack}" in namespace ${namespace} on ${target.engine}: is the stack up?`);
  console.log(`bottle "${target.bottle}" of stack "${target.stack}" in namespace ${namespace} on ${target.engine}`);
  let ok = true;
  for (const pod of items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const role = pod.metadata.labels?.["bot-bottle.role"] ?? "?";
    const containers = (pod.status.containerStatuses ?? []).map((c) => `${c.name} ${c.ready ? "ready" : "not ready"}, ${c.restartCount} restarts`).join("; ");
    console.log(`  ${role.padEnd(12)} ${pod.metadata.name}: ${pod.status.phase}; ${containers}`);
    if (role !== "self-test" && !(pod.status.containerStatuses ?? []).every((c) => c.ready)) ok = false;
  }
  const job = kubectl(target, ["get", "job", "self-test", "-n", namespace, "-o", "jsonpath={.status.succeeded}"]);
  console.log(`  self-test (the Job of the last up): ${job.stdout === "1" ? "passed" : "did not pass"}`);
  return ok && job.stdout === "1" ? 0 : 1;
}

interface PodState {
  metadata: { name: string; labels?: Record<string, string> };
  status: { phase: string; containerStatuses?: { name: string; ready: boolean; restartCount: number }[] };
}

function docker(target: Target, args: string[], opts: { interactive?: boolean; input?: string } = {}) {
  return spawnSync("docker", args, {
    env: target.env,
    encoding: "utf8",
    stdio: opts.interactive ? "inherit" : ["pipe", "pipe", "pipe"],
    ...(opts.input !== undefined && { input: opts.input }),
    maxBuffer: 256 * 1024 * 1024,
  });
}

function containersOf(target: Target): ContainerState[] {
  const filter = (key: string, value: string) => ["--filter", `label=bot-bottle.${key}=${value}`];
  const ids = docker(target, ["ps", "-aq", ...filter("stack", target.stack), ...filter("bottle", target.bottle)]);
  if (ids.status !== 0) throw new Error(`docker on ${target.engine}: ${ids.stderr.trim()}`);
  const list = ids.stdout.split("\n").filter(Boolean);
  if (list.length === 0) {
    throw new Error(`no container of bottle "${target.bottle}" of stack "${target.stack}" on ${target.engine}: is the stack up? (scripts/up ${target.stack}, or scripts/pulumi up)`);
  }
  return containerStates(docker(target, ["inspect", ...list]).stdout);
}

function role(containers: ContainerState[], name: string, target: Target): ContainerState {
  const found = containers.find((c) => c.role === name);
  if (!found) throw new Error(`bottle "${target.bottle}" of stack "${target.stack}" has no ${name} container${name === "agent" ? " (the bottle declares no agent)" : ""}`);
  return found;
}

/** `docker exec` into the agent as its user, in its workspace: interactive on a terminal. */
function execInAgent(target: Target, command: string[]): number {
  const agent = role(containersOf(target), "agent", target);
  const workspace = agent.mounts.find((m) => m.source === `${target.stack}-${target.bottle}-workspace` || m.kind === "bind");
  const tty = process.stdin.isTTY && process.stdout.isTTY;
  const args = ["exec", ...(tty ? ["-it"] : ["-i"]), "--user", agent.user || "1000:1000", ...(workspace ? ["--workdir", workspace.destination] : []), agent.name, ...command];
  return docker(target, args, { interactive: true }).status ?? 1;
}

function status(target: Target): number {
  const containers = containersOf(target);
  console.log(`bottle "${target.bottle}" of stack "${target.stack}" on ${target.engine}`);
  for (const c of containers.sort((a, b) => a.role.localeCompare(b.role))) {
    const health = c.health ? `, ${c.health}` : "";
    console.log(`  ${c.role.padEnd(13)} ${c.name}: ${c.status}${health}, since ${c.startedAt}; ${c.pidsLimit ?? "no"} processes at most; ${c.image}`);
  }
  const agent = containers.find((c) => c.role === "agent");
  if (agent) {
    const pem = docker(target, ["exec", agent.name, "cat", AGENT_CA_FILE]);
    if (pem.status === 0) {
      const cert = new X509Certificate(pem.stdout);
      const days = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
      console.log(`  egress-proxy CA: valid until ${new Date(cert.validTo).toISOString()} (${days} days)${days < 30 ? " - renew it: scripts/pulumi up --replace on the bottle's CA" : ""}`);
    }
    const egress = role(containers, "egress-proxy", target);
    console.log("  self-test, now:");
    const run = spawnSync("/bin/sh", ["-c", SELF_TEST_SCRIPT], {
      env: {
        ...target.env,
        ...selfTestEnvironment({
          stack: target.stack,
          bottle: target.bottle,
          agentContainer: agent.name,
          proxyUrl: EGRESS_PROXY_URL,
          processLimits: containers.filter((c) => c.pidsLimit).map((c) => `${c.name}=${c.pidsLimit}`).join(" "),
          // Only the pipelocks resolve names outside the bottle.
          noDnsContainers: containers.filter((c) => !PIPELOCKS.includes(c.role)).map((c) => c.name).join(" "),
          probeImage: egress.image,
        }),
      },
      encoding: "utf8",
    });
    process.stdout.write(`${run.stdout}${run.stderr}`.replace(/^/gm, "    "));
    const unhealthy = containers.some((c) => c.status !== "running" || (c.health !== undefined && c.health !== "healthy"));
    return run.status === 0 && !unhealthy ? 0 : 1;
  }
  return containers.every((c) => c.status === "running") ? 0 : 1;
}

/** The gates whose logs `logs` and `blocked` read: pipelock-bulk only where a route uses the bulk lane. */
const GATE_LOGS = ["egress-proxy", "pipelock", "pipelock-bulk"] as const;
type Gate = (typeof GATE_LOGS)[number];
/** The gates with a way out, which resolve names outside the bottle. */
const PIPELOCKS: readonly string[] = ["pipelock", "pipelock-bulk"];

/** The gates a bottle runs, of those whose logs are read: pipelock-bulk is there only with a bulk lane. */
const gatesAmong = (roles: readonly string[]): Gate[] => GATE_LOGS.filter((gate) => gate !== "pipelock-bulk" || roles.includes(gate));

/** The gates' logs (stdout and stderr), as `docker logs` or `kubectl logs` give them. */
function gateLogs(target: Target, options: { since?: string; timestamps?: boolean }): Partial<Record<Gate, string>> {
  const flags = [...(options.timestamps ? ["--timestamps"] : []), ...(options.since ? ["--since", options.since] : [])];
  if (target.cluster) {
    const deployments = kubectl(target, ["get", "deployments", "-n", target.cluster.namespace, "-o", "jsonpath={.items[*].metadata.name}"]).stdout.split(" ");
    const podLog = (gate: string) => {
      const out = kubectl(target, ["logs", "-n", target.cluster!.namespace, `deploy/${gate}`, "-c", gate, ...flags]);
      if (out.status !== 0) throw new Error(`kubectl logs ${gate} on ${target.engine}: ${out.stderr.trim()}`);
      return out.stdout;
    };
    return Object.fromEntries(gatesAmong(deployments).map((gate) => [gate, podLog(gate)]));
  }
  const containers = containersOf(target);
  const log = (gate: string) => {
    const out = docker(target, ["logs", ...flags, role(containers, gate, target).name]);
    return `${out.stdout}\n${out.stderr}`;
  };
  return Object.fromEntries(gatesAmong(containers.map((c) => c.role)).map((gate) => [gate, log(gate)]));
}

function logs(target: Target, since: string | undefined): number {
  const gates = Object.entries(gateLogs(target, { timestamps: true, ...(since !== undefined && { since }) })).map(([gate, text]) => logLines(text, gate));
  for (const line of mergeLogs(...gates)) console.log(`${line.time} ${line.gate.padEnd(13)} ${line.text}`);
  return 0;
}

function blocked(target: Target, options: { since?: string; json?: boolean; suggest?: boolean; write?: boolean }): number {
  const log = gateLogs(target, { ...(options.since !== undefined && { since: options.since }) });
  const refusals = [...egressProxyRefusals(log["egress-proxy"] ?? ""), ...pipelockRefusals(log.pipelock ?? ""), ...pipelockRefusals(log["pipelock-bulk"] ?? "")];
  const groups = groupRefusals(refusals);
  const suggestions = hostSuggestions(refusals);
  const before = fs.readFileSync(target.stackFile, "utf8");
  const applied = options.suggest || options.write ? applySuggestions(before, target.bottle, suggestions) : undefined;
  const file = path.relative(process.cwd(), target.stackFile) || target.stackFile;
  const diff = applied ? unifiedDiff(file, before, applied.text) : "";
  if (options.json) {
    console.log(JSON.stringify({ stack: target.stack, bottle: target.bottle, refused: groups, ...(applied && { suggestions, diff, notes: applied.notes }) }, null, 2));
  } else {
    process.stdout.write(formatRefusals(groups, { stack: target.stack, bottle: target.bottle, ...(options.since && { since: options.since }) }));
    if (applied) {
      process.stdout.write(diff ? `\nThe narrowest change that allows what the routes refused (review it; nothing is written${options.write ? " yet" : " without --write"}):\n\n${diff}` : "\nNothing to suggest: no refusal is one a route could allow.\n");
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
  if (engine.backend === "kubernetes") {
    return {
      stack,
      bottle: name,
      stackFile,
      env: process.env,
      engine: `the Kubernetes cluster ${engine.context ?? "of the kubeconfig's current context"}`,
      cluster: { flags: clusterFlags(engine), namespace: `${stack}-${name}` },
    };
  }
  const host = engine.host;
  return {
    stack,
    bottle: name,
    stackFile,
    env: { ...process.env, ...(host && { DOCKER_HOST: host }) },
    engine: host ?? process.env.DOCKER_HOST ?? "the local Docker engine",
  };
}

function main(): number {
  const dashdash = process.argv.indexOf("--", 2);
  const own = dashdash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashdash);
  const rest = dashdash === -1 ? [] : process.argv.slice(dashdash + 1);
  let parsed;
  try {
    parsed = parseArgs({
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
  const { values, positionals } = parsed;
  const [command, stack, bottle] = positionals;
  if (!command || !stack || !["shell", "claude", "status", "logs", "blocked"].includes(command)) throw new UsageError(USAGE);
  const t = target(stack, bottle, values.file ? path.resolve(values.file) : undefined);
  switch (command) {
    case "shell": {
      const command = shellArgv(rest);
      return t.cluster ? execInAgentPod(t, command) : execInAgent(t, command);
    }
    case "claude":
      return t.cluster ? execInAgentPod(t, ["claude", ...rest]) : execInAgent(t, ["claude", ...rest]);
    case "status":
      return t.cluster ? podStatus(t) : status(t);
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
