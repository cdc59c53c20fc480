/**
 * Declares a BottleStack under Pulumi's mocks (scripts/plan/mocks.ts) and returns what each
 * resource was registered with. Each call installs fresh mocks, so one test process can
 * compare several declarations (e.g. before and after a token rotation).
 */
import * as pulumi from "@pulumi/pulumi";
import type { BottleStack, BottleStackArgs } from "../../components/index";
import { runUnderMocks } from "../../scripts/plan/mocks";
import { mapSecretInputs } from "../../scripts/plan/secret-inputs";

export { MOCK_OUTPUTS } from "../../scripts/plan/mocks";

export interface Registered {
  type: string;
  name: string;
  parent?: string;
  /** Inputs with secret values replaced by `{ secret: value }`. */
  inputs: Record<string, unknown>;
}

export interface Declared {
  stack: BottleStack;
  resources: Registered[];
  /** The first resource of `type` whose name ends with `suffix`. */
  find(type: string, suffix: string): Registered;
  /** The resources named in the `dependsOn` of the resource `type`/`name` (none: empty). */
  dependsOn(type: string, name: string): { type: string; name: string }[];
}

export async function declareBottle(
  name: string,
  args: BottleStackArgs,
  stackName = "test",
  /** Options, made inside the program (a provider must be registered there). */
  opts?: () => pulumi.ComponentResourceOptions,
): Promise<Declared> {
  const { BottleStack } = await import("../../components/index");
  const dependencies = new Map<string, { type: string; name: string }[]>();
  const { result: stack, resources } = await runUnderMocks({ stack: stackName }, () => {
    // Each resource's dependsOn, by the names of the resources in it (constructed before it).
    const named = new Map<pulumi.Resource, { type: string; name: string }>();
    pulumi.runtime.registerStackTransformation(({ resource, type, name: resourceName, opts: resourceOpts }) => {
      named.set(resource, { type, name: resourceName });
      const on = resourceOpts.dependsOn;
      if (on !== undefined && !pulumi.Output.isInstance(on) && !(on instanceof Promise)) {
        const list = (Array.isArray(on) ? on : [on]) as unknown[];
        dependencies.set(
          `${type}::${resourceName}`,
          list.map((r) => named.get(r as pulumi.Resource) ?? { type: "?", name: "?" }),
        );
      }
      return undefined;
    });
    return new BottleStack(name, args, opts?.());
  });
  const registered = resources.map((r) => ({
    ...r,
    inputs: mapSecretInputs(r.inputs, (secret) => ({ secret })) as Record<string, unknown>,
  }));
  return {
    stack,
    resources: registered,
    find(type, suffix) {
      const found = registered.find((r) => r.type === type && r.name.endsWith(suffix));
      if (!found) throw new Error(`no ${type} named *${suffix}; have ${registered.map((r) => r.name).join(", ")}`);
      return found;
    },
    dependsOn(type, resourceName) {
      return dependencies.get(`${type}::${resourceName}`) ?? [];
    },
  };
}

/** Resolves an Output's value and whether it is secret (awaiting both before returning). */
export async function unwrap<T>(output: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
  const value = await new Promise<T>((resolve) => output.apply((v) => resolve(v)));
  return { value, secret: await pulumi.isSecret(output) };
}

/** Whether a registered input is secret-marked (`{ secret: <value> }`, as the mocks record it). */
export const isSecret = (v: unknown): v is { secret: unknown } => typeof v === "object" && v !== null && "secret" in v;

/** Every string in a registered input outside secret-marked values. */
export function plainStrings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(plainStrings);
  if (isSecret(value)) return [];
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(plainStrings);
  return [];
}
