/**
 * Reading Docker objects from the end-to-end suite, through the `docker` CLI: networks,
 * addresses, what a stack left behind, files inside a container, raw connect attempts. `env`,
 * where a function takes it, names another engine (DOCKER_HOST: support/remote-engine.ts).
 */
import { spawn } from "node:child_process";
import { extract } from "tar-stream";
import { LABEL_KEYS } from "../../../components/vocabulary";
import { tcpProbeIn } from "./inside";
import { exec, mustRun, run, waitFor } from "./process";
import { e2eRun } from "./run-env";

export interface NetworkInfo {
  Name: string;
  IPAM: { Config: { Gateway?: string; Subnet?: string }[] };
  Containers: Record<string, { Name: string; IPv4Address: string }>;
}

/** `docker <kind> inspect` of one object, parsed. */
export async function inspect<T>(kind: "container" | "network" | "image" | "volume", name: string, env = process.env): Promise<T> {
  return (JSON.parse(await mustRun(["docker", kind, "inspect", name], { env })) as T[])[0]!;
}

export const network = (name: string, env = process.env) => inspect<NetworkInfo>("network", name, env);

/** A container's IPv4 address on one network. */
export async function ipOn(container: string, networkName: string, env = process.env): Promise<string> {
  const info = await inspect<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>("container", container, env);
  const ip = info.NetworkSettings.Networks[networkName]?.IPAddress;
  if (!ip) throw new Error(`${container} has no address on ${networkName}`);
  return ip;
}

/**
 * The one container of a bottle's role, by its labels: the gates' names are made by
 * Pulumi, afresh for each replacement (`<bottle>-<role>-<random>`).
 */
export async function containerOf(stack: string, bottle: string, role: string, env = process.env): Promise<string> {
  const found = await containersOf(stack, bottle, role, env);
  if (found.length !== 1) throw new Error(`expected one running ${role} of ${stack}/${bottle}, found ${found.length}: ${found.join(", ")}`);
  return found[0]!;
}

/** The containers of a role in a bottle (none, for a role the bottle does not have). */
export async function containersOf(stack: string, bottle: string, role: string, env = process.env): Promise<string[]> {
  const filters = [
    `label=${LABEL_KEYS.stack}=${stack}`,
    `label=${LABEL_KEYS.bottle}=${bottle}`,
    `label=${LABEL_KEYS.role}=${role}`,
  ].flatMap((f) => ["--filter", f]);
  return (await mustRun(["docker", "ps", "-a", ...filters, "--format", "{{.Names}}"], { env })).split("\n").filter(Boolean);
}

/** Containers, networks and volumes carrying `bot-bottle.stack=<stack>`, as "kind name". */
export async function labelled(stack: string, env = process.env): Promise<string[]> {
  const filter = `label=${LABEL_KEYS.stack}=${stack}`;
  const names = async (argv: string[]) => (await mustRun(argv, { env })).split("\n").filter(Boolean);
  return [
    ...(await names(["docker", "ps", "-a", "--filter", filter, "--format", "{{.Names}}"])).map((n) => `container ${n}`),
    ...(await names(["docker", "network", "ls", "--filter", filter, "--format", "{{.Name}}"])).map((n) => `network ${n}`),
    ...(await names(["docker", "volume", "ls", "--filter", filter, "--format", "{{.Name}}"])).map((n) => `volume ${n}`),
  ];
}

/**
 * Paths of the files in a container's filesystem (`docker export`: everything but /proc, /sys
 * and mounts) whose content holds `needle`. Read from the host, so no file is hidden by the
 * container's dropped capabilities.
 */
export async function filesContaining(container: string, needle: string): Promise<string[]> {
  return (await filesContainingAny(container, [needle]))[needle]!;
}

/** filesContaining for several needles in one export: the paths holding each, by needle. */
export async function filesContainingAny(container: string, needles: readonly string[]): Promise<Record<string, string[]>> {
  const hits: Record<string, string[]> = Object.fromEntries(needles.map((needle) => [needle, []]));
  const child = spawn("docker", ["export", container], { stdio: ["ignore", "pipe", "inherit"] });
  const tar = extract();
  child.stdout.pipe(tar);
  for await (const entry of tar) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const content = Buffer.concat(chunks);
    for (const needle of needles) if (content.includes(needle)) hits[needle]!.push(`/${entry.header.name}`);
  }
  return hits;
}

/** One TCP connect attempt from inside a container (see tcpProbeIn). */
export async function tcpProbe(
  container: string,
  python: string,
  host: string,
  port: number,
  timeoutS = 5,
  env = process.env,
): Promise<string> {
  const inContainer = (argv: string[]) => exec(container, argv, { timeoutMs: (timeoutS + 20) * 1000, env });
  return tcpProbeIn(inContainer, container, python, host, port, timeoutS);
}

/** Connect errors that mean "no way there"; ECONNREFUSED would mean the address was reachable. */
export const UNREACHABLE = /^failed: (ENETUNREACH|EHOSTUNREACH|timeout|dns .*)$/;

/**
 * What the host and a container know about reaching `ip`, for the message of a bypass check
 * that connected: which host interface holds the address, the host's route to it and its
 * listeners on `port`, and the container's routes and neighbours (from /proc: no tools needed).
 */
export async function reachEvidence(container: string, ip: string, port: number): Promise<string> {
  const host = await run([
    "sh",
    "-c",
    `ip -4 -o addr | grep -F ' ${ip}/'; ip route get ${ip}; ip neigh show ${ip}; ss -ltnH 'sport = :${port}'`,
  ]);
  const inside = await exec(container, ["cat", "/proc/net/route", "/proc/net/arp"]);
  return `host:\n${host.stdout}${host.stderr}${container}:\n${inside.stdout}${inside.stderr}`;
}

/** `docker run -d` of a test container, labelled with its stack (so the run's cleanup finds it) and role. */
export function runDetached(name: string, stack: string, role: string): string[] {
  return ["docker", "run", "-d", "--name", name, "--label", `${LABEL_KEYS.stack}=${stack}`, "--label", `${LABEL_KEYS.role}=${role}`];
}

/**
 * Starts the run's test upstream as `name` on `network` under `aliases`, labelled with the
 * stack (so the run's cleanup finds it), and waits until it listens.
 */
export async function startTestUpstream(
  name: string,
  stack: string,
  network: string,
  aliases: string[],
  env = process.env,
  /** More `docker run` options: the fakes' credentials mounted, their token lifetimes (credentials.test.ts). */
  options: string[] = [],
): Promise<void> {
  await mustRun(
    [
      ...runDetached(name, stack, "test-upstream"),
      "--network",
      network,
      ...aliases.flatMap((alias) => ["--network-alias", alias]),
      ...options,
      e2eRun().images.upstream,
    ],
    { env },
  ); // fmt: skip
  await waitFor("the test upstream to listen", 20_000, async () =>
    (await tcpProbe(name, "python3", "127.0.0.1", 443, 2, env)) === "connected" ? true : undefined,
  );
}
