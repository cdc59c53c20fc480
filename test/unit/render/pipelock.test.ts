import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { type BottleSpec, DEFAULT_PIPELOCK_IMAGE } from "../../../components/config";
import {
  PIPELOCK_SENSITIVE_HEADERS,
  pipelockSettingsKey,
  renderPipelockBulkYaml,
  renderPipelockYaml,
} from "../../../components/pipelock/config";

const bottle = (extra: Partial<BottleSpec> = {}): BottleSpec => ({
  name: "reviewer",
  routes: [
    {
      host: "api.github.com",
      ports: [443],
      methods: ["GET"],
      auth: { header: "authorization", prefix: "Bearer ", token: "github" },
      bulk: true,
    },
    {
      host: "api.anthropic.com",
      ports: [443],
      methods: ["POST"],
      auth: { header: "X-API-KEY", prefix: "", token: "anthropic" },
      bulk: true,
    },
    { host: "*.mirror.example.com", ports: [443], methods: ["GET"], bulk: true },
  ],
  egressProxy: { memoryMb: 256 },
  pipelock: { image: DEFAULT_PIPELOCK_IMAGE, memoryMb: 256, settings: {} },
  caValidityHours: 8760,
  requestsPerMinute: 1200,
  maxBodyMb: 32,
  auditMode: false,
  selfTest: true,
  ...extra,
});

describe("renderPipelockYaml", () => {
  test("renders a strict, enforcing, intercepting, blocking config exactly", () => {
    assert.equal(
      renderPipelockYaml(bottle()),
      `version: 1
mode: strict
enforce: true
default_agent_identity: reviewer
api_allowlist:
  - api.github.com
  - api.anthropic.com
  - "*.mirror.example.com"
fetch_proxy:
  listen: 0.0.0.0:8888
  monitoring:
    max_requests_per_minute: 2400
forward_proxy:
  enabled: true
  sni_verification: true
  max_tunnel_seconds: 3600
tls_interception:
  enabled: true
  ca_cert: /etc/pipelock/ca.pem
  ca_key: /etc/pipelock/ca-key.pem
dlp:
  include_defaults: true
  scan_env: true
seed_phrase_detection:
  enabled: true
  min_words: 24
request_body_scanning:
  enabled: true
  action: block
  max_body_bytes: 33554432
  scan_headers: true
  header_mode: sensitive
  sensitive_headers:
    - Cookie
    - X-Token
    - Proxy-Authorization
    - X-Goog-Api-Key
logging:
  format: json
  output: stdout
  include_allowed: true
  include_blocked: true
metrics_listen: 0.0.0.0:9465
`,
    );
  });

  test("scans every sensitive header when nothing is injected", () => {
    const doc = parse(
      renderPipelockYaml(bottle({ routes: [{ host: "pypi.mirror.example.com", ports: [443], methods: ["GET"], bulk: true }] })),
    );
    assert.deepEqual(doc.request_body_scanning.sensitive_headers, PIPELOCK_SENSITIVE_HEADERS);
  });

  test("exempts only the injected header names, case-insensitively", () => {
    const doc = parse(renderPipelockYaml(bottle()));
    const scanned = new Set((doc.request_body_scanning.sensitive_headers as string[]).map((h) => h.toLowerCase()));
    assert.equal(scanned.has("authorization"), false);
    assert.equal(scanned.has("x-api-key"), false);
    assert.equal(scanned.has("cookie"), true);
  });

  test("adds typed settings without touching what decides enforcement", () => {
    const doc = parse(
      renderPipelockYaml(
        bottle({
          pipelock: {
            image: DEFAULT_PIPELOCK_IMAGE,
            memoryMb: 256,
            settings: {
              trusted_domains: ["upstream.test"],
              internal: [],
              ssrf: { ip_allowlist: ["172.30.0.0/16"] },
              explain_blocks: true,
              forward_proxy: { max_tunnel_seconds: 600 },
              response_scanning: { enabled: false },
              tls_interception: { passthrough_domains: ["*.mirror.example.com"], max_response_bytes: 1 << 20 },
              dlp: { patterns: [{ name: "acme key", regex: "acme_[0-9a-f]{32}", severity: "high" }] },
            },
          },
        }),
      ),
    );
    assert.deepEqual(doc.trusted_domains, ["upstream.test"]);
    assert.deepEqual(doc.internal, []);
    assert.deepEqual(doc.ssrf, { ip_allowlist: ["172.30.0.0/16"] });
    assert.equal(doc.explain_blocks, true);
    assert.deepEqual(doc.response_scanning, { enabled: false });
    assert.deepEqual(doc.tls_interception, {
      enabled: true,
      ca_cert: "/etc/pipelock/ca.pem",
      ca_key: "/etc/pipelock/ca-key.pem",
      passthrough_domains: ["*.mirror.example.com"],
      max_response_bytes: 1 << 20,
    });
    assert.deepEqual(doc.forward_proxy, { enabled: true, sni_verification: true, max_tunnel_seconds: 600 });
    assert.equal(doc.dlp.include_defaults, true);
    assert.equal(doc.dlp.patterns[0].name, "acme key");
    assert.equal(doc.mode, "strict");
    assert.equal(doc.enforce, true);
    assert.equal(doc.request_body_scanning.action, "block");
  });
});

describe("renderPipelockBulkYaml", () => {
  test("is pipelock.yaml without interception, with a scan API for the egress proxy", () => {
    const inspect = parse(renderPipelockYaml(bottle()));
    const bulk = parse(renderPipelockBulkYaml(bottle()));
    const { tls_interception: inspectTls, ...inspectRest } = inspect;
    const { tls_interception: bulkTls, scan_api: scanApi, ...bulkRest } = bulk;
    // The same gate in every other respect: allowlist, rate limit, SSRF, DLP, logging.
    assert.deepEqual(bulkRest, inspectRest);
    assert.equal(inspectTls.enabled, true);
    assert.deepEqual(bulkTls, { enabled: false });
    assert.deepEqual(scanApi, {
      listen: "0.0.0.0:9090",
      auth: { bearer_tokens: ["egress-proxy"] },
      rate_limit: { requests_per_minute: 2400, burst: 1200 },
      max_body_bytes: 6 * 5 * 1024 * 1024 + 65_536,
      field_limits: { url: 8192, text: 1024 * 1024, content: 5 * 1024 * 1024 },
      timeouts: { read: "10s", write: "65s", scan: "60s" },
      kinds: { url: true, dlp: true, prompt_injection: true, tool_call: false },
    });
  });

  test("scans answers up to pipelock's own cap, and none when response scanning is off", () => {
    const settings = (s: BottleSpec["pipelock"]["settings"]) =>
      bottle({ pipelock: { image: DEFAULT_PIPELOCK_IMAGE, memoryMb: 256, settings: s } });
    const capped = parse(renderPipelockBulkYaml(settings({ tls_interception: { max_response_bytes: 1 << 20 } })));
    assert.equal(capped.scan_api.field_limits.content, 1 << 20);
    assert.deepEqual(capped.tls_interception, { enabled: false });
    const off = parse(renderPipelockBulkYaml(settings({ response_scanning: { enabled: false } })));
    assert.equal(off.scan_api.kinds.prompt_injection, false);
    assert.equal(off.scan_api.max_body_bytes, 6 * 1024 * 1024 + 65_536);
  });

  test("a route change keeps its settings key; a setting change moves it", () => {
    const key = pipelockSettingsKey(bottle(), renderPipelockBulkYaml);
    assert.notEqual(key, pipelockSettingsKey(bottle()));
    assert.equal(
      pipelockSettingsKey(
        bottle({ routes: [{ host: "x.example.com", ports: [443], methods: ["GET"], bulk: true }] }),
        renderPipelockBulkYaml,
      ),
      key,
    );
    assert.notEqual(pipelockSettingsKey(bottle({ requestsPerMinute: 60 }), renderPipelockBulkYaml), key);
  });
});
