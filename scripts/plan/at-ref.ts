/**
 * The offline plan of a stack as the repository had it at a git ref: that ref's program and
 * stack file, run in a temporary worktree by that ref's own plan script. Nothing in the
 * working tree is touched.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PlanError } from "./plan";
import type { PlanJson } from "./reach";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

function git(args: string[], cwd = REPO_ROOT): { ok: boolean; out: string } {
  const r = spawnSync("git", args, { cwd, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

/** The plan at `ref`, or undefined when the stack has no file there (a new stack). */
export function planAtRef(ref: string, stack: string): PlanJson | undefined {
  const commit = git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  if (!commit.ok) throw new PlanError(`"${ref}" is not a commit here (fetch it first, e.g. git fetch origin main)`);
  if (!git(["cat-file", "-e", `${commit.out}:Pulumi.${stack}.yaml`]).ok) return undefined;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-plan-"));
  const worktree = path.join(dir, "tree");
  const added = git(["worktree", "add", "--detach", worktree, commit.out]);
  if (!added.ok) throw new PlanError(`cannot check out ${ref} into a temporary worktree: ${added.out}`);
  try {
    const sameLock = git(["rev-parse", `${commit.out}:package-lock.json`]).out === git(["hash-object", "package-lock.json"]).out;
    if (sameLock) {
      fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(worktree, "node_modules"), "dir");
    } else {
      execFileSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], {
        cwd: worktree,
        stdio: ["ignore", "ignore", "inherit"],
      });
    }
    const planned = spawnSync(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", stack, "--json"], {
      cwd: worktree,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    if (planned.status !== 0) throw new PlanError(`the plan of "${stack}" at ${ref} failed:\n${planned.stderr.trim()}`);
    return JSON.parse(planned.stdout) as PlanJson;
  } finally {
    git(["worktree", "remove", "--force", worktree]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
