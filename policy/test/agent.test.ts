import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentHostWorkspaceReviewed, agentOnlyInternalNetworks, productionAgentNoHostWorkspace } from "../policies/agent";
import { workloadsHardened } from "../policies/workloads";
import { bottleGraph, container, find } from "./fixtures";
import { runResourcePolicy, runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("agent-only-internal-networks", () => {
  it("passes an agent on its own internal agent network", async () => {
    const result = await runStackPolicy(agentOnlyInternalNetworks, bottleGraph());
    assert.deepEqual(result.violations, []);
  });

  it("rejects an agent also on the outbound network", async () => {
    const graph = bottleGraph();
    container(graph, "agent").props.networksAdvanced.push({ name: "dev-reviewer-outbound-net" });
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.equal(violations.length, 2);
    assert.match(violations[0], /joins network 'dev-reviewer-outbound-net', which is not internal: true/);
    assert.match(violations[1], /role 'outbound-net'.*may join only its own bottle's 'agent-net' network/);
  });

  it("rejects an agent that is not on a network with a gateway but next to pipelock (egress-net)", async () => {
    const graph = bottleGraph();
    container(graph, "agent").props.networksAdvanced = [{ name: "dev-reviewer-egress-net" }];
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.deepEqual(violations.length, 1);
    assert.match(violations[0], /role 'egress-net', bottle 'reviewer'\)\. The agent may join only/);
  });

  it("rejects an agent on another bottle's agent network", async () => {
    const graph = [...bottleGraph(), ...bottleGraph({ bottle: "coder" })];
    find(graph, "reviewer-agent").props.networksAdvanced = [{ name: "dev-coder-agent-net" }];
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-agent' joins network 'dev-coder-agent-net'.*bottle 'coder'/);
  });

  it("rejects an agent network that is not internal", async () => {
    const graph = bottleGraph();
    find(graph, "-agent-net").props.internal = false;
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /'dev-reviewer-agent-net', which is not internal: true \(it has a gateway out\)/);
  });

  it("rejects an agent without networksAdvanced (Docker's default bridge)", async () => {
    const graph = bottleGraph();
    delete container(graph, "agent").props.networksAdvanced;
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /declares no networksAdvanced, so Docker puts it on the default bridge/);
  });

  it("rejects an agent on a network the stack does not declare", async () => {
    const graph = bottleGraph();
    container(graph, "agent").props.networksAdvanced = [{ name: "shared-lan" }];
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /joins network 'shared-lan', which this stack does not declare/);
  });

  it("treats a custom networkMode as a network the agent joins", async () => {
    const graph = bottleGraph();
    container(graph, "agent").props.networkMode = "dev-reviewer-outbound-net";
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.match(violations.join("\n"), /joins network 'dev-reviewer-outbound-net', which is not internal/);
  });

  it("defers a network name that is unknown during preview", async () => {
    const graph = bottleGraph();
    container(graph, "agent").props.networksAdvanced = [{ name: UNKNOWN_STRING }];
    const { violations } = await runStackPolicy(agentOnlyInternalNetworks, graph);
    assert.deepEqual(violations, []);
  });
});

describe("a host directory as the agent's workspace", () => {
  const withHostWorkspace = () => {
    const agent = container(bottleGraph(), "agent");
    agent.props.volumes = [{ hostPath: "/home/me/src/app", containerPath: "/workspace" }];
    return agent;
  };

  it("is allowed outside production (workloads-hardened accepts a project directory for the agent), and pointed out", async () => {
    assert.deepEqual((await runResourcePolicy(workloadsHardened, withHostWorkspace())).violations, []);
    const advice = await runResourcePolicy(agentHostWorkspaceReviewed, withHostWorkspace());
    assert.deepEqual(advice.violations, [
      "Agent container 'dev-reviewer-agent' mounts host directories (/home/me/src/app): the agent can change anything in them.",
    ]);
    assert.equal(
      (await runResourcePolicy(productionAgentNoHostWorkspace, withHostWorkspace())).notApplicable,
      "not a production stack; agent-host-workspace-reviewed advises instead",
    );
  });

  it("is refused in production (by stack name or tag)", async () => {
    for (const options of [{ stack: "prod" }, { stackTags: { "bot-bottle:environment": "production" } }]) {
      const { violations } = await runResourcePolicy(productionAgentNoHostWorkspace, withHostWorkspace(), options);
      assert.equal(violations.length, 1, JSON.stringify(options));
      assert.match(violations[0]!, /mounts host directories \(\/home\/me\/src\/app\) in a production stack\. Remove workspace\.hostPath/);
    }
  });
});
