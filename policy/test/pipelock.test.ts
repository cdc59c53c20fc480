import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { pipelockPassthroughReviewed, pipelockStrictEnforcing } from "../policies/pipelock";
import { bottleGraph, container, kubernetesBottleGraph, liveConfigOf, object, pipelockConfig, podSpec, setConfigMapDocument, setDocument } from "./fixtures";
import { DeclaredResource, runStackPolicy } from "../offline/run";

const CONFIG = "/etc/pipelock/live/current/pipelock.yaml";

/** The fixture's graph with pipelock's pipelock.yaml changed by `change`. */
function pipelockWith(change: (config: Record<string, any>) => void): DeclaredResource[] {
    const graph = bottleGraph();
    const config: Record<string, any> = pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com"]);
    change(config);
    setDocument(graph, "pipelock", stringify(config));
    return graph;
}

/** A second document, `file`, in pipelock's volume (as a second apply command would write it). */
function withSecondDocument(graph: DeclaredResource[], file: string, config: Record<string, unknown>): DeclaredResource[] {
    const writer = structuredClone(liveConfigOf(graph, "pipelock"));
    writer.name = `reviewer-pipelock-${file}-apply`;
    writer.props.environment.BOTTLE_DOCUMENT = file;
    writer.props.stdin = stringify(config);
    return [...graph, writer];
}

describe("pipelock-strict-enforcing", () => {
    it("passes the rendered strict, enforcing config", async () => {
        const result = await runStackPolicy(pipelockStrictEnforcing, bottleGraph());
        assert.deepEqual(result.violations, []);
    });

    const cases: { rule: string; change: (c: Record<string, any>) => void; message: RegExp }[] = [
        { rule: "strict mode", change: (c) => (c.mode = "balanced"), message: /sets mode 'balanced'; only strict mode enforces api_allowlist\. Set mode: strict/ },
        { rule: "mode set at all", change: (c) => delete c.mode, message: /sets mode '\(unset\)'/ },
        { rule: "enforcing", change: (c) => (c.enforce = false), message: /sets enforce: false, so it only logs/ },
        { rule: "TLS interception", change: (c) => (c.tls_interception.enabled = false), message: /does not enable tls_interception/ },
        { rule: "body scanning on", change: (c) => (c.request_body_scanning.enabled = false), message: /request_body_scanning enabled=false, action=block/ },
        { rule: "body scanning blocks", change: (c) => (c.request_body_scanning.action = "warn"), message: /action=warn: a leak found in a request would not be stopped/ },
        { rule: "header scanning on", change: (c) => (c.request_body_scanning.scan_headers = false), message: /scan_headers: false, so secrets in headers pass unscanned/ },
    ];
    for (const c of cases) {
        it(`enforces: ${c.rule}`, async () => {
            const { violations } = await runStackPolicy(pipelockStrictEnforcing, pipelockWith(c.change));
            assert.equal(violations.length, 1, violations.join("\n"));
            assert.match(violations[0], /^Pipelock 'dev-reviewer-pipelock' \(\/etc\/pipelock\/live\/current\/pipelock.yaml\) /);
            assert.match(violations[0], c.message);
        });
    }

    it("rejects pipelock started without --config (built-in defaults)", async () => {
        const graph = bottleGraph();
        container(graph, "pipelock").props.command = ["run", "--listen", "0.0.0.0:8888"];
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, graph);
        assert.deepEqual(violations, [
            "Pipelock 'dev-reviewer-pipelock' is not started with --config FILE, so it runs on built-in defaults " +
                "instead of the rendered pipelock.yaml. Start it with --config pointing at the rendered " +
                "pipelock.yaml in its live configuration volume.",
        ]);
    });

    it("checks the file --config names, not any pipelock.yaml", async () => {
        const graph = withSecondDocument(bottleGraph(), "audit.yaml", { version: 1, mode: "audit" });
        container(graph, "pipelock").props.command = ["run", "--config=/etc/pipelock/live/current/audit.yaml"];
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, graph);
        assert.match(violations.join("\n"), /\(\/etc\/pipelock\/live\/current\/audit.yaml\) sets mode 'audit'/);
    });

    it("checks the last --config when it is repeated", async () => {
        const graph = withSecondDocument(bottleGraph(), "audit.yaml", { version: 1, mode: "audit" });
        container(graph, "pipelock").props.command.push("--config", "/etc/pipelock/live/current/audit.yaml");
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, graph);
        assert.match(violations.join("\n"), /\(\/etc\/pipelock\/live\/current\/audit.yaml\) sets mode 'audit'/);
    });

    it("refuses a document two commands write (which one lands is a race)", async () => {
        const graph = withSecondDocument(bottleGraph(), "pipelock.yaml", { version: 1, mode: "audit" });
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, graph);
        assert.deepEqual(violations, [
            `Pipelock 'dev-reviewer-pipelock' reads ${CONFIG}, but 2 commands write pipelock.yaml into volume ` +
                "dev-reviewer-pipelock-config (expected exactly one). Start it with --config pointing at the rendered " +
                "pipelock.yaml in its live configuration volume.",
        ]);
    });

    it("refuses a config path outside a live configuration volume, and a writable one", async () => {
        const outside = bottleGraph();
        container(outside, "pipelock").props.command[2] = "/etc/pipelock/pipelock.yaml";
        assert.match((await runStackPolicy(pipelockStrictEnforcing, outside)).violations.join("\n"), /reads \/etc\/pipelock\/pipelock.yaml, which is not <dir>\/current\/<file> of a live configuration volume it mounts/);
        const writable = bottleGraph();
        container(writable, "pipelock").props.volumes[0].readOnly = false;
        assert.match((await runStackPolicy(pipelockStrictEnforcing, writable)).violations.join("\n"), /mounts its configuration volume dev-reviewer-pipelock-config writable at \/etc\/pipelock\/live; mount it read-only/);
    });

    it("rejects a config that is not valid YAML", async () => {
        const graph = bottleGraph();
        setDocument(graph, "pipelock", "mode: strict\nmode: audit\n");
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /\/etc\/pipelock\/live\/current\/pipelock.yaml is not valid YAML/);
    });
});

describe("pipelock-passthrough-reviewed (advisory)", () => {
    it("is silent without passthrough domains", async () => {
        const result = await runStackPolicy(pipelockPassthroughReviewed, bottleGraph());
        assert.deepEqual(result.violations, []);
    });

    it("names every passthrough host", async () => {
        const graph = pipelockWith((c) => (c.tls_interception.passthrough_domains = ["npm.example.com", "pypi.example.com"]));
        const { violations } = await runStackPolicy(pipelockPassthroughReviewed, graph);
        assert.deepEqual(violations, [
            "Pipelock 'dev-reviewer-pipelock' passes npm.example.com, pypi.example.com through without interception: " +
                "no DLP on what the agent sends there. Make sure those routes allow only the methods and paths the " +
                "agent needs (GET/HEAD for downloads).",
        ]);
        assert.equal(pipelockPassthroughReviewed.enforcementLevel, "advisory");
    });
});

describe("the pipelock policies on a Kubernetes bottle (pipelock.yaml from its ConfigMap)", () => {
    /** The Kubernetes graph with pipelock's ConfigMap document changed by `change`. */
    function k8sPipelockWith(change: (config: Record<string, any>) => void): DeclaredResource[] {
        const graph = kubernetesBottleGraph();
        const config: Record<string, any> = pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com"]);
        change(config);
        setConfigMapDocument(graph, "pipelock", stringify(config));
        return graph;
    }

    it("passes the rendered strict, enforcing config", async () => {
        assert.deepEqual((await runStackPolicy(pipelockStrictEnforcing, kubernetesBottleGraph())).violations, []);
        assert.deepEqual((await runStackPolicy(pipelockPassthroughReviewed, kubernetesBottleGraph())).violations, []);
    });

    it("rejects a config that is not strict", async () => {
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, k8sPipelockWith((c) => (c.mode = "audit")));
        assert.deepEqual(violations, [
            "Pipelock 'dev-reviewer/pipelock' (/etc/pipelock/live/current/pipelock.yaml) sets mode 'audit'; only strict mode " +
                "enforces api_allowlist. Set mode: strict.",
        ]);
    });

    it("rejects a config that only warns", async () => {
        const { violations } = await runStackPolicy(pipelockStrictEnforcing, k8sPipelockWith((c) => (c.request_body_scanning.action = "warn")));
        assert.equal(violations.length, 1);
        assert.match(violations[0]!, /action=warn: a leak found in a request would not be stopped/);
    });

    it("reads --config from the container's args, or its command", async () => {
        const noConfig = kubernetesBottleGraph();
        podSpec(object(noConfig, "Deployment", "pipelock")).containers[0].args = ["run", "--listen", "0.0.0.0:8888"];
        assert.match((await runStackPolicy(pipelockStrictEnforcing, noConfig)).violations.join("\n"), /^Pipelock 'dev-reviewer\/pipelock' is not started with --config FILE/);
        const inCommand = k8sPipelockWith((c) => (c.mode = "balanced"));
        const main = podSpec(object(inCommand, "Deployment", "pipelock")).containers[0];
        main.command = ["/pipelock", ...main.args];
        delete main.args;
        assert.match((await runStackPolicy(pipelockStrictEnforcing, inCommand)).violations.join("\n"), /sets mode 'balanced'/);
    });

    it("names every passthrough host (advisory)", async () => {
        const graph = k8sPipelockWith((c) => (c.tls_interception.passthrough_domains = ["npm.example.com"]));
        const { violations } = await runStackPolicy(pipelockPassthroughReviewed, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0]!, /^Pipelock 'dev-reviewer\/pipelock' passes npm.example.com through without interception/);
    });
});
