/**
 * `npm run review -- --base <git ref> --out <dir>`
 *
 * The pull-request review of every stack, offline (no engine, backend or secret, so it is safe
 * for any pull request's code): per stack the reach diff against the base, the policy pack
 * over the planned graph, and the plan itself. Writes `<dir>/comment.md` (one comment for the
 * pull request) and `<dir>/widens` (`true` or `false`). Exits 3 when any stack's reach widens,
 * 1 when a plan fails or a mandatory policy is violated, 2 when it cannot run (usage, the policy
 * pack's dependencies not installed), else 0.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { exitAfterOutput } from "./lib/exit";

const ROOT = path.resolve(__dirname, "..");
/** Marks the comment so the workflow updates it instead of adding another. */
const COMMENT_MARKER = "<!-- bot-bottle-review -->";
// GitHub refuses comments over 65,536 characters: plans are cut to fit.
const MAX_PLAN_CHARS = 12_000;

interface StackReview {
  stack: string;
  reach: string;
  widens: boolean;
  policy: string;
  mandatory: boolean;
  plan: string;
  failed: boolean;
}

function run(argv: string[]): { code: number; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

const plan = (...args: string[]) => run([process.execPath, "--import", "tsx", "scripts/plan.ts", ...args]);

/** The policy pack runs from its own node_modules: without them every stack's row would be a module error. */
function missingPolicyPackDependency(): string | undefined {
  const manifest = path.join("policy", "node_modules", "@pulumi", "policy", "package.json");
  return fs.existsSync(path.join(ROOT, manifest)) ? undefined : path.dirname(manifest);
}

function stacksIn(files: string[]): string[] {
  return files.flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(path.basename(f))?.[1] ?? []);
}

function review(stack: string, base: string, workDir: string): StackReview {
  const exists = fs.existsSync(path.join(ROOT, `Pulumi.${stack}.yaml`));
  if (!exists) {
    return {
      stack,
      reach: `The stack is removed (it exists at ${base}).`,
      widens: false,
      policy: "-",
      mandatory: false,
      plan: "",
      failed: false,
    };
  }
  const diff = plan("--stack", stack, "--diff", base);
  const json = plan("--stack", stack, "--json");
  const text = plan("--stack", stack);
  if (json.code !== 0 || (diff.code !== 0 && diff.code !== 3)) {
    const why = json.code !== 0 ? json.out : diff.out;
    return { stack, reach: why.trim(), widens: false, policy: "not run: the plan failed", mandatory: false, plan: "", failed: true };
  }
  const planFile = path.join(workDir, `plan-${stack}.json`);
  fs.writeFileSync(planFile, json.out);
  const policy = run(["npm", "--prefix", "policy", "run", "--silent", "check-plan", "--", "--stack", stack, "--plan", planFile]);
  return {
    stack,
    reach: diff.out.trim(),
    widens: diff.code === 3,
    policy: policy.out.trim(),
    mandatory: policy.code !== 0,
    plan:
      text.out.length > MAX_PLAN_CHARS ? `${text.out.slice(0, MAX_PLAN_CHARS)}\n... (cut; run npm run plan -- --stack ${stack})` : text.out,
    failed: false,
  };
}

function fence(text: string): string {
  const ticks = "`".repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
  return `${ticks}text\n${text}\n${ticks}`;
}

function comment(reviews: StackReview[], base: string): string {
  const widened = reviews.filter((r) => r.widens).map((r) => r.stack);
  const headline = widened.length
    ? `**Widens** what agents can reach in ${widened.join(", ")}: review each widening line below.`
    : "No stack widens what its agents can reach.";
  const rows = reviews.map((r) => {
    const reach = r.failed ? "plan failed" : r.widens ? "**widens**" : (r.reach.split("\n")[0] ?? "").replace(/^Stack "[^"]+", /, "");
    const policy = r.policy.split("\n")[0]!.replace(/^Policy pack over the plan of "[^"]+": /, "");
    return `| ${r.stack} | ${reach} | ${r.mandatory ? `**${policy}**` : policy} |`;
  });
  const sections = reviews.map((r) =>
    [
      `### ${r.stack}`,
      fence(r.reach),
      `<details><summary>Policy pack: ${r.policy.split("\n")[0]}</summary>\n\n${fence(r.policy)}\n</details>`,
      r.plan ? `<details><summary>Plan</summary>\n\n${fence(r.plan.trimEnd())}\n</details>` : "",
    ]
      .filter(Boolean)
      .join("\n\n"),
  );
  return [
    COMMENT_MARKER,
    `## bot-bottle review against \`${base}\``,
    "",
    headline,
    "",
    "| stack | reach | policy pack |",
    "| --- | --- | --- |",
    ...rows,
    "",
    "Planned offline from this pull request's code: no engine, no backend, no secret.",
    "",
    ...sections,
    "",
  ].join("\n");
}

function main(): number {
  const { values } = parseArgs({ options: { base: { type: "string" }, out: { type: "string" } } });
  if (!values.base || !values.out) {
    console.error("usage: npm run review -- --base <git ref> --out <dir>");
    return 2;
  }
  const missing = missingPolicyPackDependency();
  if (missing) {
    console.error(
      `error: the policy pack's dependencies are not installed (${missing} is missing): run npm ci (its postinstall installs policy/ too), or npm --prefix policy ci`,
    );
    return 2;
  }
  // Absolute: the policy pack's check runs in policy/ (npm --prefix), where `--out review` is elsewhere.
  const out = path.resolve(values.out);
  fs.mkdirSync(out, { recursive: true });
  const atBase = run(["git", "ls-tree", "--name-only", values.base]);
  if (atBase.code !== 0) {
    console.error(`error: "${values.base}" is not a commit here (fetch it first, e.g. git fetch origin main)`);
    return 1;
  }
  const stacks = [...new Set([...stacksIn(fs.readdirSync(ROOT)), ...stacksIn(atBase.out.split("\n"))])].sort();
  const reviews = stacks.map((stack) => review(stack, values.base!, out));
  fs.writeFileSync(path.join(out, "comment.md"), comment(reviews, values.base));
  const widens = reviews.some((r) => r.widens);
  fs.writeFileSync(path.join(out, "widens"), `${widens}\n`);
  for (const r of reviews)
    console.log(`${r.stack}: ${r.failed ? "plan failed" : r.widens ? "widens" : "does not widen"}; ${r.policy.split("\n")[0]}`);
  if (reviews.some((r) => r.failed || r.mandatory)) return 1;
  return widens ? 3 : 0;
}

exitAfterOutput(main());
