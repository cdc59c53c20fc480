import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { egressProxyBulkLaneThroughPipelockBulk } from "../policies/chain";
import { kubernetesOnlyPipelockReachesOutside } from "../policies/kubernetes";
import { onlyPipelockReachesOutside } from "../policies/networks";
import { pipelockBulkIsPipelockUnintercepted } from "../policies/pipelock";
import { productionBulkLaneReviewed, routesNoBroadWildcards } from "../policies/routes";
import { type DeclaredResource, runStackPolicy } from "../offline/run";
import { bottleGraph, container, kubernetesBottleGraph, pipelockBulkConfig, setDocument, withBulkLane } from "./fixtures";

const HOSTS = ["api.anthropic.com", "api.github.com"];
const BULK = "dev-reviewer-pipelock-bulk";

/** The bulk-lane graph with pipelock-bulk's document changed by `change`. */
function bulkWith(change: (config: Record<string, any>) => void): DeclaredResource[] {
  const graph = withBulkLane(bottleGraph());
  const config: Record<string, any> = structuredClone(pipelockBulkConfig("reviewer", HOSTS));
  change(config);
  setDocument(graph, "pipelock-bulk", stringify(config));
  return graph;
}

describe("pipelock-bulk-is-pipelock-unintercepted", () => {
  it("passes pipelock-bulk as rendered: pipelock's config, unintercepted, with its scan API", async () => {
    assert.deepEqual((await runStackPolicy(pipelockBulkIsPipelockUnintercepted, withBulkLane(bottleGraph()))).violations, []);
  });

  const cases: { what: string; change: (c: Record<string, any>) => void; message: RegExp }[] = [
    {
      what: "it only logs (enforce: false)",
      change: (c) => (c.enforce = false),
      message: /differs from its bottle's pipelock \(.*\) in enforce: its tunnels would leave under other rules/,
    },
    { what: "a wider allowlist", change: (c) => c.api_allowlist.push("evil.example.com"), message: /in api_allowlist:/ },
    { what: "weaker DLP", change: (c) => (c.request_body_scanning.action = "warn"), message: /in request_body_scanning:/ },
    {
      what: "another mode and a trusted domain",
      change: (c) => {
        c.mode = "audit";
        c.trusted_domains = ["x.example.com"];
      },
      message: /in mode, trusted_domains:/,
    },
    { what: "no scan API", change: (c) => delete c.scan_api, message: /has no scan API with its url and dlp scans on/ },
    { what: "its DLP scan off", change: (c) => (c.scan_api.kinds.dlp = false), message: /has no scan API with its url and dlp scans on/ },
  ];
  for (const c of cases) {
    it(`refuses pipelock-bulk when ${c.what}`, async () => {
      const { violations } = await runStackPolicy(pipelockBulkIsPipelockUnintercepted, bulkWith(c.change));
      assert.equal(violations.length, 1, violations.join("\n"));
      assert.match(violations[0]!, new RegExp(`^pipelock-bulk '${BULK}' `));
      assert.match(violations[0]!, c.message);
    });
  }

  it("refuses a pipelock-bulk started on built-in defaults, and one without its bottle's pipelock", async () => {
    const defaults = withBulkLane(bottleGraph());
    container(defaults, "pipelock-bulk").props.command = ["run", "--listen", "0.0.0.0:8888"];
    assert.match(
      (await runStackPolicy(pipelockBulkIsPipelockUnintercepted, defaults)).violations.join(),
      /is not started with --config FILE/,
    );
    const alone = withBulkLane(bottleGraph()).filter((r) => r.name !== "reviewer-pipelock");
    assert.deepEqual((await runStackPolicy(pipelockBulkIsPipelockUnintercepted, alone)).violations, [
      `pipelock-bulk '${BULK}' has no pipelock in its bottle ('dev/reviewer') whose rules it must share. ` +
        "Declare the bottle's pipelock with the same bot-bottle.stack and bot-bottle.bottle labels.",
    ]);
  });
});

describe("egress-proxy-bulk-lane-through-pipelock-bulk", () => {
  const proxyEnvs = (graph: DeclaredResource[]) => container(graph, "egress-proxy").props.envs as string[];
  const setEnv = (graph: DeclaredResource[], key: string, value: string | undefined) => {
    const envs = proxyEnvs(graph).filter((e) => !e.startsWith(`${key}=`));
    container(graph, "egress-proxy").props.envs = value === undefined ? envs : [...envs, `${key}=${value}`];
  };

  it("passes a bulk lane to the bottle's pipelock-bulk, checked by its scan API; and no bulk lane at all", async () => {
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, withBulkLane(bottleGraph()))).violations, []);
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, bottleGraph())).violations, []);
  });

  it("refuses a bulk lane to anything but the bottle's pipelock-bulk", async () => {
    const graph = withBulkLane(bottleGraph());
    setEnv(graph, "EGRESS_PROXY_BULK_PROXY", "http://203.0.113.7:3128");
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, graph)).violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' sends its bulk lane to http://203.0.113.7:3128, not its bottle's pipelock-bulk. " +
        "Set EGRESS_PROXY_BULK_PROXY=http://pipelock-bulk:8888.",
    ]);
  });

  it("refuses a bulk lane nothing checks", async () => {
    const graph = withBulkLane(bottleGraph());
    setEnv(graph, "EGRESS_PROXY_SCAN_API", undefined);
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, graph)).violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' has EGRESS_PROXY_SCAN_API=(unset), so nothing (or something else) checks its " +
        "bulk lane. Set EGRESS_PROXY_SCAN_API=http://pipelock-bulk:9090.",
    ]);
  });

  it("refuses a bulk lane in a bottle without pipelock-bulk, and another container claiming its alias", async () => {
    const missing = withBulkLane(bottleGraph()).filter((r) => r.name !== "reviewer-pipelock-bulk");
    assert.match(
      (await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, missing)).violations.join(),
      /its bottle \('dev\/reviewer'\) has no pipelock-bulk/,
    );
    const claimed = withBulkLane(bottleGraph());
    container(claimed, "agent").props.networksAdvanced = [{ name: "dev-reviewer-egress-net", aliases: ["pipelock-bulk"] }];
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, claimed)).violations, [
      "Container 'dev-reviewer-agent' also claims the alias 'pipelock-bulk' on network 'dev-reviewer-egress-net', so the " +
        "egress proxy's http://pipelock-bulk:8888 may resolve to it instead of pipelock-bulk. Remove that alias from 'dev-reviewer-agent'.",
    ]);
  });

  it("refuses a scan API without a bulk lane", async () => {
    const graph = bottleGraph();
    setEnv(graph, "EGRESS_PROXY_SCAN_API", "http://pipelock-bulk:9090");
    assert.deepEqual((await runStackPolicy(egressProxyBulkLaneThroughPipelockBulk, graph)).violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' names a scan API (EGRESS_PROXY_SCAN_API) but no bulk lane: remove EGRESS_PROXY_SCAN_API.",
    ]);
  });
});

describe("the pipelocks are the only ways out", () => {
  it("Docker: pipelock-bulk on the outbound network passes; the egress proxy there still does not", async () => {
    assert.deepEqual((await runStackPolicy(onlyPipelockReachesOutside, withBulkLane(bottleGraph()))).violations, []);
    const graph = withBulkLane(bottleGraph());
    container(graph, "egress-proxy").props.networksAdvanced.push({ name: "dev-reviewer-outbound-net" });
    assert.equal((await runStackPolicy(onlyPipelockReachesOutside, graph)).violations.length, 1);
  });

  it("Kubernetes: pipelock-bulk's way out passes, and is held to pipelock's rules (a non-empty except)", async () => {
    const graph = kubernetesBottleGraph();
    const pipelockPolicy = graph.find((r) => r.name === "reviewer-policy-pipelock")!;
    const bulkPolicy = structuredClone(pipelockPolicy);
    bulkPolicy.name = "reviewer-policy-pipelock-bulk";
    bulkPolicy.props.metadata.name = "pipelock-bulk";
    bulkPolicy.props.spec.podSelector = { matchLabels: { "bot-bottle.role": "pipelock-bulk" } };
    assert.deepEqual((await runStackPolicy(kubernetesOnlyPipelockReachesOutside, [...graph, bulkPolicy])).violations, []);
    const open = structuredClone(bulkPolicy);
    const rule = open.props.spec.egress.find((r: { to: { ipBlock?: unknown }[] }) => r.to.some((p) => p.ipBlock));
    rule.to[0].ipBlock.except = [];
    assert.match(
      (await runStackPolicy(kubernetesOnlyPipelockReachesOutside, [...graph, open])).violations.join(),
      /pipelock-bulk.*with an empty 'except'/,
    );
  });

  it("pipelock-bulk's allowlist is held to the same wildcard rule as pipelock's", async () => {
    const graph = bulkWith((c) => c.api_allowlist.push("*.com"));
    assert.match(
      (await runStackPolicy(routesNoBroadWildcards, graph)).violations.join(),
      new RegExp(`'${BULK}' api_allowlist entry '\\*\\.com'`),
    );
  });
});

describe("production-bulk-lane-reviewed", () => {
  it("points out, in production, the routes whose traffic takes the bulk lane", async () => {
    const graph = withBulkLane(bottleGraph({ stack: "prod" }), { stack: "prod" });
    const { violations } = await runStackPolicy(productionBulkLaneReviewed, graph, { stack: "prod" });
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^Egress proxy 'prod-reviewer-egress-proxy' sends on the bulk lane the traffic of api\.github\.com \(downloads\) /,
    );
  });

  it("says nothing of a production bottle without a bulk lane, and does not apply outside production", async () => {
    assert.deepEqual((await runStackPolicy(productionBulkLaneReviewed, bottleGraph({ stack: "prod" }), { stack: "prod" })).violations, []);
    const dev = await runStackPolicy(productionBulkLaneReviewed, withBulkLane(bottleGraph()));
    assert.equal(dev.notApplicable, "not a production stack");
  });
});
