/** An interactive login shell: bash where the image has it, else sh. */
const LOGIN_SHELL = ["sh", "-c", "if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi"];

/**
 * What `npm run bottle -- shell <stack> -- ...` runs in the agent: nothing given, a login
 * shell; one argument, a command line for `sh -c` (pipes and all); several, that argv exactly
 * as given, so the caller's quoting survives (`-- sh -c 'curl -w "%{http_code}\n" ...'`).
 */
export function shellArgv(rest: readonly string[]): string[] {
  if (rest.length === 0) return [...LOGIN_SHELL];
  return rest.length === 1 ? ["sh", "-c", rest[0]!] : [...rest];
}
