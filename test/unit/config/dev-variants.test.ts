/**
 * The dev example's commented variants (a GitHub App, Bedrock, Vertex) are valid config: each,
 * uncommented into the example's bottle as its comment says, validates, and renders the source
 * the comment describes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { type BottleSpec, validateStackConfig } from "../../../components/config";
import { renderRoutesYaml } from "../../../components/egress-proxy/routes";

const TEXT = fs.readFileSync(path.resolve(__dirname, "..", "..", "..", "Pulumi.dev.yaml"), "utf8");
const BOTTLE = parse(TEXT).config["bot-bottle:bottles"][0] as { routes: { host: string }[]; agent: { env: Record<string, string> } };
const TOKENS = Object.fromEntries(
  ["anthropic", "github", "github-app-key", "aws-access-key-id", "aws-secret-access-key", "vertex-sa-key"].map((n) => [
    n,
    { secret: true, value: "v" },
  ]),
);

/** The YAML of a commented variant: its comment lines that are config (a top key, or indented), uncommented. */
function variant(title: string): {
  credentials: Record<string, unknown>;
  routes?: { host: string }[];
  agent?: { env: Record<string, string> };
} {
  const lines = TEXT.split("\n");
  const start = lines.findIndex((line) => line.includes(`--- Variant: ${title}`));
  assert.ok(start >= 0, `no variant "${title}" in Pulumi.dev.yaml`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const comment = /^\s*# ?(.*)$/.exec(line);
    if (!comment || comment[1]!.startsWith("--- Variant")) break;
    if (/^(credentials|routes|agent):/.test(comment[1]!) || /^\s+\S/.test(comment[1]!)) body.push(comment[1]!);
  }
  return parse(body.join("\n"));
}

function validated(bottle: unknown): BottleSpec {
  const result = validateStackConfig({ bottles: [bottle], tokens: TOKENS });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value.bottles[0]!;
}

/** The example's bottle with a model provider's route in place of the Anthropic route, its source and its agent variables. */
function replacingAnthropic(v: ReturnType<typeof variant>) {
  return {
    ...BOTTLE,
    credentials: v.credentials,
    routes: [...v.routes!, ...BOTTLE.routes.filter((r) => r.host !== "api.anthropic.com")],
    agent: { ...BOTTLE.agent, env: { ...BOTTLE.agent.env, ...v.agent!.env } },
  };
}

describe("Pulumi.dev.yaml's commented variants", () => {
  test("a GitHub App in place of the github token: narrowed to acme/app", () => {
    const spec = validated({ ...BOTTLE, ...variant("a GitHub App") });
    assert.deepEqual(parse(renderRoutesYaml(spec)).credentials.github, {
      kind: "github_app",
      app_id: "123456",
      installation_id: "7890123",
      api_url: "https://api.github.com",
      private_key_env: "EGRESS_PROXY_TOKEN_1",
      repositories: ["acme/app"],
      permissions: { contents: "write", issues: "write", metadata: "read", pull_requests: "write" },
    });
  });

  test("Bedrock in place of the Anthropic API: a SigV4 route, Claude Code's variables", () => {
    const spec = validated(replacingAnthropic(variant("Claude through Amazon Bedrock")));
    assert.deepEqual(spec.routes[0]!.auth, { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock" });
    assert.equal(spec.agent?.env.CLAUDE_CODE_USE_BEDROCK, "1");
    assert.equal(spec.agent?.env.AWS_REGION, "us-east-1");
  });

  test("Vertex in place of the Anthropic API: a Google source, Claude Code's variables", () => {
    const spec = validated(replacingAnthropic(variant("Claude through Google Vertex AI")));
    assert.equal(parse(renderRoutesYaml(spec)).credentials.vertex.kind, "google_service_account");
    assert.equal(spec.agent?.env.CLAUDE_CODE_USE_VERTEX, "1");
    assert.equal(spec.agent?.env.CLAUDE_CODE_SKIP_VERTEX_AUTH, "1");
  });
});
