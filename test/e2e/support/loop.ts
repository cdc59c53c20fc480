/**
 * A loop in the agent that sends one allowed request every 100 ms and logs each outcome, to
 * see from inside a bottle what a change applied by `pulumi up` does to the agent's traffic
 * (test/e2e/handover.test.ts; the chain benchmark).
 */
import { exec, mustRun, type Run, waitFor } from "./process";

/** Where the loop runs: a shell's commands, and a way to start a script that outlives them. */
export interface Shell {
  exec(argv: string[]): Promise<Run>;
  /** Starts `script` (sh) in the background and returns once it is started. */
  start(script: string): Promise<void>;
}

/** A container on the Docker engine (`env`: another engine, DOCKER_HOST). */
export function dockerShell(container: string, env = process.env): Shell {
  return {
    exec: (argv) => exec(container, argv, { env }),
    start: async (script) => void (await mustRun(["docker", "exec", "-d", container, "sh", "-c", script], { env })),
  };
}

const LOOP_LOG = "/tmp/loop.log";
const LOOP_STOP = "/tmp/loop.stop";

/** The loop's shell: one line per request, "<unix time> <HTTP status> <curl exit code> <curl's error, the body if not 200>". */
function loopScript(url: string): string {
  return [
    `while [ ! -e ${LOOP_STOP} ]; do`,
    `  out=$(curl -sS -o /tmp/loop.body --max-time 20 -w '%{http_code}' ${url} 2>/tmp/loop.err); code=$?`,
    `  [ "$out" = 200 ] || head -c 300 /tmp/loop.body >> /tmp/loop.err`,
    `  echo "$(date +%s.%N) $out $code $(tr '\\n' ' ' </tmp/loop.err)" >> ${LOOP_LOG}`,
    "  sleep 0.1",
    "done",
  ].join("\n");
}

export interface Sample {
  at: number;
  status: string;
  exit: string;
  error: string;
}

async function samples(agent: Shell): Promise<Sample[]> {
  const log = await agent.exec(["cat", LOOP_LOG]);
  return log.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [at = "0", status = "", exit = "", ...error] = line.split(" ");
      return { at: Number(at), status, exit, error: error.join(" ").trim() };
    });
}

/**
 * Runs `change` while the loop requests `url` from `agent` (a container's name, or a shell);
 * returns the requests made meanwhile.
 */
export async function underLoad(target: string | Shell, url: string, change: () => Promise<void>): Promise<Sample[]> {
  const agent = typeof target === "string" ? dockerShell(target) : target;
  await agent.exec(["rm", "-f", LOOP_LOG, LOOP_STOP]);
  await agent.start(loopScript(url));
  await waitFor("the loop's first requests", 20_000, async () => ((await samples(agent)).length >= 5 ? true : undefined));
  await change();
  await agent.exec(["touch", LOOP_STOP]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return samples(agent);
}

/** The requests of a loop that did not answer 200, and how long the loop ran. */
export function failuresOf(seen: readonly Sample[]): { failed: Sample[]; span: number } {
  return {
    failed: seen.filter((s) => s.status !== "200" || s.exit !== "0"),
    span: seen.length > 1 ? seen.at(-1)!.at - seen[0]!.at : 0,
  };
}
