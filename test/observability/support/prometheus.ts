/**
 * A real Prometheus (Debian's prometheus package, or PROMETHEUS / PROMTOOL) on a free loopback
 * port, over a TSDB made from OpenMetrics by promtool.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export const PROMETHEUS = process.env.PROMETHEUS ?? "prometheus";
export const PROMTOOL = process.env.PROMTOOL ?? "promtool";

/** Runs promtool; its output, or an error that says how to get it. */
export function promtool(args: string[]): { status: number; output: string } {
  const run = spawnSync(PROMTOOL, args, { encoding: "utf8", timeout: 120_000 });
  if (run.error) throw new Error(`could not run ${PROMTOOL} (apt-get install prometheus, or set PROMTOOL): ${run.error.message}`);
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/** Fills dir/tsdb from the OpenMetrics text and starts Prometheus on it, ready to answer. */
export async function prometheusOn(openMetrics: string, dir: string): Promise<RunningPrometheus> {
  fs.writeFileSync(path.join(dir, "input.om"), openMetrics);
  const created = promtool(["tsdb", "create-blocks-from", "openmetrics", path.join(dir, "input.om"), path.join(dir, "tsdb")]);
  if (created.status !== 0) throw new Error(`promtool create-blocks-from failed: ${created.output}`);
  return startPrometheus(dir, "global: {}\n");
}

/** Starts Prometheus with this configuration and dir/tsdb as its storage, ready to answer. */
export async function startPrometheus(dir: string, config: string): Promise<RunningPrometheus> {
  fs.writeFileSync(path.join(dir, "prometheus.yml"), config);
  const port = await freePort();
  let log = "";
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (chunk) => (log += chunk));
  child.stderr!.on("data", (chunk) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.on("error", (error) =>
      reject(new Error(`could not run ${PROMETHEUS} (apt-get install prometheus, or set PROMETHEUS): ${error.message}`)),
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await Promise.race([
      fetch(`${url}/-/ready`).then(
        (answer) => answer.ok,
        () => false,
      ),
      spawnError,
    ]);
    if (ready) return { url, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Prometheus did not become ready on ${url}:\n${log.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
