/**
 * A loop in the agent that sends one allowed request every 100 ms and logs each outcome, to
 * see from inside a bottle what a change applied by `pulumi up` does to the agent's traffic
 * (test/e2e/handover.test.ts; the chain benchmark).
 */
import { exec, mustRun, waitFor } from "./process";

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

async function samples(agent: string): Promise<Sample[]> {
  const log = await exec(agent, ["cat", LOOP_LOG]);
  return log.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [at = "0", status = "", exit = "", ...error] = line.split(" ");
      return { at: Number(at), status, exit, error: error.join(" ").trim() };
    });
}

/** Runs `change` while the loop requests `url` from `agent`; returns the requests made meanwhile. */
export async function underLoad(agent: string, url: string, change: () => Promise<void>): Promise<Sample[]> {
  await exec(agent, ["rm", "-f", LOOP_LOG, LOOP_STOP]);
  await mustRun(["docker", "exec", "-d", agent, "sh", "-c", loopScript(url)]);
  await waitFor("the loop's first requests", 20_000, async () => ((await samples(agent)).length >= 5 ? true : undefined));
  await change();
  await exec(agent, ["touch", LOOP_STOP]);
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
