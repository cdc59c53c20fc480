/**
 * Benchmark (not a test): an agent's everyday work through the whole chain (agent -> egress
 * proxy -> pipelock or pipelock-bulk -> upstream) against the same work done directly, on a
 * bottle deployed by the real engine, side by side in one run. Run it with
 * `npm run bench:chain` (test/e2e/run.ts prepares the images and cleans up).
 *
 * First, with bot-bottle's defaults: the time to a healthy bottle (the first `pulumi up`);
 * requests/second and p50/p99 of small requests at 16 and 64 concurrent connections (curl
 * --parallel) through both gates (from the agent), through pipelock alone (a client on the
 * egress network) and direct (a client on the outbound network); and a route change applied by
 * `pulumi up` under a loop of requests from the agent (failures counted).
 * Then the work, each row the median of several runs, timed inside the container that does it
 * (the agent, or a client on the outbound network for "direct"): git clones of 20 and 200 MiB,
 * pushes of 6 and 30 MiB, downloads of 10 and 100 MiB, a 1 MiB JSON answer, an event stream
 * of 40 events 25 ms apart, and Messages API requests of 100 KB and 1 MiB of source code and
 * prose (pipelock reads every request whole, so a session's next turn costs what its first did). The rows run with the defaults and, once,
 * with `bulk: false` on every route (pipelock reads everything, as before the bulk lane); the
 * downloads also through pipelock-bulk alone, to show which gate their time goes to.
 * It ends with the goals of README "Figures" against what was measured. Each part prints one
 * `# result: {json}` line per figure (test/bench/run.ts gathers them).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { containerOf, startTestUpstream } from "../e2e/support/docker";
import { failuresOf, underLoad } from "../e2e/support/loop";
import { exec, mustRun, run } from "../e2e/support/process";
import { e2eRun } from "../e2e/support/run-env";
import { tail, TestStack, type TestStackConfig } from "../e2e/support/stack";
import { TEST_TOKENS } from "../e2e/support/tokens";
import { messagesRequest } from "./messages";

const MiB = 1024 * 1024;
const CONCURRENCY = [16, 64];
const LOAD_REQUESTS = 640;
const HOSTS = ["upstream.test", "git.upstream.test", "llm.upstream.test"];

function config(options: { bulk?: boolean; extraPath?: boolean } = {}): TestStackConfig {
  const { images } = e2eRun();
  const bulk = options.bulk === false ? { bulk: false } : {};
  return {
    bottles: [
      {
        name: "b",
        routes: [
          { host: "upstream.test", ports: [443], methods: ["GET", "HEAD"], ...(options.extraPath && { paths: ["/", "/also/"] }), ...bulk },
          {
            host: "git.upstream.test",
            git: { repositories: ["acme/app", "acme/big", "acme/huge"], push: true },
            auth: { header: "Authorization", username: "x-access-token", token: "github" },
            ...bulk,
          },
          {
            host: "llm.upstream.test",
            ports: [443],
            methods: ["POST"],
            paths: ["/v1/messages"],
            auth: { header: "x-api-key", token: "anthropic" },
            ...bulk,
          },
        ],
        // The load part's hundreds of requests a second; pipelock's own per-host limit is twice this.
        requestsPerMinute: 1_000_000,
        agent: { image: images.probe, command: ["sleep", "infinity"], workspace: { keep: false } },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: HOSTS } },
        selfTest: false,
      },
    ],
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;
const s = (seconds: number) => (seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`);

interface Load {
  rps: number;
  p50: number;
  p99: number;
}

/** `LOAD_REQUESTS` small requests over `connections` parallel kept-alive connections, by curl in `container`. */
async function load(container: string, connections: number, extra: string[]): Promise<Load> {
  const started = process.hrtime.bigint();
  const r = await exec(
    container,
    [
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "--parallel",
      "--parallel-immediate",
      "--parallel-max",
      String(connections),
      ...extra,
      "-w",
      "%{http_code} %{time_total}\n",
      `https://upstream.test/load/[1-${LOAD_REQUESTS}]`,
    ],
    { timeoutMs: 300_000 },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => l.split(" "));
  const bad = lines.filter(([code]) => code !== "200");
  if (lines.length !== LOAD_REQUESTS || bad.length > 0)
    throw new Error(`load from ${container}: ${lines.length} answers, ${bad.length} not 200 (${bad[0]?.join(" ")})\n${r.stderr}`);
  const times = lines.map(([, total]) => Number(total));
  return { rps: LOAD_REQUESTS / seconds, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

/** One timing of a piece of work: seconds (and time to first byte where it has one), or why it failed. */
interface Timing {
  ok: boolean;
  seconds: number;
  ttfb?: number;
  detail?: string;
}

/** A piece of work, as a shell script for the agent or the direct client (both have git and curl). */
interface Work {
  name: string;
  runs: number;
  /** Prepares a run (not timed); `n` is the run's number. */
  prepare?: (n: number) => string;
  /** The timed script: prints `<seconds>[ <ttfb>]` on success. */
  timed: (n: number) => string;
  /** The goal, as a predicate over chain and direct medians, with its wording. */
  goal?: { text: string; met: (chain: Timing, direct: Timing) => boolean };
}

// curl's own clock for HTTP; the shell's for git.
// Each says why it failed: the HTTP status, or the last line git wrote.
const curlTimed = (args: string) =>
  `curl -sS --max-time 300 -o /dev/null -w '%{time_total} %{time_starttransfer} %{http_code}\\n' ${args} | awk '$3 == 200 { print $1, $2; ok = 1 } $3 != 200 { print "HTTP " $3 } END { exit !ok }'`;
const shellTimed = (script: string) =>
  `t0=$(date +%s.%N); ${script} >/dev/null 2>/tmp/timed.err || { tail -n 1 /tmp/timed.err; exit 1; }; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"`;

const twiceDirect = { text: "at most 2x direct", met: (c: Timing, d: Timing) => c.ok && c.seconds <= 2 * d.seconds };

function work(): Work[] {
  const clone = (repo: string) => (n: number) =>
    shellTimed(`cd /tmp && rm -rf c${n} && git clone -q https://git.upstream.test/acme/${repo}.git c${n}`);
  const push = (mib: number): Work => ({
    name: `git push of ${mib} MiB`,
    runs: 3,
    prepare: (n) =>
      `cd /tmp && rm -rf p${mib}-${n} && git clone -q https://git.upstream.test/acme/app.git p${mib}-${n} && cd p${mib}-${n} && ` +
      `for i in $(seq ${mib}); do head -c 1048576 /dev/urandom > f$i.bin; done && git add . && git -c user.name=b -c user.email=b@example.com commit -qm push`,
    timed: (n) => shellTimed(`cd /tmp/p${mib}-${n} && git push -q origin HEAD:refs/heads/bench/$(hostname)-${mib}-${n}`),
    goal:
      mib === 6
        ? { text: "at most 2x direct + 1 s", met: (c, d) => c.ok && c.seconds <= 2 * d.seconds + 1 }
        : { text: "succeeds", met: (c) => c.ok },
  });
  return [
    { name: "git clone of 20 MiB", runs: 3, timed: clone("big"), goal: twiceDirect },
    { name: "git clone of 200 MiB", runs: 3, timed: clone("huge"), goal: twiceDirect },
    push(6),
    push(30),
    { name: "a 10 MiB download", runs: 5, timed: () => curlTimed(`https://upstream.test/bytes/${10 * MiB}`), goal: twiceDirect },
    { name: "a 100 MiB download", runs: 3, timed: () => curlTimed(`https://upstream.test/bytes/${100 * MiB}`), goal: twiceDirect },
    {
      name: "a 1 MiB JSON answer",
      runs: 5,
      timed: () => curlTimed(`https://upstream.test/json/${MiB}`),
      goal: { text: "at most 0.5 s (answer scanning kept)", met: (c) => c.ok && c.seconds <= 0.5 },
    },
    {
      name: "an event stream, 40 events 25 ms apart",
      runs: 5,
      timed: () => curlTimed(`-N -H 'Accept: text/event-stream' https://upstream.test/sse/40/25`),
      goal: {
        text: "total 1.0x, first byte at most 20 ms over direct",
        met: (c, d) => c.ok && c.seconds <= 1.05 * d.seconds && (c.ttfb ?? 0) <= (d.ttfb ?? 0) + 0.02,
      },
    },
    ...[
      { size: "100 KB", file: "m100k.json", slack: 0.05 },
      { size: "1 MiB", file: "m1m.json", slack: 0.3 },
    ].map(({ size, file, slack }) => ({
      name: `a Messages API request of ${size}`,
      runs: 3,
      timed: () =>
        curlTimed(`-X POST -H 'Content-Type: application/json' --data-binary @/tmp/${file} https://llm.upstream.test/v1/messages`),
      goal: {
        text: `at most ${slack * 1000} ms more than direct (DLP kept)`,
        met: (c: Timing, d: Timing) => c.ok && c.seconds <= d.seconds + slack,
      },
    })),
  ];
}

/** The Messages API requests the work posts, written to `dir`. */
function messagesFiles(dir: string): string[] {
  return Object.entries({ "m100k.json": 100 * 1024, "m1m.json": MiB }).map(([file, bytes]) => {
    fs.writeFileSync(path.join(dir, file), messagesRequest(bytes));
    return path.join(dir, file);
  });
}

async function timing(container: string, script: string): Promise<Timing> {
  const r = await exec(container, ["sh", "-c", script], { timeoutMs: 600_000 });
  const [seconds, ttfb] = r.stdout.trim().split(" ").map(Number);
  if (r.code !== 0 || seconds === undefined || Number.isNaN(seconds))
    return { ok: false, seconds: 0, detail: `${r.stdout}${r.stderr}`.trim().slice(0, 200) };
  return { ok: true, seconds, ...(ttfb !== undefined && !Number.isNaN(ttfb) && { ttfb }) };
}

async function measure(container: string, item: Work, runs: number): Promise<Timing> {
  const timings: Timing[] = [];
  for (let n = 0; n < runs; n++) {
    if (item.prepare) {
      const prepared = await exec(container, ["sh", "-c", item.prepare(n)], { timeoutMs: 600_000 });
      if (prepared.code !== 0) return { ok: false, seconds: 0, detail: `prepare: ${prepared.stderr.trim().slice(0, 200)}` };
    }
    const t = await timing(container, item.timed(n));
    if (!t.ok) return t;
    timings.push(t);
  }
  const ttfbs = timings.flatMap((t) => (t.ttfb === undefined ? [] : [t.ttfb]));
  return { ok: true, seconds: median(timings.map((t) => t.seconds)), ...(ttfbs.length > 0 && { ttfb: median(ttfbs) }) };
}

const shown = (t: Timing) => (t.ok ? `${s(t.seconds)}${t.ttfb !== undefined ? ` (first byte ${s(t.ttfb)})` : ""}` : `failed: ${t.detail}`);

async function main(): Promise<void> {
  const { id, images, workDir } = e2eRun();
  const upstream = `e2e-${id}-bench-upstream`;
  const direct = `e2e-${id}-bench-direct`;
  const pipelockClient = `e2e-${id}-bench-pipelock-client`;
  const stack = await TestStack.create("bench", config(), TEST_TOKENS);
  try {
    const up = await stack.up();
    if (!up.ok) throw new Error(`up failed:\n${tail(up.output)}`);
    const agent = `${stack.name}-b-agent`;
    const outbound = `${stack.name}-b-outbound-net`;
    await startTestUpstream(upstream, stack.name, outbound, HOSTS);
    // The direct client trusts the test upstream's CA, as pipelock does.
    await mustRun([
      "docker",
      "run",
      "-d",
      "--name",
      direct,
      "--label",
      `bot-bottle.stack=${stack.name}`,
      "--network",
      outbound,
      "-e",
      "CURL_CA_BUNDLE=/tmp/upstream-ca.pem",
      "-e",
      "GIT_SSL_CAINFO=/tmp/upstream-ca.pem",
      images.probe,
    ]); // fmt: skip
    await mustRun(["docker", "cp", `${workDir}/pki/ca.pem`, `${direct}:/tmp/upstream-ca.pem`]);
    console.log("# making acme/huge, a 200 MiB repository, in the test upstream");
    await mustRun(["docker", "exec", upstream, "/opt/upstream/make-repo", "acme/huge", "200"], { timeoutMs: 600_000 });
    for (const file of messagesFiles(workDir)) {
      for (const container of [agent, direct]) await mustRun(["docker", "cp", file, `${container}:/tmp/${path.basename(file)}`]);
    }
    console.log(`# pulumi up of the bench bottle: ${up.seconds.toFixed(1)} s`);
    console.log(`# result: ${JSON.stringify({ part: "healthy", seconds: up.seconds })}`);

    await mustRun([
      "docker",
      "run",
      "-d",
      "--name",
      pipelockClient,
      "--label",
      `bot-bottle.stack=${stack.name}`,
      "--network",
      `${stack.name}-b-egress-net`,
      images.probe,
    ]);
    const pipelock = await containerOf(stack.name, "b", "pipelock");
    await mustRun(["sh", "-c", `docker cp ${pipelock}:/etc/pipelock/ca.pem - | docker cp - ${pipelockClient}:/tmp/`]);
    console.log("\n| connections | path | req/s | ratio to direct | p50 ms | p99 ms |\n| ---: | --- | ---: | ---: | ---: | ---: |");
    for (const connections of CONCURRENCY) {
      const figures = {
        "both gates (agent)": await load(agent, connections, []),
        "pipelock alone": await load(pipelockClient, connections, ["--proxy", "http://pipelock:8888", "--cacert", "/tmp/ca.pem"]),
        direct: await load(direct, connections, []),
      };
      for (const [where, f] of Object.entries(figures)) {
        console.log(
          `| ${connections} | ${where} | ${f.rps.toFixed(0)} | ${(f.rps / figures.direct.rps).toFixed(2)}x | ${(f.p50 * 1000).toFixed(1)} | ${(f.p99 * 1000).toFixed(1)} |`,
        );
      }
      console.log(`# result: ${JSON.stringify({ part: "load", connections, ...figures })}`);
    }
    stack.writeConfig(config({ extraPath: true }));
    let changeSeconds = 0;
    const seen = await underLoad(agent, "https://upstream.test/loop", async () => {
      const change = await stack.up();
      if (!change.ok) throw new Error(`up failed:\n${tail(change.output)}`);
      changeSeconds = change.seconds;
    });
    const { failed, span } = failuresOf(seen);
    console.log(
      `\n# a route change under a request every 100 ms: ${failed.length} of ${seen.length} requests failed over ${span.toFixed(1)} s (pulumi up ${changeSeconds.toFixed(1)} s)`,
    );
    console.log(`# result: ${JSON.stringify({ part: "change", requests: seen.length, failed: failed.length, upSeconds: changeSeconds })}`);

    // The work, with the defaults, then once with pipelock reading everything (bulk: false).
    const items = work();
    const measured: { item: Work; chain: Timing; direct: Timing; inspected?: Timing }[] = [];
    for (const item of items) {
      const chain = await measure(agent, item, item.runs);
      const straight = await measure(direct, item, item.runs);
      measured.push({ item, chain, direct: straight });
      console.log(`# ${item.name}: through both gates ${shown(chain)}; direct ${shown(straight)}`);
      console.log(
        `# result: ${JSON.stringify({ part: "work", work: item.name, chain, direct: straight, goal: item.goal?.text, met: item.goal ? item.goal.met(chain, straight) : undefined })}`,
      );
    }
    // Where a download's time goes: pipelock-bulk alone (a client on the egress network, the
    // tunnel straight to the upstream), against both gates and direct above.
    await mustRun(["docker", "cp", `${workDir}/pki/ca.pem`, `${pipelockClient}:/tmp/upstream-ca.pem`]);
    for (const item of items.filter((i) => i.name.endsWith("download"))) {
      const alone = await measure(
        pipelockClient,
        {
          ...item,
          timed: (n) => item.timed(n).replace("curl -sS", "curl -sS --proxy http://pipelock-bulk:8888 --cacert /tmp/upstream-ca.pem"),
        },
        item.runs,
      );
      console.log(`# ${item.name}, through pipelock-bulk alone: ${shown(alone)}`);
      console.log(`# result: ${JSON.stringify({ part: "work-pipelock-bulk-alone", work: item.name, chain: alone })}`);
    }

    stack.writeConfig(config({ bulk: false }));
    const inspectedUp = await stack.up();
    if (!inspectedUp.ok) throw new Error(`up with bulk: false failed:\n${tail(inspectedUp.output)}`);
    for (const row of measured) {
      row.inspected = await measure(agent, row.item, 1);
      console.log(`# ${row.item.name}, pipelock reading everything (bulk: false): ${shown(row.inspected)}`);
      console.log(`# result: ${JSON.stringify({ part: "work-inspected", work: row.item.name, chain: row.inspected })}`);
    }

    const ratio = (c: Timing, d: Timing) => (c.ok && d.ok && d.seconds > 0 ? `${(c.seconds / d.seconds).toFixed(1)}x` : "-");
    console.log("\n| work | through both gates (defaults) | direct | ratio | pipelock reads everything (bulk: false) | goal | |");
    console.log("| --- | --- | --- | ---: | --- | --- | --- |");
    for (const { item, chain, direct: d, inspected } of measured) {
      const verdict = item.goal ? (item.goal.met(chain, d) ? "met" : "NOT met") : "";
      console.log(
        `| ${item.name} | ${shown(chain)} | ${shown(d)} | ${ratio(chain, d)} | ${inspected ? shown(inspected) : "-"} | ${item.goal?.text ?? "recorded"} | ${verdict} |`,
      );
    }
  } finally {
    await run(["docker", "rm", "-f", upstream, direct, pipelockClient]);
    await stack.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
