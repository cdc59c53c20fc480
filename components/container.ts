import type * as docker from "@pulumi/docker";

/**
 * Container settings every bottle container shares: no capabilities, no privilege gain,
 * bounded memory and processes, restarted by the engine. Containers with uploads keep a
 * writable rootfs (the provider extracts uploads at `/`), so these are their hardening.
 *
 * @pulumi/docker 5.2 has no `pidsLimit`; the process bound is the `nproc` ulimit, which the
 * kernel counts per uid (and does not apply to uid 0).
 */
export function hardening(memoryMb: number, maxProcesses: number): Partial<docker.ContainerArgs> {
  return {
    capabilities: { drops: ["ALL"] },
    securityOpts: ["no-new-privileges:true"],
    memory: memoryMb,
    memorySwap: memoryMb,
    ulimits: [{ name: "nproc", soft: maxProcesses, hard: maxProcesses }],
    restart: "unless-stopped",
    init: true,
  };
}

/** A healthcheck running `command` in the container, and `up` waiting until it passes. */
export function healthy(command: string[]): Partial<docker.ContainerArgs> {
  return {
    healthcheck: { tests: ["CMD", ...command], interval: "5s", timeout: "3s", startPeriod: "5s", retries: 3 },
    wait: true,
    waitTimeout: 90,
  };
}
