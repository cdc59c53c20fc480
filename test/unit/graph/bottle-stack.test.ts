import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import type { BottleStackArgs } from "../../../components/index";
import { RESOURCE_TYPES } from "../../../components/vocabulary";
import { absentImageAdvice } from "../../../components/docker/images";
import { PROCESS_LIMITS_SCRIPT } from "../../../components/docker/limits";
import { OWN_VOLUME_SCRIPT } from "../../../components/docker/mounts";
import { SELF_TEST_SCRIPT } from "../../../components/docker/self-test/self-test";
import { SELF_TEST_PROBE } from "../../../components/self-test/probe";
import { declareBottle, type Declared, isSecret, MOCK_OUTPUTS, plainStrings, type Registered, unwrap } from "../../support/declare";

const cert = MOCK_OUTPUTS.certPem;
const providerHash = (host: string) => createHash("sha256").update(host).digest("hex").slice(0, 8);
const key = MOCK_OUTPUTS.privateKeyPem;
const GITHUB_TOKEN = "ghp_unitTestTokenValue0123456789abcdefABCD";
const ANTHROPIC_TOKEN = "sk-ant-api03-unitTestKeyValue";

const baseArgs = (): BottleStackArgs => ({
  routes: [
    {
      host: "api.github.com",
      ports: [443],
      methods: ["GET"],
      paths: ["/repos/acme/"],
      auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
    },
    { host: "api.anthropic.com", auth: { header: "x-api-key", token: "anthropic" } },
  ],
  tokens: { github: GITHUB_TOKEN, anthropic: ANTHROPIC_TOKEN },
  agent: { image: "node:22-bookworm-slim", command: ["sleep", "infinity"] },
});

type Upload = { file: string; content?: unknown; permissions?: string; owner?: string; group?: string };
const container = (d: Declared, role: string) => d.find(RESOURCE_TYPES.container, `-${role}`).inputs;
const secretValue = (v: unknown): unknown => (v as { secret: unknown }).secret;
/** Uploads, unwrapped: one secret upload makes the whole list secret. */
const uploads = (d: Declared, role: string) => {
  const list = container(d, role).uploads;
  return (isSecret(list) ? secretValue(list) : list) as Upload[];
};
const upload = (d: Declared, role: string, file: string) => {
  const found = uploads(d, role).find((u) => u.file === file);
  assert.ok(found, `${role} has no upload ${file}`);
  return found;
};
/** The inputs of a gate's live-config command. */
const liveConfig = (d: Declared, role: string) => d.find(RESOURCE_TYPES.command, `-${role}-config-apply`).inputs;
/** Its environment, unwrapped: the tokens in it make it secret as a whole. */
const liveEnv = (d: Declared, role: string) => {
  const env = liveConfig(d, role).environment;
  return (isSecret(env) ? secretValue(env) : env) as Record<string, unknown>;
};

// Declarations run in before() hooks: suites run one at a time, and each declaration
// installs its own mocks, which must not overlap.
describe("BottleStack resource graph", () => {
  let d: Declared;
  before(async () => {
    d = await declareBottle("coder", baseArgs(), "dev");
  });

  test("declares the component under its type token", () => {
    assert.equal(d.resources.find((r) => r.name === "coder")?.type, "bot-bottle:index:BottleStack");
  });

  test("three networks: agent and egress internal with no host address, only outbound with a gateway", () => {
    const networks = d.resources.filter((r) => r.type === RESOURCE_TYPES.network);
    const noHostAddress = { "com.docker.network.bridge.inhibit_ipv4": "true" };
    assert.deepEqual(
      networks.map((n) => [n.inputs.name, n.inputs.internal, n.inputs.options]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ["dev-coder-agent-net", true, noHostAddress],
        ["dev-coder-egress-net", true, noHostAddress],
        ["dev-coder-outbound-net", false, undefined],
      ],
    );
  });

  test("each container joins exactly its networks, with the fixed aliases", () => {
    assert.deepEqual(container(d, "agent").networksAdvanced, [{ name: "dev-coder-agent-net" }]);
    assert.deepEqual(container(d, "egress-proxy").networksAdvanced, [
      { name: "dev-coder-agent-net", aliases: ["egress-proxy"] },
      { name: "dev-coder-egress-net", aliases: ["egress-proxy"] },
    ]);
    assert.deepEqual(container(d, "pipelock").networksAdvanced, [
      { name: "dev-coder-egress-net", aliases: ["pipelock"] },
      { name: "dev-coder-outbound-net" },
    ]);
    assert.deepEqual(container(d, "pipelock-bulk").networksAdvanced, [
      { name: "dev-coder-egress-net", aliases: ["pipelock-bulk"] },
      { name: "dev-coder-outbound-net" },
    ]);
  });

  test("every Docker object carries the stack, bottle and role labels", () => {
    const docker = d.resources.filter(
      (r) => r.type === RESOURCE_TYPES.container || r.type === RESOURCE_TYPES.network || r.type === RESOURCE_TYPES.volume,
    );
    // 3 networks; 4 containers; the workspace and 3 live-config volumes.
    assert.equal(docker.length, 11);
    for (const r of docker) {
      const labels = Object.fromEntries((r.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
      assert.equal(labels["bot-bottle.stack"], "dev", r.name);
      assert.equal(labels["bot-bottle.bottle"], "coder", r.name);
      assert.equal(labels["bot-bottle.role"], r.name.slice("coder-".length), r.name);
    }
  });

  test("the egress proxy runs in upstream mode through pipelock, bulk traffic through pipelock-bulk; no token in its environment", () => {
    assert.deepEqual(container(d, "egress-proxy").envs, [
      "EGRESS_PROXY_ROUTES=/etc/egress-proxy/live/current/routes.yaml",
      "EGRESS_PROXY_TOKENS=/etc/egress-proxy/live/current/tokens.json",
      "EGRESS_PROXY_PORT=9099",
      "EGRESS_PROXY_UPSTREAM_PROXY=http://pipelock:8888",
      "EGRESS_PROXY_DRAIN_SECONDS=20",
      "EGRESS_PROXY_UPSTREAM_CA=/etc/egress-proxy/upstream-ca.pem",
      `EGRESS_PROXY_MAX_BODY_BYTES=${32 * 1024 * 1024}`,
      "EGRESS_PROXY_METRICS_PORT=9464",
      "EGRESS_PROXY_BULK_PROXY=http://pipelock-bulk:8888",
      "EGRESS_PROXY_SCAN_API=http://pipelock-bulk:9090",
      "EGRESS_PROXY_SCAN_API_CLIENT=egress-proxy",
      // The bulk lane's tunnels end at the hosts themselves, with their own certificates.
      "EGRESS_PROXY_UPSTREAM_EXTRA_CA=/etc/ssl/certs/ca-certificates.crt",
    ]);
  });

  test("the egress proxy's routes and tokens are live config: its own volume, read-only, written by the apply command", () => {
    assert.deepEqual(container(d, "egress-proxy").volumes, [
      { volumeName: "dev-coder-egress-proxy-config", containerPath: "/etc/egress-proxy/live", readOnly: true },
    ]);
    const apply = liveConfig(d, "egress-proxy");
    assert.match(String(apply.stdin), /token_env: EGRESS_PROXY_TOKEN_1/);
    const env = liveEnv(d, "egress-proxy");
    assert.deepEqual(
      { ...env, BOTTLE_TOKENS: undefined, BOTTLE_IMAGE: undefined, BOTTLE_RUN_OPTIONS: undefined },
      {
        BOTTLE_STACK: "dev",
        BOTTLE_NAME: "coder",
        BOTTLE_ROLE: "egress-proxy",
        BOTTLE_VOLUME: "dev-coder-egress-proxy-config",
        BOTTLE_OWNER: "65533",
        BOTTLE_DOCUMENT: "routes.yaml",
        BOTTLE_LABELS: "bot-bottle.stack=dev bot-bottle.bottle=coder bot-bottle.role=egress-proxy",
        BOTTLE_RELOAD_SECONDS: "30",
        BOTTLE_CHECK: "routes",
        BOTTLE_TOKENS_FILE: "tokens.json",
        BOTTLE_TOKENS: undefined,
        BOTTLE_IMAGE: undefined,
        BOTTLE_RUN_OPTIONS: undefined,
      },
    );
    // The writer: root with the three capabilities to hand the files over, no network, read-only, limited, the volume at /live.
    assert.equal(
      env.BOTTLE_RUN_OPTIONS,
      "--network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --security-opt no-new-privileges:true " +
        "--memory 128m --memory-swap 128m --pids-limit 16 --label bot-bottle.stack=dev --label bot-bottle.bottle=coder --label bot-bottle.role=live-config-writer " +
        "--volume dev-coder-egress-proxy-config:/live --entrypoint /opt/venv/bin/python",
    );
    assert.ok(isSecret(apply.environment), "the environment carrying the tokens must be secret");
    assert.deepEqual(JSON.parse(String(env.BOTTLE_TOKENS)), { EGRESS_PROXY_TOKEN_0: ANTHROPIC_TOKEN, EGRESS_PROXY_TOKEN_1: GITHUB_TOKEN });
    assert.deepEqual(apply.triggers, ["dev-coder-egress-proxy-config"]);
  });

  test("the egress proxy gets its CA as one cert+key PEM (0600, uid 65533) and pipelock's CA cert", () => {
    assert.ok(isSecret(container(d, "egress-proxy").uploads), "uploads carrying the CA key must be secret");
    const ca = upload(d, "egress-proxy", "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem");
    assert.deepEqual(
      { permissions: ca.permissions, owner: ca.owner, group: ca.group, content: ca.content },
      {
        permissions: "0600",
        owner: "65533",
        group: "65533",
        content: cert("coder-egress-proxy-ca-cert") + key("coder-egress-proxy-ca-key"),
      },
    );
    assert.equal(upload(d, "egress-proxy", "/etc/egress-proxy/upstream-ca.pem").content, cert("coder-pipelock-ca-cert"));
  });

  test("pipelock gets its live config, its CA cert and its key (secret, 0600, owned by its uid), and runs as that uid", () => {
    const p = container(d, "pipelock");
    assert.equal(p.user, "65532:65532");
    assert.deepEqual(p.command, ["run", "--config", "/etc/pipelock/live/current/pipelock.yaml", "--listen", "0.0.0.0:8888"]);
    assert.deepEqual(p.volumes, [{ volumeName: "dev-coder-pipelock-config", containerPath: "/etc/pipelock/live", readOnly: true }]);
    assert.match(String(liveConfig(d, "pipelock").stdin), /mode: strict/);
    assert.equal(liveEnv(d, "pipelock").BOTTLE_TOKENS, undefined);
    assert.equal(upload(d, "pipelock", "/etc/pipelock/ca.pem").content, cert("coder-pipelock-ca-cert"));
    assert.ok(isSecret(p.uploads), "uploads carrying the CA key must be secret");
    const caKey = upload(d, "pipelock", "/etc/pipelock/ca-key.pem");
    assert.deepEqual(
      { permissions: caKey.permissions, owner: caKey.owner, content: caKey.content },
      { permissions: "0600", owner: "65532", content: key("coder-pipelock-ca-key") },
    );
  });

  test("pipelock-bulk: its own uid, its live config (pipelock's, unintercepted, with a scan API), no CA and no key", () => {
    const p = container(d, "pipelock-bulk");
    assert.equal(p.user, "65531:65531");
    assert.deepEqual(p.command, ["run", "--config", "/etc/pipelock/live/current/pipelock-bulk.yaml", "--listen", "0.0.0.0:8888"]);
    assert.deepEqual(p.volumes, [{ volumeName: "dev-coder-pipelock-bulk-config", containerPath: "/etc/pipelock/live", readOnly: true }]);
    const document = String(liveConfig(d, "pipelock-bulk").stdin);
    assert.match(document, /tls_interception:\n {2}enabled: false\n/);
    assert.match(document, /scan_api:\n {2}listen: 0.0.0.0:9090\n/);
    assert.equal(liveEnv(d, "pipelock-bulk").BOTTLE_OWNER, "65531");
    assert.deepEqual(p.uploads, []);
    // The same image as pipelock, pulled once.
    assert.equal(p.image, container(d, "pipelock").image);
    assert.deepEqual(
      d.resources
        .filter((r) => r.type === RESOURCE_TYPES.remoteImage)
        .map((r) => r.name)
        .sort(),
      ["coder-agent-image", "coder-pipelock-image"],
    );
  });

  test("the agent uses the proxy, trusts the egress-proxy CA and has no aliases", () => {
    const a = container(d, "agent");
    const envs = a.envs as string[];
    assert.ok(envs.includes("HTTPS_PROXY=http://egress-proxy:9099"));
    for (const v of ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"]) {
      assert.ok(envs.includes(`${v}=/etc/bot-bottle/egress-proxy-ca.pem`), v);
    }
    assert.deepEqual(a.uploads, [
      { file: "/etc/bot-bottle/egress-proxy-ca.pem", content: cert("coder-egress-proxy-ca-cert"), permissions: "0444" },
      // The system store too: every TLS connection the agent makes ends at the egress proxy.
      { file: "/etc/ssl/certs/ca-certificates.crt", content: cert("coder-egress-proxy-ca-cert"), permissions: "0444" },
    ]);
    assert.deepEqual(a.command, ["sleep", "infinity"]);
  });

  test("every container is hardened: no capabilities, no privilege gain, non-root, a uid of its own, memory limits", () => {
    const uids = new Map<string, string>();
    for (const role of ["agent", "egress-proxy", "pipelock", "pipelock-bulk"]) {
      const c = container(d, role);
      assert.deepEqual(c.capabilities, { drops: ["ALL"] }, role);
      assert.deepEqual(c.securityOpts, ["no-new-privileges:true"], role);
      assert.doesNotMatch(String(c.user), /^(0|root)(:|$)/, role);
      assert.ok(Number(c.memory) > 0, role);
      // No nproc ulimit: it is counted per uid across containers; the pids limit is per container.
      assert.equal(c.ulimits, undefined, role);
      assert.equal(c.privileged, undefined, role);
      assert.equal(c.ports, undefined, role);
      uids.set(role, String(c.user).split(":")[0]!);
    }
    assert.equal(new Set(uids.values()).size, 4, JSON.stringify([...uids]));
  });

  test("the agent and the egress proxy resolve nothing outside their networks (DNS into their own namespace)", () => {
    for (const role of ["agent", "egress-proxy"]) {
      assert.deepEqual(container(d, role).dns, ["0.0.0.0"], role);
      assert.deepEqual(container(d, role).dnsOpts, ["timeout:1", "attempts:1"], role);
    }
    assert.equal(container(d, "pipelock").dns, undefined, "pipelock resolves the routes' hosts");
    assert.equal(container(d, "pipelock-bulk").dns, undefined, "so does pipelock-bulk");
  });

  test("the agent's workspace: a labelled volume of its own at /workspace, given to the agent's uid before it starts", () => {
    const volume = d.find(RESOURCE_TYPES.volume, "coder-workspace").inputs;
    assert.deepEqual(volume, {
      name: "dev-coder-workspace",
      labels: [
        { label: "bot-bottle.stack", value: "dev" },
        { label: "bot-bottle.bottle", value: "coder" },
        { label: "bot-bottle.role", value: "workspace" },
      ],
    });
    assert.deepEqual(container(d, "agent").volumes, [{ volumeName: "dev-coder-workspace", containerPath: "/workspace" }]);
    const owner = d.find(RESOURCE_TYPES.command, "coder-workspace-owner").inputs;
    assert.equal(owner.create, OWN_VOLUME_SCRIPT);
    assert.deepEqual(owner.environment, {
      BOTTLE_VOLUME: "dev-coder-workspace",
      BOTTLE_OWNER: "1000:1000",
      BOTTLE_IMAGE: MOCK_OUTPUTS.imageId("coder-egress-proxy-image"),
      // Root with CAP_CHOWN alone, no network, read-only, limited, the volume at /mnt.
      BOTTLE_RUN_OPTIONS:
        "--network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN --security-opt no-new-privileges:true --memory 32m --memory-swap 32m --pids-limit 8 " +
        "--label bot-bottle.stack=dev --label bot-bottle.bottle=coder --label bot-bottle.role=workspace-owner --volume dev-coder-workspace:/mnt --entrypoint chown",
    });
  });

  test("a limits command gives each container its process limit, after the containers, again on replacement", () => {
    const limits = d.find(RESOURCE_TYPES.command, "coder-limits").inputs;
    assert.equal(limits.create, PROCESS_LIMITS_SCRIPT);
    assert.deepEqual(limits.environment, {
      BOTTLE_PROCESS_LIMITS: `${MOCK_OUTPUTS.containerName("coder-pipelock")}=256 ${MOCK_OUTPUTS.containerName("coder-pipelock-bulk")}=256 ${MOCK_OUTPUTS.containerName("coder-egress-proxy")}=256 dev-coder-agent=512`,
    });
    assert.deepEqual(limits.triggers, ["coder-pipelock-id", "coder-pipelock-bulk-id", "coder-egress-proxy-id", "coder-agent-id"]);
  });

  test("the gates have healthchecks that up waits for", () => {
    assert.deepEqual((container(d, "egress-proxy").healthcheck as { tests: string[] }).tests, [
      "CMD",
      "/opt/venv/bin/python",
      "/opt/egress-proxy/healthcheck.py",
    ]);
    assert.deepEqual((container(d, "pipelock").healthcheck as { tests: string[] }).tests, ["CMD", "/pipelock", "healthcheck"]);
    assert.deepEqual((container(d, "pipelock-bulk").healthcheck as { tests: string[] }).tests, ["CMD", "/pipelock", "healthcheck"]);
    for (const role of ["egress-proxy", "pipelock", "pipelock-bulk"]) assert.equal(container(d, role).wait, true, role);
  });

  test("CAs: RSA 2048 and ECDSA P256, CA-only, SHA-1 subject key id, one year by default", () => {
    assert.deepEqual(d.find(RESOURCE_TYPES.privateKey, "egress-proxy-ca-key").inputs, { algorithm: "RSA", rsaBits: 2048 });
    assert.deepEqual(d.find(RESOURCE_TYPES.privateKey, "pipelock-ca-key").inputs, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    for (const suffix of ["egress-proxy-ca-cert", "pipelock-ca-cert"]) {
      const cert = d.find(RESOURCE_TYPES.selfSignedCert, suffix).inputs;
      assert.equal(cert.isCaCertificate, true);
      assert.equal(cert.setSubjectKeyId, true);
      assert.deepEqual(cert.allowedUses, ["cert_signing", "crl_signing"]);
      assert.equal(cert.validityPeriodHours, 8760);
      assert.ok(isSecret(cert.privateKeyPem), `${suffix} key input must be secret`);
    }
  });

  test("pipelock is pulled at the pinned version; the egress proxy is built from its Dockerfile", () => {
    assert.equal(d.find(RESOURCE_TYPES.remoteImage, "pipelock-image").inputs.name, "ghcr.io/luckypipewrench/pipelock:2.3.0");
    const image = d.find(RESOURCE_TYPES.image, "egress-proxy-image").inputs;
    assert.equal((image.build as { target: string }).target, "runtime");
    assert.equal(container(d, "egress-proxy").image, MOCK_OUTPUTS.imageId("coder-egress-proxy-image"));
  });

  test("the pulls come first: networks, volumes and CA keys wait for them, so a failed pull leaves nothing half made", () => {
    const pulls = d.resources.filter((r) => r.type === RESOURCE_TYPES.remoteImage).map((r) => ({ type: r.type, name: r.name }));
    assert.deepEqual(pulls.map((p) => p.name).sort(), ["coder-agent-image", "coder-pipelock-image"]);
    const waiting = d.resources.filter((r) =>
      ([RESOURCE_TYPES.network, RESOURCE_TYPES.volume, RESOURCE_TYPES.privateKey] as string[]).includes(r.type),
    );
    assert.equal(waiting.length, 3 + 4 + 2, waiting.map((r) => r.name).join(", "));
    for (const r of waiting) assert.deepEqual(d.dependsOn(r.type, r.name), pulls, `${r.type} ${r.name}`);
  });

  test("the advice for an image the engine lacks says how to provide it, per role", () => {
    assert.equal(
      absentImageAdvice("ghcr.io/luckypipewrench/pipelock:2.3.0", "pipelock"),
      "the pipelock image ghcr.io/luckypipewrench/pipelock:2.3.0 is not on the engine: up pulls it from its registry. If the engine cannot reach that registry, " +
        "the pull fails (and nothing of the bottle is made); then build pipelock's image from its source on the engine (bot-bottle's scripts/pipelock/build-image <tag> does) " +
        "and set the bottle's pipelock.image to that tag.",
    );
    assert.match(
      absentImageAdvice("node:22", "agent"),
      /then put it on the engine \(docker pull or docker load there\) or set the bottle's agent\.image to an image the engine has\.$/,
    );
    assert.match(absentImageAdvice("registry.example.com/egress-proxy:1", "egress-proxy"), /set the bottle's egressProxy\.image to/);
  });

  test("a self-test runs a probe of the egress-proxy image in the agent's network namespace after the containers", () => {
    const selfTest = d.find(RESOURCE_TYPES.command, "coder-self-test").inputs;
    assert.equal(selfTest.create, SELF_TEST_SCRIPT);
    assert.deepEqual(selfTest.environment, {
      BOTTLE_PROCESS_LIMITS: `${MOCK_OUTPUTS.containerName("coder-pipelock")}=256 ${MOCK_OUTPUTS.containerName("coder-pipelock-bulk")}=256 ${MOCK_OUTPUTS.containerName("coder-egress-proxy")}=256 dev-coder-agent=512`,
      BOTTLE_NO_DNS_CONTAINERS: `${MOCK_OUTPUTS.containerName("coder-egress-proxy")} dev-coder-agent`,
      BOTTLE_IMAGE: MOCK_OUTPUTS.imageId("coder-egress-proxy-image"),
      // In the agent's network namespace, as nobody, read-only, limited; the proxy is this
      // generation of the egress proxy, by name: the alias may still reach a draining one.
      BOTTLE_RUN_OPTIONS:
        "--network container:dev-coder-agent --user 65534:65534 --read-only --cap-drop ALL --security-opt no-new-privileges:true --memory 64m --memory-swap 64m " +
        "--pids-limit 64 --label bot-bottle.stack=dev --label bot-bottle.bottle=coder --label bot-bottle.role=self-test " +
        `--env BOTTLE_PROXY_URL=http://${MOCK_OUTPUTS.containerName("coder-egress-proxy")}:9099 --entrypoint /opt/venv/bin/python`,
      BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
    });
    // Re-run whenever a container is replaced.
    assert.deepEqual(selfTest.triggers, ["coder-pipelock-id", "coder-pipelock-bulk-id", "coder-egress-proxy-id", "coder-agent-id"]);
  });

  test("token values and private keys appear only inside secret values", () => {
    const plain = d.resources.flatMap((r: Registered) => plainStrings(r.inputs));
    for (const s of plain) {
      assert.ok(!s.includes(GITHUB_TOKEN) && !s.includes(ANTHROPIC_TOKEN), `token in plain input: ${s.slice(0, 40)}`);
      assert.ok(!s.includes("PRIVATE KEY"), `key material in plain input: ${s.slice(0, 40)}`);
    }
  });

  test("outputs: object names, public CA certs, proxy URL", async () => {
    assert.equal(d.stack.proxyUrl, "http://egress-proxy:9099");
    assert.equal((await unwrap(d.stack.objectNames.agent!)).value, "dev-coder-agent");
    assert.equal((await unwrap(d.stack.objectNames.outboundNetwork!)).value, "dev-coder-outbound-net");
    const ca = await unwrap(d.stack.egressProxyCaCert);
    assert.deepEqual(ca, { value: cert("coder-egress-proxy-ca-cert"), secret: false });
    // The rendered documents are outputs in plain text, exactly what the gates load.
    assert.equal(d.stack.routesYaml, liveConfig(d, "egress-proxy").stdin);
    assert.equal(d.stack.pipelockYaml, liveConfig(d, "pipelock").stdin);
    assert.equal(d.stack.pipelockBulkYaml, liveConfig(d, "pipelock-bulk").stdin);
    assert.equal((await unwrap(d.stack.objectNames.pipelockBulk!)).value, MOCK_OUTPUTS.containerName("coder-pipelock-bulk"));
  });
});

describe("BottleStack changes", () => {
  let original: Declared, afterRoute: Declared, afterRotation: Declared;
  before(async () => {
    original = await declareBottle("coder", baseArgs(), "dev");
    const widened = baseArgs();
    widened.routes.push({ host: "npm.mirror.example.com", methods: ["GET"] });
    afterRoute = await declareBottle("coder", widened, "dev");
    const rotated = baseArgs();
    rotated.tokens = { github: "ghp_rotatedTokenValue9876543210zyxwvuZYXW", anthropic: ANTHROPIC_TOKEN };
    afterRotation = await declareBottle("coder", rotated, "dev");
  });

  const stable = (d: Declared) => ({
    containers: d.resources.filter((r) => r.type === RESOURCE_TYPES.container).map((r) => r.inputs),
    keys: d.resources.filter((r) => r.type === RESOURCE_TYPES.privateKey || r.type === RESOURCE_TYPES.selfSignedCert).map((r) => r.inputs),
  });

  test("adding a route replaces no container and no CA: only the gates' live config changes", () => {
    assert.deepEqual(stable(afterRoute), stable(original));
    assert.notEqual(liveConfig(afterRoute, "egress-proxy").stdin, liveConfig(original, "egress-proxy").stdin);
    assert.notEqual(liveConfig(afterRoute, "pipelock").stdin, liveConfig(original, "pipelock").stdin);
  });

  test("rotating a token replaces no container and no CA: only the egress proxy's tokens change", () => {
    assert.deepEqual(stable(afterRotation), stable(original));
    assert.deepEqual(liveConfig(afterRotation, "pipelock"), liveConfig(original, "pipelock"));
    assert.equal(liveConfig(afterRotation, "egress-proxy").stdin, liveConfig(original, "egress-proxy").stdin);
    assert.notDeepEqual(liveEnv(afterRotation, "egress-proxy").BOTTLE_TOKENS, liveEnv(original, "egress-proxy").BOTTLE_TOKENS);
  });

  test("a pipelock setting replaces pipelock (its settings label), not the egress proxy", async () => {
    const args = baseArgs();
    args.pipelock = { settings: { trusted_domains: ["api.github.com"] } };
    const changed = await declareBottle("coder", args, "dev");
    assert.notDeepEqual(container(changed, "pipelock").labels, container(original, "pipelock").labels);
    assert.deepEqual(container(changed, "egress-proxy"), container(original, "egress-proxy"));
  });
});

describe("BottleStack options", () => {
  test("without an agent, no agent container and no self-test are declared; the gates still get their limits", async () => {
    const d = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }] });
    assert.equal(
      d.resources.some((r) => r.name.endsWith("-agent") || r.name.endsWith("-self-test")),
      false,
    );
    assert.deepEqual(
      d.resources
        .filter((r) => r.type === RESOURCE_TYPES.command)
        .map((r) => r.name)
        .sort(),
      ["gate-egress-proxy-config-apply", "gate-limits", "gate-pipelock-bulk-config-apply", "gate-pipelock-config-apply"],
    );
    assert.equal(d.stack.objectNames.agent, undefined);
  });

  test("a prebuilt egress-proxy image is pulled like the others and nothing is built", async () => {
    const reference = "registry.example.com/egress-proxy@sha256:abc";
    const d = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }], egressProxy: { image: reference } });
    assert.equal(
      d.resources.some((r) => r.type === RESOURCE_TYPES.image),
      false,
    );
    assert.equal(d.find(RESOURCE_TYPES.remoteImage, "gate-egress-proxy-image").inputs.name, reference);
    assert.equal(container(d, "egress-proxy").image, MOCK_OUTPUTS.imageId(reference));
  });

  test("an image passed by the program is used for the egress proxy and nothing is built", async () => {
    const d = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }], builtImages: { egressProxy: "sha256:shared" } });
    assert.equal(
      d.resources.some((r) => r.type === RESOURCE_TYPES.image || r.name === "gate-egress-proxy-image"),
      false,
    );
    assert.equal(container(d, "egress-proxy").image, "sha256:shared");
  });

  test("the self-test can be turned off, and targets the bottle's engine", async () => {
    const off = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }], agent: { image: "x" }, selfTest: false });
    assert.equal(
      off.resources.some((r) => r.name.endsWith("-self-test")),
      false,
    );
    const remote = await declareBottle("gate", {
      routes: [{ host: "pypi.example.com" }],
      agent: { image: "x" },
      docker: { host: "ssh://deploy@box" },
    });
    for (const command of ["gate-self-test", "gate-limits"]) {
      assert.equal(
        (remote.find(RESOURCE_TYPES.command, command).inputs.environment as Record<string, string>).DOCKER_HOST,
        "ssh://deploy@box",
      );
    }
  });

  test("a bottle on another engine gets a provider for it, named from the host, unless the program passes one", async () => {
    const remote = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }], docker: { host: "ssh://deploy@box" } });
    const providers = remote.resources.filter((r) => r.type === RESOURCE_TYPES.dockerProvider);
    assert.deepEqual(
      providers.map((p) => [p.name, p.inputs.host, p.parent]),
      [[`gate-docker-deploy-box-${providerHash("ssh://deploy@box")}`, "ssh://deploy@box", "gate"]],
    );
    const { Provider } = await import("@pulumi/docker");
    const passed = await declareBottle(
      "gate",
      { routes: [{ host: "pypi.example.com" }], docker: { host: "ssh://deploy@box" } },
      "test",
      () => ({
        providers: [new Provider("shared", { host: "ssh://deploy@box" })],
      }),
    );
    assert.equal(passed.resources.filter((r) => r.type === RESOURCE_TYPES.dockerProvider && r.name !== "shared").length, 0);
  });

  test("CA validity is configurable", async () => {
    const d = await declareBottle("gate", { routes: [{ host: "pypi.example.com" }], caValidityHours: 2160 });
    assert.equal(d.find(RESOURCE_TYPES.selfSignedCert, "pipelock-ca-cert").inputs.validityPeriodHours, 2160);
  });

  test("two bottles and two stacks never share a Docker name; the gates' names are Pulumi's, made afresh per container", async () => {
    const declared = async (bottle: string, stack: string) =>
      (await declareBottle(bottle, { routes: [{ host: "pypi.example.com" }], agent: { image: "x" } }, stack)).resources.filter(
        (r) => r.type === RESOURCE_TYPES.container || r.type === RESOURCE_TYPES.network,
      );
    const all = [...(await declared("a", "dev")), ...(await declared("b", "dev")), ...(await declared("a", "prod"))];
    const fixed = all.filter((r) => r.inputs.name !== undefined).map((r) => String(r.inputs.name));
    assert.equal(fixed.length, 12); // 3 networks and the agent, per bottle
    assert.equal(new Set(fixed).size, fixed.length);
    // No name: Pulumi makes one (`<resource>-<random>`) for each container, so a replacement
    // can start before the old one stops.
    const generated = all.filter((r) => r.inputs.name === undefined);
    assert.deepEqual(generated.map((r) => r.name).sort(), [
      "a-egress-proxy",
      "a-egress-proxy",
      "a-pipelock",
      "a-pipelock",
      "a-pipelock-bulk",
      "a-pipelock-bulk",
      "b-egress-proxy",
      "b-pipelock",
      "b-pipelock-bulk",
    ]);
    assert.ok(generated.every((r) => r.inputs.destroyGraceSeconds !== undefined));
  });

  test("tokens given as one Output of an object are refused with how to pass them (the names must be known)", async () => {
    await assert.rejects(
      declareBottle("gate", { routes: [{ host: "x.example.com" }], tokens: pulumi.secret({ github: "x" }) as never }),
      (err: unknown) => {
        assert.ok(err instanceof pulumi.RunError);
        assert.match(
          (err as Error).message,
          /tokens must be an object of token names to secret values, e\.g\. \{ github: config\.requireSecret\("githubToken"\) \}/,
        );
        return true;
      },
    );
  });

  test("refusals name the program's allow hint only where it passes one (the package has no bottle CLI)", async () => {
    const hint = (d: Declared) => (parse(d.stack.routesYaml) as { allow_hint?: string }).allow_hint;
    assert.equal(hint(await declareBottle("gate", { routes: [{ host: "x.example.com" }] })), undefined);
    const runbook = "see https://wiki.example.com/bottles#allow";
    assert.equal(hint(await declareBottle("gate", { routes: [{ host: "x.example.com" }], allowHint: runbook })), runbook);
    for (const bad of ["", "two\nlines", "x".repeat(201), "caf\u00e9"]) {
      await assert.rejects(declareBottle("gate", { routes: [{ host: "x.example.com" }], allowHint: bad }), (err: unknown) => {
        assert.ok(err instanceof pulumi.RunError);
        assert.match(
          (err as Error).message,
          /^BottleStack "gate" has invalid arguments:\n {2}allowHint: must be one line of printable ASCII, 1 to 200 characters, got "/,
        );
        return true;
      });
    }
  });

  test("invalid arguments fail with every problem and its path, as a RunError (no stack trace)", async () => {
    await assert.rejects(
      declareBottle("gate", { routes: [{ host: "*" }, { host: "x.com", auth: { header: "Authorization", token: "missing" } }] }),
      (err: unknown) => {
        assert.ok(err instanceof pulumi.RunError);
        assert.match((err as Error).message, /BottleStack "gate" has invalid arguments/);
        assert.match((err as Error).message, /routes\[0\]\.host: a bare "\*"/);
        assert.match(
          (err as Error).message,
          /routes\[1\]\.auth\.token: no token named "missing" in the component's tokens; pass it: tokens: \{ "missing": <secret value> \}/,
        );
        return true;
      },
    );
  });

  test("a path Python spells differently is named in both forms: the component cannot tell its caller's language", async () => {
    await assert.rejects(
      declareBottle("gate", { routes: [{ host: "x.com", insecureCleartextPorts: [80] }], maxBodyMb: 0 }),
      (err: unknown) => {
        assert.equal(
          (err as Error).message,
          'BottleStack "gate" has invalid arguments:\n' +
            "  maxBodyMb (Python: max_body_mb): expected at least 1\n" +
            "  routes[0].insecureCleartextPorts (Python: routes[0].insecure_cleartext_ports): only a route with auth has a credential to send in cleartext; remove it",
        );
        return true;
      },
    );
  });
});

describe("BottleStack from stack config", () => {
  test("a spec validated with the whole stack config is declared as is, not validated again", async () => {
    const { argsFromSpec, validateStackConfig } = await import("../../../components/index");
    const validated = validateStackConfig({
      bottles: [{ name: "coder", routes: [{ host: "api.github.com", auth: { header: "Authorization", token: "github" } }] }],
      tokens: { github: { secret: true, value: GITHUB_TOKEN } },
    });
    assert.ok(validated.ok);
    const spec = validated.value.bottles[0]!;
    const args = argsFromSpec(spec, { tokens: { github: GITHUB_TOKEN } });
    assert.ok(Object.isFrozen(args) && Object.isFrozen(spec.routes[0]), "what was validated cannot change before it is declared");
    const d = await declareBottle("coder", args, "dev");
    assert.equal(d.stack.spec, spec);
  });

  test("argsFromSpec refuses a spec that did not come out of validation", async () => {
    const { argsFromSpec } = await import("../../../components/index");
    const forged = { name: "coder", routes: [{ host: "*", ports: [1], methods: ["GET"] }] } as never;
    assert.throws(() => argsFromSpec(forged, {}), /takes a spec returned by validateStackConfig/);
  });
});
