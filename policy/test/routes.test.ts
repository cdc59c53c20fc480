import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { broadWildcardProblem, credentialsOnlyOverTls, gatesAllowSameHosts, productionNoAuditMode, routesNoBroadWildcards } from "../policies/routes";
import { bottleGraph, container, pipelockConfig, routesYaml, setUpload } from "./fixtures";
import { runResourcePolicy, runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("broadWildcardProblem", () => {
    const accepted = ["api.github.com", "*.example.com", "*.api.example.co.uk", "*.acme.github.io", "registry.example.com"];
    for (const host of accepted) {
        it(`accepts ${host}`, () => assert.equal(broadWildcardProblem(host), undefined));
    }
    const refused: [string, RegExp][] = [
        ["*", /bare '\*'/],
        ["*.com", /every domain under 'com', which is at or above a public suffix/],
        ["*.co.uk", /under 'co.uk'/],
        ["*.uk", /under 'uk'/],
        ["*.github.io", /under 'github.io'/], // private section of the public suffix list
        ["*.s3.amazonaws.com", /under 's3.amazonaws.com'/],
        ["api.*.com", /wildcard other than a single leading/],
        ["*example.com", /wildcard other than a single leading/],
        ["*.*.example.com", /wildcard other than a single leading/],
        ["*.10.0.0.1", /IP address/],
    ];
    for (const [host, message] of refused) {
        it(`refuses ${host}`, () => assert.match(broadWildcardProblem(host) ?? "", message));
    }
});

describe("routes-no-broad-wildcards", () => {
    it("passes exact hosts and a wildcard under a registrable domain", async () => {
        const graph = bottleGraph({ hosts: ["api.github.com", "*.example.com"] });
        for (const role of ["egress-proxy", "pipelock"] as const) {
            const result = await runResourcePolicy(routesNoBroadWildcards, container(graph, role));
            assert.deepEqual(result.violations, [], role);
        }
    });

    it("rejects a bare '*' route", async () => {
        const graph = bottleGraph({ hosts: ["api.github.com", "*"] });
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, container(graph, "egress-proxy"));
        assert.deepEqual(violations, [
            "'dev-reviewer-egress-proxy' route host '*' in /etc/egress-proxy/routes.yaml is a bare '*', which " +
                "allows every host on the internet. List the exact hosts the agent needs (e.g. 'api.example.com'), " +
                "or a wildcard under one registrable domain ('*.example.com').",
        ]);
    });

    it("rejects a wildcard over a public suffix in routes", async () => {
        const graph = bottleGraph({ hosts: ["*.co.uk"] });
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, container(graph, "egress-proxy"));
        assert.equal(violations.length, 1);
        assert.match(violations[0], /route host '\*.co.uk' .* at or above a public suffix/);
    });

    it("rejects a wildcard over a public suffix in pipelock's api_allowlist", async () => {
        const graph = bottleGraph({ hosts: ["*.com"] });
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, container(graph, "pipelock"));
        assert.equal(violations.length, 1);
        assert.match(violations[0], /^'dev-reviewer-pipelock' api_allowlist entry '\*.com' in \/etc\/pipelock\/pipelock.yaml covers/);
    });

    it("reads routes.yaml from the path EGRESS_PROXY_ROUTES names", async () => {
        const graph = bottleGraph();
        const proxy = container(graph, "egress-proxy");
        proxy.props.envs[0] = "EGRESS_PROXY_ROUTES=/etc/egress-proxy/other.yaml";
        proxy.props.uploads.push({ file: "/etc/egress-proxy/other.yaml", content: routesYaml(["*"]) });
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, proxy);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /route host '\*' in \/etc\/egress-proxy\/other.yaml/);
    });

    it("rejects routes it cannot read (no upload at the configured path)", async () => {
        const graph = bottleGraph();
        const proxy = container(graph, "egress-proxy");
        proxy.props.uploads = proxy.props.uploads.slice(1);
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, proxy);
        assert.deepEqual(violations, [
            "Cannot check the route hosts of 'dev-reviewer-egress-proxy': no upload writes " +
                "/etc/egress-proxy/routes.yaml. Upload the rendered file the container is configured to read.",
        ]);
    });

    it("rejects a routes file that is not a version 1 document", async () => {
        const graph = bottleGraph();
        setUpload(container(graph, "egress-proxy"), "/etc/egress-proxy/routes.yaml", "routes: [{host: '*'}]\n");
        const { violations } = await runResourcePolicy(routesNoBroadWildcards, container(graph, "egress-proxy"));
        assert.equal(violations.length, 1);
        assert.match(violations[0], /is not a version 1 routes document/);
    });

    it("defers routes whose content is unknown during preview", async () => {
        const graph = bottleGraph();
        setUpload(container(graph, "egress-proxy"), "/etc/egress-proxy/routes.yaml", UNKNOWN_STRING);
        const result = await runResourcePolicy(routesNoBroadWildcards, container(graph, "egress-proxy"));
        assert.deepEqual(result.violations, []);
    });
});

describe("gates-allow-same-hosts", () => {
    it("passes when routes and api_allowlist name the same hosts", async () => {
        const result = await runStackPolicy(gatesAllowSameHosts, bottleGraph());
        assert.deepEqual(result.violations, []);
    });

    it("rejects a route host missing from pipelock's api_allowlist", async () => {
        const graph = bottleGraph();
        setUpload(
            container(graph, "pipelock"),
            "/etc/pipelock/pipelock.yaml",
            stringify(pipelockConfig("reviewer", ["api.anthropic.com"])),
        );
        const { violations } = await runStackPolicy(gatesAllowSameHosts, graph);
        assert.deepEqual(violations, [
            "Bottle 'dev/reviewer': route hosts [api.github.com] of 'dev-reviewer-egress-proxy' are not in " +
                "pipelock's api_allowlist (/etc/pipelock/pipelock.yaml). Render api_allowlist from the same routes " +
                "so both gates allow the same hosts.",
        ]);
    });

    it("rejects a pipelock allowlist wider than the routes", async () => {
        const graph = bottleGraph();
        setUpload(
            container(graph, "pipelock"),
            "/etc/pipelock/pipelock.yaml",
            stringify(pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com", "pastebin.com"])),
        );
        const { violations } = await runStackPolicy(gatesAllowSameHosts, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /pipelock 'dev-reviewer-pipelock' allows \[pastebin.com\], which no egress-proxy route declares/);
    });

    it("compares each egress proxy with its own bottle's pipelock", async () => {
        const graph = [...bottleGraph({ hosts: ["api.github.com"] }), ...bottleGraph({ bottle: "coder", hosts: ["pypi.mirror.example.com"] })];
        const result = await runStackPolicy(gatesAllowSameHosts, graph);
        assert.deepEqual(result.violations, []);
    });
});

describe("credentials-only-over-tls (advisory)", () => {
    it("is silent when every credential travels inside TLS", async () => {
        const { violations } = await runResourcePolicy(credentialsOnlyOverTls, container(bottleGraph(), "egress-proxy"));
        assert.deepEqual(violations, []);
    });

    it("names a route that sends its credential in plain HTTP", async () => {
        const proxy = container(bottleGraph(), "egress-proxy");
        const upload = proxy.props.uploads.find((u: { file: string }) => u.file === "/etc/egress-proxy/routes.yaml");
        const doc = parse(upload.content);
        doc.routes[0].ports = [80, 443];
        doc.routes[0].insecure_cleartext_ports = [80];
        upload.content = stringify(doc);
        const { violations } = await runResourcePolicy(credentialsOnlyOverTls, proxy);
        assert.deepEqual(violations, [
            `Egress proxy 'dev-reviewer-egress-proxy' sends the credential of ${doc.routes[0].host} in plain HTTP on ` +
                "port(s) 80. Use HTTPS and remove insecureCleartextPorts from the route.",
        ]);
        assert.equal(credentialsOnlyOverTls.enforcementLevel, "advisory");
    });
});

describe("production-no-audit-mode", () => {
    const inAuditMode = () => {
        const proxy = container(bottleGraph(), "egress-proxy");
        setUpload(proxy, "/etc/egress-proxy/routes.yaml", `version: 1\naudit: true\n${routesYaml(["api.github.com"]).replace("version: 1\n", "")}`);
        return proxy;
    };

    it("refuses an egress proxy in audit mode in a production stack", async () => {
        const { violations } = await runResourcePolicy(productionNoAuditMode, inAuditMode(), { stack: "prod" });
        assert.deepEqual(violations, [
            "Egress proxy 'dev-reviewer-egress-proxy' runs in audit mode (/etc/egress-proxy/routes.yaml says audit: true) in a production stack: it lets through what no route covers. Remove auditMode from the bottle.",
        ]);
    });

    it("passes an enforcing egress proxy in production, and does not apply outside production", async () => {
        assert.deepEqual((await runResourcePolicy(productionNoAuditMode, container(bottleGraph(), "egress-proxy"), { stack: "prod" })).violations, []);
        assert.match((await runResourcePolicy(productionNoAuditMode, inAuditMode(), { stack: "dev" })).notApplicable ?? "", /not a production stack/);
    });
});
