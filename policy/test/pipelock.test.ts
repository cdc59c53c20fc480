import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { pipelockInterceptsWithItsBottlesCa, pipelockPassthroughReviewed, pipelockStrictEnforcing } from "../policies/pipelock";
import {
  bottleGraph,
  CERT_PEM,
  container,
  kubernetesBottleGraph,
  liveConfigOf,
  object,
  PIPELOCK_CA_PEM,
  pipelockConfig,
  RSA_KEY_PEM,
  setConfigMapDocument,
  setDocument,
  setUpload,
  withBulkLane,
} from "./fixtures";
import { type DeclaredResource, runResourcePolicy, runStackPolicy } from "../offline/run";

/** The fixture's graph with pipelock's pipelock.yaml changed by `change`. */
function pipelockWith(change: (config: Record<string, any>) => void): DeclaredResource[] {
  const graph = bottleGraph();
  const config: Record<string, any> = pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com"]);
  change(config);
  setDocument(graph, "pipelock", stringify(config));
  return graph;
}

describe("pipelock-strict-enforcing (each document where it is declared)", () => {
  /** The live-config command writing pipelock's document, changed by `change`. */
  const commandWith = (change: (c: Record<string, any>) => void) => liveConfigOf(pipelockWith(change), "pipelock");

  it("passes the rendered documents of pipelock and pipelock-bulk, and ignores the egress proxy's", async () => {
    const graph = withBulkLane(bottleGraph());
    for (const role of ["pipelock", "pipelock-bulk", "egress-proxy"] as const) {
      assert.deepEqual((await runResourcePolicy(pipelockStrictEnforcing, liveConfigOf(graph, role))).violations, [], role);
    }
  });

  const cases: { rule: string; change: (c: Record<string, any>) => void; message: RegExp; bulkToo: boolean }[] = [
    {
      rule: "strict mode",
      change: (c) => (c.mode = "balanced"),
      message: /sets mode 'balanced'; only strict mode enforces api_allowlist\. Set mode: strict/,
      bulkToo: true,
    },
    { rule: "mode set at all", change: (c) => delete c.mode, message: /sets mode '\(unset\)'/, bulkToo: true },
    { rule: "enforcing", change: (c) => (c.enforce = false), message: /sets enforce: false, so it only logs/, bulkToo: true },
    {
      rule: "TLS interception",
      change: (c) => (c.tls_interception.enabled = false),
      message: /does not enable tls_interception/,
      bulkToo: false,
    },
    {
      rule: "body scanning on",
      change: (c) => (c.request_body_scanning.enabled = false),
      message: /request_body_scanning enabled=false, action=block/,
      bulkToo: true,
    },
    {
      rule: "body scanning blocks",
      change: (c) => (c.request_body_scanning.action = "warn"),
      message: /action=warn: a leak found in a request would not be stopped/,
      bulkToo: true,
    },
    {
      rule: "header scanning on",
      change: (c) => (c.request_body_scanning.scan_headers = false),
      message: /scan_headers: false, so secrets in headers pass unscanned/,
      bulkToo: true,
    },
    {
      rule: "pipelock's own DLP patterns",
      change: (c) => (c.dlp.include_defaults = false),
      message: /sets dlp.include_defaults: false/,
      bulkToo: true,
    },
  ];
  for (const c of cases) {
    it(`enforces: ${c.rule}`, async () => {
      const { violations } = await runResourcePolicy(pipelockStrictEnforcing, commandWith(c.change));
      assert.equal(violations.length, 1, violations.join("\n"));
      assert.match(violations[0], /^pipelock's pipelock.yaml \(Command 'reviewer-pipelock-config-apply'\) /);
      assert.match(violations[0], c.message);
    });
    it(`${c.bulkToo ? "enforces" : "does not apply"} on pipelock-bulk's document: ${c.rule}`, async () => {
      const graph = withBulkLane(bottleGraph());
      const bulk = liveConfigOf(graph, "pipelock-bulk");
      const config = parse(bulk.props.stdin);
      c.change(config);
      bulk.props.stdin = stringify(config);
      const { violations } = await runResourcePolicy(pipelockStrictEnforcing, bulk);
      assert.equal(violations.length, c.bulkToo ? 1 : 0, violations.join("\n"));
    });
  }

  it("refuses a document that is not a YAML mapping, or missing", async () => {
    const graph = bottleGraph();
    setDocument(graph, "pipelock", "mode: strict\nmode: audit\n");
    assert.match(
      (await runResourcePolicy(pipelockStrictEnforcing, liveConfigOf(graph, "pipelock"))).violations.join("\n"),
      /pipelock.yaml .* is not valid YAML/,
    );
    setDocument(graph, "pipelock", "- a list\n");
    assert.match(
      (await runResourcePolicy(pipelockStrictEnforcing, liveConfigOf(graph, "pipelock"))).violations.join("\n"),
      /is not a YAML mapping/,
    );
    delete liveConfigOf(graph, "pipelock").props.stdin;
    assert.match(
      (await runResourcePolicy(pipelockStrictEnforcing, liveConfigOf(graph, "pipelock"))).violations.join("\n"),
      /has no document: a gate whose rules cannot be read is not a gate/,
    );
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

  const configMap = (graph: DeclaredResource[]) => object(graph, "ConfigMap", "pipelock-config");

  it("passes the rendered strict, enforcing config", async () => {
    assert.deepEqual((await runResourcePolicy(pipelockStrictEnforcing, configMap(kubernetesBottleGraph()))).violations, []);
    assert.deepEqual((await runStackPolicy(pipelockPassthroughReviewed, kubernetesBottleGraph())).violations, []);
  });

  it("rejects a config that is not strict", async () => {
    const { violations } = await runResourcePolicy(pipelockStrictEnforcing, configMap(k8sPipelockWith((c) => (c.mode = "audit"))));
    assert.deepEqual(violations, [
      "pipelock's pipelock.yaml (ConfigMap 'dev-reviewer/pipelock-config') sets mode 'audit'; only strict mode enforces api_allowlist. Set mode: strict.",
    ]);
  });

  it("rejects a config that does not enforce, or only warns", async () => {
    for (const change of [
      (c: Record<string, any>) => (c.enforce = false),
      (c: Record<string, any>) => (c.request_body_scanning.action = "warn"),
    ]) {
      const { violations } = await runResourcePolicy(pipelockStrictEnforcing, configMap(k8sPipelockWith(change)));
      assert.equal(violations.length, 1);
      assert.match(violations[0]!, /only logs what it would block|action=warn: a leak found in a request would not be stopped/);
    }
  });

  it("names every passthrough host (advisory)", async () => {
    const graph = k8sPipelockWith((c) => (c.tls_interception.passthrough_domains = ["npm.example.com"]));
    const { violations } = await runStackPolicy(pipelockPassthroughReviewed, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /^Pipelock 'dev-reviewer\/pipelock' passes npm.example.com through without interception/);
  });
});

describe("pipelock-intercepts-with-its-bottles-ca (decided at up, when the certificates exist)", () => {
  /** `graph` as the stack policies see it after up: each CA certificate has its certPem (an output). */
  function created(graph: DeclaredResource[]): DeclaredResource[] {
    for (const cert of graph.filter((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert")) {
      cert.props.certPem = cert.name.endsWith("-pipelock-ca-cert") ? PIPELOCK_CA_PEM : CERT_PEM;
    }
    return graph;
  }
  const violationsOf = async (graph: DeclaredResource[]) => (await runStackPolicy(pipelockInterceptsWithItsBottlesCa, graph)).violations;

  it("passes pipelock with its bottle's CA and the egress proxy trusting it, on both backends", async () => {
    assert.deepEqual(await violationsOf(created(bottleGraph())), []);
    assert.deepEqual(await violationsOf(created(kubernetesBottleGraph())), []);
  });

  it("defers until the certificates exist (preview, an offline plan)", async () => {
    const graph = bottleGraph();
    setUpload(container(graph, "pipelock"), "/etc/pipelock/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n");
    assert.deepEqual(await violationsOf(graph), []);
  });

  it("refuses a CA its bottle does not declare (another bottle's), a key that is not its CA's, and no CA file", async () => {
    const other = created([...bottleGraph(), ...bottleGraph({ bottle: "coder" })]);
    const coderCa = "-----BEGIN CERTIFICATE-----\nMIIBcoder\n-----END CERTIFICATE-----\n";
    other.find((r) => r.name === "coder-pipelock-ca-cert")!.props.certPem = coderCa;
    setUpload(other.find((r) => r.name === "reviewer-pipelock")!, "/etc/pipelock/ca.pem", coderCa);
    assert.match(
      (await violationsOf(other)).join("\n"),
      /^Pipelock 'dev-reviewer-pipelock' intercepts with the certificate at \/etc\/pipelock\/ca.pem, which is no CA its BottleStack declares/,
    );
    const wrongKey = created(bottleGraph());
    setUpload(container(wrongKey, "pipelock"), "/etc/pipelock/ca-key.pem", RSA_KEY_PEM);
    assert.deepEqual(await violationsOf(wrongKey), [
      "Pipelock 'dev-reviewer-pipelock''s key at /etc/pipelock/ca-key.pem is not the key of its CA 'reviewer-pipelock-ca-cert'. Give it that CA's key.",
    ]);
    const none = created(bottleGraph());
    container(none, "pipelock").props.uploads = container(none, "pipelock").props.uploads.filter(
      (u: { file: string }) => u.file !== "/etc/pipelock/ca.pem",
    );
    assert.match(
      (await violationsOf(none)).join("\n"),
      /has no file at \/etc\/pipelock\/ca.pem \(no upload there\): it intercepts with no CA of its bottle/,
    );
  });

  it("refuses an egress proxy that trusts another certificate upstream, on Kubernetes too", async () => {
    const docker = created(bottleGraph());
    setUpload(container(docker, "egress-proxy"), "/etc/egress-proxy/upstream-ca.pem", CERT_PEM);
    assert.match(
      (await violationsOf(docker)).join("\n"),
      /^Egress proxy 'dev-reviewer-egress-proxy' trusts at \/etc\/egress-proxy\/upstream-ca.pem a certificate other than its pipelock's CA/,
    );
    const k8s = created(kubernetesBottleGraph());
    object(k8s, "Secret", "egress-proxy-files").props.stringData["file-0"] = CERT_PEM;
    assert.match(
      (await violationsOf(k8s)).join("\n"),
      /^Egress proxy 'dev-reviewer\/egress-proxy' trusts at \/etc\/egress-proxy\/upstream-ca.pem a certificate other than its pipelock's CA/,
    );
  });
});
