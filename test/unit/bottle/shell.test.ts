import assert from "node:assert/strict";
import { test } from "node:test";
import { shellArgv } from "../../../scripts/bottle/shell";

test("shell: a login shell, one command line for sh -c, or an argv kept exactly as given", () => {
  assert.deepEqual(shellArgv([]).slice(0, 2), ["sh", "-c"]);
  assert.match(shellArgv([])[2]!, /exec bash -l; else exec sh -l/);
  assert.deepEqual(shellArgv(["git status | head"]), ["sh", "-c", "git status | head"]);
  // The quoting a caller gave survives: the format argument stays one word with its newline escape.
  const argv = ["sh", "-c", "curl -s -o /dev/null -w '%{http_code}\\n' https://api.github.com/user"];
  assert.deepEqual(shellArgv(argv), argv);
  assert.deepEqual(shellArgv(["printf", "%s|", "a b", "c"]), ["printf", "%s|", "a b", "c"]);
});
