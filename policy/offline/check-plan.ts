/**
 * `npm --prefix policy run --silent check-plan -- --stack <name> --plan <plan.json> [--tag key=value ...]`
 *
 * Runs the policy pack over an offline plan (the root project's `npm run plan -- --stack <name>
 * --json`, saved to a file), with no engine, backend or secret: what a pull request from anyone can be
 * checked with. Prints every violation, mandatory first; exits 1 if any is mandatory.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { PlannedResource } from "../lib/vocabulary";
import { asPolicyResources, runPack } from "./plan";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { stack: { type: "string" }, plan: { type: "string" }, tag: { type: "string", multiple: true, default: [] } },
  });
  if (!values.stack || !values.plan) {
    console.error("usage: check-plan --stack <name> --plan <plan.json> [--tag key=value ...]");
    return 2;
  }
  const tags = Object.fromEntries(values.tag!.map((t) => [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)]));
  const plan = JSON.parse(readFileSync(values.plan, "utf8")) as { resources: PlannedResource[] };
  const violations = await runPack(asPolicyResources(plan.resources), values.stack, tags);
  violations.sort((a, b) => Number(b.level === "mandatory") - Number(a.level === "mandatory"));
  const mandatory = violations.filter((v) => v.level === "mandatory").length;
  console.log(
    `Policy pack over the plan of "${values.stack}": ${mandatory} mandatory, ${violations.length - mandatory} advisory violations`,
  );
  for (const v of violations) {
    console.log(`  [${v.level}] ${v.policy}${v.resource ? ` (${v.resource})` : ""}: ${v.message}`);
  }
  return mandatory > 0 ? 1 : 0;
}

main().then((code) => process.exit(code));
