/**
 * The policy pack's table of route keys (policy/lib/route-keys.ts: which policy judges each key of
 * a routes.yaml route, or why none does) lists exactly the keys the package renders (its route
 * contract). A new route option fails here until the pack has decided what to make of it; the
 * pack's `routes-keys-known` refuses a route with a key the table does not list.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ROUTE_YAML_KEYS } from "../../components/index";
import { ROUTE_KEYS_JUDGED } from "../../policy/lib/route-keys";
import { policies } from "../../policy/policies/index";

test("the policy pack has decided about every route key the package renders, and knows no other", () => {
  assert.deepEqual(Object.keys(ROUTE_KEYS_JUDGED).sort(), [...ROUTE_YAML_KEYS.keys()].sort());
});

test("a key is judged by policies the pack has, or says why it needs none", () => {
  const names = new Set(policies.map((policy) => policy.name));
  for (const [key, stance] of Object.entries(ROUTE_KEYS_JUDGED)) {
    if (stance === "its keys" || /^not judged: \S/.test(stance)) continue;
    const judges = stance.replace(/ \(.*\)$/, "").split(", ");
    assert.deepEqual(
      judges.filter((name) => !names.has(name)),
      [],
      `${key}: ${stance}`,
    );
  }
});
