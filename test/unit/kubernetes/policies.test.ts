import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type BottleSpec, describeBottle, validateBottle } from "../../../components/index";
import { CLUSTER_DNS, networkPolicies, SELF_TEST_ROLE, selectorOf } from "../../../components/kubernetes/policies";

function spec(bottle: Record<string, unknown>, tokens: string[] = []): BottleSpec {
  const result = validateBottle(
    "coder",
    { backend: "kubernetes", egressProxy: { image: "registry.example/egress-proxy@sha256:aa" }, ...bottle },
    new Set(tokens),
  );
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const CIDRS = ["10.0.0.0/8", "192.168.0.0/16"];
// Route ports 443, 8443, 80 (twice) and 443 again: the union, sorted, is what pipelock may dial.
const ROUTES = [
  { host: "api.github.com", ports: [8443, 443], auth: { header: "Authorization", token: "github" } },
  { host: "registry.npmjs.org" },
  { host: "pypi.org", ports: [80, 443] },
];

const DEFAULT_DENY = { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } };
const role = (r: string) => ({ matchLabels: { "bot-bottle.role": r } });
const agentAndSelfTest = { matchExpressions: [{ key: "bot-bottle.role", operator: "In", values: ["agent", "self-test"] }] };
const DNS = {
  to: [
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
      podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
    },
  ],
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};

const pipelockPolicy = {
  name: "pipelock",
  spec: {
    podSelector: role("pipelock"),
    policyTypes: ["Ingress", "Egress"],
    ingress: [{ from: [{ podSelector: role("egress-proxy") }], ports: [{ protocol: "TCP", port: 8888 }] }],
    egress: [
      {
        to: [{ ipBlock: { cidr: "0.0.0.0/0", except: CIDRS } }],
        ports: [80, 443, 8443].map((port) => ({ protocol: "TCP", port })),
      },
      DNS,
    ],
  },
};

/** pipelock-bulk: the same way out and DNS as pipelock; the egress proxy reaches its proxy and its scan API. */
const pipelockBulkPolicy = {
  name: "pipelock-bulk",
  spec: {
    podSelector: role("pipelock-bulk"),
    policyTypes: ["Ingress", "Egress"],
    ingress: [{ from: [{ podSelector: role("egress-proxy") }], ports: [8888, 9090].map((port) => ({ protocol: "TCP", port })) }],
    egress: pipelockPolicy.spec.egress,
  },
};
const egressProxyEgress = [
  { to: [{ podSelector: role("pipelock") }], ports: [{ protocol: "TCP", port: 8888 }] },
  { to: [{ podSelector: role("pipelock-bulk") }], ports: [8888, 9090].map((port) => ({ protocol: "TCP", port })) },
];

describe("networkPolicies", () => {
  test("a bottle with an agent: default-deny, then exactly one policy per workload", () => {
    const layout = describeBottle(spec({ routes: ROUTES, agent: { image: "registry.example/agent@sha256:bb" } }, ["github"]), {
      stack: "dev",
    });
    assert.deepEqual(networkPolicies(layout, { privateCidrs: CIDRS }), [
      DEFAULT_DENY,
      pipelockPolicy,
      pipelockBulkPolicy,
      {
        name: "egress-proxy",
        spec: {
          podSelector: role("egress-proxy"),
          policyTypes: ["Ingress", "Egress"],
          // Only the agent (and the self-test, which stands in for it) reaches the egress proxy.
          ingress: [{ from: [{ podSelector: agentAndSelfTest }], ports: [{ protocol: "TCP", port: 9099 }] }],
          // Only the pipelocks, and no DNS.
          egress: egressProxyEgress,
        },
      },
      {
        name: "agent",
        spec: {
          podSelector: agentAndSelfTest,
          policyTypes: ["Ingress", "Egress"],
          // Nothing reaches the agent; it reaches the egress proxy's pods on 9099, nothing else.
          egress: [{ to: [{ podSelector: role("egress-proxy") }], ports: [{ protocol: "TCP", port: 9099 }] }],
        },
      },
    ]);
  });

  test("a bottle without an agent: the egress proxy has no ingress rule at all", () => {
    const layout = describeBottle(spec({ routes: ROUTES }, ["github"]), { stack: "dev" });
    assert.deepEqual(networkPolicies(layout, { privateCidrs: CIDRS }), [
      DEFAULT_DENY,
      pipelockPolicy,
      pipelockBulkPolicy,
      {
        name: "egress-proxy",
        spec: {
          podSelector: role("egress-proxy"),
          policyTypes: ["Ingress", "Egress"],
          egress: egressProxyEgress,
        },
      },
    ]);
    const egressProxy = networkPolicies(layout, { privateCidrs: CIDRS }).find((p) => p.name === "egress-proxy")!;
    assert.equal("ingress" in egressProxy.spec, false);
  });

  test("a scraper's namespace reaches each gate's metrics port and nothing else; the agent never does", () => {
    const layout = describeBottle(spec({ routes: ROUTES, agent: { image: "registry.example/agent@sha256:bb" } }, ["github"]), {
      stack: "dev",
    });
    const policies = networkPolicies(layout, { privateCidrs: CIDRS, scraperNamespace: "monitoring" });
    const scraper = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
    const ingress = Object.fromEntries(policies.map((p) => [p.name, p.spec.ingress]));
    assert.deepEqual(ingress, {
      "default-deny": undefined,
      pipelock: [pipelockPolicy.spec.ingress![0], { from: [scraper], ports: [{ protocol: "TCP", port: 9465 }] }],
      "pipelock-bulk": [pipelockBulkPolicy.spec.ingress![0], { from: [scraper], ports: [{ protocol: "TCP", port: 9465 }] }],
      "egress-proxy": [
        { from: [{ podSelector: agentAndSelfTest }], ports: [{ protocol: "TCP", port: 9099 }] },
        { from: [scraper], ports: [{ protocol: "TCP", port: 9464 }] },
      ],
      agent: undefined,
    });
    // Without a scraper the policies are those of a bottle that has none.
    assert.deepEqual(networkPolicies(layout, { privateCidrs: CIDRS }).find((p) => p.name === "egress-proxy")!.spec.ingress, [
      { from: [{ podSelector: agentAndSelfTest }], ports: [{ protocol: "TCP", port: 9099 }] },
    ]);
  });

  test("a bottle whose routes take no bulk lane has no pipelock-bulk: the egress proxy reaches pipelock alone", () => {
    const layout = describeBottle(
      spec({
        routes: [
          { host: "api.example.com", methods: ["POST"] },
          { host: "b.example.com", bulk: false },
        ],
      }),
      { stack: "dev" },
    );
    const policies = networkPolicies(layout, { privateCidrs: CIDRS });
    assert.deepEqual(
      policies.map((p) => p.name),
      ["default-deny", "pipelock", "egress-proxy"],
    );
    assert.deepEqual(policies[2]!.spec.egress, [egressProxyEgress[0]]);
  });

  test("the pipelocks' way out excepts exactly the given ranges, and only the pipelocks have one or DNS", () => {
    const layout = describeBottle(spec({ routes: [{ host: "example.com", ports: [443] }], agent: { image: "a@sha256:cc" } }), {
      stack: "dev",
    });
    for (const cidrs of [["169.254.0.0/16"], ["10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10"]]) {
      const policies = networkPolicies(layout, { privateCidrs: cidrs });
      const outward = policies.flatMap((p) =>
        ((p.spec.egress as { to: { ipBlock?: unknown }[] }[] | undefined) ?? [])
          .filter((rule) => rule.to.some((peer) => peer.ipBlock))
          .map((rule) => [p.name, rule]),
      );
      const out = { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: cidrs } }], ports: [{ protocol: "TCP", port: 443 }] };
      assert.deepEqual(outward, [
        ["pipelock", out],
        ["pipelock-bulk", out],
      ]);
      const dns = policies.filter((p) => JSON.stringify(p.spec.egress ?? []).includes("kube-dns")).map((p) => p.name);
      assert.deepEqual(dns, ["pipelock", "pipelock-bulk"]);
    }
  });

  test("the except list is a copy: changing the caller's list later changes no policy", () => {
    const layout = describeBottle(spec({ routes: [{ host: "example.com" }] }), { stack: "dev" });
    const cidrs = ["10.0.0.0/8"];
    const policies = networkPolicies(layout, { privateCidrs: cidrs });
    cidrs.push("0.0.0.0/0");
    assert.deepEqual((policies[1]!.spec.egress as { to: { ipBlock: { except: string[] } }[] }[])[0]!.to[0]!.ipBlock.except, ["10.0.0.0/8"]);
  });

  test("selectors: the agent's takes the self-test too; every other role only itself", () => {
    assert.equal(SELF_TEST_ROLE, "self-test");
    const cases: [Parameters<typeof selectorOf>[0], unknown][] = [
      ["agent", agentAndSelfTest],
      ["egress-proxy", role("egress-proxy")],
      ["pipelock", role("pipelock")],
      ["pipelock-bulk", role("pipelock-bulk")],
    ];
    for (const [r, expected] of cases) assert.deepEqual(selectorOf(r), expected, r);
    assert.deepEqual(CLUSTER_DNS, DNS.to[0]);
  });
});
