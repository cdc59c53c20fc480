import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type BottleLayout,
  type BottleSpec,
  describeBottle,
  pipelockSettingsKey,
  renderPipelockBulkYaml,
  renderPipelockYaml,
  renderRoutesYaml,
  validateBottle,
  type Workload,
} from "../../components/index";

function spec(name: string, bottle: unknown, tokens: string[] = []): BottleSpec {
  const result = validateBottle(name, bottle, new Set(tokens));
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const labels = (stack: string, bottle: string, role: string) => ({
  "bot-bottle.stack": stack,
  "bot-bottle.bottle": bottle,
  "bot-bottle.role": role,
});

const networks = (stack: string, bottle: string): BottleLayout["networks"] => [
  { role: "agent-net", name: `${stack}-${bottle}-agent-net`, internal: true, labels: labels(stack, bottle, "agent-net") },
  { role: "egress-net", name: `${stack}-${bottle}-egress-net`, internal: true, labels: labels(stack, bottle, "egress-net") },
  { role: "outbound-net", name: `${stack}-${bottle}-outbound-net`, internal: false, labels: labels(stack, bottle, "outbound-net") },
];

const cas = (stack: string, bottle: string, validityHours: number): BottleLayout["cas"] => [
  { role: "egress-proxy", algorithm: "RSA", commonName: `bot-bottle egress proxy CA (${stack}/${bottle})`, validityHours },
  { role: "pipelock", algorithm: "ECDSA", commonName: `bot-bottle pipelock CA (${stack}/${bottle})`, validityHours },
];

function pipelock(stack: string, s: BottleSpec, memoryMb = 256, image = "ghcr.io/luckypipewrench/pipelock:2.3.0"): Workload {
  return {
    role: "pipelock",
    handover: { drainSeconds: 5 },
    labels: { ...labels(stack, s.name, "pipelock"), "bot-bottle.pipelock-settings": pipelockSettingsKey(s) },
    image: { reference: image },
    user: "65532:65532",
    command: ["run", "--config", "/etc/pipelock/live/current/pipelock.yaml", "--listen", "0.0.0.0:8888"],
    env: [],
    files: [
      { path: "/etc/pipelock/ca.pem", content: { ca: "pipelock", part: "cert" }, mode: "0444", secret: false },
      { path: "/etc/pipelock/ca-key.pem", content: { ca: "pipelock", part: "key" }, mode: "0600", owner: 65532, secret: true },
    ],
    live: { dir: "/etc/pipelock/live", document: { file: "pipelock.yaml", text: renderPipelockYaml(s) }, owner: 65532 },
    mounts: [],
    writablePaths: ["/tmp"],
    attachments: [
      { network: "egress-net", aliases: ["pipelock"] },
      { network: "outbound-net", aliases: [] },
    ],
    serves: { ports: [{ name: "proxy", port: 8888 }], clients: ["egress-proxy"] },
    metrics: { port: 9465 },
    outbound: { ports: [...new Set(s.routes.flatMap((r) => r.ports))].sort((a, b) => a - b) },
    health: { command: ["/pipelock", "healthcheck"] },
    memoryMb,
    maxProcesses: 256,
    externalDns: true,
    after: [],
  };
}

function pipelockBulk(stack: string, s: BottleSpec, memoryMb = 256): Workload {
  return {
    role: "pipelock-bulk",
    handover: { drainSeconds: 5 },
    labels: { ...labels(stack, s.name, "pipelock-bulk"), "bot-bottle.pipelock-settings": pipelockSettingsKey(s, renderPipelockBulkYaml) },
    image: { reference: "ghcr.io/luckypipewrench/pipelock:2.3.0" },
    user: "65531:65531",
    command: ["run", "--config", "/etc/pipelock/live/current/pipelock-bulk.yaml", "--listen", "0.0.0.0:8888"],
    env: [],
    // No interception: no CA, no key.
    files: [],
    live: { dir: "/etc/pipelock/live", document: { file: "pipelock-bulk.yaml", text: renderPipelockBulkYaml(s) }, owner: 65531 },
    mounts: [],
    writablePaths: ["/tmp"],
    attachments: [
      { network: "egress-net", aliases: ["pipelock-bulk"] },
      { network: "outbound-net", aliases: [] },
    ],
    serves: {
      ports: [
        { name: "proxy", port: 8888 },
        { name: "scan-api", port: 9090 },
      ],
      clients: ["egress-proxy"],
    },
    metrics: { port: 9465 },
    outbound: { ports: [...new Set(s.routes.flatMap((r) => r.ports))].sort((a, b) => a - b) },
    health: { command: ["/pipelock", "healthcheck"] },
    memoryMb,
    maxProcesses: 256,
    externalDns: true,
    after: [],
  };
}

/** What the egress proxy is told of the bulk lane, when a route uses it. */
const bulkEnv: Workload["env"] = [
  { name: "EGRESS_PROXY_BULK_PROXY", value: "http://pipelock-bulk:8888" },
  { name: "EGRESS_PROXY_SCAN_API", value: "http://pipelock-bulk:9090" },
  { name: "EGRESS_PROXY_SCAN_API_CLIENT", value: "egress-proxy" },
  { name: "EGRESS_PROXY_UPSTREAM_EXTRA_CA", value: "/etc/ssl/certs/ca-certificates.crt" },
];

function egressProxy(
  stack: string,
  s: BottleSpec,
  extra: { bulk?: boolean; image?: Workload["image"]; maxBody?: number; tokens?: Record<string, string> } = {},
): Workload {
  return {
    role: "egress-proxy",
    handover: { drainSeconds: 20 },
    labels: labels(stack, s.name, "egress-proxy"),
    image: extra.image ?? { build: "egress-proxy" },
    user: "65533:65533",
    env: [
      { name: "EGRESS_PROXY_ROUTES", value: "/etc/egress-proxy/live/current/routes.yaml" },
      { name: "EGRESS_PROXY_TOKENS", value: "/etc/egress-proxy/live/current/tokens.json" },
      { name: "EGRESS_PROXY_PORT", value: "9099" },
      { name: "EGRESS_PROXY_UPSTREAM_PROXY", value: "http://pipelock:8888" },
      { name: "EGRESS_PROXY_DRAIN_SECONDS", value: "20" },
      { name: "EGRESS_PROXY_UPSTREAM_CA", value: "/etc/egress-proxy/upstream-ca.pem" },
      { name: "EGRESS_PROXY_MAX_BODY_BYTES", value: String(extra.maxBody ?? 33554432) },
      { name: "EGRESS_PROXY_METRICS_PORT", value: "9464" },
      ...(extra.bulk ? bulkEnv : []),
    ],
    files: [
      { path: "/etc/egress-proxy/upstream-ca.pem", content: { ca: "pipelock", part: "cert" }, mode: "0444", secret: false },
      {
        path: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem",
        content: { ca: "egress-proxy", part: "certAndKey" },
        mode: "0600",
        owner: 65533,
        secret: true,
      },
    ],
    live: {
      dir: "/etc/egress-proxy/live",
      document: { file: "routes.yaml", text: renderRoutesYaml(s, `runbook ${stack}/${s.name}`) },
      tokens: { file: "tokens.json", variables: extra.tokens ?? {} },
      owner: 65533,
      check: "routes",
    },
    mounts: [],
    writablePaths: ["/tmp", "/home/mitmproxy/.mitmproxy"],
    attachments: [
      { network: "agent-net", aliases: ["egress-proxy"] },
      { network: "egress-net", aliases: ["egress-proxy"] },
    ],
    serves: { ports: [{ name: "proxy", port: 9099 }], clients: ["agent"] },
    metrics: { port: 9464 },
    health: { command: ["/opt/venv/bin/python", "/opt/egress-proxy/healthcheck.py"] },
    memoryMb: 512,
    maxProcesses: 256,
    externalDns: false,
    after: extra.bulk ? ["pipelock", "pipelock-bulk"] : ["pipelock"],
  };
}

const CA = "/etc/bot-bottle/egress-proxy-ca.pem";
const PROXY = "http://egress-proxy:9099";
const managedAgentEnv: Workload["env"] = [
  ...["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"].map((name) => ({ name, value: PROXY })),
  { name: "NO_PROXY", value: "" },
  { name: "no_proxy", value: "" },
  ...["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"].map((name) => ({
    name,
    value: CA,
  })),
];
const agentFiles: Workload["files"] = [
  { path: CA, content: { ca: "egress-proxy", part: "cert" }, mode: "0444", secret: false },
  { path: "/etc/ssl/certs/ca-certificates.crt", content: { ca: "egress-proxy", part: "cert" }, mode: "0444", secret: false },
];
const workspace = (
  stack: string,
  bottle: string,
  owner: string,
  extra: { keep?: boolean; protect?: boolean; path?: string } = {},
): Workload["mounts"] => [
  {
    path: extra.path ?? "/workspace",
    source: {
      volume: {
        name: `${stack}-${bottle}-workspace`,
        labels: labels(stack, bottle, "workspace"),
        keep: extra.keep ?? true,
        protect: extra.protect ?? false,
      },
    },
    owner,
  },
];

describe("describeBottle", () => {
  const gate = spec("gate", { routes: [{ host: "pypi.mirror.example.com" }] });
  const coder = spec(
    "coder",
    {
      routes: [
        { host: "api.github.com", auth: { header: "Authorization", prefix: "Bearer ", token: "github" } },
        { host: "api.anthropic.com", auth: { header: "x-api-key", token: "anthropic" } },
        { host: "pypi.mirror.example.com", methods: ["GET"] },
      ],
      agent: {
        image: "node:22",
        command: ["sleep", "infinity"],
        env: { TERM: "xterm" },
        user: "2000:2000",
        memoryMb: 4096,
        maxProcesses: 1024,
        workspace: { path: "/src", keep: false, protect: true },
      },
      pipelock: { memoryMb: 512, settings: { tls_interception: { passthrough_domains: ["pypi.mirror.example.com"] } } },
      caValidityHours: 2160,
      maxBodyMb: 8,
    },
    ["github", "anthropic"],
  );
  const quiet = spec("quiet", {
    routes: [{ host: "api.github.com", bulk: false }],
    agent: { image: "node:22" },
    selfTest: false,
    egressProxy: { image: "registry.example.com/egress-proxy@sha256:00" },
  });

  const cases: [string, BottleSpec, string, BottleLayout][] = [
    [
      "a bottle without an agent: the gates, pipelock-bulk for its downloads, no self-test",
      gate,
      "dev",
      {
        stack: "dev",
        bottle: "gate",
        cas: cas("dev", "gate", 8760),
        networks: networks("dev", "gate"),
        workloads: [pipelock("dev", gate), pipelockBulk("dev", gate), egressProxy("dev", gate, { bulk: true })],
        proxyUrl: PROXY,
      },
    ],
    [
      "an agent, two credentials (numbered in token-name order), passthrough, every setting changed",
      coder,
      "prod",
      {
        stack: "prod",
        bottle: "coder",
        cas: cas("prod", "coder", 2160),
        networks: networks("prod", "coder"),
        workloads: [
          pipelock("prod", coder, 512),
          pipelockBulk("prod", coder, 512),
          egressProxy("prod", coder, {
            maxBody: 8 * 1024 * 1024,
            bulk: true,
            tokens: { EGRESS_PROXY_TOKEN_0: "anthropic", EGRESS_PROXY_TOKEN_1: "github" },
          }),
          {
            role: "agent",
            name: "prod-coder-agent",
            labels: labels("prod", "coder", "agent"),
            image: { reference: "node:22" },
            user: "2000:2000",
            command: ["sleep", "infinity"],
            env: [{ name: "TERM", value: "xterm" }, ...managedAgentEnv],
            files: agentFiles,
            mounts: workspace("prod", "coder", "2000:2000", { keep: false, protect: true, path: "/src" }),
            attachments: [{ network: "agent-net", aliases: [] }],
            memoryMb: 4096,
            maxProcesses: 1024,
            externalDns: false,
            after: ["egress-proxy"],
          },
        ],
        proxyUrl: PROXY,
        selfTest: {
          from: "agent",
          probeImage: "egress-proxy",
          noExternalDns: ["egress-proxy", "agent"],
          proxy: { role: "egress-proxy", port: 9099 },
        },
      },
    ],
    [
      "an agent with defaults, the self-test off, a prebuilt egress proxy, no route on the bulk lane: no pipelock-bulk",
      quiet,
      "dev",
      {
        stack: "dev",
        bottle: "quiet",
        cas: cas("dev", "quiet", 8760),
        networks: networks("dev", "quiet"),
        workloads: [
          pipelock("dev", quiet),
          egressProxy("dev", quiet, { image: { reference: "registry.example.com/egress-proxy@sha256:00" } }),
          {
            role: "agent",
            name: "dev-quiet-agent",
            labels: labels("dev", "quiet", "agent"),
            image: { reference: "node:22" },
            user: "1000:1000",
            env: managedAgentEnv,
            files: agentFiles,
            mounts: workspace("dev", "quiet", "1000:1000"),
            attachments: [{ network: "agent-net", aliases: [] }],
            memoryMb: 2048,
            maxProcesses: 512,
            externalDns: false,
            after: ["egress-proxy"],
          },
        ],
        proxyUrl: PROXY,
      },
    ],
  ];
  test("an agent without an image gets the bundled one; a host directory replaces the volume", () => {
    const local = spec("local", { routes: [{ host: "api.github.com" }], agent: { workspace: { hostPath: "/home/me/src/app" } } });
    const agent = describeBottle(local, { stack: "dev" }).workloads.find((w) => w.role === "agent")!;
    assert.deepEqual(agent.image, { build: "agent" });
    assert.deepEqual(agent.mounts, [{ path: "/workspace", source: { hostPath: "/home/me/src/app" }, owner: "1000:1000" }]);
  });

  for (const [what, bottle, stack, expected] of cases) {
    // The program's allow hint reaches the egress proxy's routes.yaml.
    test(what, () => assert.deepEqual(describeBottle(bottle, { stack, allowHint: `runbook ${stack}/${bottle.name}` }), expected));
  }

  test("every workload starts after workloads listed before it, and every secret file is a CA key", () => {
    for (const [, bottle, stack] of cases) {
      const layout = describeBottle(bottle, { stack, allowHint: "x" });
      layout.workloads.forEach((workload, i) => {
        const earlier = layout.workloads.slice(0, i).map((w) => w.role);
        for (const role of workload.after) assert.ok(earlier.includes(role), `${workload.role} after ${role}`);
        for (const file of workload.files) {
          const isKey = "ca" in file.content && file.content.part !== "cert";
          assert.equal(file.secret, isKey, `${workload.role} ${file.path}`);
          if (isKey) assert.equal(file.mode, "0600");
        }
      });
    }
  });

  test("only the pipelocks are on the outbound network, and they are the only workloads with external DNS", () => {
    const layout = describeBottle(coder, { stack: "dev" });
    const outbound = layout.workloads.filter((w) => w.attachments.some((a) => a.network === "outbound-net"));
    assert.deepEqual(
      outbound.map((w) => w.role),
      ["pipelock", "pipelock-bulk"],
    );
    assert.deepEqual(
      layout.workloads.filter((w) => w.externalDns).map((w) => w.role),
      ["pipelock", "pipelock-bulk"],
    );
    assert.deepEqual(
      layout.networks.filter((n) => !n.internal).map((n) => n.role),
      ["outbound-net"],
    );
  });
});
