import type * as docker from "@pulumi/docker";
import type { Labels, Workload } from "../layout/types";
import { METRICS_PORT_LABEL } from "../vocabulary";

/**
 * What every bottle container gets whatever its workload: no capabilities, no privilege
 * gain, bounded memory, an init, restarted by the engine. Containers with uploads keep a
 * writable rootfs (the provider extracts uploads at `/`), so these are their hardening. The
 * process bound is a pids limit per container, applied by the limits command (the provider
 * has none).
 *
 * `always`, not `unless-stopped`: the live configuration's reload is a `docker kill -s HUP`,
 * which marks a container as stopped by hand (moby/moby#41302), so an `unless-stopped` gate
 * that ever reloaded stays down after the engine restarts (test/e2e/remote.test.ts).
 */
export function hardening(memoryMb: number): Partial<docker.ContainerArgs> {
  return {
    capabilities: { drops: ["ALL"] },
    securityOpts: ["no-new-privileges:true"],
    memory: memoryMb,
    memorySwap: memoryMb,
    restart: "always",
    init: true,
  };
}

/**
 * No DNS path out of a container on the internal networks. Docker's embedded resolver answers
 * for the containers and aliases of the container's networks, and forwards every other name
 * to the configured servers: pointed at 0.0.0.0, it forwards into the container's own
 * namespace, where nothing listens, so no query leaves it (also on engines in the
 * CVE-2024-29018 range, which forward from the host's namespace to a loopback resolver), and
 * the short timeout makes a lookup fail in about two seconds instead of twenty.
 */
export const NO_EXTERNAL_DNS: Partial<docker.ContainerArgs> = {
  dns: ["0.0.0.0"],
  dnsOpts: ["timeout:1", "attempts:1"],
};

/** A healthcheck running `command` in the container, and `up` waiting until it passes. */
export function healthy(command: string[]): Partial<docker.ContainerArgs> {
  return {
    healthcheck: { tests: ["CMD", ...command], interval: "5s", timeout: "3s", startPeriod: "5s", retries: 3 },
    wait: true,
    waitTimeout: 90,
  };
}

/** Time past a drain for the engine to stop the container before it kills it. */
const STOP_MARGIN_SECONDS = 5;

/** Labels in the docker provider's `{label, value}` form. */
export function dockerLabels(labels: Labels): { label: string; value: string }[] {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

/** A container's labels: its workload's, and the port of its metrics for the operator's scrape config. */
export function containerLabels(workload: Workload): Labels {
  return workload.metrics ? { ...workload.labels, [METRICS_PORT_LABEL]: String(workload.metrics.port) } : workload.labels;
}

/** The settings of a workload's container that do not depend on other resources. */
export function containerSettings(workload: Workload): Partial<docker.ContainerArgs> {
  return {
    // Without a name, Pulumi names each container `<resource>-<random>`: a replacement can then
    // be made before the old one goes (its default), which the fixed name of others forbids.
    ...(workload.name !== undefined && { name: workload.name }),
    ...(workload.handover && { destroyGraceSeconds: workload.handover.drainSeconds + STOP_MARGIN_SECONDS }),
    labels: dockerLabels(containerLabels(workload)),
    user: workload.user,
    ...(workload.command && { command: workload.command }),
    ...hardening(workload.memoryMb),
    ...(workload.externalDns ? {} : NO_EXTERNAL_DNS),
    ...(workload.health && healthy(workload.health.command)),
  };
}
