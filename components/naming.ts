/** What a Docker object does in a bottle; the value of its `bot-bottle.role` label. */
export type Role = "agent" | "egress-proxy" | "pipelock" | "agent-net" | "egress-net" | "outbound-net";

/** Label keys every Docker object of a bottle carries (shared/design.md). */
export const LABEL_KEYS = {
  stack: "bot-bottle.stack",
  bottle: "bot-bottle.bottle",
  role: "bot-bottle.role",
} as const;

/** DNS aliases inside a bottle's networks; fixed, so every bottle looks the same from inside. */
export const ALIASES = { egressProxy: "egress-proxy", pipelock: "pipelock" } as const;

/**
 * Docker object names for one bottle: `<stack>-<bottle>-<role>`, deterministic and unique
 * per stack and bottle so that two stacks or two bottles never collide on one engine.
 */
export function dockerName(stack: string, bottle: string, role: Role): string {
  return `${stack}-${bottle}-${role}`;
}

/** The `bot-bottle.*` labels for one object, in the docker provider's `{label, value}` form. */
export function dockerLabels(stack: string, bottle: string, role: Role): { label: string; value: string }[] {
  return [
    { label: LABEL_KEYS.stack, value: stack },
    { label: LABEL_KEYS.bottle, value: bottle },
    { label: LABEL_KEYS.role, value: role },
  ];
}
