import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { innerNetworksInternal, onlyPipelockReachesOutside, workloadsOnTheirNetworks } from "../policies/networks";
import { bottleGraph, container, find, withBulkLane } from "./fixtures";
import { runResourcePolicy, runStackPolicy } from "../offline/run";

describe("agent-and-egress-networks-internal", () => {
  for (const role of ["agent-net", "egress-net"]) {
    it(`passes an internal ${role}`, async () => {
      const result = await runResourcePolicy(innerNetworksInternal, find(bottleGraph(), `-${role}`));
      assert.deepEqual(result.violations, []);
    });

    it(`rejects a ${role} with a gateway`, async () => {
      const network = find(bottleGraph(), `-${role}`);
      network.props.internal = false;
      const { violations } = await runResourcePolicy(innerNetworksInternal, network);
      assert.deepEqual(violations, [
        `Network 'dev-reviewer-${role}' (role '${role}') is not internal, so it has a gateway to the ` +
          "outside. Set internal: true on it.",
      ]);
    });

    it(`rejects a ${role} that gives the host an address (the host's services would be reachable)`, async () => {
      for (const options of [undefined, {}, { "com.docker.network.bridge.inhibit_ipv4": "false" }]) {
        const network = find(bottleGraph(), `-${role}`);
        network.props.options = options;
        const { violations } = await runResourcePolicy(innerNetworksInternal, network);
        assert.deepEqual(violations, [
          `Network 'dev-reviewer-${role}' (role '${role}') gives the host an address on it, through which ` +
            "its containers reach the host's own services. Set options " +
            '{ "com.docker.network.bridge.inhibit_ipv4": "true" } on it.',
        ]);
      }
    });

    it(`rejects a ${role} that leaves internal unset (Docker's default is a gateway)`, async () => {
      const network = find(bottleGraph(), `-${role}`);
      delete network.props.internal;
      const { violations } = await runResourcePolicy(innerNetworksInternal, network);
      assert.equal(violations.length, 1);
      assert.match(violations[0], /is not internal/);
    });
  }

  it("leaves the outbound network alone (it is meant to have a gateway)", async () => {
    const result = await runResourcePolicy(innerNetworksInternal, find(bottleGraph(), "-outbound-net"));
    assert.deepEqual(result.violations, []);
  });
});

describe("only-pipelock-reaches-outside", () => {
  it("passes a bottle where only pipelock joins the outbound network", async () => {
    const result = await runStackPolicy(onlyPipelockReachesOutside, bottleGraph());
    assert.deepEqual(result.violations, []);
  });

  it("rejects an egress proxy on the outbound network (it could bypass pipelock)", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.networksAdvanced.push({ name: "dev-reviewer-outbound-net" });
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0],
      /^Container 'dev-reviewer-egress-proxy' \(role 'egress-proxy'\) is on 'dev-reviewer-outbound-net' \(not internal\), which has a way out; only the bottle's pipelocks may be\./,
    );
  });

  it("rejects an egress network turned into a bridge with a gateway", async () => {
    const graph = bottleGraph();
    find(graph, "-egress-net").props.internal = false;
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-egress-proxy'.*'dev-reviewer-egress-net' \(not internal\)/);
  });

  it("rejects a container on Docker's default bridge", async () => {
    const graph = bottleGraph();
    delete container(graph, "agent").props.networksAdvanced;
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-agent' \(role 'agent'\) is on Docker's default bridge/);
  });

  it("rejects a container on the host network", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.networkMode = "host";
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /is on the host network \(networkMode 'host'\)/);
  });

  it("rejects a container on a network the stack does not declare", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.networksAdvanced.push({ name: "corp-lan" });
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /is on 'corp-lan' \(not declared in this stack\)/);
  });

  it("treats a custom networkMode as a network the container joins", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.networkMode = "dev-reviewer-outbound-net";
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-egress-proxy' .* is on 'dev-reviewer-outbound-net' \(not internal\)/);
  });

  it("rejects an unlabelled container with a way out", async () => {
    const graph = bottleGraph();
    graph.push({
      type: "docker:index/container:Container",
      name: "sidecar",
      props: { name: "sidecar", image: "busybox", networksAdvanced: [{ name: "dev-reviewer-outbound-net" }] },
    });
    const { violations } = await runStackPolicy(onlyPipelockReachesOutside, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'sidecar' \(role 'none'\) is on 'dev-reviewer-outbound-net'/);
  });
});

describe("workloads-on-their-networks", () => {
  it("passes every container of a bottle on its row's networks, two bottles side by side", async () => {
    assert.deepEqual(
      (await runStackPolicy(workloadsOnTheirNetworks, [...withBulkLane(bottleGraph()), ...bottleGraph({ bottle: "coder" })])).violations,
      [],
    );
  });

  const cases: { what: string; role: "agent" | "egress-proxy" | "pipelock" | "pipelock-bulk"; network: string; message: RegExp }[] = [
    {
      what: "pipelock on the agent's network",
      role: "pipelock",
      network: "dev-reviewer-agent-net",
      message:
        /'dev-reviewer-pipelock' \(role 'pipelock'\) joins network 'dev-reviewer-agent-net' \(role 'agent-net'\), which is not in its role's row of the topology\. Its role joins only 'egress-net' and 'outbound-net'/,
    },
    {
      what: "pipelock-bulk on the agent's network",
      role: "pipelock-bulk",
      network: "dev-reviewer-agent-net",
      message: /role 'pipelock-bulk'\) joins network 'dev-reviewer-agent-net'/,
    },
    {
      what: "the egress proxy on the outbound network",
      role: "egress-proxy",
      network: "dev-reviewer-outbound-net",
      message: /role 'egress-proxy'\) joins network 'dev-reviewer-outbound-net' \(role 'outbound-net'\)/,
    },
    {
      what: "the agent on the egress network",
      role: "agent",
      network: "dev-reviewer-egress-net",
      message: /role 'agent'\) joins network 'dev-reviewer-egress-net' \(role 'egress-net'\)/,
    },
    {
      what: "a gate on another bottle's network",
      role: "egress-proxy",
      network: "dev-coder-egress-net",
      message: /joins 'dev-coder-egress-net', the 'egress-net' network of another bottle \(dev\/coder\)/,
    },
    {
      what: "a network the stack does not declare",
      role: "pipelock",
      network: "shared-lan",
      message: /joins network 'shared-lan', which this stack does not declare/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.what}`, async () => {
      const graph = [...withBulkLane(bottleGraph()), ...bottleGraph({ bottle: "coder" })];
      graph.find((r) => r.name === `reviewer-${c.role}`)!.props.networksAdvanced.push({ name: c.network });
      const { violations } = await runStackPolicy(workloadsOnTheirNetworks, graph);
      assert.equal(violations.length, 1, violations.join("\n"));
      assert.match(violations[0]!, c.message);
    });
  }

  it("counts a custom networkMode as a network it joins, and refuses a container with no role on a bottle's network", async () => {
    const graph = bottleGraph();
    container(graph, "pipelock").props.networkMode = "dev-reviewer-agent-net";
    const stranger = structuredClone(container(graph, "agent"));
    stranger.name = "debug";
    stranger.props.labels = [];
    const { violations } = await runStackPolicy(workloadsOnTheirNetworks, [...graph, stranger]);
    assert.deepEqual(violations.length, 2, violations.join("\n"));
    assert.match(violations[0]!, /'dev-reviewer-pipelock' \(role 'pipelock'\) joins network 'dev-reviewer-agent-net'/);
    assert.match(
      violations[1]!,
      /\(role 'none'\) joins the bottle network 'dev-reviewer-agent-net' \(role 'agent-net'\) but has no role of a bottle/,
    );
  });
});
