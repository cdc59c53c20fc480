/**
 * Runs every policy of the pack over the resource graph of every example stack
 * (Pulumi.<stack>.yaml at the repository root), as the real program declares it, and requires zero
 * mandatory violations.
 *
 * The graph comes from the root project's offline plan (`scripts/plan.ts --stack <s> --json`), each
 * "[secret]" put back as a plaintext stand-in as offline/plan.ts describes (the engine gives
 * policies secret values decrypted).
 * Secretness itself, which policies cannot see, is asserted here from `secretInputs`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { bottleGraph, kubernetesBottleGraph } from "./fixtures";
import type { PlannedResource } from "../lib/vocabulary";
import { asPolicyResources, runPack } from "../offline/plan";

const ROOT = path.resolve(__dirname, "..", "..");
const SECRET = "[secret]";

/** The example stacks: every Pulumi.<stack>.yaml at the repository root. */
function exampleStacks(): string[] {
  return readdirSync(ROOT)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** Runs the root project's offline plan for `stack` with the same Node 22 that runs the tests. */
function plan(stack: string): PlannedResource[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", stack, "--json"], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}` },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(out) as { resources: PlannedResource[] }).resources;
}

/** The `bot-bottle.role` labels of a planned resource: a Docker label list, a Kubernetes object's and its pod template's labels. */
function rolesOf(r: PlannedResource): string[] {
  const docker = ((Array.isArray(r.inputs.labels) ? r.inputs.labels : []) as { label: string; value: string }[])
    .filter((l) => l.label === "bot-bottle.role")
    .map((l) => l.value);
  const metadata = r.inputs.metadata as { labels?: Record<string, string> } | undefined;
  const template = (r.inputs.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template;
  return [...docker, metadata?.labels?.["bot-bottle.role"], template?.metadata?.labels?.["bot-bottle.role"]].filter(
    (v): v is string => v !== undefined,
  );
}

/** Every key path of a JSON value (`spec.template.spec.containers[].name`), array elements merged. */
function keyPaths(value: unknown, at = ""): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((v) => keyPaths(v, `${at}[]`));
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [`${at}.${k}`, ...keyPaths(v, `${at}.${k}`)]);
  }
  return [];
}

describe("all policies over the example stacks", () => {
  const stacks = exampleStacks();
  const plans = new Map<string, PlannedResource[]>();

  before(() => {
    for (const stack of stacks) {
      plans.set(stack, plan(stack));
    }
  });

  it("finds the example stacks", () => {
    assert.ok(stacks.length >= 3, `expected dev, staging and prod stacks at ${ROOT}, found [${stacks.join(", ")}]`);
  });

  for (const stack of stacks) {
    describe(`stack ${stack}`, () => {
      it("declares every bottle role the policies check", () => {
        const resources = plans.get(stack)!;
        const roles = new Set(resources.flatMap((r) => rolesOf(r)));
        const types = new Set(resources.map((r) => r.type));
        const expected = [
          ...(types.has("docker:index/container:Container") ? ["agent-net", "egress-net", "outbound-net", "egress-proxy", "pipelock"] : []),
          ...(types.has("kubernetes:apps/v1:Deployment") ? ["egress-proxy", "pipelock"] : []),
        ];
        assert.ok(expected.length > 0, `stack ${stack} declares neither Docker containers nor Kubernetes Deployments`);
        for (const role of expected) {
          assert.ok(roles.has(role), `stack ${stack} has no object with role ${role}`);
        }
        if (types.has("kubernetes:apps/v1:Deployment")) {
          for (const type of [
            "kubernetes:core/v1:Namespace",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:Secret",
          ]) {
            assert.ok(types.has(type), `Kubernetes stack ${stack} declares no ${type}`);
          }
        }
      });

      it("has zero mandatory violations", async () => {
        const violations = await runPack(asPolicyResources(plans.get(stack)!), stack);
        const mandatory = violations.filter((v) => v.level === "mandatory");
        assert.deepEqual(mandatory, []);
      });

      it("marks tokens and CA keys secret (what policies cannot see)", () => {
        for (const r of plans.get(stack)!) {
          const uploads = (r.inputs.uploads as { content?: string }[] | undefined) ?? [];
          if (uploads.some((u) => u.content?.includes(SECRET))) {
            assert.ok(r.secretInputs.includes("uploads"), `${r.name}: uploads carry a key but are not secret`);
          }
          const envs = (r.inputs.envs as string[] | undefined) ?? [];
          assert.deepEqual(
            envs.filter((e) => e.startsWith("EGRESS_PROXY_TOKEN_")),
            [],
            `${r.name}: a token in a container's env`,
          );
          const tokens = (r.inputs.environment as Record<string, string> | undefined)?.BOTTLE_TOKENS;
          if (tokens !== undefined) {
            assert.ok(
              Object.values(JSON.parse(tokens) as Record<string, string>).every((v) => v === SECRET),
              `${r.name}: a token is not secret`,
            );
            assert.ok(
              r.secretInputs.some((p) => p === "environment" || p === "environment.BOTTLE_TOKENS"),
              `${r.name}: BOTTLE_TOKENS is not secret`,
            );
          }
          if (r.type === "tls:index/selfSignedCert:SelfSignedCert") {
            assert.ok(r.secretInputs.includes("privateKeyPem"), `${r.name}: privateKeyPem is not secret`);
          }
          if (r.type === "kubernetes:core/v1:Secret") {
            const stringData = (r.inputs.stringData as Record<string, string> | undefined) ?? {};
            if (Object.values(stringData).some((v) => v.includes(SECRET))) {
              assert.ok(r.secretInputs.includes("stringData"), `${r.name}: a Secret's stringData carries a secret but is not secret`);
            }
            if ((r.inputs.metadata as { name?: string } | undefined)?.name === "egress-proxy-tokens") {
              for (const json of Object.values(stringData)) {
                assert.ok(
                  Object.values(JSON.parse(json) as Record<string, string>).every((v) => v === SECRET),
                  `${r.name}: a token is not secret`,
                );
              }
              assert.ok(r.secretInputs.includes("stringData"), `${r.name}: the tokens are not secret`);
            }
          }
          if (r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Secret") {
            assert.ok(!JSON.stringify(r.inputs).includes(SECRET), `${r.name}: a secret outside a Kubernetes Secret`);
          }
        }
      });
    });
  }

  it("the unit tests' hand-built bottle sets no input the real component does not set", () => {
    const key = (type: string, labels: unknown) =>
      `${type} ${((labels as { label: string; value: string }[] | undefined) ?? []).find((l) => l.label === "bot-bottle.role")?.value ?? ""}`;
    const real = new Map<string, Set<string>>();
    for (const r of [...plans.values()].flat()) {
      const k = key(r.type, r.inputs.labels);
      real.set(k, new Set([...(real.get(k) ?? []), ...Object.keys(r.inputs)]));
    }
    for (const r of bottleGraph()) {
      const k = key(r.type, r.props.labels);
      const invented = Object.keys(r.props).filter((p) => !real.get(k)?.has(p));
      assert.deepEqual(invented, [], `test/fixtures.ts ${r.name} (${k}) sets inputs the component does not`);
    }
  });

  it("the unit tests' hand-built Kubernetes bottle sets no input the real component does not set", () => {
    // Objects are named after their role; a namespace after its stack and bottle.
    const key = (type: string, metadata: { name?: unknown } | undefined) =>
      type === "kubernetes:core/v1:Namespace" ? type : `${type} ${String(metadata?.name)}`;
    const real = new Map<string, Set<string>>();
    for (const r of [...plans.values()].flat().filter((r) => r.type.startsWith("kubernetes:"))) {
      const k = key(r.type, r.inputs.metadata as { name?: unknown } | undefined);
      real.set(k, new Set([...(real.get(k) ?? []), ...keyPaths(r.inputs)]));
    }
    assert.ok(real.size > 0, "no example stack declares a Kubernetes bottle to compare test/fixtures.ts kubernetesBottleGraph with");
    for (const r of kubernetesBottleGraph().filter((r) => r.type.startsWith("kubernetes:"))) {
      const k = key(r.type, r.props.metadata);
      assert.ok(real.has(k), `test/fixtures.ts declares ${k}, which no example stack's Kubernetes bottle does`);
      const invented = keyPaths(r.props).filter((p) => !real.get(k)!.has(p));
      assert.deepEqual(invented, [], `test/fixtures.ts ${r.name} (${k}) sets inputs the component does not`);
    }
  });

  it("catches regressions injected into a real Kubernetes stack graph", async () => {
    const stack = stacks.find((s) => plans.get(s)!.some((r) => r.type === "kubernetes:apps/v1:Deployment"));
    assert.ok(stack, "an example stack declares a Kubernetes bottle");
    const resources = asPolicyResources(plans.get(stack)!);
    const named = (kind: string, name: string) => resources.find((r) => r.type.endsWith(`:${kind}`) && r.props.metadata?.name === name)!;
    const agent = named("Deployment", "agent");
    const agentSpec = agent.props.spec.template.spec;
    agentSpec.containers[0].securityContext.privileged = true;
    const [[variable, value]] = Object.entries(
      JSON.parse(named("Secret", "egress-proxy-tokens").props.stringData["tokens.json"]) as Record<string, string>,
    );
    agentSpec.containers[0].env.push({ name: variable, value });
    named("NetworkPolicy", "agent").props.spec.egress.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }] });
    named("NetworkPolicy", "pipelock").props.spec.egress[0].to[0].ipBlock.except = [];
    resources.splice(resources.indexOf(named("NetworkPolicy", "default-deny")), 1);
    delete named("Namespace", agent.props.metadata.namespace).props.metadata.labels["pod-security.kubernetes.io/enforce"];
    named("ConfigMap", "egress-proxy-config").props.data["routes.yaml"] += '  - host: "*.com"\n';
    const pipelockConfig = named("ConfigMap", "pipelock-config");
    pipelockConfig.props.data["pipelock.yaml"] = String(pipelockConfig.props.data["pipelock.yaml"]).replace("mode: strict", "mode: audit");
    const violated = new Set((await runPack(resources, stack)).filter((v) => v.level === "mandatory").map((v) => v.policy));
    assert.deepEqual([...violated].sort(), [
      "credentials-are-secret",
      "gates-allow-same-hosts",
      "gates-load-the-declared-documents",
      "kubernetes-agent-reaches-only-egress-proxy",
      "kubernetes-namespace-default-deny",
      "kubernetes-namespace-restricted",
      "kubernetes-only-pipelock-reaches-outside",
      "kubernetes-pods-hardened",
      "pipelock-strict-enforcing",
      "routes-no-broad-wildcards",
    ]);
  });

  it("catches a regression injected into a real stack graph (the run is not vacuous)", async () => {
    const stack = stacks.includes("prod") ? "prod" : stacks[0];
    const resources = asPolicyResources(plans.get(stack)!);
    const agent = resources.find((r) => r.type === "docker:index/container:Container" && r.name.endsWith("-agent"));
    const proxy = resources.find((r) => r.type === "docker:index/container:Container" && r.name.endsWith("-egress-proxy"));
    assert.ok(agent && proxy, `stack ${stack} declares an agent and an egress proxy`);
    const outbound = resources.find((r) => r.name.endsWith("-outbound-net"))!.props.name as string;
    agent.props.networksAdvanced.push({ name: outbound });
    proxy.props.envs = (proxy.props.envs as string[]).filter((e) => !e.startsWith("EGRESS_PROXY_UPSTREAM_PROXY="));
    const apply = resources.find((r) => r.name === `${proxy.name}-config-apply`)!;
    const [[variable, value]] = Object.entries(JSON.parse(apply.props.environment.BOTTLE_TOKENS) as Record<string, string>);
    agent.props.envs.push(`${variable}=${value}`);
    apply.props.stdin += '  - host: "*.com"\n';
    const violated = new Set((await runPack(resources, stack)).filter((v) => v.level === "mandatory").map((v) => v.policy));
    assert.deepEqual([...violated].sort(), [
      "agent-only-internal-networks",
      "credentials-are-secret",
      "egress-proxy-chains-through-pipelock",
      "gates-allow-same-hosts",
      "gates-load-the-declared-documents",
      "only-pipelock-reaches-outside",
      "routes-no-broad-wildcards",
      "workloads-on-their-networks",
    ]);
  });
});
