/**
 * A copy of this checkout's files (tracked, and new ones git does not ignore) in a temporary
 * directory, for tests that run the repository's scripts where they may write (stack files,
 * commits) without touching the real checkout or racing the tests that read it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

/**
 * Copies the checkout into a new temporary directory named `<prefix>...` (or into `into`, which
 * must not exist) and returns it.
 * `linkInstalled`: link the installed dependencies and tools (node_modules, policy/node_modules,
 * .tools) instead of leaving them to be installed. `git`: make the copy a git repository with
 * one commit of everything, as a fresh clone of it would be.
 */
export function copyCheckout(prefix: string, opts: { linkInstalled?: boolean; git?: boolean; into?: string } = {}): string {
  const copy = opts.into ?? fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (opts.into) fs.mkdirSync(opts.into);
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
  if (listed.status !== 0) throw new Error(`git ls-files failed in ${ROOT}: ${listed.stderr}`);
  for (const file of listed.stdout.split("\0").filter((f) => f && fs.existsSync(path.join(ROOT, f)))) {
    fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(copy, file));
  }
  const installed = ["node_modules", path.join("policy", "node_modules"), ".tools"];
  if (opts.linkInstalled) {
    for (const dir of installed.filter((d) => fs.existsSync(path.join(ROOT, d))))
      fs.symlinkSync(path.join(ROOT, dir), path.join(copy, dir), "dir");
  }
  if (opts.git) {
    const git = (...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: copy, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed in ${copy}: ${r.stderr}`);
    };
    git("init", "-q");
    fs.appendFileSync(path.join(copy, ".git", "info", "exclude"), `${installed.join("\n")}\n`);
    git("add", "-A");
    git("commit", "-qm", "checkout copy");
  }
  return copy;
}
