import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { pipelockPassthroughReviewed, pipelockStrictEnforcing } from "../policies/pipelock";
import { bottleGraph, container, pipelockConfig, setUpload } from "./fixtures";
import { DeclaredResource, runResourcePolicy } from "../offline/run";

/** The fixture's pipelock container with its pipelock.yaml changed by `change`. */
function pipelockWith(change: (config: Record<string, any>) => void): DeclaredResource {
    const pipelock = container(bottleGraph(), "pipelock");
    const config: Record<string, any> = pipelockConfig("reviewer", ["api.github.com"]);
    change(config);
    setUpload(pipelock, "/etc/pipelock/pipelock.yaml", stringify(config));
    return pipelock;
}

describe("pipelock-strict-enforcing", () => {
    it("passes the rendered strict, enforcing config", async () => {
        const result = await runResourcePolicy(pipelockStrictEnforcing, container(bottleGraph(), "pipelock"));
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
            const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelockWith(c.change));
            assert.equal(violations.length, 1, violations.join("\n"));
            assert.match(violations[0], /^Pipelock 'dev-reviewer-pipelock' \(\/etc\/pipelock\/pipelock.yaml\) /);
            assert.match(violations[0], c.message);
        });
    }

    it("rejects pipelock started without --config (built-in defaults)", async () => {
        const pipelock = container(bottleGraph(), "pipelock");
        pipelock.props.command = ["run", "--listen", "0.0.0.0:8888"];
        const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelock);
        assert.deepEqual(violations, [
            "Pipelock 'dev-reviewer-pipelock' is not started with --config FILE, so it runs on built-in defaults " +
                "instead of the uploaded pipelock.yaml. Start it with --config pointing at the uploaded, rendered " +
                "pipelock.yaml.",
        ]);
    });

    it("checks the file --config names, not any pipelock.yaml", async () => {
        const pipelock = container(bottleGraph(), "pipelock");
        pipelock.props.command = ["run", "--config=/etc/pipelock/audit.yaml"];
        pipelock.props.uploads.push({ file: "/etc/pipelock/audit.yaml", content: stringify({ version: 1, mode: "audit" }) });
        const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelock);
        assert.match(violations.join("\n"), /\(\/etc\/pipelock\/audit.yaml\) sets mode 'audit'/);
    });

    it("checks the last --config when it is repeated", async () => {
        const pipelock = container(bottleGraph(), "pipelock");
        pipelock.props.command.push("--config", "/etc/pipelock/audit.yaml");
        pipelock.props.uploads.push({ file: "/etc/pipelock/audit.yaml", content: stringify({ version: 1, mode: "audit" }) });
        const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelock);
        assert.match(violations.join("\n"), /\(\/etc\/pipelock\/audit.yaml\) sets mode 'audit'/);
    });

    it("checks the last upload of the config file (the one that lands)", async () => {
        const pipelock = container(bottleGraph(), "pipelock");
        pipelock.props.uploads.push({ file: "/etc/pipelock/pipelock.yaml", content: stringify({ version: 1, mode: "audit" }) });
        const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelock);
        assert.match(violations.join("\n"), /sets mode 'audit'/);
    });

    it("rejects a config that is not valid YAML", async () => {
        const pipelock = container(bottleGraph(), "pipelock");
        setUpload(pipelock, "/etc/pipelock/pipelock.yaml", "mode: strict\nmode: audit\n");
        const { violations } = await runResourcePolicy(pipelockStrictEnforcing, pipelock);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /\/etc\/pipelock\/pipelock.yaml is not valid YAML/);
    });
});

describe("pipelock-passthrough-reviewed (advisory)", () => {
    it("is silent without passthrough domains", async () => {
        const result = await runResourcePolicy(pipelockPassthroughReviewed, container(bottleGraph(), "pipelock"));
        assert.deepEqual(result.violations, []);
    });

    it("names every passthrough host", async () => {
        const pipelock = pipelockWith((c) => (c.tls_interception.passthrough_domains = ["npm.example.com", "pypi.example.com"]));
        const { violations } = await runResourcePolicy(pipelockPassthroughReviewed, pipelock);
        assert.deepEqual(violations, [
            "Pipelock 'dev-reviewer-pipelock' passes npm.example.com, pypi.example.com through without interception: " +
                "no DLP on what the agent sends there. Make sure those routes allow only the methods and paths the " +
                "agent needs (GET/HEAD for downloads).",
        ]);
        assert.equal(pipelockPassthroughReviewed.enforcementLevel, "advisory");
    });
});
