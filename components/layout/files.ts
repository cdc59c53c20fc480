import type { CaRole, FileLayout } from "./types";

/**
 * A file holding part of a CA. A certificate is public and world-readable; anything with the
 * key is secret, mode 0600 and owned by the workload's uid (`owner`), the only reader.
 */
export function caFile(path: string, ca: CaRole, part: "cert"): FileLayout;
export function caFile(path: string, ca: CaRole, part: "key" | "certAndKey", owner: number): FileLayout;
export function caFile(path: string, ca: CaRole, part: "cert" | "key" | "certAndKey", owner?: number): FileLayout {
  if (part === "cert") return { path, content: { ca, part }, mode: "0444", secret: false };
  return { path, content: { ca, part }, mode: "0600", owner: owner!, secret: true };
}
