import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { egressProxyChainsThroughPipelock, gatesKeepImageEntrypoint } from "../policies/chain";
import { bottleGraph, container, find, kubernetesBottleGraph, object, podSpec, withBulkLane } from "./fixtures";
import { runResourcePolicy, runStackPolicy } from "../offline/run";

/** Sets (or, with undefined, removes) EGRESS_PROXY_UPSTREAM_PROXY on the egress proxy. */
function setUpstream(graph: ReturnType<typeof bottleGraph>, value: string | undefined): void {
  const proxy = container(graph, "egress-proxy");
  proxy.props.envs = proxy.props.envs.filter((e: string) => !e.startsWith("EGRESS_PROXY_UPSTREAM_PROXY="));
  if (value !== undefined) {
    proxy.props.envs.push(`EGRESS_PROXY_UPSTREAM_PROXY=${value}`);
  }
}

describe("egress-proxy-chains-through-pipelock", () => {
  it("passes an egress proxy chained through its bottle's pipelock", async () => {
    const result = await runStackPolicy(egressProxyChainsThroughPipelock, bottleGraph());
    assert.deepEqual(result.violations, []);
  });

  it("passes two bottles, each chained through its own pipelock", async () => {
    const graph = [...bottleGraph(), ...bottleGraph({ bottle: "coder" })];
    const result = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.deepEqual(result.violations, []);
  });

  it("rejects an egress proxy without an upstream (it would dial destinations itself)", async () => {
    const graph = bottleGraph();
    setUpstream(graph, undefined);
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' has EGRESS_PROXY_UPSTREAM_PROXY=(unset), so it does not " +
        "forward through pipelock. Set EGRESS_PROXY_UPSTREAM_PROXY=http://pipelock:8888.",
    ]);
  });

  it("reads the last of duplicate upstream entries, as the container does", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.envs.push("EGRESS_PROXY_UPSTREAM_PROXY=");
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /has EGRESS_PROXY_UPSTREAM_PROXY=, so it does not forward through pipelock/);
  });

  it("ignores entrypoints: a deployed container reports its image's own entrypoint as an output", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.entrypoints = ["/opt/venv/bin/python", "/opt/egress-proxy/entrypoint.py"];
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.deepEqual(violations, []);
  });

  it("rejects an upstream that is not pipelock", async () => {
    const graph = bottleGraph();
    setUpstream(graph, "http://squid.corp:3128");
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /EGRESS_PROXY_UPSTREAM_PROXY=http:\/\/squid.corp:3128, so it does not forward/);
  });

  it("rejects an egress proxy that does not share the egress network with its pipelock", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.networksAdvanced = [{ name: "dev-reviewer-agent-net", aliases: ["egress-proxy"] }];
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0],
      /shares no 'egress-net' network with its pipelock 'dev-reviewer-pipelock' on which pipelock has the alias 'pipelock'/,
    );
  });

  it("rejects a pipelock without its alias on the egress network", async () => {
    const graph = bottleGraph();
    container(graph, "pipelock").props.networksAdvanced[0].aliases = [];
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /give pipelock the alias 'pipelock' there/);
  });

  it("rejects a chain over a network that is not the bottle's egress network", async () => {
    const graph = bottleGraph();
    container(graph, "pipelock").props.networksAdvanced = [
      { name: "dev-reviewer-egress-net" },
      { name: "dev-reviewer-outbound-net", aliases: ["pipelock"] },
    ];
    container(graph, "egress-proxy").props.networksAdvanced[1] = { name: "dev-reviewer-outbound-net", aliases: ["egress-proxy"] };
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /shares no 'egress-net' network with its pipelock/);
  });

  it("rejects an egress proxy chained to another bottle's pipelock", async () => {
    const graph = [...bottleGraph(), ...bottleGraph({ bottle: "coder" })];
    find(graph, "reviewer-egress-proxy").props.networksAdvanced[1].name = "dev-coder-egress-net";
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-egress-proxy' shares no 'egress-net' network with its pipelock 'dev-reviewer-pipelock'/);
  });

  it("rejects another container claiming the alias 'pipelock' next to the egress proxy", async () => {
    const graph = bottleGraph();
    graph.push({
      type: "docker:index/container:Container",
      name: "impostor",
      props: { name: "impostor", image: "busybox", networksAdvanced: [{ name: "dev-reviewer-egress-net", aliases: ["pipelock"] }] },
    });
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /Container 'impostor' also claims the alias 'pipelock' on network 'dev-reviewer-egress-net'/);
  });

  it("rejects a bottle without a pipelock", async () => {
    const graph = bottleGraph().filter((r) => r.name !== "reviewer-pipelock");
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /has no pipelock container in its bottle \('dev\/reviewer'\)/);
  });
});

describe("gates-keep-image-entrypoint", () => {
  it("passes an egress proxy that declares no entrypoint", async () => {
    const { violations } = await runResourcePolicy(gatesKeepImageEntrypoint, container(bottleGraph(), "egress-proxy"));
    assert.deepEqual(violations, []);
  });

  it("rejects a declared entrypoint override that would ignore the upstream setting", async () => {
    const proxy = container(bottleGraph(), "egress-proxy");
    proxy.props.entrypoints = ["/opt/venv/bin/mitmdump", "--listen-port", "9099"];
    const { violations } = await runResourcePolicy(gatesKeepImageEntrypoint, proxy);
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' overrides the image's entrypoint with [/opt/venv/bin/mitmdump " +
        "--listen-port 9099]; the image's entrypoint is what turns EGRESS_PROXY_UPSTREAM_PROXY into upstream " +
        "mode. Remove entrypoints.",
    ]);
  });

  it("applies to both pipelocks: their entrypoint is pipelock", async () => {
    for (const role of ["pipelock", "pipelock-bulk"] as const) {
      const pipelock = container(withBulkLane(bottleGraph()), role);
      assert.deepEqual((await runResourcePolicy(gatesKeepImageEntrypoint, pipelock)).violations, [], role);
      pipelock.props.entrypoints = ["/bin/sh", "-c"];
      assert.deepEqual((await runResourcePolicy(gatesKeepImageEntrypoint, pipelock)).violations, [
        `${role} 'dev-reviewer-${role}' overrides the image's entrypoint with [/bin/sh -c]; the image's entrypoint is pipelock. Remove entrypoints.`,
      ]);
    }
  });

  it("does not apply to the agent", async () => {
    const agent = container(bottleGraph(), "agent");
    agent.props.entrypoints = ["/bin/bash"];
    assert.deepEqual((await runResourcePolicy(gatesKeepImageEntrypoint, agent)).violations, []);
  });
});

describe("the chain on a Kubernetes bottle", () => {
  it("passes an egress proxy Deployment chained through its bottle's pipelock", async () => {
    assert.deepEqual((await runStackPolicy(egressProxyChainsThroughPipelock, kubernetesBottleGraph())).violations, []);
    for (const r of kubernetesBottleGraph()) {
      assert.deepEqual((await runResourcePolicy(gatesKeepImageEntrypoint, r)).violations, [], r.name);
    }
  });

  it("rejects an egress proxy whose container does not forward through pipelock", async () => {
    const graph = kubernetesBottleGraph();
    const env = podSpec(object(graph, "Deployment", "egress-proxy")).containers[0].env as { name: string; value: string }[];
    env.find((e) => e.name === "EGRESS_PROXY_UPSTREAM_PROXY")!.value = "http://proxy.example.com:3128";
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer/egress-proxy' has EGRESS_PROXY_UPSTREAM_PROXY=http://proxy.example.com:3128, so it does not " +
        "forward through pipelock. Set EGRESS_PROXY_UPSTREAM_PROXY=http://pipelock:8888.",
    ]);
  });

  it("rejects a bottle without a pipelock Deployment", async () => {
    const graph = kubernetesBottleGraph().filter((r) => r.name !== "reviewer-pipelock");
    const { violations } = await runStackPolicy(egressProxyChainsThroughPipelock, graph);
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer/egress-proxy' has no pipelock workload in its bottle ('dev/reviewer'). Declare the " +
        "bottle's pipelock with the same bot-bottle.stack and bot-bottle.bottle labels.",
    ]);
  });

  it("rejects a command that replaces the egress proxy image's entrypoint (not the reloader's)", async () => {
    const proxy = object(kubernetesBottleGraph(), "Deployment", "egress-proxy");
    podSpec(proxy).containers[0].command = ["mitmdump", "-s", "/tmp/addon.py"];
    const { violations } = await runResourcePolicy(gatesKeepImageEntrypoint, proxy);
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer/egress-proxy' overrides the image's entrypoint with [mitmdump -s /tmp/addon.py]; the " +
        "image's entrypoint is what turns EGRESS_PROXY_UPSTREAM_PROXY into upstream mode. Remove command from its " +
        "'egress-proxy' container (args are fine).",
    ]);
  });
});
