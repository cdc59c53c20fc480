import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { credentialsAreSecret } from "../policies/credentials";
import {
    ANTHROPIC_TOKEN,
    GITHUB_TOKEN,
    RSA_KEY_PEM,
    bottleGraph,
    container,
    find,
    liveConfigOf,
    routesYaml,
    setDocument,
} from "./fixtures";
import { runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("credentials-are-secret", () => {
    it("passes tokens confined to the egress proxy's live config and keys to the CA uploads", async () => {
        const result = await runStackPolicy(credentialsAreSecret, bottleGraph());
        assert.deepEqual(result.violations, []);
    });

    it("rejects a credential variable on the agent", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.envs.push(`EGRESS_PROXY_TOKEN_1=${GITHUB_TOKEN}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 2);
        assert.equal(
            violations[0],
            "Container 'dev-reviewer-agent' (role 'agent') has the credential variable EGRESS_PROXY_TOKEN_1 " +
                "in its env. Tokens reach only the egress proxy's tokens file (its live config); remove it.",
        );
        assert.match(violations[1], /The value of EGRESS_PROXY_TOKEN_1 appears in docker:index\/container:Container 'reviewer-agent' at envs\[4\]/);
    });

    it("rejects a token value under another name in the agent env", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.envs.push(`GITHUB_TOKEN=${GITHUB_TOKEN}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.deepEqual(violations, [
            "The value of EGRESS_PROXY_TOKEN_1 appears in docker:index/container:Container 'reviewer-agent' at " +
                "envs[4]. Token values may only be in the egress proxy's live-config BOTTLE_TOKENS; remove it from envs[4].",
        ]);
    });

    it("rejects a token value in a label", async () => {
        const graph = bottleGraph();
        container(graph, "pipelock").props.labels.push({ label: "debug", value: ANTHROPIC_TOKEN });
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /EGRESS_PROXY_TOKEN_0 appears in .*'reviewer-pipelock' at labels\[3\]\.value/);
    });

    it("rejects a token value on a command line", async () => {
        const graph = bottleGraph();
        container(graph, "egress-proxy").props.command = ["mitmdump", "--set", `token=${GITHUB_TOKEN}`];
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /'reviewer-egress-proxy' at command\[2\]/);
    });

    it("rejects a token value rendered into routes.yaml", async () => {
        const graph = bottleGraph();
        setDocument(graph, "egress-proxy", routesYaml(["api.anthropic.com", "api.github.com"]) + `# ${GITHUB_TOKEN}\n`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /EGRESS_PROXY_TOKEN_1 appears in .*'reviewer-egress-proxy-config-apply' at stdin/);
    });

    it("rejects a token variable on the egress proxy itself (it reads its tokens file)", async () => {
        const graph = bottleGraph();
        container(graph, "egress-proxy").props.envs.push(`EGRESS_PROXY_TOKEN_0=${ANTHROPIC_TOKEN}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 2);
        assert.match(violations[0], /'dev-reviewer-egress-proxy' \(role 'egress-proxy'\) has the credential variable EGRESS_PROXY_TOKEN_0/);
    });

    it("rejects tokens written into another gate's live config", async () => {
        const graph = bottleGraph();
        liveConfigOf(graph, "pipelock").props.environment.BOTTLE_TOKENS = JSON.stringify({ EGRESS_PROXY_TOKEN_0: "x" });
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.deepEqual(violations, [
            "Command 'reviewer-pipelock-config-apply' writes tokens (BOTTLE_TOKENS) for role 'pipelock'. Only the egress " +
                "proxy's live config may hold tokens; remove them.",
        ]);
    });

    it("rejects a token value in any other resource (a local command)", async () => {
        const graph = bottleGraph();
        graph.push({
            type: "command:local:Command",
            name: "notify",
            props: { create: "curl https://example.com", environment: { TOKEN: ANTHROPIC_TOKEN } },
        });
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /EGRESS_PROXY_TOKEN_0 appears in command:local:Command 'notify' at environment\.TOKEN/);
    });

    it("never puts the token value itself into a message", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.envs.push(`GITHUB_TOKEN=${GITHUB_TOKEN}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.ok(!violations[0].includes(GITHUB_TOKEN));
    });

    it("rejects a private key uploaded anywhere but the CA bundle", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.uploads.push({ file: "/etc/bot-bottle/ca-key.pem", content: RSA_KEY_PEM });
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.deepEqual(violations, [
            "docker:index/container:Container 'reviewer-agent' carries a private key at uploads[1].content. " +
                "Private keys may only be uploaded as the CA bundle (egress proxy: " +
                "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem; pipelock: its tls_interception.ca_key); remove it " +
                "from uploads[1].content.",
        ]);
    });

    it("rejects a private key in an env var", async () => {
        const graph = bottleGraph();
        container(graph, "egress-proxy").props.envs.push(`CA_KEY=${RSA_KEY_PEM}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /'reviewer-egress-proxy' carries a private key at envs\[6\]/);
    });

    it("rejects a private key in a network label", async () => {
        const graph = bottleGraph();
        find(graph, "-egress-net").props.labels.push({ label: "ca", value: RSA_KEY_PEM });
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /docker:index\/network:Network 'reviewer-egress-net' carries a private key at labels\[3\]\.value/);
    });

    it("rejects a CA key upload that others can read", async () => {
        const graph = bottleGraph();
        container(graph, "pipelock").props.uploads[1].permissions = "0644";
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.deepEqual(violations, [
            "Container 'dev-reviewer-pipelock' uploads its CA key /etc/pipelock/ca-key.pem with mode 0644, " +
                'readable by other users. Set permissions: "0600" (and owner to the process uid).',
        ]);
    });

    it("rejects a CA bundle upload without a mode (Docker's default 0644)", async () => {
        const graph = bottleGraph();
        delete container(graph, "egress-proxy").props.uploads[1].permissions;
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /mitmproxy-ca.pem with mode 0644 \(default\)/);
    });

    it("defers an env entry that is unknown during preview and still checks the rest", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.envs.push(UNKNOWN_STRING, `GH=${GITHUB_TOKEN}`);
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.equal(violations.length, 1);
        assert.match(violations[0], /EGRESS_PROXY_TOKEN_1 appears in .*'reviewer-agent' at envs\[5\]/);
    });

    it("defers key contents that are unknown during preview", async () => {
        const graph = bottleGraph();
        container(graph, "agent").props.uploads[0].content = UNKNOWN_STRING;
        const { violations } = await runStackPolicy(credentialsAreSecret, graph);
        assert.deepEqual(violations, []);
    });
});
