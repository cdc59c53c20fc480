import * as pulumi from "@pulumi/pulumi";
import { REGRESSIONS } from "./regressions";

// Registered before the program declares anything (program.ts imports this first).
const name = new pulumi.Config("regression").get("apply");
if (name !== undefined) {
  const regression = REGRESSIONS[name];
  if (regression === undefined)
    throw new Error(`regression:apply: no regression '${name}' (one of: ${Object.keys(REGRESSIONS).join(", ")})`);
  pulumi.runtime.registerResourceTransform(regression.transform);
}
