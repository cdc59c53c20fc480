/**
 * `npm run plan -- --stack <name> [--file Pulumi.<name>.yaml] [--json]`
 * Prints what the program would declare for a stack, offline (see scripts/plan/plan.ts).
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { Plan, PlanError, planStack } from "./plan/plan";

const USAGE = "usage: npm run plan -- --stack <name> [--file <stack file>] [--json]";

function printText(plan: Plan): void {
  console.log(`Plan for stack "${plan.stack}": ${plan.resources.length} resources\n`);
  for (const r of plan.resources) {
    console.log(`+ ${r.type}  ${r.name}${r.parent ? `  (parent: ${r.parent})` : ""}`);
    const shown = { ...r.inputs };
    if (Array.isArray(shown.uploads)) {
      // Uploaded files are printed whole below, or are certificates: show where they go.
      shown.uploads = (shown.uploads as Record<string, unknown>[]).map(({ content, ...rest }) => ({
        ...rest,
        content: typeof content === "string" && content.includes("[secret]") ? "[secret]" : `${String(content).length} bytes`,
      }));
    }
    console.log(stringify(shown, { lineWidth: 0 }).replace(/^/gm, "    "));
  }
  for (const [bottle, files] of Object.entries(plan.files)) {
    for (const [file, content] of Object.entries(files)) {
      console.log(`--- bottle ${bottle}: ${file}\n${content}`);
    }
  }
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { stack: { type: "string" }, file: { type: "string" }, json: { type: "boolean", default: false } },
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
    if (values.json) {
      console.log(JSON.stringify({ resources: plan.resources, files: plan.files }, null, 2));
    } else {
      printText(plan);
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

main().then((code) => process.exit(code));
