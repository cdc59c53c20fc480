/**
 * The backends behind one seam (components/backends.ts): the same bottle declared on each names
 * its objects as that backend does, on a provider of its own for its engine or cluster; and a
 * program's bottles on one engine or cluster share its provider and this package's images.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import type { Backend, BottleStackArgs, SharedEngine } from "../../../components/index";
import { RESOURCE_TYPES } from "../../../components/vocabulary";
import { runUnderMocks } from "../../../scripts/plan/mocks";
import { declareBottle, MOCK_OUTPUTS, unwrap } from "../../support/declare";

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 8);
const HOST = "ssh://deploy@box.example.com";
const IMAGES = { egressProxy: { image: "registry.example/egress-proxy@sha256:11" }, agent: { image: "registry.example/agent@sha256:22" } };
const ROUTES = [{ host: "api.github.com", git: { repositories: ["acme/app"] } }];

const cases: { backend: Backend; args: Partial<BottleStackArgs>; provider: [string, string]; objectNames: Record<string, string> }[] = [
  {
    backend: "docker",
    args: { docker: { host: HOST } },
    provider: [RESOURCE_TYPES.dockerProvider, `coder-docker-deploy-box-example-com-${hash(HOST)}`],
    objectNames: {
      agentNetwork: "dev-coder-agent-net",
      egressNetwork: "dev-coder-egress-net",
      outboundNetwork: "dev-coder-outbound-net",
      egressProxy: MOCK_OUTPUTS.containerName("coder-egress-proxy"),
      pipelock: MOCK_OUTPUTS.containerName("coder-pipelock"),
      pipelockBulk: MOCK_OUTPUTS.containerName("coder-pipelock-bulk"),
      agent: "dev-coder-agent",
    },
  },
  {
    backend: "kubernetes",
    args: { kubernetes: { context: "kind-dev" } },
    provider: [RESOURCE_TYPES.kubernetesProvider, "coder-kubernetes"],
    objectNames: {
      namespace: "dev-coder",
      egressProxy: "egress-proxy",
      pipelock: "pipelock",
      pipelockBulk: "pipelock-bulk",
      agent: "agent",
    },
  },
];

describe("each backend declares the bottle and names its objects", () => {
  for (const { backend, args, provider, objectNames } of cases) {
    test(backend, async () => {
      const d = await declareBottle("coder", { backend, routes: ROUTES, ...IMAGES, ...args }, "dev");
      const names = await Promise.all(
        Object.entries(d.stack.objectNames).map(async ([key, name]) => [key, (await unwrap(name)).value] as const),
      );
      assert.deepEqual(Object.fromEntries(names), objectNames);
      const providers = d.resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => [r.type, r.name]);
      assert.deepEqual(providers, [provider]);
    });
  }
});

describe("a program's bottles share their engine's or cluster's provider, and images built there", () => {
  const bottles = [
    { name: "a", docker: { host: HOST }, routes: ROUTES, agent: {} },
    { name: "b", docker: { host: HOST }, routes: ROUTES, ...IMAGES },
    { name: "c", routes: ROUTES, agent: {} },
    { name: "d", backend: "kubernetes", kubernetes: { context: "kind-dev" }, routes: ROUTES, ...IMAGES },
    { name: "e", backend: "kubernetes", kubernetes: { context: "kind-dev" }, routes: ROUTES, ...IMAGES },
  ];

  test("one provider per remote engine and per cluster, each image built once per engine, none on a cluster", async () => {
    const { result: shared, resources } = await runUnderMocks({ stack: "dev" }, async () => {
      const { sharedEngines, validateStackConfig } = await import("../../../components/index");
      const validated = validateStackConfig({ bottles });
      assert.ok(validated.ok, JSON.stringify(validated));
      const sharedEngineOf = sharedEngines("dev", validated.value.bottles);
      return validated.value.bottles.map((bottle) => sharedEngineOf(bottle));
    });
    const [a, b, c, d, e] = shared as [SharedEngine, SharedEngine, SharedEngine, SharedEngine, SharedEngine];
    const remote = `deploy-box-example-com-${hash(HOST)}`;
    // Registered in the order the mocks answer, which is not the order of declaration.
    assert.deepEqual(resources.map((r) => `${r.type} ${r.name}`).sort(), [
      `${RESOURCE_TYPES.image} agent-image`,
      `${RESOURCE_TYPES.image} agent-image-${remote}`,
      `${RESOURCE_TYPES.image} egress-proxy-image`,
      `${RESOURCE_TYPES.image} egress-proxy-image-${remote}`,
      `${RESOURCE_TYPES.dockerProvider} docker-${remote}`,
      `${RESOURCE_TYPES.kubernetesProvider} kubernetes-${hash(JSON.stringify([null, "kind-dev"]))}`,
    ]);
    assert.deepEqual(
      shared.map((s) => Object.keys(s.builtImages)),
      [["egressProxy", "agent"], [], ["egressProxy", "agent"], [], []],
    );
    assert.equal(a.provider, b.provider);
    assert.equal(c.provider, undefined);
    assert.equal(d.provider, e.provider);
    assert.notEqual(d.provider, undefined);
  });
});
