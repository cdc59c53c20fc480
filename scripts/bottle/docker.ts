/**
 * A bottle on a Docker engine (the stack file's `docker.host`, else DOCKER_HOST, else the local
 * one): its containers, found by their labels, as `docker inspect` describes them.
 */
import { X509Certificate } from "node:crypto";
import {
  AGENT_CA_FILE,
  EGRESS_PROXY_URL,
  LABEL_KEYS,
  objectName,
  SELF_TEST_SCRIPT,
  selfTestEnvironment,
  WORKSPACE_ROLE,
  type WorkloadRole,
} from "../../components/index";
import { type BottleRef, type Cli, type DeployedBottle, type Engine, gatesAmong, logFlags } from "./deployed";

/** The stack file's `docker` setting that names a bottle's engine. */
export const DOCKER_ENGINE_KEYS = ["host"] as const;

/** The gates with a way out, which resolve names outside the bottle. */
const PIPELOCKS: readonly string[] = ["pipelock", "pipelock-bulk"] satisfies readonly WorkloadRole[];

export function dockerBottle(ref: BottleRef, engine: Engine, cli: Cli): DeployedBottle {
  const { stack, bottle } = ref;
  const env = { ...cli.env, ...(engine.host && { DOCKER_HOST: engine.host }) };
  const where = engine.host ?? cli.env.DOCKER_HOST ?? "the local Docker engine";
  const docker = (args: string[], opts: { interactive?: boolean } = {}) => cli.run("docker", args, { env, ...opts });

  const containers = (): ContainerState[] => {
    const filter = (key: string, value: string) => ["--filter", `label=${key}=${value}`];
    const ids = docker(["ps", "-aq", ...filter(LABEL_KEYS.stack, stack), ...filter(LABEL_KEYS.bottle, bottle)]);
    if (ids.status !== 0) throw new Error(`docker on ${where}: ${ids.stderr.trim()}`);
    const list = ids.stdout.split("\n").filter(Boolean);
    if (list.length === 0) {
      throw new Error(
        `no container of bottle "${bottle}" of stack "${stack}" on ${where}: is the stack up? (scripts/up ${stack}, or scripts/pulumi up)`,
      );
    }
    return containerStates(docker(["inspect", ...list]).stdout);
  };
  const role = (all: ContainerState[], name: WorkloadRole): ContainerState => {
    const found = all.find((c) => c.role === name);
    if (!found)
      throw new Error(
        `bottle "${bottle}" of stack "${stack}" has no ${name} container${name === "agent" ? " (the bottle declares no agent)" : ""}`,
      );
    return found;
  };

  return {
    execInAgent(command) {
      const agent = role(containers(), "agent");
      const workspace = agent.mounts.find((m) => m.source === objectName(stack, bottle, WORKSPACE_ROLE) || m.kind === "bind");
      const args = [
        "exec",
        ...(cli.tty ? ["-it"] : ["-i"]),
        "--user",
        agent.user || "1000:1000",
        ...(workspace ? ["--workdir", workspace.destination] : []),
        agent.name,
        ...command,
      ];
      return docker(args, { interactive: true }).status ?? 1;
    },

    status() {
      const all = containers();
      console.log(`bottle "${bottle}" of stack "${stack}" on ${where}`);
      for (const c of all.sort((a, b) => a.role.localeCompare(b.role))) {
        const health = c.health ? `, ${c.health}` : "";
        console.log(
          `  ${c.role.padEnd(13)} ${c.name}: ${c.status}${health}, since ${c.startedAt}; ${c.pidsLimit ?? "no"} processes at most; ${c.image}`,
        );
      }
      const agent = all.find((c) => c.role === "agent");
      if (!agent) return all.every((c) => c.status === "running") ? 0 : 1;
      const pem = docker(["exec", agent.name, "cat", AGENT_CA_FILE]);
      if (pem.status === 0) {
        const cert = new X509Certificate(pem.stdout);
        const days = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
        console.log(
          `  egress-proxy CA: valid until ${new Date(cert.validTo).toISOString()} (${days} days)${days < 30 ? " - renew it: scripts/pulumi up --replace on the bottle's CA" : ""}`,
        );
      }
      const egress = role(all, "egress-proxy");
      console.log("  self-test, now:");
      const variables = selfTestEnvironment({
        stack,
        bottle,
        agentContainer: agent.name,
        proxyUrl: EGRESS_PROXY_URL,
        processLimits: all
          .filter((c) => c.pidsLimit)
          .map((c) => `${c.name}=${c.pidsLimit}`)
          .join(" "),
        // Only the pipelocks resolve names outside the bottle.
        noDnsContainers: all
          .filter((c) => !PIPELOCKS.includes(c.role))
          .map((c) => c.name)
          .join(" "),
        probeImage: egress.image,
      });
      const run = cli.run("/bin/sh", ["-c", SELF_TEST_SCRIPT], { env: { ...env, ...variables } });
      process.stdout.write(`${run.stdout}${run.stderr}`.replace(/^/gm, "    "));
      const unhealthy = all.some((c) => c.status !== "running" || (c.health !== undefined && c.health !== "healthy"));
      return run.status === 0 && !unhealthy ? 0 : 1;
    },

    gateLogs(options) {
      const all = containers();
      const log = (gate: WorkloadRole) => {
        const out = docker(["logs", ...logFlags(options), role(all, gate).name]);
        return `${out.stdout}\n${out.stderr}`;
      };
      return Object.fromEntries(gatesAmong(all.map((c) => c.role)).map((gate) => [gate, log(gate)]));
    },

    followGateLogs(options) {
      const all = containers();
      const follow = (gate: WorkloadRole) =>
        cli.follow("docker", ["logs", ...logFlags({ ...options, follow: true, timestamps: true }), role(all, gate).name], { env });
      return Object.fromEntries(gatesAmong(all.map((c) => c.role)).map((gate) => [gate, follow(gate)]));
    },
  };
}

/** What `docker inspect` says about one container, as status prints it. */
export interface ContainerState {
  name: string;
  role: string;
  status: string;
  health?: string;
  image: string;
  startedAt: string;
  user: string;
  pidsLimit?: number;
  /** Mount destinations by source name (a volume) or host path (a bind). */
  mounts: { source: string; destination: string; kind: string }[];
}

/** Parses `docker inspect` output (a JSON array) into container states. */
export function containerStates(inspectJson: string): ContainerState[] {
  const list = JSON.parse(inspectJson) as {
    Name: string;
    Config: { Labels?: Record<string, string>; Image: string; User?: string };
    State: { Status: string; StartedAt: string; Health?: { Status: string } };
    HostConfig: { PidsLimit?: number | null };
    Mounts?: { Type: string; Name?: string; Source: string; Destination: string }[];
  }[];
  return list.map((c) => ({
    name: c.Name.replace(/^\//, ""),
    role: c.Config.Labels?.[LABEL_KEYS.role] ?? "?",
    status: c.State.Status,
    ...(c.State.Health && { health: c.State.Health.Status }),
    image: c.Config.Image,
    startedAt: c.State.StartedAt,
    user: c.Config.User ?? "",
    ...(c.HostConfig.PidsLimit ? { pidsLimit: c.HostConfig.PidsLimit } : {}),
    mounts: (c.Mounts ?? []).map((m) => ({
      source: m.Type === "volume" ? (m.Name ?? m.Source) : m.Source,
      destination: m.Destination,
      kind: m.Type,
    })),
  }));
}
