/**
 * Checks one `paths` entry (a path prefix the egress proxy will allow) and returns what is
 * wrong with it, or `undefined`. Prefixes are compared against the raw request path on
 * segment boundaries, so they must be plain origin-form paths: anything an upstream could
 * decode differently from what was checked is refused here, as the proxy refuses it in
 * requests.
 */
export function pathPrefixProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return `expected a path starting with "/" ("${path}")`;
  if (/[^\x21-\x7e]/.test(path)) return "expected printable ASCII without spaces or control characters";
  if (path.includes("?")) return `must not contain "?": the query is never part of the match`;
  for (const char of ["#", "\\", ";"]) {
    if (path.includes(char)) return `must not contain "${char}"`;
  }
  if (path.includes("//")) return `must not contain "//"`;
  if (path.includes("..") || path.split("/").includes(".")) {
    return `must not contain ".." or "." segments`;
  }
  if (/%(?:2f|5c|2e|25|00)/i.test(path)) {
    return "must not percent-encode '/', '\\', '.', '%' or NUL";
  }
  return undefined;
}
