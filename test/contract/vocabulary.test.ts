/**
 * The policy pack keeps its own copy of bot-bottle's vocabulary (policy/lib/vocabulary.ts) on
 * purpose: a judge that took its words from what it judges would follow any rename without a word.
 * This holds the copy equal to the package's (components/vocabulary.ts), so that a label key, a
 * resource type token or a role changed on one side only fails here, instead of leaving the pack
 * looking for objects the program no longer declares, and passing them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  KUBERNETES_NAMES,
  LABEL_KEYS,
  NETWORK_ROLES,
  ONE_SHOT_ROLES,
  type PlannedResource,
  RESOURCE_TYPES,
  WORKLOAD_ROLES,
  WORKSPACE_ROLE,
  type WorkloadRole,
} from "../../components/vocabulary";
import { BOTTLE_TOPOLOGY } from "../../policy/lib/topology";
import {
  K8S,
  LABELS,
  ONE_SHOT_ROLES as PACK_ONE_SHOT_ROLES,
  PIPELOCK_ROLES,
  POD_TEMPLATE_PATHS,
  type PlannedResource as PackPlannedResource,
  ROLES,
  TYPES,
} from "../../policy/lib/vocabulary";

/**
 * The kinds that run pods which the pack judges though the package never declares them: a bottle
 * runs its workloads as Deployments and its self-test as a Job, and the pack checks every other
 * kind that can run a pod the same way, so that a program cannot run one unchecked.
 */
const POD_KINDS_NO_BOTTLE_DECLARES = [
  "kubernetes:core/v1:Pod",
  "kubernetes:core/v1:ReplicationController",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:apps/v1:DaemonSet",
  "kubernetes:apps/v1:ReplicaSet",
  "kubernetes:batch/v1:CronJob",
];

/** True when A and B are the same type: each assignable to the other, with the same optional fields. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

test("every label key is the package's", () => {
  assert.deepEqual(LABELS, LABEL_KEYS);
});

test("the pack looks for the Kubernetes names the package gives: the pod-security label, the egress proxy's tokens Secret", () => {
  assert.deepEqual(
    { label: K8S.podSecurityEnforceLabel, level: K8S.podSecurityLevel, suffix: K8S.tokensSecretSuffix, secret: K8S.tokensSecret },
    {
      label: KUBERNETES_NAMES.podSecurityEnforceLabel,
      level: KUBERNETES_NAMES.podSecurityLevel,
      suffix: KUBERNETES_NAMES.tokensSecretSuffix,
      secret: `${"egress-proxy" satisfies WorkloadRole}${KUBERNETES_NAMES.tokensSecretSuffix}`,
    },
  );
});

test("every resource type token the pack names is the package's token of that name", () => {
  const tokens: Readonly<Record<string, string>> = RESOURCE_TYPES;
  for (const [name, token] of Object.entries(TYPES)) assert.equal(token, tokens[name], name);
});

test("the pack's pod-running kinds are the package's Deployment and Job, and the kinds no bottle declares", () => {
  assert.deepEqual(
    Object.keys(POD_TEMPLATE_PATHS).sort(),
    [RESOURCE_TYPES.k8sDeployment, RESOURCE_TYPES.k8sJob, ...POD_KINDS_NO_BOTTLE_DECLARES].sort(),
  );
  const declared = new Set<string>(Object.values(RESOURCE_TYPES));
  for (const kind of POD_KINDS_NO_BOTTLE_DECLARES)
    assert.equal(declared.has(kind), false, `the package declares ${kind}: move it out of the list`);
});

const ROLES_THE_PACK_USES: Record<string, { roles: readonly string[]; among: readonly string[] }> = {
  ROLES: { roles: Object.values(ROLES), among: [...NETWORK_ROLES, ...WORKLOAD_ROLES, ...ONE_SHOT_ROLES, WORKSPACE_ROLE] },
  PIPELOCK_ROLES: { roles: PIPELOCK_ROLES, among: WORKLOAD_ROLES },
  "the topology table's rows": { roles: Object.keys(BOTTLE_TOPOLOGY), among: [...WORKLOAD_ROLES, ...ONE_SHOT_ROLES] },
  "the topology table's networks": { roles: Object.values(BOTTLE_TOPOLOGY).flatMap((row) => row.networks), among: NETWORK_ROLES },
  "the topology table's reaches": { roles: Object.values(BOTTLE_TOPOLOGY).flatMap((row) => row.reaches), among: WORKLOAD_ROLES },
};

for (const [where, { roles, among }] of Object.entries(ROLES_THE_PACK_USES)) {
  test(`${where}: every role is one of the package's`, () => {
    for (const role of roles) assert.ok(among.includes(role), `${role} is not one of ${among.join(", ")}`);
  });
}

// Every one, not some: the pack refuses a short-lived container whose role it has no exceptions for.
test("the pack's short-lived roles are the package's", () => {
  assert.deepEqual(Object.values(PACK_ONE_SHOT_ROLES).sort(), [...ONE_SHOT_ROLES].sort());
});

// tsx runs this without checking types: `npm run typecheck` is what fails when the two differ.
test("the pack reads the plan's resources as the package prints them (checked by tsc)", () => {
  const same: Equal<PlannedResource, PackPlannedResource> = true;
  assert.ok(same);
});
