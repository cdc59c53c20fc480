/**
 * The one table of a bottle's topology: which network each role joins on Docker, and which roles
 * each may open connections to on Kubernetes (its NetworkPolicies). The pack's network policies
 * check against it, and a contract test holds the program's layout (components/layout) to it.
 * Imports nothing, so that test can read it.
 */

/** One role's row. */
export interface TopologyRow {
  /** The bottle networks its container joins (Docker), by network role. */
  networks: readonly string[];
  /** The roles whose pods it may connect to (Kubernetes NetworkPolicies). */
  reaches: readonly string[];
  /** Whether it may reach outside the bottle (the internet, through its own egress rule). */
  outside: boolean;
  /**
   * The port it serves Prometheus metrics on: the one port pods of another namespace (the
   * operator's scraper) may connect to. Absent: none may.
   */
  metricsPort?: number;
}

/** Every role of a bottle that runs, and its row. The self-test runs in the agent's place (Docker: its network namespace). */
export const BOTTLE_TOPOLOGY: Readonly<Record<string, TopologyRow>> = {
  agent: { networks: ["agent-net"], reaches: ["egress-proxy"], outside: false },
  "self-test": { networks: [], reaches: ["egress-proxy"], outside: false },
  "egress-proxy": { networks: ["agent-net", "egress-net"], reaches: ["pipelock", "pipelock-bulk"], outside: false, metricsPort: 9464 },
  pipelock: { networks: ["egress-net", "outbound-net"], reaches: [], outside: true, metricsPort: 9465 },
  "pipelock-bulk": { networks: ["egress-net", "outbound-net"], reaches: [], outside: true, metricsPort: 9465 },
};

/** The roles that may connect to `role`'s pods (the inverse of `reaches`). */
export function clientsOf(role: string): string[] {
  return Object.entries(BOTTLE_TOPOLOGY)
    .filter(([, row]) => row.reaches.includes(role))
    .map(([client]) => client);
}
