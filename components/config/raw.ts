/**
 * Reading the raw config defensively, so that the cross-field rules report alongside schema
 * problems (zod skips object-level refinements once a field fails, which would hide them).
 */
import type { RouteOptionPath } from "./route-contract";

export const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
export const at = (value: unknown, ...keys: string[]): unknown => keys.reduce(field, value);
/** A route's option by its route contract path (`auth.token`), so a renamed option does not compile here. */
export const option = (route: unknown, path: RouteOptionPath): unknown => at(route, ...path.split("."));
/** The keys of a mapping (none for anything else). */
export const keysOf = (value: unknown): string[] =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
