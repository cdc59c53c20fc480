import { HttpMethod, ResponseScanningAction } from "../config/args";
import type { BottleSpec, PipelockSettingsSpec, RouteSpec } from "../config";

/**
 * The two ways out of a bottle. On the inspect lane pipelock intercepts TLS and reads every
 * request and answer whole before passing it on; on the bulk lane a second pipelock
 * (`pipelock-bulk`) checks the host and tunnels the bytes, while the egress proxy has its scan
 * API read what can be read (the URL, sensitive headers, text answers).
 */
export const Lane = { inspect: "inspect", bulk: "bulk" } as const;
export type Lane = (typeof Lane)[keyof typeof Lane];

/** The kinds of a route's traffic that may take the bulk lane (routes.yaml `bulk`). */
export const BulkKind = {
  /** git's ref discovery, fetch and push of the route's repositories. */
  git: "git",
  /** GET and HEAD requests without a body that do not ask for an event stream. */
  downloads: "downloads",
} as const;
export type BulkKind = (typeof BulkKind)[keyof typeof BulkKind];

/** pipelock's cap on an answer it reads whole, when `tls_interception.max_response_bytes` is not set. */
export const PIPELOCK_DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

/**
 * Whether pipelock must hold an answer until it has scanned it: its response scanning blocks or
 * rewrites what it flags. Then answers to downloads stay on the inspect lane; otherwise
 * pipelock only reports what it finds, which it can do as the answer passes.
 */
export function answersHeldForScanning(settings: PipelockSettingsSpec): boolean {
  const scanning = settings.response_scanning;
  return (
    scanning?.enabled !== false && (scanning?.action === ResponseScanningAction.block || scanning?.action === ResponseScanningAction.strip)
  );
}

/**
 * How many bytes of a text answer on the bulk lane pipelock scans (through its scan API, as
 * the answer passes): as many as it would read inline. 0 when its response scanning is off.
 */
export function answerScanBytes(settings: PipelockSettingsSpec): number {
  if (settings.response_scanning?.enabled === false) return 0;
  return settings.tls_interception?.max_response_bytes ?? PIPELOCK_DEFAULT_MAX_RESPONSE_BYTES;
}

/** The kinds of this route's traffic that take the bulk lane, in a fixed order. */
export function bulkKinds(route: RouteSpec, settings: PipelockSettingsSpec): BulkKind[] {
  if (!route.bulk) return [];
  if (route.git) return [BulkKind.git];
  const downloads = route.methods.some((m) => m === HttpMethod.GET || m === HttpMethod.HEAD) && !answersHeldForScanning(settings);
  return downloads ? [BulkKind.downloads] : [];
}

/** Whether any route of the bottle uses the bulk lane: only then does it have a `pipelock-bulk`. */
export function usesBulkLane(bottle: Pick<BottleSpec, "routes"> & { pipelock: Pick<BottleSpec["pipelock"], "settings"> }): boolean {
  return bottle.routes.some((route) => bulkKinds(route, bottle.pipelock.settings).length > 0);
}
