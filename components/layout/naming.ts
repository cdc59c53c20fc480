import { LABEL_KEYS, type Role } from "../vocabulary";
import type { Labels } from "./types";

/** DNS aliases inside a bottle's networks; fixed, so every bottle looks the same from inside. */
export const ALIASES = { egressProxy: "egress-proxy", pipelock: "pipelock", pipelockBulk: "pipelock-bulk" } as const;

/**
 * Object names for one bottle: `<stack>-<bottle>-<role>`, deterministic and unique per stack
 * and bottle so that two stacks or two bottles never collide on one engine.
 */
export function objectName(stack: string, bottle: string, role: Role): string {
  return `${stack}-${bottle}-${role}`;
}

/** The `bot-bottle.*` labels of one object. */
export function objectLabels(stack: string, bottle: string, role: Role): Labels {
  return { [LABEL_KEYS.stack]: stack, [LABEL_KEYS.bottle]: bottle, [LABEL_KEYS.role]: role };
}
