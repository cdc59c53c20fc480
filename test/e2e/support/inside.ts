/**
 * What the end-to-end checks do from inside a bottle, whatever runs it: what the test upstream
 * recorded, curl through the gates, one TCP connect attempt. `exec` runs a command in the
 * container or pod (`docker exec`, `kubectl exec`).
 */
import { randomUUID } from "node:crypto";
import { exec, type Run } from "./process";

/** A command in a container or pod of a bottle. */
export type Exec = (argv: string[]) => Promise<Run>;

/** One request as the test upstream recorded it. */
export interface Recorded {
  /** When the request had arrived whole, in epoch seconds. */
  at: number;
  scheme: string;
  client: string;
  method: string;
  host: string;
  path: string;
  headers: [string, string][];
  body: string;
  /** What a fake service of the upstream verified, or why it refused (images/upstream/*_fakes.py). */
  verified?: Record<string, unknown>;
}

/** The values of a header of a recorded request (names compared case-insensitively). */
export const header = (rec: Recorded, name: string) =>
  rec.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

/** A path (or name) unique to one test. */
export const unique = (prefix: string) => `${prefix}${randomUUID().slice(0, 8)}`;

/** Every request the test upstream container recorded (on the engine `env` names). */
export async function recorded(upstream: string, env = process.env): Promise<Recorded[]> {
  const r = await exec(upstream, ["cat", "/var/log/upstream/requests.jsonl"], { env });
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Recorded);
}

/** What the test upstream recorded for `path` (a unique path per test). */
export async function recordedFor(upstream: string, urlPath: string, env = process.env): Promise<Recorded[]> {
  return (await recorded(upstream, env)).filter((rec) => rec.path === urlPath);
}

/** curl in the agent (its env points it at the egress proxy and its CA): body, status, CONNECT status, content type. */
export async function curlIn(agent: Exec, args: string[]) {
  const r = await agent(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code} %{http_connect} %{content_type}", ...args]);
  const lines = r.stdout.split("\n");
  const [status = "", connect = "", contentType = ""] = (lines.pop() ?? "").split(" ");
  return { body: lines.join("\n"), status, connect, contentType, run: r };
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

/** The TCP probe run with `python` where `from` runs commands (`where`, for the error if it did not run). */
export async function tcpProbeIn(from: Exec, where: string, python: string, host: string, port: number, timeoutS: number): Promise<string> {
  const r = await from([python, "-c", TCP_PROBE, host, String(port), String(timeoutS)]);
  if (r.code !== 0) throw new Error(`tcp probe in ${where} did not run: ${r.stderr}`);
  return r.stdout.trim();
}
