import { closest, distance } from "fastest-levenshtein";
import type { z } from "zod";

/**
 * The keys an object schema accepts at `path` (`["bottles", 0, "routes", 1]`), looking
 * through arrays, optionals, defaults and transforms; empty where there is no object.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node = unwrap(schema);
  for (const key of path) {
    const def = node._zod.def as { type: string; element?: z.ZodType; shape?: Record<string, z.ZodType>; valueType?: z.ZodType };
    if (def.type === "array" && typeof key === "number") node = unwrap(def.element!);
    else if (def.type === "object" && typeof key === "string" && def.shape?.[key]) node = unwrap(def.shape[key]);
    else if (def.type === "record") node = unwrap(def.valueType!);
    else return [];
  }
  const def = node._zod.def as { type: string; shape?: Record<string, z.ZodType> };
  return def.type === "object" ? Object.keys(def.shape ?? {}) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  for (;;) {
    const def = node._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType) node = def.innerType;
    else if (def.type === "pipe" && def.in) node = def.in;
    else return node;
  }
}

/** The valid key that `unknown` is with two neighbouring letters swapped: one slip of the fingers, two edits to Levenshtein. */
function transposed(unknown: string, valid: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < unknown.length; i++) {
    const swapped = unknown.slice(0, i) + unknown[i + 1] + unknown[i] + unknown.slice(i + 2);
    if (swapped !== unknown && valid.includes(swapped)) return swapped;
  }
  return undefined;
}

/** The valid key an unknown one was probably meant to be, or undefined when none is close. */
export function nearestKey(unknown: string, valid: readonly string[]): string | undefined {
  if (valid.length === 0) return undefined;
  const folded = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const sameFolded = valid.find((key) => folded(key) === folded(unknown));
  if (sameFolded !== undefined) return sameFolded;
  const swapped = transposed(unknown, valid);
  if (swapped !== undefined) return swapped;
  const best = closest(unknown, [...valid]);
  return distance(unknown, best) <= Math.max(2, Math.floor(unknown.length / 3)) ? best : undefined;
}
