/**
 * Credentials that expire and narrow themselves, on real parts: stack `creds` (stacks.ts) with
 * the real egress proxy minting from long-lived secrets made for the run (support/credential-keys.ts)
 * and the real pipelock, against fakes of GitHub, AWS and Google in the test upstream that verify
 * what they are sent with implementations of their own (cryptography, botocore, PyJWT). From
 * inside the agent, through both gates: the GitHub-shaped API and git with an App installation
 * token narrowed to the routes' repository and permissions, Bedrock signed with SigV4 (an
 * STS-assumed role, and static keys), Vertex AI with a service account's token; the agent holds
 * none of the secrets; a refresh under a request loop fails no request.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { CREDENTIAL_HOSTS as H, credentialsStack } from "./stacks";
import { credentialTokens, makeCredentialKeys, pemBodyLine, writeUpstreamCredentials } from "./support/credential-keys";
import { credentialEvents, firstMints, upWithFakes } from "./support/credential-bottle";
import { containerOf, containersOf, filesContainingAny, ipOn } from "./support/docker";
import { curlIn, header, type Recorded, recorded as upstreamRecorded, unique } from "./support/inside";
import { dockerShell, failuresOf, startLoop, stopLoop } from "./support/loop";
import { exec, mustRun, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { destroyLeavingNothing, TestStack } from "./support/stack";

const BOTTLE = "minted";
// Short lives, so that the loop below sees several refreshes (the egress proxy refreshes at half).
const TOKEN_SECONDS = 40;
const LOOP_SECONDS = 95;
// Bedrock model ids as AWS names them, one per test so that each test's requests are its own (a random
// suffix would not do: pipelock refuses a path segment above 4.5 bits of entropy per character, and
// these are 4.34-4.40). Their ':' goes percent-encoded in the path, as the AWS SDKs send it.
const MODELS = {
  signed: "us.anthropic.claude-sonnet-4-20250514-v1:0", // Claude Code's default on Bedrock
  raw: "anthropic.claude-3-opus-20240229-v1:0",
  stream: "anthropic.claude-3-sonnet-20240229-v1:0",
  loop: "anthropic.claude-3-haiku-20240307-v1:0",
} as const;
const invokePath = (action: "invoke" | "invoke-with-response-stream", model: string) => `/model/${encodeURIComponent(model)}/${action}`;
const VERTEX_PATH = "/v1/projects/e2e-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514";
const MESSAGES = JSON.stringify({ max_tokens: 16, messages: [{ role: "user", content: "Say hello" }] });
const bedrockBody = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", ...JSON.parse(MESSAGES) });
const vertexBody = JSON.stringify({ anthropic_version: "vertex-2023-10-16", ...JSON.parse(MESSAGES) });
// The App may grant more than this; the routes need exactly this (the git route pushes, the API route POSTs pull requests).
const NARROWED = { repositories: ["acme/app"], permissions: { contents: "write", metadata: "read", pull_requests: "write" } };

/** Which credential a request to the upstream carried: the GitHub token's fingerprint, the AWS key id, Google's bearer. */
const credentialOf = (rec: Recorded) =>
  rec.host === H.vertex ? header(rec, "authorization").join() : String(rec.verified?.token ?? rec.verified?.access_key_id);

const isMint = (rec: Recorded) =>
  (rec.host === H.githubApi && /^\/app\/installations\/\d+\/access_tokens$/.test(rec.path)) ||
  (rec.host === H.oauth2 && rec.path === "/token") ||
  rec.host === H.sts;

describe("credentials minted from long-lived secrets the agent never sees: GitHub App, AWS SigV4, Google", () => {
  const { id, workDir } = e2eRun();
  const keys = makeCredentialKeys();
  const upstream = `e2e-${id}-creds-upstream`;
  let stack: TestStack;
  let agent = "";
  let egressProxy = "";
  let pipelock = "";
  /** The addresses of the bottle's pipelocks on its outbound network: the only clients the upstream may see. */
  let gates: string[] = [];

  const inAgent = (argv: string[], timeoutMs = 40_000) => exec(agent, argv, { timeoutMs });
  const agentCurl = (args: string[]) => curlIn((argv) => inAgent(argv), args);
  // Hosts as the routes name them (a Host header may carry the default port).
  const recorded = async () => (await upstreamRecorded(upstream)).map((r) => ({ ...r, host: r.host.replace(/:443$/, "") }));
  const recordedFor = async (host: string, urlPath: string) => (await recorded()).filter((r) => r.host === host && r.path === urlPath);

  before(async () => {
    const credentialsDir = path.join(workDir, "creds-upstream");
    writeUpstreamCredentials(credentialsDir, keys, `https://${H.oauth2}/token`);
    stack = await TestStack.create("creds", credentialsStack(keys.githubApp, keys.aws.roleArn), credentialTokens(keys));
    const outboundNet = `${stack.name}-${BOTTLE}-outbound-net`;
    const { up, upstreamStarted } = await upWithFakes(stack, BOTTLE, upstream, Object.values(H), credentialsDir, TOKEN_SECONDS);
    console.log(`# figure: pulumi up, stack creds (1 bottle, 4 credential sources): ${up.seconds.toFixed(1)} s`);
    agent = `${stack.name}-${BOTTLE}-agent`;
    egressProxy = await containerOf(stack.name, BOTTLE, "egress-proxy");
    pipelock = await ipOn(await containerOf(stack.name, BOTTLE, "pipelock"), outboundNet);
    const bulk = await containersOf(stack.name, BOTTLE, "pipelock-bulk");
    gates = [pipelock, ...(await Promise.all(bulk.map((c) => ipOn(c, outboundNet))))];
    const first = await firstMints(egressProxy, upstream, ["github", "bedrock", "bedrock-static", "vertex"]);
    console.log(
      `# figure: first mint after the token endpoints came up: ${first.map((e) => `${e.name} ${Math.max(0, e.at - upstreamStarted).toFixed(1)} s`).join(", ")}`,
    );
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    await destroyLeavingNothing(stack);
  });

  it("each source minted through pipelock and the fake service verified it: the App's JWT, STS's SigV4, Google's JWT grant", async () => {
    const mints = (await recorded()).filter(isMint);
    const byHost = (host: string) => mints.filter((m) => m.host === host);
    for (const host of [H.githubApi, H.sts, H.oauth2]) assert.ok(byHost(host).length > 0, `no mint request reached ${host}`);
    assert.deepEqual([...new Set(mints.map((m) => m.client))], [pipelock], "every mint request came from pipelock");
    for (const m of byHost(H.githubApi)) {
      assert.equal(m.verified?.mint, "issued", JSON.stringify(m.verified));
      const jwt = m.verified?.jwt as { iss: string | number; iat: number; exp: number };
      assert.equal(String(jwt.iss), keys.githubApp.appId);
      assert.ok(jwt.exp - jwt.iat <= 600, `the App JWT lives ${jwt.exp - jwt.iat} s`);
    }
    for (const m of byHost(H.oauth2)) {
      assert.equal(m.verified?.grant, "issued", JSON.stringify(m.verified));
      assert.equal(m.verified?.iss, keys.google.clientEmail);
      assert.equal(m.verified?.aud, `https://${H.oauth2}/token`);
      assert.deepEqual(m.verified?.scopes, ["https://www.googleapis.com/auth/cloud-platform"]);
    }
    for (const m of byHost(H.sts)) {
      assert.equal(m.verified?.outcome, "issued", JSON.stringify(m.verified));
      // The long-lived key signs the AssumeRole request (and the static route's); it never reaches the agent (checked below).
      assert.equal(m.verified?.signed_by, keys.aws.accessKeyId);
      assert.equal(m.verified?.role_arn, keys.aws.roleArn);
    }
  });

  it("the App token is narrowed to exactly the routes' repository and the permissions they need (the App may grant more)", async () => {
    const mints = (await recorded()).filter((r) => r.host === H.githubApi && r.verified?.mint === "issued");
    assert.ok(mints.length > 0);
    for (const m of mints) {
      assert.deepEqual({ repositories: m.verified?.repositories, permissions: m.verified?.permissions }, NARROWED);
      assert.deepEqual(JSON.parse(m.body), { repositories: ["app"], permissions: NARROWED.permissions }, "the narrowing asked for");
    }
    const events = (await credentialEvents(egressProxy)).filter((e) => e.name === "github" && e.outcome === "ok");
    assert.ok(events.length > 0);
    for (const e of events) {
      assert.deepEqual(
        { repositories: e.repositories, permissions: e.permissions },
        NARROWED,
        "the egress proxy's log names the narrowing",
      );
    }
  });

  it("GitHub: the API and git over both gates with an installation token the fake issued, unexpired, narrowed; the agent's own Authorization replaced", async () => {
    const marker = unique("pr-");
    const list = await agentCurl([
      "-H",
      "Authorization: Bearer agent-own-token",
      `https://${H.githubApi}/repos/acme/app/pulls?m=${marker}`,
    ]);
    assert.equal(list.status, "200", list.body);
    assert.equal(list.body, "[]");
    const created = await agentCurl([
      "-X",
      "POST",
      "--data",
      '{"title":"from the bottle"}',
      `https://${H.githubApi}/repos/acme/app/pulls?m=${marker}`,
    ]);
    assert.equal(created.status, "201", created.body);
    const branch = `agent/${unique("creds-")}`;
    const git = await inAgent([
      "sh",
      "-c",
      [
        "set -e",
        "cd /tmp",
        `git clone -q https://${H.git}/acme/app.git app-${marker}`,
        `cd app-${marker}`,
        "git -c user.name=agent -c user.email=agent@example.com commit -q --allow-empty -m 'minted token'",
        `git push -q origin HEAD:${branch}`,
      ].join("; "),
    ]);
    assert.equal(git.code, 0, `${git.stdout}${git.stderr}`);
    const log = await mustRun(["docker", "exec", upstream, "git", "--git-dir=/srv/git/acme/app.git", "log", "--format=%s", "-1", branch]);
    assert.equal(log.trim(), "minted token");

    const all = await recorded();
    const issued = new Set(all.filter((r) => r.verified?.mint === "issued").map((r) => r.verified?.token));
    const api = all.filter((r) => r.host === H.githubApi && r.path === `/repos/acme/app/pulls?m=${marker}`);
    const gitRequests = all.filter((r) => r.host === H.git && r.path.startsWith("/acme/app.git/") && r.verified?.token !== undefined);
    assert.equal(api.length, 2);
    assert.ok(
      gitRequests.some((r) => r.path === "/acme/app.git/git-receive-pack"),
      "the push reached the upstream",
    );
    for (const r of [...api, ...gitRequests]) {
      assert.ok(issued.has(r.verified?.token), `${r.method} ${r.path}: a token the fake issued (${JSON.stringify(r.verified)})`);
      assert.match(String(r.verified?.allowed), /^(pull_requests|contents): (read|write)$/, `${r.path}: ${JSON.stringify(r.verified)}`);
      const left = Number(r.verified?.expires_in);
      assert.ok(left > 0 && left <= TOKEN_SECONDS, `${r.path}: ${left} s left`);
      assert.ok(gates.includes(r.client), `${r.path} came from ${r.client}, not a pipelock (${gates.join(", ")})`);
    }
    for (const r of api) assert.match(header(r, "authorization").join(), /^Bearer ghs_[A-Za-z0-9]{36}$/);
    for (const r of gitRequests) {
      const [scheme, value] = header(r, "authorization")[0]!.split(" ");
      assert.equal(scheme, "Basic");
      assert.match(Buffer.from(value!, "base64").toString(), /^x-access-token:ghs_[A-Za-z0-9]{36}$/);
    }
    assert.ok(!JSON.stringify(all).includes("agent-own-token"), "the agent's own Authorization reached the upstream");
  });

  // biome-ignore format: the table of cases reads best as rows
  for (const [route, host, session] of [["the STS-assumed role", H.bedrock, true], ["the static keys", H.bedrockStatic, false]] as const) {
    it(`Bedrock with ${route}: signed with SigV4 outside the agent, verified by botocore; the agent's own AWS auth dropped`, async () => {
      const model = MODELS.signed;
      const bogus = [
        "-H", "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00",
        "-H", "X-Amz-Date: 20200101T000000Z",
        "-H", "X-Amz-Security-Token: agent-own-session",
        "-H", "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD",
      ];
      const answer = await agentCurl([...bogus, "-H", "Content-Type: application/json", "--data", bedrockBody, `https://${host}${invokePath("invoke", model)}`]);
      assert.equal(answer.status, "200", answer.body);
      assert.match(answer.body, /Hello from the bottled Bedrock\./);
      const [rec, ...more] = await recordedFor(host, invokePath("invoke", model));
      assert.ok(rec && more.length === 0, "the upstream saw the request once");
      assert.equal(rec.verified?.outcome, "answered", JSON.stringify(rec.verified));
      assert.equal(rec.verified?.session, session);
      if (session) assert.match(String(rec.verified?.access_key_id), /^ASIA/);
      else assert.equal(rec.verified?.access_key_id, keys.aws.accessKeyId);
      assert.equal(header(rec, "authorization").length, 1);
      assert.doesNotMatch(header(rec, "authorization")[0]!, /AKIDEXAMPLE/);
      assert.equal(header(rec, "x-amz-date").length, 1);
      assert.notEqual(header(rec, "x-amz-date")[0], "20200101T000000Z");
      assert.deepEqual(header(rec, "x-amz-security-token").length, session ? 1 : 0);
      assert.ok(!header(rec, "x-amz-security-token").includes("agent-own-session"));
      assert.ok(gates.includes(rec.client), `came from ${rec.client}`);
    });
  }

  it("Bedrock: the model id's ':' sent raw is signed as sent too; a presigned request (the agent's own signature) is refused 403 and never sent", async () => {
    const raw = `/model/${MODELS.raw}/invoke`;
    const answer = await agentCurl(["-H", "Content-Type: application/json", "--data", bedrockBody, `https://${H.bedrock}${raw}`]);
    assert.equal(answer.status, "200", answer.body);
    const [rec] = await recordedFor(H.bedrock, raw);
    assert.equal(rec?.verified?.outcome, "answered", JSON.stringify(rec?.verified));

    const presigned = `${invokePath("invoke", MODELS.raw)}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20200101%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Signature=00`;
    const refused = await agentCurl(["--data", bedrockBody, `https://${H.bedrock}${presigned}`]);
    assert.equal(refused.status, "403", refused.body);
    assert.match(refused.body, /^egress-proxy: /);
    assert.deepEqual(await recordedFor(H.bedrock, presigned), []);
  });

  // pipelock 2.3 streams only text/event-stream answers through its TLS interception; it holds
  // any other answer (Bedrock's binary event stream included) until it is complete, to scan it.
  // The egress proxy itself streams it (test/dataplane/test_credentials_sigv4.py).
  it("Bedrock: a streamed answer arrives intact through both gates, every event in order (pipelock holds it until complete)", async () => {
    const streamPath = invokePath("invoke-with-response-stream", MODELS.stream);
    // Walks the event stream's frames (4-byte total length, 4-byte headers length, prelude CRC,
    // headers, payload, message CRC) and decodes each chunk's Anthropic event.
    const reader = [
      "import base64, json, struct, sys, time, urllib.request",
      "start, chunks, data = time.time(), [], b''",
      `r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST", headers={"Content-Type": "application/json"}), timeout=30)`,
      "while (c := r.read1(65536)): chunks.append(round(time.time() - start, 3)); data += c",
      "events, at = [], 0",
      "while at < len(data):",
      "    total, headers = struct.unpack('>II', data[at:at + 8])",
      "    payload = data[at + 12 + headers:at + total - 4]",
      "    events.append(json.loads(base64.b64decode(json.loads(payload)['bytes']))['type'])",
      "    at += total",
      "print(json.dumps({'status': r.status, 'type': r.headers['Content-Type'], 'first': chunks[0], 'last': chunks[-1], 'bytes': len(data), 'events': events}))",
    ].join("\n");
    const out = await inAgent(["python3", "-c", reader, `https://${H.bedrock}${streamPath}`, bedrockBody]);
    assert.equal(out.code, 0, out.stderr);
    const seen = JSON.parse(out.stdout) as { status: number; type: string; first: number; last: number; bytes: number; events: string[] };
    assert.equal(seen.status, 200);
    assert.equal(seen.type, "application/vnd.amazon.eventstream");
    assert.equal(seen.events[0], "message_start", JSON.stringify(seen.events));
    assert.equal(seen.events.at(-1), "message_stop", JSON.stringify(seen.events));
    assert.ok(seen.events.filter((e) => e === "content_block_delta").length >= 1, JSON.stringify(seen.events));
    const [rec] = await recordedFor(H.bedrock, streamPath);
    assert.equal(rec?.verified?.outcome, "answered", JSON.stringify(rec?.verified));
    assert.equal(rec?.verified?.stream, true);
    console.log(
      `# figure: Bedrock stream: ${seen.events.length} events (${seen.bytes} bytes) sent over about ${((seen.events.length - 1) * 0.2).toFixed(1)} s; from the request's start: first byte at ${seen.first} s, last at ${seen.last} s`,
    );
  });

  it("Vertex AI: rawPredict and streamRawPredict with a Google access token the fake issued (the JWT grant)", async () => {
    const project = unique("p-");
    for (const method of ["rawPredict", "streamRawPredict"]) {
      const url = `https://${H.vertex}${VERTEX_PATH.replace("e2e-project", project)}:${method}`;
      const answer = await agentCurl([
        "-H",
        "Authorization: Bearer agent-own-token",
        "-H",
        "Content-Type: application/json",
        "--data",
        vertexBody,
        url,
      ]);
      assert.equal(answer.status, "200", answer.body);
      assert.match(answer.body, /Hello from the bottled test API\./);
    }
    const calls = (await recorded()).filter((r) => r.host === H.vertex && r.path.includes(`/${project}/`));
    assert.equal(calls.length, 2);
    for (const r of calls) {
      assert.equal(r.verified?.token, "valid", JSON.stringify(r.verified));
      assert.match(header(r, "authorization").join(), /^Bearer ya29\.[A-Za-z0-9]+$/);
      assert.ok(gates.includes(r.client), `came from ${r.client}`);
    }
  });

  it("the agent's environment and files hold none of the long-lived secrets, nor any credential minted from them", async () => {
    const all = await recorded();
    const bearers = all
      .flatMap((r) => header(r, "authorization"))
      .flatMap((v) => /(ghs_[A-Za-z0-9]{36}|ya29\.[A-Za-z0-9]+)/.exec(v)?.[1] ?? []);
    const sessions = all.flatMap((r) => header(r, "x-amz-security-token"));
    const minted = [...new Set([...bearers, ...sessions])];
    assert.ok(minted.length >= 3, `the upstream saw the minted credentials: ${minted.length}`);
    const secrets = {
      "the App's private key": pemBodyLine(keys.githubApp.privateKey),
      "the service account's private key": pemBodyLine(keys.google.privateKey),
      "the AWS secret access key": keys.aws.secretAccessKey,
      "the AWS access key id": keys.aws.accessKeyId,
      ...Object.fromEntries(minted.map((token, i) => [`minted credential ${i + 1} (${token.slice(0, 5)}...)`, token])),
    };
    // As the agent's own uid: the environment of PID 1 and of a new process (needles on stdin).
    const inEnviron =
      "import json, sys; n = json.load(sys.stdin); e = open('/proc/1/environ','rb').read() + open('/proc/self/environ','rb').read(); print(json.dumps([k for k, v in n.items() if v.encode() in e]))";
    const environ = await exec(agent, ["python3", "-c", inEnviron], { user: "1000:1000", input: JSON.stringify(secrets) });
    assert.equal(environ.code, 0, environ.stderr);
    assert.deepEqual(JSON.parse(environ.stdout), [], "in the agent's environment");
    const files = await filesContainingAny(agent, Object.values(secrets));
    assert.deepEqual(
      Object.entries(secrets).flatMap(([what, needle]) => (files[needle]!.length > 0 ? [`${what}: ${files[needle]!.join(", ")}`] : [])),
      [],
      "in the agent's files",
    );
    // Control: the searches find what is there (the egress proxy's tokens file holds the App key).
    const uid = (await mustRun(["docker", "inspect", "-f", "{{.Config.User}}", egressProxy])).trim();
    const inTokens = "import sys; s = sys.stdin.read().strip(); print(s in open('/etc/egress-proxy/live/current/tokens.json').read())";
    const control = await exec(egressProxy, ["/opt/venv/bin/python", "-c", inTokens], {
      user: uid,
      input: secrets["the App's private key"],
    });
    assert.equal(control.stdout.trim(), "True", control.stderr);
  });

  it(`a refresh during a request loop fails no request (${LOOP_SECONDS} s, tokens living ${TOKEN_SECONDS} s, every source at once)`, async () => {
    const marker = unique("loop-");
    const json = ["-H", "Content-Type: application/json", "-X", "POST", "--data"];
    const loops: Record<string, string[]> = {
      github: [`https://${H.githubApi}/repos/acme/app/pulls?m=${marker}`],
      bedrock: [...json, bedrockBody, `https://${H.bedrock}${invokePath("invoke", MODELS.loop)}`],
      "bedrock-static": [...json, bedrockBody, `https://${H.bedrockStatic}${invokePath("invoke", MODELS.loop)}`],
      vertex: [...json, vertexBody, `https://${H.vertex}${VERTEX_PATH.replace("e2e-project", marker)}:rawPredict`],
    };
    const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    const shell = dockerShell(agent);
    const loopName = (name: string) => `${marker}-${name}`;
    const started = Date.now() / 1000;
    for (const [name, args] of Object.entries(loops)) await startLoop(shell, args.map(quote).join(" "), loopName(name));
    await new Promise((resolve) => setTimeout(resolve, LOOP_SECONDS * 1000));
    const seen = Object.fromEntries(
      await Promise.all(Object.keys(loops).map(async (name) => [name, await stopLoop(shell, loopName(name))] as const)),
    );
    const ended = Date.now() / 1000;
    const events = (await credentialEvents(egressProxy)).filter((e) => e.at >= started && e.at <= ended);
    const all = await recorded();
    const figures: string[] = [];
    const problems: string[] = [];
    for (const name of Object.keys(loops)) {
      const mine = seen[name]!;
      const { failed, span } = failuresOf(mine);
      const refreshes = events.filter((e) => e.name === name && e.refresh && e.outcome === "ok").length;
      const errors = events.filter((e) => e.name === name && e.outcome !== "ok").length;
      // Each loop's URL is its own (host and path, the query with GitHub's).
      const url = new URL(loops[name]!.at(-1)!);
      const atUpstream = all.filter((r) => r.host === url.host && r.path === `${url.pathname}${url.search}`);
      // The distinct credentials the upstream saw during the loop: each refresh swapped one in.
      const distinct = new Set(atUpstream.map(credentialOf)).size;
      figures.push(
        `${name}: ${mine.length} requests in ${span.toFixed(0)} s (${(mine.length / Math.max(span, 1)).toFixed(1)}/s), ${failed.length} failed, ` +
          `${refreshes} refreshes (${errors} mint errors), ${distinct} distinct credentials at the upstream`,
      );
      if (failed.length > 0) problems.push(`${name}: ${failed.length} failed: ${JSON.stringify(failed.slice(0, 5))}`);
      if (mine.length < LOOP_SECONDS * 2) problems.push(`${name}: only ${mine.length} requests`);
      if (atUpstream.length !== mine.length) problems.push(`${name}: the upstream saw ${atUpstream.length} of ${mine.length}`);
      const refusedAtUpstream = atUpstream.filter(
        (r) => r.verified?.refused !== undefined || (r.verified?.fake === "bedrock" && r.verified.outcome !== "answered"),
      );
      if (refusedAtUpstream.length > 0) problems.push(`${name}: the upstream refused ${refusedAtUpstream.length}`);
      // Static keys never expire: one credential, no refresh. Every other source is refreshed at half its life.
      if (name === "bedrock-static" ? distinct !== 1 || refreshes !== 0 : distinct < 3 || refreshes < 3) {
        problems.push(`${name}: ${refreshes} refreshes, ${distinct} credentials during the loop`);
      }
    }
    // How long a mint takes after the token endpoint has the request: to the egress proxy's credential line (Docker's timestamp).
    const okLines = (await credentialEvents(egressProxy)).filter((e) => e.outcome === "ok");
    const mintTimes = Object.entries({ [H.githubApi]: "github", [H.sts]: "bedrock", [H.oauth2]: "vertex" }).map(([host, name]) => {
      const ms = all
        .filter((r) => isMint(r) && r.host === host)
        .flatMap((m) => {
          const line = okLines.find((e) => e.name === name && e.at >= m.at);
          return line ? [(line.at - m.at) * 1000] : [];
        })
        .sort((a, b) => a - b);
      return `${name} median ${ms[Math.floor(ms.length / 2)]?.toFixed(0)} ms, max ${ms.at(-1)?.toFixed(0)} ms (${ms.length} mints)`;
    });
    console.log(
      `# figure: mint, from the request's arrival at the token endpoint to the egress proxy's credential line: ${mintTimes.join("; ")}`,
    );
    console.log(`# figure: refresh under load, ${LOOP_SECONDS} s loops at once: ${figures.join("; ")}`);
    assert.deepEqual(problems, []);
  });
});
