/**
 * The bottle's topology has one table (policy/lib/topology.ts): which network each role
 * joins on Docker, which roles each may connect to on Kubernetes. The policy pack checks stacks
 * against it; this holds the program's layout, from which both backends declare their networks,
 * attachments and NetworkPolicies, to the same table, for every shape of bottle.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeBottle, validateBottle } from "../../components/index";
import { networkPolicies, selectorOf, SELF_TEST_ROLE } from "../../components/kubernetes/policies";
import { BOTTLE_TOPOLOGY } from "../../policy/lib/topology";

const ROUTES = [
  { host: "api.example.com", ports: [443], methods: ["POST"], bulk: false },
  { host: "github.com", git: { repositories: ["acme/app"], push: true } },
];
const SHAPES = {
  "agent, both lanes": { routes: ROUTES, agent: {} },
  "agent, inspect lane only": { routes: [ROUTES[0]], agent: {} },
  "gates only": { routes: ROUTES },
};

for (const [shape, args] of Object.entries(SHAPES)) {
  describe(`the layout holds the topology table: ${shape}`, () => {
    const result = validateBottle("solo", args, new Set());
    assert.ok(result.ok, JSON.stringify(result));
    const layout = describeBottle(result.value, { stack: "dev" });
    const present = new Set<string>(layout.workloads.map((w) => w.role));

    test("every workload's role has a row", () => {
      for (const workload of layout.workloads) assert.ok(BOTTLE_TOPOLOGY[workload.role], workload.role);
    });

    test("Docker: each workload joins exactly its row's networks", () => {
      for (const workload of layout.workloads) {
        assert.deepEqual(
          workload.attachments.map((a) => a.network).sort(),
          [...BOTTLE_TOPOLOGY[workload.role]!.networks].sort(),
          workload.role,
        );
      }
    });

    test("Kubernetes: each workload reaches exactly the present roles of its row, and only a row with a way out has one", () => {
      for (const workload of layout.workloads) {
        const reaches = layout.workloads
          .filter((s) => s.serves?.clients.includes(workload.role))
          .map((s) => s.role)
          .sort();
        assert.deepEqual(reaches, BOTTLE_TOPOLOGY[workload.role]!.reaches.filter((r) => present.has(r)).sort(), workload.role);
        assert.equal(workload.outbound !== undefined, BOTTLE_TOPOLOGY[workload.role]!.outside, workload.role);
        assert.equal(workload.metrics?.port, BOTTLE_TOPOLOGY[workload.role]!.metricsPort, `${workload.role}: its metrics port`);
      }
    });

    test("Kubernetes: the self-test's pods are selected with the agent's, whose row it shares", () => {
      const values = (selectorOf("agent") as { matchExpressions: { values: string[] }[] }).matchExpressions[0]!.values;
      assert.deepEqual([...values].sort(), ["agent", SELF_TEST_ROLE].sort());
      assert.deepEqual(BOTTLE_TOPOLOGY[SELF_TEST_ROLE]!.reaches, BOTTLE_TOPOLOGY.agent!.reaches);
      assert.equal(
        networkPolicies(layout, { privateCidrs: ["10.0.0.0/8"] }).some((p) => p.name === SELF_TEST_ROLE),
        false,
        "no policy of its own",
      );
    });
  });
}
