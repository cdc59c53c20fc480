import { AGENT_CA_ENV, AGENT_NO_PROXY_ENV, AGENT_PROXY_ENV } from "../config";
import type { EnvVar } from "../layout/types";

/** Where the egress-proxy CA certificate is installed in the agent container. */
export const AGENT_CA_FILE = "/etc/bot-bottle/egress-proxy-ca.pem";

/**
 * The system trust store of Debian-family images, replaced by the egress proxy's CA alone:
 * clients that read no variable trust it too, and nothing else is of use inside the bottle.
 */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The agent's environment: the user's variables (sorted, so the container's inputs do not
 * change with key order), then the proxy and CA variables, which the user's cannot override
 * (validation refuses them).
 */
export function agentEnv(proxyUrl: string, userEnv: Readonly<Record<string, string>>): EnvVar[] {
  const user = Object.keys(userEnv)
    .sort()
    .map((name) => ({ name, value: userEnv[name]! }));
  return [
    ...user,
    ...AGENT_PROXY_ENV.map((name) => ({ name, value: proxyUrl })),
    // Empty: nothing bypasses the proxy (and there is no route around it anyway).
    ...AGENT_NO_PROXY_ENV.map((name) => ({ name, value: "" })),
    ...AGENT_CA_ENV.map((name) => ({ name, value: AGENT_CA_FILE })),
  ];
}
