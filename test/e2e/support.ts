/**
 * Helpers of the end-to-end suite (test/e2e/README.md): run the harness in its own process,
 * run commands inside containers, read Docker objects. Every wait is bounded. Secrets are
 * passed on stdin only, never on a command line.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { extract } from "tar-stream";
import { request, stream } from "./harness/docker-api";
import { REPO_ROOT } from "./harness";

export const E2E_DIR = __dirname;
export const WORK_DIR = path.join(E2E_DIR, ".work");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell), feeding `input` on stdin; kills it after `timeoutMs`. */
export function run(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.slice(0, 4).join(" ")} ...: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** The harness CLI (harness/index.ts) in its own process: Pulumi's runtime state is global. */
export function harness(args: string[], timeoutMs = 300_000): Promise<Run> {
  return run([process.execPath, "--import", "tsx", path.join(E2E_DIR, "harness", "index.ts"), ...args], { timeoutMs });
}

/** `docker exec` in a container; `input` goes to stdin (the only way a secret goes in). */
export function exec(container: string, argv: string[], opts: { user?: string; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return run(
    ["docker", "exec", ...(opts.input !== undefined ? ["-i"] : []), ...(opts.user ? ["-u", opts.user] : []), container, ...argv],
    opts,
  );
}

/**
 * One TCP connect attempt from inside a container; never sends data. Prints "connected" or
 * "failed: <errno name | timeout | dns ...>", so "no route" can be told from "refused" (a
 * refusal would mean the address WAS reachable).
 */
const TCP_PROBE = `
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except socket.timeout:
    print("failed: timeout")
except socket.gaierror as e:
    print("failed: dns", e.args[0])
except OSError as e:
    print("failed:", errno.errorcode.get(e.errno, e.errno))
`;

export async function tcpProbe(container: string, python: string, host: string, port: number, timeoutS = 5): Promise<string> {
  const r = await exec(container, [python, "-c", TCP_PROBE, host, String(port), String(timeoutS)], { timeoutMs: (timeoutS + 20) * 1000 });
  if (r.code !== 0) throw new Error(`tcp probe in ${container} did not run: ${r.stderr}`);
  return r.stdout.trim();
}

interface NetworkInfo {
  Name: string;
  IPAM: { Config: { Gateway?: string; Subnet?: string }[] };
  Containers: Record<string, { Name: string; IPv4Address: string }>;
}

export function network(name: string): Promise<NetworkInfo> {
  return request<NetworkInfo>("GET", `/networks/${encodeURIComponent(name)}`);
}

/** A container's IPv4 address on one network. */
export async function ipOn(container: string, networkName: string): Promise<string> {
  const info = await request<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>(
    "GET",
    `/containers/${encodeURIComponent(container)}/json`,
  );
  const ip = info.NetworkSettings.Networks[networkName]?.IPAddress;
  if (!ip) throw new Error(`${container} has no address on ${networkName}`);
  return ip;
}

/** Names of containers, networks and volumes carrying `bot-bottle.stack=<stack>`. */
export async function labelled(stack: string): Promise<string[]> {
  const filter = encodeURIComponent(JSON.stringify({ label: [`bot-bottle.stack=${stack}`] }));
  const containers = await request<{ Names: string[] }[]>("GET", `/containers/json?all=1&filters=${filter}`);
  const networks = await request<{ Name: string }[]>("GET", `/networks?filters=${filter}`);
  const { Volumes } = await request<{ Volumes: { Name: string }[] | null }>("GET", `/volumes?filters=${filter}`);
  return [
    ...containers.map((c) => `container ${c.Names.join(",")}`),
    ...networks.map((n) => `network ${n.Name}`),
    ...(Volumes ?? []).map((v) => `volume ${v.Name}`),
  ];
}

/** Polls `check` every 500 ms until it returns a value, or throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Paths of the files in a container's filesystem (`docker export`: everything but /proc, /sys
 * and mounts) whose content holds `needle`. Read from the host, so no file is hidden by the
 * container's dropped capabilities.
 */
export async function filesContaining(container: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const tar = extract();
  (await stream(`/containers/${encodeURIComponent(container)}/export`)).pipe(tar);
  for await (const entry of tar) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(needle)) hits.push(`/${entry.header.name}`);
  }
  return hits;
}
