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

/** A loop's files in the agent, by its name (underLoad's is "loop"). */
const loopFiles = (name: string) => ({
  log: `/tmp/${name}.log`,
  stop: `/tmp/${name}.stop`,
  body: `/tmp/${name}.body`,
  err: `/tmp/${name}.err`,
});

/**
 * The loop's shell: one line per request, "<unix time> <HTTP status> <curl exit code> <curl's
 * error, the body if not 200>". `request`: curl's arguments as shell words (a URL, or options and a URL).
 */
function loopScript(request: string, name: string): string {
  const f = loopFiles(name);
  return [
    `while [ ! -e ${f.stop} ]; do`,
    `  out=$(curl -sS -o ${f.body} --max-time 20 -w '%{http_code}' ${request} 2>${f.err}); code=$?`,
    `  [ "$out" = 200 ] || head -c 300 ${f.body} >> ${f.err}`,
    `  echo "$(date +%s.%N) $out $code $(tr '\\n' ' ' <${f.err})" >> ${f.log}`,
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

/** The requests the loop `name` has made so far. */
export async function samples(agent: Shell, name = "loop"): Promise<Sample[]> {
  const log = await agent.exec(["cat", loopFiles(name).log]);
  return log.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [at = "0", status = "", exit = "", ...error] = line.split(" ");
      return { at: Number(at), status, exit, error: error.join(" ").trim() };
    });
}

/** Starts the loop `name` in `agent`, requesting with curl's arguments `request` every 100 ms until stopLoop. */
export async function startLoop(agent: Shell, request: string, name = "loop"): Promise<void> {
  const f = loopFiles(name);
  await agent.exec(["rm", "-f", f.log, f.stop]);
  await agent.start(loopScript(request, name));
}

/** Stops the loop `name` and returns every request it made (its last one given time to end). */
export async function stopLoop(agent: Shell, name = "loop"): Promise<Sample[]> {
  await agent.exec(["touch", loopFiles(name).stop]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return samples(agent, name);
}

/**
 * Runs `change` while the loop requests `url` from `agent` (a container's name, or a shell);
 * returns the requests made meanwhile.
 */
export async function underLoad(target: string | Shell, url: string, change: () => Promise<void>): Promise<Sample[]> {
  const agent = typeof target === "string" ? dockerShell(target) : target;
  await startLoop(agent, url);
  await waitFor("the loop's first requests", 20_000, async () => ((await samples(agent)).length >= 5 ? true : undefined));
  await change();
  return stopLoop(agent);
}

/** The requests of a loop that did not answer 200, and how long the loop ran. */
export function failuresOf(seen: readonly Sample[]): { failed: Sample[]; span: number } {
  return {
    failed: seen.filter((s) => s.status !== "200" || s.exit !== "0"),
    span: seen.length > 1 ? seen.at(-1)!.at - seen[0]!.at : 0,
  };
}
