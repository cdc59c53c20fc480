import { isIP } from "node:net";

/** One DNS label: letters, digits and inner hyphens, at most 63 characters (RFC 1035/1123). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a route host as written in stack config and returns what is wrong with it, or
 * `undefined` when it is acceptable. Accepted: a lowercase DNS name (`api.github.com`), a
 * wildcard for the subdomains of a name with at least two labels (`*.example.com`). Both
 * gates match routes by DNS name (the egress proxy never lets an IP literal or numeric host
 * match), so IPs are refused here rather than declared and never matched.
 */
export function routeHostProblem(host: string): string | undefined {
  if (host.length === 0) return "must not be empty";
  if (host.includes("://") || host.includes("/")) {
    return `expected a bare host name such as "api.github.com", not a URL ("${host}")`;
  }
  if (isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0) {
    return `IP literal "${host}" is not supported: both gates match routes by DNS name; give the service a DNS name`;
  }
  if (host.includes(":")) return `expected a host without a port ("${host}"); put ports in "ports"`;
  if (host !== host.toLowerCase()) return `expected lowercase ("${host.toLowerCase()}")`;
  if (host === "*") return `a bare "*" would allow every host; list the hosts, or use "*.example.com"`;
  if (host.endsWith(".")) return `expected no trailing dot ("${host.slice(0, -1)}")`;

  const wildcard = host.startsWith("*.");
  const name = wildcard ? host.slice(2) : host;
  if (name.includes("*")) {
    return `the only wildcard form is a leading "*." for subdomains, such as "*.example.com" ("${host}")`;
  }
  if (name.length > 253) return "expected at most 253 characters";
  if (/[^\x21-\x7e]/.test(name)) {
    return `expected an ASCII name; write internationalised names in punycode ("xn--...")`;
  }
  const labels = name.split(".");
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    return `"${bad === "" ? "(empty)" : bad}" is not a valid DNS label: expected letters, digits and inner hyphens`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    return `"${host}" looks like a numeric address; name the host by DNS`;
  }
  if (wildcard && labels.length < 2) {
    return `"${host}" covers a whole top-level domain; a wildcard needs at least two labels ("*.example.com")`;
  }
  return undefined;
}
