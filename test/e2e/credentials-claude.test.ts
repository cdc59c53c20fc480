/**
 * Claude Code itself on minted credentials: stack `creds-cc` (stacks.ts), the real agent image
 * (Claude Code) with the dev example's Bedrock variant (`CLAUDE_CODE_USE_BEDROCK=1`, placeholder
 * AWS keys) against the test upstream's fake Bedrock runtime, and with `CLAUDE_CODE_USE_VERTEX=1`
 * against its fake Vertex AI. The egress proxy signs (an STS-assumed role's session) and injects
 * (a service account's token); the fakes verify each request with implementations of their own.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { CREDENTIAL_HOSTS as H, claudeCredentialsStack } from "./stacks";
import { firstMints, upWithFakes } from "./support/credential-bottle";
import { credentialTokens, makeCredentialKeys, writeUpstreamCredentials } from "./support/credential-keys";
import { containerOf } from "./support/docker";
import { header, recorded } from "./support/inside";
import { exec, run } from "./support/process";
import { e2eRun } from "./support/run-env";
import { destroyLeavingNothing, TestStack } from "./support/stack";

const BOTTLE = "claude";
const PLACEHOLDER = "placeholder-the-egress-proxy-signs";

describe("Claude Code on Bedrock and Vertex AI, with credentials minted outside the agent", () => {
  const { id, workDir } = e2eRun();
  const keys = makeCredentialKeys();
  const upstream = `e2e-${id}-creds-cc-upstream`;
  let stack: TestStack;
  const agent = () => `${stack.name}-${BOTTLE}-agent`;
  /** `claude -p` as the agent's user, in its workspace, with `env` (`env` argv) before it. */
  const claude = (env: string[]) =>
    exec(agent(), ["env", ...env, "sh", "-c", "cd /workspace && claude -p 'Say hello' 2>&1"], { user: "1000:1000", timeoutMs: 180_000 });

  before(async () => {
    const credentialsDir = path.join(workDir, "creds-cc-upstream");
    writeUpstreamCredentials(credentialsDir, keys, `https://${H.oauth2}/token`);
    stack = await TestStack.create("creds-cc", claudeCredentialsStack(keys.aws.roleArn), credentialTokens(keys));
    await upWithFakes(stack, BOTTLE, upstream, [H.bedrock, H.sts, H.vertex, H.oauth2], credentialsDir, 3600);
    await firstMints(await containerOf(stack.name, BOTTLE, "egress-proxy"), upstream, ["bedrock", "vertex"]);
  });

  after(async () => {
    await run(["docker", "rm", "-f", upstream]);
    await destroyLeavingNothing(stack);
  });

  it("Bedrock (CLAUDE_CODE_USE_BEDROCK=1, placeholder AWS keys): Claude Code answers; every request signed with the role's session, verified by botocore", async () => {
    const r = await claude([]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /Hello from the bottled Bedrock\./);
    const calls = (await recorded(upstream)).filter((rec) => rec.host.startsWith(H.bedrock));
    assert.ok(calls.length > 0);
    for (const call of calls) {
      assert.equal(call.verified?.outcome, "answered", `${call.path}: ${JSON.stringify(call.verified)}`);
      assert.equal(call.verified?.session, true);
      assert.doesNotMatch(header(call, "authorization").join(), new RegExp(PLACEHOLDER), "the agent's own signature reached Bedrock");
    }
    console.log(`# figure: Claude Code on Bedrock: ${calls.length} requests (${[...new Set(calls.map((c) => c.path))].join(", ")})`);
  });

  it("Vertex AI (CLAUDE_CODE_USE_VERTEX=1, CLAUDE_CODE_SKIP_VERTEX_AUTH=1): Claude Code answers with the service account's token", async () => {
    const r = await claude([
      "-u",
      "CLAUDE_CODE_USE_BEDROCK",
      "CLAUDE_CODE_USE_VERTEX=1",
      "CLAUDE_CODE_SKIP_VERTEX_AUTH=1",
      "CLOUD_ML_REGION=us-east5",
      "ANTHROPIC_VERTEX_PROJECT_ID=e2e-project",
      `ANTHROPIC_VERTEX_BASE_URL=https://${H.vertex}/v1`,
    ]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /Hello from the bottled test API\./);
    const calls = (await recorded(upstream)).filter((rec) => rec.host.startsWith(H.vertex));
    assert.ok(calls.length > 0);
    for (const call of calls) assert.equal(call.verified?.token, "valid", `${call.path}: ${JSON.stringify(call.verified)}`);
    console.log(`# figure: Claude Code on Vertex AI: ${calls.length} requests (${[...new Set(calls.map((c) => c.path))].join(", ")})`);
  });
});
