import type { z } from "zod";
import { keysAt } from "./suggest";

/**
 * A schema property's name in the Python SDK that `pulumi package add` generates: snake_case,
 * as Pulumi's Python generator derives it (`maxBodyMb` → `max_body_mb`, `caCertPEM` →
 * `ca_cert_pem`; names already in snake_case stay).
 */
export function pythonName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/**
 * A problem's path (`egressProxy.memoryMb`, `agent.env.MY_VAR`) as a Python program spells it:
 * the schema's property names in Python's form, and the keys of maps (`env`), unknown keys and
 * list indexes as they are.
 */
export function pythonPath(schema: z.ZodType, path: string): string {
  const segments = [...path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map(([, index, key]) => (index !== undefined ? Number(index) : key!));
  return segments.reduce<string>((out, key, i) => {
    if (typeof key === "number") return `${out}[${key}]`;
    const name = keysAt(schema, segments.slice(0, i)).includes(key) ? pythonName(key) : key;
    return out ? `${out}.${name}` : name;
  }, "");
}
