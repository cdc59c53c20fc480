/**
 * Processes for the end-to-end suite: run a command (never through a shell), `docker exec` in
 * a container, wait for a condition. Every wait is bounded. Secrets go in on stdin only,
 * never on a command line.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Defaults to the repository root. */
  cwd?: string;
}

/** Runs `argv` (in the repository root by default), feeding `input` on stdin; kills it after `timeoutMs`. */
export function run(argv: string[], opts: RunOptions = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const stdin = opts.input === undefined ? "ignore" : "pipe";
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: [stdin, "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.slice(0, 4).join(" ")} ...: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (child.stdin) {
      // A command that exits without reading its input (EPIPE) is judged by its exit code.
      child.stdin.on("error", () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like `run`, but rejects with the command's output unless it exits 0. */
export async function mustRun(argv: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 4).join(" ")} ... exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Where `binary` is on PATH; rejects when it is not there. */
export async function commandPath(binary: string): Promise<string> {
  return (await mustRun(["sh", "-c", `command -v ${binary}`])).trim();
}

/**
 * `docker exec` in a container; `input` goes to stdin (the only way a secret goes in). `env`
 * names another engine (DOCKER_HOST) than the local one.
 */
export function exec(
  container: string,
  argv: string[],
  opts: { user?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return run(
    ["docker", "exec", ...(opts.input !== undefined ? ["-i"] : []), ...(opts.user ? ["-u", opts.user] : []), container, ...argv],
    opts,
  );
}

/** Polls `check` every 500 ms until it returns a value, or throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
