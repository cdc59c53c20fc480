/**
 * The component schema other languages get: inferred from components/ by the Pulumi SDK's own
 * analyzer, as `pulumi package add` and Pulumi YAML infer it (PulumiPlugin.yaml).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";

const COMPONENTS = path.resolve(__dirname, "..", "..", "..", "components");
const packageJson = JSON.parse(fs.readFileSync(path.join(COMPONENTS, "package.json"), "utf8"));
const { typeDefinitions, components } = new Analyzer(COMPONENTS, "bot-bottle", packageJson, new Set(["BottleStack"])).analyze();

test("the schema declares BottleStack and its nested argument types under their nouns", () => {
  assert.deepEqual(Object.keys(components), ["BottleStack"]);
  for (const name of [
    "Route",
    "RouteAuth",
    "RouteGit",
    "RouteGitPush",
    "Agent",
    "Workspace",
    "EgressProxy",
    "Pipelock",
    "PipelockSettings",
    "DockerEngine",
    "KubernetesCluster",
    "BuiltImages",
  ]) {
    assert.ok(name in typeDefinitions, `${name} missing from the schema's types: ${Object.keys(typeDefinitions).join(", ")}`);
  }
});

// The analyzer keeps a type's documentation only from the files it reads before BottleStack's:
// components/index.ts lists backend/backend.ts, where these two are declared, first.
test("the component's own input and output types keep their documentation", () => {
  assert.equal(typeDefinitions.BuiltImages?.description, "Images of this package built once per engine by the program.");
  assert.equal(typeDefinitions.BottleObjectNames?.description, "Names of the bottle's objects on its engine or cluster.");
});

// Python's SDK generator names an input type <type>Args: a type named RouteArgs became RouteArgsArgs.
test("no schema type name ends in Args, so Python's generated classes carry it once", () => {
  assert.deepEqual(
    Object.keys(typeDefinitions).filter((name) => name.endsWith("Args")),
    [],
  );
});
