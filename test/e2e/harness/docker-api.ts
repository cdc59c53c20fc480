/**
 * TEST TOOL: a minimal Docker Engine API client over the local socket, for the end-to-end
 * harness (test/e2e/README.md). The API is used instead of the `docker` CLI so that request
 * bodies (container environments holding test tokens) never appear on a command line.
 */
import * as http from "node:http";

const SOCKET = process.env.DOCKER_SOCKET ?? "/var/run/docker.sock";
const API = "/v1.41"; // Docker 20.10's API version; newer engines still serve it.

/** A non-2xx answer from the engine. */
export class DockerApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    message: string,
  ) {
    super(`docker API ${method} ${path}: ${status} ${message}`);
  }
}

/**
 * One API call. `body` is JSON-encoded unless it is a Buffer (sent as a tar archive).
 * Resolves with the raw answer; every call is bounded by `timeoutMs`.
 */
export function call(
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<{ status: number; body: Buffer }> {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {};
  if (payload) {
    headers["Content-Type"] = Buffer.isBuffer(body) ? "application/x-tar" : "application/json";
    headers["Content-Length"] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCKET, method, path: API + path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`docker API ${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** A GET whose (large) answer is streamed, e.g. a container's filesystem export. */
export function stream(path: string, timeoutMs = 300_000): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCKET, method: "GET", path: API + path, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new DockerApiError(res.statusCode ?? 0, "GET", path, "unexpected status"));
      } else resolve(res);
    });
    req.on("timeout", () => req.destroy(new Error(`docker API GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** A call that must succeed (2xx, or one of `alsoOk`); returns the parsed JSON body, if any. */
export async function request<T = unknown>(method: string, path: string, body?: unknown, alsoOk: number[] = []): Promise<T> {
  const res = await call(method, path, body);
  if ((res.status < 200 || res.status >= 300) && !alsoOk.includes(res.status)) {
    let message = res.body.toString("utf8").trim();
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new DockerApiError(res.status, method, path, message);
  }
  const text = res.body.toString("utf8");
  return (text.trim() ? JSON.parse(text) : undefined) as T;
}

/** Whether an engine answers on the socket (bounded). */
export async function engineAnswers(): Promise<boolean> {
  try {
    return (await call("GET", "/_ping", undefined, 5_000)).status === 200;
  } catch {
    return false;
  }
}

/** The engine's version string (e.g. "20.10.24+dfsg1"). */
export async function engineVersion(): Promise<string> {
  return (await request<{ Version: string }>("GET", "/version")).Version;
}

/**
 * The last `tail` lines of a container's stdout and stderr. Containers without a TTY send a
 * multiplexed stream: 8-byte frame headers (stream, 0, 0, 0, big-endian length).
 */
export async function containerLogs(id: string, tail = 30): Promise<string> {
  const res = await call("GET", `/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=${tail}`);
  const out: Buffer[] = [];
  for (let at = 0; at + 8 <= res.body.length; ) {
    const size = res.body.readUInt32BE(at + 4);
    out.push(res.body.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(out).toString("utf8");
}

/** Labels as a `filters` query parameter value. */
export function labelFilter(labels: string[]): string {
  return encodeURIComponent(JSON.stringify({ label: labels }));
}
