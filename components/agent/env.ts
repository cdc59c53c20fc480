/** Where the egress-proxy CA certificate is installed in the agent container. */
export const AGENT_CA_FILE = "/etc/bot-bottle/egress-proxy-ca.pem";

/** The variables that point common HTTP clients and TLS stacks at the CA above. */
const CA_VARIABLES = ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"];
const PROXY_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const NO_PROXY_VARIABLES = ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

/**
 * Names the bottle sets in the agent's environment itself; stack config may not override
 * them (compared case-insensitively), so the agent's clients always use the egress proxy.
 */
export const MANAGED_AGENT_ENV: ReadonlySet<string> = new Set(
  [...CA_VARIABLES, ...PROXY_VARIABLES, ...NO_PROXY_VARIABLES].map((n) => n.toUpperCase()),
);

/**
 * The agent's environment as Docker `KEY=VALUE` entries: the user's variables (sorted, so
 * the container's inputs do not change with key order), then the proxy and CA variables.
 */
export function agentEnv(proxyUrl: string, userEnv: Readonly<Record<string, string>>): string[] {
  const user = Object.keys(userEnv)
    .sort()
    .map((key) => `${key}=${userEnv[key]}`);
  return [
    ...user,
    ...PROXY_VARIABLES.map((key) => `${key}=${proxyUrl}`),
    // An empty NO_PROXY: nothing bypasses the proxy (and there is no route around it anyway).
    "NO_PROXY=",
    "no_proxy=",
    ...CA_VARIABLES.map((key) => `${key}=${AGENT_CA_FILE}`),
  ];
}
