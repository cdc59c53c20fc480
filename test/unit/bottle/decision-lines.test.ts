/**
 * The decision-line schema (docs/decision-log.md): each gate's raw lines, as the real gates
 * wrote them (captured from the egress proxy on mitmproxy and the real pipelock 2.3.0 of the
 * data-plane harness; only ports, ids and hashes are as they happened to be), mapped to it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type DecisionLine, gateLine, isProbe, type MessageLine, type ReloadLine } from "../../../scripts/bottle/decision-lines";
import type { Gate } from "../../../scripts/bottle/deployed";

const time = "2026-12-06T15:10:01.765432109Z";

/** A line in the schema, less where it came from (the case says). */
type Mapped = Omit<DecisionLine, "time" | "log"> | Omit<ReloadLine, "time" | "log"> | Omit<MessageLine, "time" | "log">;

/** What the egress proxy's lines for requests on its route 0 (token github) to the data plane's upstream share. */
const routed = {
  kind: "decision",
  gate: "egress-proxy",
  decision: "allow",
  reason: "allowed",
  route: 0,
  token: "github",
  host: "localhost",
  port: 45073,
} as const;

const cases: { what: string; gate: Gate; text: string; line: Mapped }[] = [
  {
    what: "egress proxy: a tunnel allowed by a route with a credential",
    gate: "egress-proxy",
    text: '{"decision": "allow", "by": "egress-proxy", "reason": "allowed", "route": 0, "token": "github", "host": "localhost", "port": 45073, "method": "CONNECT", "path": null}',
    line: { ...routed, method: "CONNECT" },
  },
  {
    what: "egress proxy: a download on the bulk lane",
    gate: "egress-proxy",
    text: '{"decision": "allow", "by": "egress-proxy", "reason": "allowed", "route": 0, "token": "github", "host": "localhost", "port": 45073, "method": "GET", "path": "/files/9c74dcbe5793.tar.gz", "lane": "bulk/download"}',
    line: { ...routed, method: "GET", path: "/files/9c74dcbe5793.tar.gz", lane: "bulk/download" },
  },
  {
    what: "egress proxy: its own refusal",
    gate: "egress-proxy",
    text: '{"decision": "deny", "by": "egress-proxy", "reason": "not git\'s protocol", "route": null, "token": null, "host": "localhost", "port": 45073, "method": "GET", "path": "/acme/app.git/info/refs"}',
    line: {
      kind: "decision",
      gate: "egress-proxy",
      decision: "deny",
      reason: "not git's protocol",
      host: "localhost",
      port: 45073,
      method: "GET",
      path: "/acme/app.git/info/refs",
    },
  },
  {
    what: "egress proxy: pipelock's refusal it passed on is pipelock's decision, in the egress proxy's log",
    gate: "egress-proxy",
    text: '{"decision": "deny", "by": "pipelock", "reason": "refused", "route": null, "token": null, "host": "localhost", "port": 45073, "method": "POST", "path": "/user/94a3da213edc"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "deny",
      reason: "refused",
      host: "localhost",
      port: 45073,
      method: "POST",
      path: "/user/94a3da213edc",
    },
  },
  {
    what: "egress proxy: pipelock's finding in a text answer, let through",
    gate: "egress-proxy",
    text: '{"decision": "warn", "by": "pipelock", "reason": "answer scan: Prompt injection pattern matched: Prompt Injection", "route": null, "token": null, "host": "localhost", "port": 45073, "method": "GET", "path": "/files/2f1cbbad5e80.json", "lane": "bulk/download"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "warn",
      reason: "answer scan: Prompt injection pattern matched: Prompt Injection",
      host: "localhost",
      port: 45073,
      method: "GET",
      path: "/files/2f1cbbad5e80.json",
      lane: "bulk/download",
    },
  },
  {
    what: "egress proxy: audit mode lets through what a route would refuse; the reason is the refusal's",
    gate: "egress-proxy",
    text: '{"decision": "audit-allow", "by": "egress-proxy", "reason": "audit: path not allowed", "route": null, "token": null, "host": "localhost", "port": 39293, "method": "GET", "path": "/elsewhere/2a7779177877", "lane": "inspect"}',
    line: {
      kind: "decision",
      gate: "egress-proxy",
      decision: "audit-allow",
      reason: "path not allowed",
      host: "localhost",
      port: 39293,
      method: "GET",
      path: "/elsewhere/2a7779177877",
      lane: "inspect",
    },
  },
  {
    what: "egress proxy: a reload",
    gate: "egress-proxy",
    text: '{"event":"config_reload","status":"success","detail":"3 routes","config_hash":"d4a25e941626cb7c911479bcbf8ccd53472e99624a27fca4b1999c2490b95ab9"}',
    line: {
      kind: "reload",
      result: "ok",
      detail: "3 routes",
      config_hash: "d4a25e941626cb7c911479bcbf8ccd53472e99624a27fca4b1999c2490b95ab9",
    },
  },
  {
    what: "egress proxy: a rejected reload",
    gate: "egress-proxy",
    text: '{"event":"config_reload","status":"rejected","detail":"routes.yaml: routes[0].auth.token_env: EGRESS_PROXY_TOKEN_9 is not set; keeping the previous routes"}',
    line: {
      kind: "reload",
      result: "rejected",
      detail: "routes.yaml: routes[0].auth.token_env: EGRESS_PROXY_TOKEN_9 is not set; keeping the previous routes",
    },
  },
  {
    what: "egress proxy: mitmproxy's own line",
    gate: "egress-proxy",
    text: "[15:10:01.725] HTTP(S) proxy (upstream mode) listening at 127.0.0.1:60397.",
    line: { kind: "message", text: "[15:10:01.725] HTTP(S) proxy (upstream mode) listening at 127.0.0.1:60397." },
  },
  {
    what: "pipelock: a CONNECT refused by its allowlist",
    gate: "pipelock",
    text: '{"level":"warn","component":"pipelock","event":"blocked","method":"CONNECT","target":"github.com:443","client_ip":"127.0.0.1","request_id":"req-2","scanner":"allowlist","reason":"domain not in allowlist: github.com","agent":"anonymous","mitre_technique":"T1071.001","time":"2026-12-06T15:13:43Z","message":"request blocked"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "deny",
      reason: "allowlist",
      detail: "domain not in allowlist: github.com",
      host: "github.com",
      port: 443,
      method: "CONNECT",
      event: "blocked",
    },
  },
  {
    what: "pipelock: a name that does not resolve (its SSRF check)",
    gate: "pipelock",
    text: '{"level":"warn","component":"pipelock","event":"blocked","method":"CONNECT","target":"nonexistent-host-zz.invalid:443","client_ip":"127.0.0.1","request_id":"req-3","scanner":"ssrf","reason":"SSRF check failed: DNS resolution error for nonexistent-host-zz.invalid: lookup nonexistent-host-zz.invalid on 10.255.255.53:53: no such host","agent":"anonymous","mitre_technique":"T1046","time":"2026-12-06T15:13:43Z","message":"request blocked"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "deny",
      reason: "ssrf",
      detail:
        "SSRF check failed: DNS resolution error for nonexistent-host-zz.invalid: lookup nonexistent-host-zz.invalid on 10.255.255.53:53: no such host",
      host: "nonexistent-host-zz.invalid",
      port: 443,
      method: "CONNECT",
      event: "blocked",
    },
  },
  {
    what: "pipelock: body DLP refuses in an intercepted tunnel; the path is redacted by pipelock",
    gate: "pipelock",
    text: '{"level":"warn","component":"pipelock","event":"blocked","method":"POST","url":"https://localhost:45073/[redacted]","client_ip":"127.0.0.1","request_id":"req-2","scanner":"body_dlp","reason":"request body contains secret: AWS Access ID","agent":"dataplane","mitre_technique":"T1048","time":"2026-12-06T15:10:01Z","message":"request blocked"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "deny",
      reason: "body_dlp",
      detail: "request body contains secret: AWS Access ID",
      host: "localhost",
      port: 45073,
      path: "/[redacted]",
      method: "POST",
      event: "blocked",
    },
  },
  {
    what: "pipelock: a plain-HTTP request it forwarded, with the upstream's status",
    gate: "pipelock",
    text: '{"level":"info","component":"pipelock","event":"forward_http","method":"GET","url":"http://localhost:18912/","client_ip":"127.0.0.1","request_id":"req-1","agent":"anonymous","status_code":200,"size_bytes":353,"duration_ms":2.9131,"time":"2026-12-06T15:13:43Z","message":"forward proxy request"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "allow",
      reason: "forward_http",
      host: "localhost",
      port: 18912,
      method: "GET",
      status: 200,
      event: "forward_http",
    },
  },
  {
    what: "pipelock: a tunnel it intercepts (logged as an informational anomaly) is let through",
    gate: "pipelock",
    text: '{"level":"warn","component":"pipelock","event":"anomaly","method":"CONNECT","target":"localhost:45073","client_ip":"127.0.0.1","request_id":"req-1","agent":"dataplane","scanner":"tls_intercept","mitre_technique":"T1557","reason":"TLS MITM interception active","score":0,"time":"2026-12-06T15:10:01Z","message":"anomaly detected"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "allow",
      reason: "tls_intercept",
      host: "localhost",
      port: 45073,
      method: "CONNECT",
      event: "anomaly",
    },
  },
  {
    what: "pipelock-bulk: a tunnel it passes through",
    gate: "pipelock-bulk",
    text: '{"level":"info","component":"pipelock","event":"tunnel_open","target":"localhost:45073","client_ip":"127.0.0.1","request_id":"req-1","agent":"dataplane","time":"2026-12-06T15:10:01Z","message":"tunnel opened"}',
    line: {
      kind: "decision",
      gate: "pipelock-bulk",
      decision: "allow",
      reason: "tunnel_open",
      host: "localhost",
      port: 45073,
      event: "tunnel_open",
    },
  },
  {
    what: "pipelock: a DLP finding in warn mode (the pattern's name, never the value)",
    gate: "pipelock",
    text: '{"level":"warn","component":"pipelock","event":"body_dlp","method":"POST","url":"http://localhost:18912/up","action":"warn","client_ip":"127.0.0.1","request_id":"req-5","agent":"anonymous","match_count":1,"patterns":["AWS Access ID"],"mitre_technique":"T1048","time":"2026-12-06T15:13:43Z","message":"request body DLP scan hit"}',
    line: {
      kind: "decision",
      gate: "pipelock",
      decision: "warn",
      reason: "body_dlp",
      detail: "AWS Access ID",
      host: "localhost",
      port: 18912,
      path: "/up",
      method: "POST",
      event: "body_dlp",
    },
  },
  {
    what: "pipelock: a reload, in the egress proxy's fields",
    gate: "pipelock",
    text: '{"level":"info","component":"pipelock","event":"config_reload","status":"success","detail":"mode=strict","config_hash":"18a554be1567411e7b26c89dd5e249298fbac9f648b5793fa0d234bd5ebeea4c","time":"2026-12-06T15:13:43Z","message":"configuration reloaded"}',
    line: {
      kind: "reload",
      result: "ok",
      detail: "mode=strict",
      config_hash: "18a554be1567411e7b26c89dd5e249298fbac9f648b5793fa0d234bd5ebeea4c",
    },
  },
  {
    what: "pipelock: a tunnel's end is no decision",
    gate: "pipelock-bulk",
    text: '{"level":"info","component":"pipelock","event":"tunnel_close","target":"localhost:45073","client_ip":"127.0.0.1","request_id":"req-1","agent":"dataplane","total_bytes":1890,"duration_ms":8.119725,"time":"2026-12-06T15:10:01Z","message":"tunnel closed"}',
    line: {
      kind: "message",
      text: '{"level":"info","component":"pipelock","event":"tunnel_close","target":"localhost:45073","client_ip":"127.0.0.1","request_id":"req-1","agent":"dataplane","total_bytes":1890,"duration_ms":8.119725,"time":"2026-12-06T15:10:01Z","message":"tunnel closed"}',
    },
  },
  {
    what: "pipelock: its start-up banner",
    gate: "pipelock",
    text: "  Mode:   strict",
    line: { kind: "message", text: "  Mode:   strict" },
  },
  {
    what: "a JSON value that is no object is a message",
    gate: "egress-proxy",
    text: "[1, 2]",
    line: { kind: "message", text: "[1, 2]" },
  },
];

describe("the decision-line schema: each gate's raw line mapped to it", () => {
  for (const c of cases) {
    test(c.what, () => {
      assert.deepEqual(gateLine({ time, gate: c.gate, text: c.text }), { time, log: c.gate, ...c.line });
    });
  }
});

describe("the bottle's own probes", () => {
  const probes: [string, Gate, string, boolean][] = [
    [
      "the egress proxy's health check",
      "egress-proxy",
      '{"decision": "deny", "by": "egress-proxy", "reason": "healthcheck", "route": null, "token": null, "host": "egress-proxy-healthcheck.invalid", "port": 80, "method": "GET", "path": "/"}',
      true,
    ],
    [
      "the self-test's request for a name that can never exist",
      "egress-proxy",
      '{"decision": "deny", "by": "egress-proxy", "reason": "host not in allowlist", "route": null, "token": null, "host": "bot-bottle-self-test.invalid", "port": 80, "method": "GET", "path": "/"}',
      true,
    ],
    ["mitmproxy: the health check connecting from loopback", "egress-proxy", "[15:10:06.817][127.0.0.1:41170] client connect", true],
    ["mitmproxy: and leaving", "egress-proxy", "[15:10:06.821][127.0.0.1:41170] client disconnect", true],
    ["mitmproxy: the agent connecting (never from loopback)", "egress-proxy", "[15:10:06.817][172.18.0.3:40000] client connect", false],
    [
      "the agent's refused request",
      "egress-proxy",
      '{"decision": "deny", "by": "egress-proxy", "reason": "host not in allowlist", "route": null, "token": null, "host": "example.org", "port": 443, "method": "CONNECT", "path": null}',
      false,
    ],
    [
      "pipelock's refusal of a .invalid name is the agent's request, not a probe",
      "pipelock",
      '{"level":"warn","event":"blocked","method":"CONNECT","target":"x.invalid:443","scanner":"ssrf","reason":"SSRF check failed"}',
      false,
    ],
  ];
  for (const [what, gate, text, probe] of probes) {
    test(`${what}: ${probe ? "a probe" : "not a probe"}`, () => assert.equal(isProbe(gateLine({ time, gate, text })), probe));
  }
});
