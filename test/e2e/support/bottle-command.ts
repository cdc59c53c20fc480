/** `npm run bottle` from the end-to-end suite, as a user runs it (scripts/bottle.ts, in the repository). */
import { REPO_ROOT, type Run, run } from "./process";

/** `npm run bottle -- <args>` against `stackFile` (its `--file`, put before a `-- <command>`). */
export function runBottle(stackFile: string, args: string[]): Promise<Run> {
  const dashdash = args.indexOf("--");
  const own = dashdash === -1 ? args : args.slice(0, dashdash);
  const rest = dashdash === -1 ? [] : args.slice(dashdash);
  return run([process.execPath, "--import", "tsx", "scripts/bottle.ts", ...own, "--file", stackFile, ...rest], {
    cwd: REPO_ROOT,
    timeoutMs: 180_000,
  });
}
