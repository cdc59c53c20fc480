import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    agentContainerHardened,
    agentHostWorkspaceReviewed,
    agentOnlyInternalNetworks,
    isSystemHostPath,
    productionAgentNoHostWorkspace,
    setsNoNewPrivileges,
} from "../policies/agent";
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

describe("agent-container-hardened", () => {
    it("passes the hardened agent", async () => {
        const result = await runResourcePolicy(agentContainerHardened, container(bottleGraph(), "agent"));
        assert.deepEqual(result.violations, []);
    });

    it("ignores containers that are not the agent", async () => {
        const proxy = container(bottleGraph(), "egress-proxy");
        proxy.props.privileged = true;
        const result = await runResourcePolicy(agentContainerHardened, proxy);
        assert.deepEqual(result.violations, []);
    });

    const cases: { rule: string; change: (p: Record<string, any>) => void; message: RegExp }[] = [
        { rule: "no ports", change: (p) => (p.ports = [{ internal: 22, external: 2222 }]), message: /publishes ports to the host; remove `ports`/ },
        { rule: "no publishAllPorts", change: (p) => (p.publishAllPorts = true), message: /sets publishAllPorts/ },
        { rule: "no host network", change: (p) => (p.networkMode = "host"), message: /uses networkMode 'host'/ },
        { rule: "no shared network namespace", change: (p) => (p.networkMode = "container:dev-reviewer-egress-proxy"), message: /networkMode 'container:dev-reviewer-egress-proxy'/ },
        { rule: "no host IPC", change: (p) => (p.ipcMode = "host"), message: /uses ipcMode 'host'/ },
        { rule: "no host PID", change: (p) => (p.pidMode = "host"), message: /uses pidMode 'host'/ },
        { rule: "no host user namespace", change: (p) => (p.usernsMode = "host"), message: /usernsMode 'host'/ },
        { rule: "not privileged", change: (p) => (p.privileged = true), message: /is privileged .*remove `privileged`/ },
        { rule: "no added capabilities", change: (p) => (p.capabilities.adds = ["NET_ADMIN"]), message: /adds capabilities \[NET_ADMIN\]; remove capabilities.adds/ },
        { rule: "drops all capabilities", change: (p) => (p.capabilities = { drops: ["NET_ADMIN"] }), message: /keeps Docker's default capabilities .*set capabilities.drops: \["ALL"\]/ },
        { rule: "no devices", change: (p) => (p.devices = [{ hostPath: "/dev/kvm" }]), message: /maps host devices/ },
        {
            rule: "no docker socket mount",
            change: (p) => (p.mounts = [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }]),
            message: /mounts host paths \(bind:\/var\/run\/docker.sock\)/,
        },
        {
            rule: "no volume from the host's system directories",
            change: (p) => (p.volumes = [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]),
            message: /has volumes bound from the host's system directories or another container \(\/var\/run\/docker.sock\)/,
        },
        {
            rule: "no volumes from another container",
            change: (p) => (p.volumes = [{ fromContainer: "dev-reviewer-pipelock" }]),
            message: /\(from dev-reviewer-pipelock\)/,
        },
        { rule: "sets no-new-privileges", change: (p) => (p.securityOpts = []), message: /does not set no-new-privileges; add "no-new-privileges:true"/ },
        {
            rule: "no unconfined seccomp",
            change: (p) => p.securityOpts.push("seccomp=unconfined"),
            message: /turns off kernel confinement \(seccomp=unconfined\)/,
        },
    ];
    for (const c of cases) {
        it(`enforces: ${c.rule}`, async () => {
            const agent = container(bottleGraph(), "agent");
            c.change(agent.props);
            const { violations } = await runResourcePolicy(agentContainerHardened, agent);
            assert.equal(violations.length, 1, violations.join("\n"));
            assert.match(violations[0], /^Agent container 'dev-reviewer-agent' /);
            assert.match(violations[0], c.message);
        });
    }

    it("accepts named volumes and tmpfs mounts", async () => {
        const agent = container(bottleGraph(), "agent");
        agent.props.mounts = [{ type: "volume", source: "workspace", target: "/work" }, { type: "tmpfs", target: "/tmp" }];
        agent.props.volumes = [{ volumeName: "cache", containerPath: "/cache" }];
        const { violations } = await runResourcePolicy(agentContainerHardened, agent);
        assert.deepEqual(violations, []);
    });

    it("recognizes every spelling of no-new-privileges", () => {
        for (const opt of ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"]) {
            assert.equal(setsNoNewPrivileges([opt]), true, opt);
        }
        assert.equal(setsNoNewPrivileges(["no-new-privileges:false"]), false);
    });
});

describe("a host directory as the agent's workspace", () => {
    const withHostWorkspace = () => {
        const agent = container(bottleGraph(), "agent");
        agent.props.volumes = [{ hostPath: "/home/me/src/app", containerPath: "/workspace" }];
        return agent;
    };

    it("is allowed outside production (agent-container-hardened accepts a project directory), and pointed out", async () => {
        assert.deepEqual((await runResourcePolicy(agentContainerHardened, withHostWorkspace())).violations, []);
        const advice = await runResourcePolicy(agentHostWorkspaceReviewed, withHostWorkspace());
        assert.deepEqual(advice.violations, ["Agent container 'dev-reviewer-agent' mounts host directories (/home/me/src/app): the agent can change anything in them."]);
        assert.equal((await runResourcePolicy(productionAgentNoHostWorkspace, withHostWorkspace())).notApplicable, "not a production stack; agent-host-workspace-reviewed advises instead");
    });

    it("is refused in production (by stack name or tag)", async () => {
        for (const options of [{ stack: "prod" }, { stackTags: { "bot-bottle:environment": "production" } }]) {
            const { violations } = await runResourcePolicy(productionAgentNoHostWorkspace, withHostWorkspace(), options);
            assert.equal(violations.length, 1, JSON.stringify(options));
            assert.match(violations[0]!, /mounts host directories \(\/home\/me\/src\/app\) in a production stack\. Remove workspace\.hostPath/);
        }
    });

    it("system directories are refused everywhere", () => {
        for (const path of ["/", "/etc", "/var/run/docker.sock", "/var/lib/docker", "/run/user/1000", "/root/.ssh", "/home/me/docker.sock"]) {
            assert.equal(isSystemHostPath(path), true, path);
        }
        for (const path of ["/home/me/src/app", "/srv/work", "/opt/projects/app"]) {
            assert.equal(isSystemHostPath(path), false, path);
        }
    });
});
