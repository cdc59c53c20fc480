/**
 * `npm run plan -- --stack <name> [--file <stack file>] [--json] [--diff <git ref>]`
 *
 * Prints what the program would declare for a stack, offline: no engine, no backend, no
 * secrets (scripts/plan/plan.ts). With `--diff <ref>`, prints instead how the working tree
 * changes each agent's reach compared with the same stack at that git ref (widening first),
 * and exits 3 when anything widens, 0 when it narrows or nothing changed: CI can ask for an
 * extra review on 3. It refuses (exit 1) a working tree whose plan has anything the reach does
 * not know (reach.ts unknownToReach).
 */
import { parseArgs } from "node:util";
import { planAtRef } from "./plan/at-ref";
import { PlanError, planStack } from "./plan/plan";
import { formatPlan } from "./plan/print";
import { reachOfPlan, unknownToReach } from "./plan/reach";
import { countEffects, diffReach, formatReachDiff } from "./plan/reach-diff";
import { exitAfterOutput } from "./lib/exit";

const USAGE = "usage: npm run plan -- --stack <name> [--file <stack file>] [--json] [--diff <git ref>]";
/** The exit code when a change widens what an agent can reach. */
export const WIDENS_EXIT_CODE = 3;

async function main(): Promise<number> {
  let values: { stack?: string; file?: string; json: boolean; diff?: string };
  try {
    ({ values } = parseArgs({
      options: {
        stack: { type: "string" },
        file: { type: "string" },
        json: { type: "boolean", default: false },
        diff: { type: "string" },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.stack) {
    console.error(USAGE);
    return 2;
  }
  try {
    const plan = await planStack(values.stack, values.file);
    if (values.diff !== undefined) {
      const unknown = unknownToReach(plan);
      if (unknown.length > 0) {
        throw new PlanError(
          `the reach diff does not know what these do to the agents' reach, so it cannot judge the change: ${unknown.join("; ")}. ` +
            "Say what each does first (a route's keys: components/config/route-contract.ts; the gates' other keys: scripts/plan/document-keys.ts; storage: scripts/plan/mount-keys.ts)",
        );
      }
      const before = planAtRef(values.diff, values.stack);
      const changes = diffReach(before ? reachOfPlan(before) : {}, reachOfPlan(plan));
      const counts = countEffects(changes);
      const from = before ? values.diff : `${values.diff} (no such stack there)`;
      if (values.json) {
        console.log(
          JSON.stringify(
            { stack: values.stack, from: values.diff, to: "working tree", widens: counts.widens > 0, counts, changes },
            null,
            2,
          ),
        );
      } else {
        process.stdout.write(formatReachDiff(changes, { stack: values.stack, from, to: "working tree" }));
      }
      return counts.widens > 0 ? WIDENS_EXIT_CODE : 0;
    }
    if (values.json) {
      console.log(JSON.stringify({ resources: plan.resources, files: plan.files, computed: plan.computed }, null, 2));
    } else {
      process.stdout.write(formatPlan(plan));
    }
    return 0;
  } catch (err) {
    if (err instanceof PlanError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

main().then(exitAfterOutput);
