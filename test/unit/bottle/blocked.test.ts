import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateStackConfig } from "../../../components/config";
import { readStackFile } from "../../../infra/stack-file";
import {
  applySuggestions,
  coveringPrefixes,
  formatRefusals,
  groupRefusals,
  hostSuggestions,
  pathPrefixFor,
  refusalsOf,
  unifiedDiff,
} from "../../../scripts/bottle/blocked";
import { gateLine } from "../../../scripts/bottle/decision-lines";
import type { Gate } from "../../../scripts/bottle/deployed";

// Lines as the gates write them (docker logs, mitmproxy's own lines in between).
const EGRESS_LOG = [
  '{"decision": "allow", "by": "egress-proxy", "reason": "allowed", "route": 0, "token": "github", "host": "api.github.com", "port": 443, "method": "GET", "path": "/repos/acme/app"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "host not in allowlist", "route": null, "token": null, "host": "registry.example.com", "port": 443, "method": "CONNECT", "path": null}',
  "[10:00:01.000][172.18.0.3:40000] client disconnect",
  '{"decision": "deny", "by": "egress-proxy", "reason": "method not allowed", "route": null, "token": null, "host": "api.github.com", "port": 443, "method": "POST", "path": "/repos/acme/app/issues"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "path not allowed", "route": null, "token": null, "host": "api.github.com", "port": 443, "method": "GET", "path": "/repos/acme/app/issues/12"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "path not allowed", "route": null, "token": null, "host": "api.github.com", "port": 443, "method": "GET", "path": "/repos/acme/app/issues/13"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "path rejected (encoded separator, dot, percent or NUL)", "route": null, "token": null, "host": "api.github.com", "port": 443, "method": "GET", "path": "/repos/acme%2fapp"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "port not allowed", "route": null, "token": null, "host": "pypi.mirror.example.com", "port": 8443, "method": "CONNECT", "path": null}',
  '{"decision": "deny", "by": "pipelock", "reason": "refused", "route": null, "token": null, "host": "api.github.com", "port": 443, "method": "POST", "path": "/gists"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "healthcheck", "route": null, "token": null, "host": "egress-proxy-healthcheck.invalid", "port": 80, "method": "GET", "path": "/"}',
  '{"decision": "deny", "by": "egress-proxy", "reason": "host not in allowlist", "route": null, "token": null, "host": "bot-bottle-self-test.invalid", "port": 80, "method": "GET", "path": "/"}',
  '{"decision": "audit-allow", "by": "egress-proxy", "reason": "audit: path not allowed", "route": null, "token": null, "host": "github.com", "port": 443, "method": "GET", "path": "/acme/lib.git/info/refs"}',
].join("\n");
const PIPELOCK_LOG = [
  '{"level":"info","event":"allowed","method":"GET","url":"https://api.github.com/repos/acme/app","status_code":200,"time":"2026-12-02T10:00:00Z"}',
  '{"level":"warn","event":"blocked","method":"POST","url":"https://api.github.com","scanner":"body_dlp","reason":"request body contains secret: AWS Access ID","time":"2026-12-02T10:00:02Z","message":"request blocked"}',
  '{"level":"warn","event":"blocked","method":"CONNECT","target":"internal.example.com:443","scanner":"ssrf","reason":"resolves to private address","time":"2026-12-02T10:00:03Z"}',
].join("\n");

/** The refusals among a gate's log lines, read as `blocked` reads them (decision-lines.ts). */
const refusals = (log: string, gate: Gate) =>
  refusalsOf(log.split("\n").map((text) => gateLine({ time: "2026-12-02T10:00:00Z", gate, text })));
const egressProxyRefusals = (log: string) => refusals(log, "egress-proxy");
const pipelockRefusals = (log: string) => refusals(log, "pipelock");

describe("reading both gates' logs", () => {
  test("the egress proxy's own refusals and audit-mode lets-through; not allows, the healthcheck's and self-test's probes, or pipelock's (read from pipelock)", () => {
    assert.deepEqual(
      egressProxyRefusals(EGRESS_LOG).map((r) => [r.reason, r.host, r.port, r.method ?? "-", r.path ?? "-", r.audit]),
      [
        ["host not in allowlist", "registry.example.com", 443, "-", "-", false],
        ["method not allowed", "api.github.com", 443, "POST", "/repos/acme/app/issues", false],
        ["path not allowed", "api.github.com", 443, "GET", "/repos/acme/app/issues/12", false],
        ["path not allowed", "api.github.com", 443, "GET", "/repos/acme/app/issues/13", false],
        ["path rejected (encoded separator, dot, percent or NUL)", "api.github.com", 443, "GET", "/repos/acme%2fapp", false],
        ["port not allowed", "pypi.mirror.example.com", 8443, "-", "-", false],
        ["path not allowed", "github.com", 443, "GET", "/acme/lib.git/info/refs", true],
      ],
    );
  });

  test("pipelock's refusals: scanner and reason (the DLP pattern's name, never the value), host and path", () => {
    assert.deepEqual(
      pipelockRefusals(PIPELOCK_LOG).map((r) => [r.reason, r.host, r.method ?? "-", r.path ?? "-"]),
      [
        ["body_dlp: request body contains secret: AWS Access ID", "api.github.com", "POST", "-"],
        ["ssrf: resolves to private address", "internal.example.com", "-", "-"],
      ],
    );
  });

  test("grouped: one line per kind with a count, ids cut from paths", () => {
    const text = formatRefusals(groupRefusals([...egressProxyRefusals(EGRESS_LOG), ...pipelockRefusals(PIPELOCK_LOG)]), {
      stack: "dev",
      bottle: "coder",
      since: "30m",
    });
    assert.equal(
      text,
      `Refused in bottle "coder" of stack "dev" (last 30m): 9 requests, 8 kinds

by the egress proxy (the routes)
     2x  GET     api.github.com:443/repos/acme/app/issues/  path not allowed
     1x  POST    api.github.com:443/repos/acme/app/issues  method not allowed
     1x  GET     api.github.com:443/repos/acme%2fapp  path rejected (encoded separator, dot, percent or NUL)
     1x  GET     github.com:443/acme/lib.git/info/refs  let through in audit mode: path not allowed
     1x  CONNECT pypi.mirror.example.com:8443  port not allowed
     1x  CONNECT registry.example.com:443  host not in allowlist

by pipelock (never turned into allow rules here)
     1x  POST    api.github.com:443  body_dlp: request body contains secret: AWS Access ID
     1x  CONNECT internal.example.com:443  ssrf: resolves to private address
`,
    );
  });
});

describe("suggesting the narrowest change", () => {
  const prefixes: [string, string][] = [
    ["/repos/acme/app/issues/12", "/repos/acme/app/issues/"],
    ["/v1/messages", "/v1/messages"],
    ["/objects/3f2a9c1d77e0/raw", "/objects/"],
    ["/items/6f1c2a9e-1b2c-4d3e-8f90-1234567890ab", "/items/"],
  ];
  for (const [path, prefix] of prefixes) test(`${path} -> ${prefix}`, () => assert.equal(pathPrefixFor(path), prefix));

  test("covering prefixes: duplicates and covered ones dropped", () => {
    assert.deepEqual(coveringPrefixes(["/a/b/1", "/a/b/2", "/a/b/c/3", "/a/x"]), ["/a/b/", "/a/x"]);
  });

  test("only route refusals become suggestions, with the ports, methods and paths seen; encoded paths never", () => {
    assert.deepEqual(hostSuggestions([...egressProxyRefusals(EGRESS_LOG), ...pipelockRefusals(PIPELOCK_LOG)]), [
      { host: "api.github.com", ports: [443], methods: ["GET", "POST"], paths: ["/repos/acme/app/issues"] },
      { host: "github.com", ports: [443], methods: ["GET"], paths: ["/acme/lib.git/info/refs"] },
      { host: "pypi.mirror.example.com", ports: [8443], methods: [], paths: [] },
      { host: "registry.example.com", ports: [443], methods: [], paths: [] },
    ]);
  });

  const STACK = `# The team's dev stack.
config:
  bot-bottle:bottles:
    - name: coder
      routes:
        # The API, read-mostly.
        - host: api.github.com
          ports: [443]
          methods: [GET]
          paths: ["/repos/acme/app/pulls"]
          auth: { header: Authorization, prefix: "Bearer ", token: github }
        - host: github.com
          git: { repositories: [acme/app] }
          auth: { header: Authorization, username: x-access-token, token: github }
        - host: "*.mirror.example.com"
          methods: [GET, HEAD]
  bot-bottle:tokens:
    github:
      secure: v1:placeholder
`;

  test("a push refused on a fetch-only git route is suggested as the agent's own branches (pushRules: {}), never every ref", () => {
    const { text, notes } = applySuggestions(STACK, "coder", [
      { host: "github.com", ports: [], methods: ["POST"], paths: ["/acme/app.git/git-receive-pack"] },
    ]);
    assert.match(text, /git: \{ repositories: \[acme\/app\], pushRules: \{\} \}/);
    assert.deepEqual(notes, [
      "github.com: push suggested as pushRules: {} (refs/heads/agent/*, no deletes, no tags); name other refs in git.pushRules.refs yourself",
    ]);
    const explicitFalse = applySuggestions(
      STACK.replace("git: { repositories: [acme/app] }", "git: { repositories: [acme/app], push: false }"),
      "coder",
      [{ host: "github.com", ports: [], methods: ["POST"], paths: ["/acme/app.git/git-receive-pack"] }],
    );
    assert.match(explicitFalse.text, /git: \{ repositories: \[acme\/app\], pushRules: \{\} \}/);
  });

  test("applied to the stack file: existing routes widened (a method, a path, a git repository, a port), a new host added without a credential, comments kept; the result validates", () => {
    const suggestions = [
      ...hostSuggestions(egressProxyRefusals(EGRESS_LOG)),
      // A sibling of the wildcard's own subdomains is already covered; a new port for it is not.
      { host: "*.mirror.example.com", ports: [8443], methods: [], paths: [] },
    ];
    const { text, notes } = applySuggestions(STACK, "coder", suggestions);
    assert.deepEqual(notes, []);
    assert.equal(
      unifiedDiff("Pulumi.dev.yaml", STACK, text),
      `===================================================================
--- a/Pulumi.dev.yaml
+++ b/Pulumi.dev.yaml
@@ -6,14 +6,23 @@
         # The API, read-mostly.
         - host: api.github.com
           ports: [443]
-          methods: [GET]
-          paths: ["/repos/acme/app/pulls"]
+          methods: [GET, POST]
+          paths: ["/repos/acme/app/pulls", "/repos/acme/app/issues"]
           auth: { header: Authorization, prefix: "Bearer ", token: github }
         - host: github.com
-          git: { repositories: [acme/app] }
+          git: { repositories: [acme/app, acme/lib] }
           auth: { header: Authorization, username: x-access-token, token: github }
         - host: "*.mirror.example.com"
           methods: [GET, HEAD]
+          ports: [80, 443, 8443]
+        # Suggested: refused at CONNECT, so its methods and paths were not seen: reads only until a run in audit mode shows more.
+        - host: pypi.mirror.example.com
+          ports: [8443]
+          methods: [GET, HEAD]
+        # Suggested: refused at CONNECT, so its methods and paths were not seen: reads only until a run in audit mode shows more.
+        - host: registry.example.com
+          ports: [443]
+          methods: [GET, HEAD]
   bot-bottle:tokens:
     github:
       secure: v1:placeholder
`,
    );
    const { config } = readStackFile(text, () => "placeholder");
    const validated = validateStackConfig({ ...config, bottles: config.bottles });
    assert.ok(validated.ok, JSON.stringify(validated));
    assert.equal(validated.value.bottles[0]!.routes.find((r) => r.host === "registry.example.com")!.auth, undefined);
  });

  test("a non-git path on a git route is a note, not an edit; an unknown bottle is an error", () => {
    const { text, notes } = applySuggestions(STACK, "coder", [
      { host: "github.com", ports: [443], methods: ["GET"], paths: ["/acme/app/releases"] },
    ]);
    assert.equal(text, STACK);
    assert.deepEqual(notes, [
      "github.com/acme/app/releases: not suggested: the route is a git route, which allows git's paths only (give other paths a host of their own)",
    ]);
    assert.throws(() => applySuggestions(STACK, "nope", []), /the stack file declares no bottle "nope"/);
  });
});
