/**
 * Safe readers for the props a policy receives.
 *
 * Props reach a policy as plain JSON wrapped in @pulumi/policy's unknown-checking proxy: reading a
 * value that is not known yet (during `pulumi preview`, e.g. a certificate PEM that only exists
 * after the key is created) throws `UnknownValueError`. Every reader here turns that into
 * `UNKNOWN`, so one unknown field defers only the check that needs it (to `pulumi up`, where the
 * engine analyzes the resolved inputs again before creating the resource) instead of turning the
 * whole policy into an advisory "can't run during preview".
 */
import { UnknownValueError } from "@pulumi/policy";

/** Marks a value the engine does not know yet (preview of a not-yet-created dependency). */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Maybe<T> = T | typeof UNKNOWN;

/**
 * Runs `read` against proxied props and returns `UNKNOWN` instead of throwing when it touches a
 * value that is unknown during preview. Any other error propagates.
 */
export function known<T>(read: () => T): Maybe<T> {
  try {
    return read();
  } catch (e) {
    if (e instanceof UnknownValueError) {
      return UNKNOWN;
    }
    throw e;
  }
}

/**
 * A deep plain copy of a value read through the unknown-checking proxy, with every value that is
 * unknown during preview replaced by `UNKNOWN` (where it is, not for the whole value). The
 * Kubernetes readers work on these copies: a pod spec is deep, and one unknown field (an
 * address, a name computed by another resource) must defer only the check that needs it.
 */
export function snapshot(read: () => unknown): unknown {
  const value = known(read);
  if (value === UNKNOWN || typeof value !== "object" || value === null) {
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      out.push(snapshot(() => value[i] as unknown));
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    out[k] = snapshot(() => (value as Record<string, unknown>)[k]);
  }
  return out;
}

/** True when `value` is a plain (non-array) object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` as an array (absent means empty). */
export function arrayOf(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

/** A command's `environment` map (absent: empty); `UNKNOWN` during preview if it is. */
export function environmentOf(props: Record<string, any>): Maybe<Record<string, unknown>> {
  return known(() => (props.environment ?? {}) as Record<string, unknown>);
}

/** Reads a string list such as `envs`, `command` or `securityOpts`; `UNKNOWN` if any element is. */
export function stringsOf(props: Record<string, any>, key: string): Maybe<string[]> {
  return known(() => arrayOf(props[key]).map((v) => String(v)));
}

/**
 * The value of `KEY` in a `["KEY=value", ...]` env list, or undefined when not set. The last
 * entry wins, as in the container: an earlier, compliant entry must not hide a later override.
 */
export function envValue(envs: string[], key: string): string | undefined {
  const entry = envs.filter((e) => e.startsWith(`${key}=`)).at(-1);
  return entry === undefined ? undefined : entry.slice(key.length + 1);
}
