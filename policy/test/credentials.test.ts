import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { credentialsAreSecret } from "../policies/credentials";
import {
  ANTHROPIC_TOKEN,
  GITHUB_TOKEN,
  RSA_KEY_PEM,
  EC_KEY_PEM,
  bottleGraph,
  container,
  find,
  kubernetesBottleGraph,
  liveConfigOf,
  object,
  podSpec,
  routesYaml,
  setConfigMapDocument,
  setDocument,
} from "./fixtures";
import { runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("credentials-are-secret", () => {
  it("passes tokens confined to the egress proxy's live config and keys to the CA uploads", async () => {
    const result = await runStackPolicy(credentialsAreSecret, bottleGraph());
    assert.deepEqual(result.violations, []);
  });

  it("passes a credential source's private key among the egress proxy's tokens, and refuses the same key anywhere else", async () => {
    const graph = bottleGraph();
    const live = liveConfigOf(graph, "egress-proxy");
    const appKey = "-----BEGIN PRIVATE KEY-----\nMIIEgithubappkey\n-----END PRIVATE KEY-----\n";
    live.props.environment.BOTTLE_TOKENS = JSON.stringify({ EGRESS_PROXY_TOKEN_0: ANTHROPIC_TOKEN, EGRESS_PROXY_TOKEN_1: appKey });
    assert.deepEqual((await runStackPolicy(credentialsAreSecret, graph)).violations, []);
    container(graph, "agent").props.envs.push(`APP_KEY=${appKey}`);
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.equal(violations.length, 2);
    assert.match(
      violations.join("\n"),
      /The value of EGRESS_PROXY_TOKEN_1 appears in docker:index\/container:Container '[^']+' at envs\[\d+\]/,
    );
    assert.match(violations.join("\n"), /carries a private key at envs\[\d+\]/);
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
    assert.match(
      violations[1],
      /The value of EGRESS_PROXY_TOKEN_1 appears in docker:index\/container:Container 'reviewer-agent' at envs\[4\]/,
    );
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
    setDocument(graph, "egress-proxy", `${routesYaml(["api.anthropic.com", "api.github.com"])}# ${GITHUB_TOKEN}\n`);
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

describe("credentials-are-secret on a Kubernetes bottle", () => {
  const agentContainer = (graph: ReturnType<typeof kubernetesBottleGraph>) => podSpec(object(graph, "Deployment", "agent")).containers[0];

  it("passes tokens confined to the egress-proxy-tokens Secret and keys to the gates' files Secrets", async () => {
    assert.deepEqual((await runStackPolicy(credentialsAreSecret, kubernetesBottleGraph())).violations, []);
  });

  it("rejects a token value in a container's env, under any name, and never prints it", async () => {
    const graph = kubernetesBottleGraph();
    agentContainer(graph).env.push({ name: "GH", value: GITHUB_TOKEN });
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.deepEqual(violations, [
      "The value of EGRESS_PROXY_TOKEN_1 appears in kubernetes:apps/v1:Deployment 'reviewer-agent' at " +
        "spec.template.spec.containers[0].env[4].value. Token values may only be in the egress proxy's Secret " +
        "'egress-proxy-tokens'; remove it from spec.template.spec.containers[0].env[4].value.",
    ]);
    assert.ok(!violations[0]!.includes(GITHUB_TOKEN));
  });

  it("rejects a credential variable in any container", async () => {
    const graph = kubernetesBottleGraph();
    podSpec(object(graph, "Deployment", "egress-proxy")).containers[1].env = [{ name: "EGRESS_PROXY_TOKEN_0", value: "x" }];
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.deepEqual(violations, [
      "Deployment 'dev-reviewer/egress-proxy' (role 'egress-proxy') has the credential variable EGRESS_PROXY_TOKEN_0 in the " +
        "env of container 'reloader'. Tokens reach only the egress proxy's tokens file (its live config); remove it.",
    ]);
  });

  it("rejects the tokens Secret in an environment (valueFrom, envFrom), even the egress proxy's", async () => {
    const graph = kubernetesBottleGraph();
    agentContainer(graph).env.push({ name: "TOKENS", valueFrom: { secretKeyRef: { name: "egress-proxy-tokens", key: "tokens.json" } } });
    podSpec(object(graph, "Deployment", "egress-proxy")).containers[0].envFrom = [{ secretRef: { name: "egress-proxy-tokens" } }];
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.equal(violations.length, 2, violations.join("\n"));
    assert.match(
      violations[0]!,
      /^Deployment 'dev-reviewer\/egress-proxy' \(role 'egress-proxy'\) puts the tokens Secret 'egress-proxy-tokens' into the environment of container 'egress-proxy' \(envFrom\)/,
    );
    assert.match(
      violations[1]!,
      /^Deployment 'dev-reviewer\/agent' \(role 'agent'\) puts the tokens Secret 'egress-proxy-tokens' into the environment of container 'agent' \(env TOKENS\)/,
    );
  });

  it("rejects the tokens Secret mounted into any pod but the egress proxy's", async () => {
    const graph = kubernetesBottleGraph();
    podSpec(object(graph, "Deployment", "agent")).volumes.push({
      name: "t",
      projected: { sources: [{ secret: { name: "egress-proxy-tokens" } }] },
    });
    podSpec(object(graph, "Job", "self-test")).volumes = [{ name: "t", secret: { secretName: "egress-proxy-tokens" } }];
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.deepEqual(violations, [
      "Deployment 'dev-reviewer/agent' (role 'agent') mounts the tokens Secret 'egress-proxy-tokens' (volume 't'). Only the " +
        "egress proxy's pod may; remove the volume.",
      "Job 'dev-reviewer/self-test' (role 'self-test') mounts the tokens Secret 'egress-proxy-tokens' (volume 't'). Only the " +
        "egress proxy's pod may; remove the volume.",
    ]);
  });

  it("rejects tokens in another live configuration's Secret", async () => {
    const graph = kubernetesBottleGraph();
    const other = structuredClone(object(graph, "Secret", "egress-proxy-tokens"));
    other.name = "reviewer-pipelock-tokens";
    other.props.metadata.name = "pipelock-tokens";
    other.props.metadata.labels["bot-bottle.role"] = "pipelock";
    other.props.stringData = { "tokens.json": "{}" };
    const { violations } = await runStackPolicy(credentialsAreSecret, [...graph, other]);
    assert.deepEqual(violations, [
      "Secret 'dev-reviewer/pipelock-tokens' (role 'pipelock') holds a live configuration's tokens. Only the egress proxy's " +
        "Secret 'egress-proxy-tokens' (role 'egress-proxy') may hold tokens; remove it.",
    ]);
  });

  it("rejects a token value in a ConfigMap, a label, an annotation, another Secret's base64 data", async () => {
    const graph = kubernetesBottleGraph();
    setConfigMapDocument(graph, "egress-proxy", `${routesYaml(["api.anthropic.com", "api.github.com"])}# ${ANTHROPIC_TOKEN}\n`);
    object(graph, "Deployment", "pipelock").props.metadata.labels.debug = GITHUB_TOKEN;
    object(graph, "Job", "self-test").props.spec.template.metadata.annotations.note = GITHUB_TOKEN;
    object(graph, "Secret", "agent-files").props.data = { extra: Buffer.from(`token=${GITHUB_TOKEN}`).toString("base64") };
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.equal(violations.length, 4, violations.join("\n"));
    assert.match(
      violations[0]!,
      /EGRESS_PROXY_TOKEN_0 appears in kubernetes:core\/v1:ConfigMap 'reviewer-egress-proxy-config' at data.routes.yaml/,
    );
    assert.match(violations[1]!, /EGRESS_PROXY_TOKEN_1 appears in kubernetes:core\/v1:Secret 'reviewer-agent-files' at data.extra/);
    assert.match(
      violations[2]!,
      /EGRESS_PROXY_TOKEN_1 appears in kubernetes:apps\/v1:Deployment 'reviewer-pipelock' at metadata.labels.debug/,
    );
    assert.match(
      violations[3]!,
      /EGRESS_PROXY_TOKEN_1 appears in kubernetes:batch\/v1:Job 'reviewer-self-test' at spec.template.metadata.annotations.note/,
    );
  });

  it("rejects a private key in a Secret key no gate mounts as its CA key, or in a ConfigMap", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "Secret", "agent-files").props.stringData["file-1"] = RSA_KEY_PEM;
    object(graph, "ConfigMap", "pipelock-config").props.data["ca-key.pem"] = EC_KEY_PEM;
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.deepEqual(violations, [
      "kubernetes:core/v1:ConfigMap 'reviewer-pipelock-config' carries a private key at data.ca-key.pem. Private keys may " +
        "only be in the Secret key a gate's pod mounts as its CA key (egress proxy: /home/mitmproxy/.mitmproxy/mitmproxy-ca.pem; " +
        "pipelock: its tls_interception.ca_key); remove it from data.ca-key.pem.",
      "kubernetes:core/v1:Secret 'reviewer-agent-files' carries a private key at stringData.file-1. Private keys may only be " +
        "in the Secret key a gate's pod mounts as its CA key (egress proxy: /home/mitmproxy/.mitmproxy/mitmproxy-ca.pem; " +
        "pipelock: its tls_interception.ca_key); remove it from stringData.file-1.",
    ]);
  });

  it("rejects the key when the gate mounts it somewhere else", async () => {
    const graph = kubernetesBottleGraph();
    const mount = podSpec(object(graph, "Deployment", "pipelock")).containers[0].volumeMounts.find(
      (m: { subPath?: string }) => m.subPath === "file-1",
    );
    mount.mountPath = "/etc/pipelock/other.pem";
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /^kubernetes:core\/v1:Secret 'reviewer-pipelock-files' carries a private key at stringData.file-1/);
  });

  it("rejects a CA key file other users in the pod can read", async () => {
    const graph = kubernetesBottleGraph();
    const files = podSpec(object(graph, "Deployment", "egress-proxy")).volumes.find((v: { name: string }) => v.name === "files");
    files.secret.items[1].mode = 0o444;
    delete podSpec(object(graph, "Deployment", "pipelock")).volumes.find((v: { name: string }) => v.name === "files").secret.items[1].mode;
    const { violations } = await runStackPolicy(credentialsAreSecret, graph);
    assert.deepEqual(violations, [
      "Deployment 'dev-reviewer/pipelock' (role 'pipelock') mounts its CA key /etc/pipelock/ca-key.pem from Secret " +
        "'pipelock-files' (key file-1) with mode 0644, readable by every user in the pod. Set the item's mode to 0440 " +
        "(the pod's fsGroup only) or stricter.",
      "Deployment 'dev-reviewer/egress-proxy' (role 'egress-proxy') mounts its CA key /home/mitmproxy/.mitmproxy/mitmproxy-ca.pem " +
        "from Secret 'egress-proxy-files' (key file-1) with mode 0444, readable by every user in the pod. Set the item's mode to " +
        "0440 (the pod's fsGroup only) or stricter.",
    ]);
  });
});
