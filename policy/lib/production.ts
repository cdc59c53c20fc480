/** What makes a stack a production stack, which the `production-*` policies judge more strictly. */

/** The stack name encoded in a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
function stackOfUrn(urn: string): string | undefined {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  return match?.[1];
}

/**
 * The stack tag that marks a production stack, and its value. Set it with
 * `pulumi stack tag set bot-bottle:environment production`.
 */
export const PRODUCTION_TAG = { name: "bot-bottle:environment", value: "production" } as const;

/** Stack names that count as production even without the tag. */
export const PRODUCTION_STACK_NAMES: readonly string[] = ["prod", "production"];

/**
 * A stack is production when it carries the stack tag `bot-bottle:environment=production`, or when
 * its name is `prod` or `production` (so a stack that forgot the tag is still treated strictly).
 */
export function isProductionStack(stackTags: ReadonlyMap<string, string>, urn: string): boolean {
  if (stackTags.get(PRODUCTION_TAG.name) === PRODUCTION_TAG.value) {
    return true;
  }
  const stack = stackOfUrn(urn);
  return stack !== undefined && PRODUCTION_STACK_NAMES.includes(stack);
}
