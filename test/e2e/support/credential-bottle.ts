/**
 * A bottle whose credentials the egress proxy mints (credentials*.test.ts): `up` with the test
 * upstream's fakes joining the bottle's outbound network as soon as `up` made it (the egress
 * proxy mints at its start), and the egress proxy's credential lines.
 */
import assert from "node:assert/strict";
import { startTestUpstream } from "./docker";
import { recorded } from "./inside";
import { run, waitFor } from "./process";
import { type OpResult, type TestStack, tail } from "./stack";

/** One line of the egress proxy's log about a mint or refresh (components/egress-proxy/image/decision_log.py). */
export interface CredentialEvent {
  /** When Docker logged it, in epoch seconds. */
  at: number;
  name: string;
  kind: string;
  outcome: string;
  refresh: boolean;
  expires_at: string | null;
  error?: string;
  /** A GitHub App's narrowing. */
  repositories?: string[];
  permissions?: Record<string, string>;
}

/** Every credential line of the egress proxy's log, with the time Docker stamped it. */
export async function credentialEvents(egressProxy: string): Promise<CredentialEvent[]> {
  const logs = await run(["docker", "logs", "--timestamps", egressProxy]);
  return `${logs.stdout}\n${logs.stderr}`
    .split("\n")
    .map((line) => /^(\S+) (\{.*"event":"credential".*\})$/.exec(line))
    .flatMap((m) => (m ? [{ at: Date.parse(m[1]!) / 1000, ...(JSON.parse(m[2]!) as Omit<CredentialEvent, "at">) }] : []));
}

/**
 * `up` of `stack`, the test upstream `upstream` started on `bottle`'s outbound network under
 * `hosts` as soon as `up` made it, with the fakes' credentials (`credentialsDir`, mounted
 * read-only) and every minted credential living `tokenSeconds`. Fails naming what `up` said.
 */
export async function upWithFakes(
  stack: TestStack,
  bottle: string,
  upstream: string,
  hosts: string[],
  credentialsDir: string,
  tokenSeconds: number,
): Promise<{ up: OpResult; upstreamStarted: number }> {
  const outboundNet = `${stack.name}-${bottle}-outbound-net`;
  let upEnded = false;
  const upping = stack.up().finally(() => (upEnded = true));
  await waitFor("the bottle's outbound network", 300_000, async () =>
    upEnded || (await run(["docker", "network", "inspect", outboundNet])).code === 0 ? true : undefined,
  );
  if (upEnded) assert.fail(`up ${stack.name} ended before its outbound network was there:\n${tail((await upping).output)}`);
  const lifetimes = ["UPSTREAM_GITHUB_TOKEN_SECONDS", "UPSTREAM_GOOGLE_TOKEN_SECONDS", "UPSTREAM_AWS_SESSION_SECONDS"];
  await startTestUpstream(upstream, stack.name, outboundNet, hosts, process.env, [
    "--volume",
    `${credentialsDir}:/etc/upstream/credentials:ro`,
    ...lifetimes.flatMap((variable) => ["--env", `${variable}=${tokenSeconds}`]),
  ]);
  const upstreamStarted = Date.now() / 1000;
  const up = await upping;
  assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
  return { up, upstreamStarted };
}

/**
 * The first good credential line of each of `names`, waiting up to two minutes; else fails with
 * the egress proxy's last lines and what the upstream's fakes verified.
 */
export async function firstMints(egressProxy: string, upstream: string, names: string[]): Promise<CredentialEvent[]> {
  return waitFor("every source's first mint", 120_000, async () => {
    const ok = (await credentialEvents(egressProxy)).filter((e) => e.outcome === "ok");
    return names.every((n) => ok.some((e) => e.name === n)) ? names.map((n) => ok.find((e) => e.name === n)!) : undefined;
  }).catch(async (err: Error) => {
    const logs = await run(["docker", "logs", "--tail", "40", egressProxy]);
    const seen = (await recorded(upstream))
      .filter((r) => r.verified !== undefined)
      .slice(-20)
      .map((r) => `${r.client} ${r.method} ${r.host}${r.path} ${JSON.stringify(r.verified)}`);
    throw new Error(
      `${err.message}\nthe egress proxy's log ends:\n${logs.stdout}${logs.stderr}\nwhat the fakes verified last:\n${seen.join("\n")}`,
    );
  });
}
