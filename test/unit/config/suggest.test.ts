import assert from "node:assert/strict";
import { test } from "node:test";
import { nearestKey } from "../../../components/config/suggest";

const ROUTE_KEYS = ["host", "ports", "methods", "paths", "git", "auth", "insecureCleartextPorts", "bulk"];

test("the key an unknown one was meant to be: a table of slips", () => {
  const cases: [string, string | undefined][] = [
    ["pahts", "paths"], // two letters swapped: one slip, though ports is as near to Levenshtein
    ["metohds", "methods"],
    ["path", "paths"],
    ["port", "ports"],
    ["Methods", "methods"],
    ["insecure_cleartext_ports", "insecureCleartextPorts"],
    ["hsot", "host"],
    ["timeout", undefined],
    ["x", undefined],
  ];
  for (const [unknown, expected] of cases) assert.equal(nearestKey(unknown, ROUTE_KEYS), expected, unknown);
  assert.equal(nearestKey("anything", []), undefined);
});
