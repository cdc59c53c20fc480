/**
 * Calls policies the way the analyzer server does (server.js in @pulumi/policy 1.21), without
 * starting it: props wrapped in the same unknown-checking proxy, `getConfig`, `stackTags`,
 * `notApplicable`, and a `reportViolation` spy that records every message.
 */
import {
  type PolicyResource,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationArgs,
  type StackValidationPolicy,
  unknownCheckingProxy,
} from "@pulumi/policy";

/** A resource as a program declares it: provider type token, Pulumi name and props (inputs). */
export interface DeclaredResource {
  type: string;
  name: string;
  props: Record<string, any>;
  /** The Pulumi name of its parent (a component); absent under the stack. */
  parent?: string;
}

/** Stack-wide inputs of a policy run. */
export interface RunOptions {
  /** Stack name, encoded in the URNs. Defaults to "dev". */
  stack?: string;
  stackTags?: Record<string, string>;
  /** The policy's own config (what `getConfig()` returns). */
  config?: Record<string, unknown>;
}

/** What a run produced: the violation messages, or the reason the policy declared itself not applicable. */
export interface RunResult {
  violations: string[];
  notApplicable?: string;
}

class NotApplicable extends Error {}

/** A URN the engine would give the resource (parented by the bottle component). */
export function urnOf(resource: DeclaredResource, stack = "dev"): string {
  return `urn:pulumi:${stack}::bot-bottle::bot-bottle:index:BottleStack$${resource.type}::${resource.name}`;
}

const noOptions = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

function common(options: RunOptions) {
  return {
    stackTags: new Map(Object.entries(options.stackTags ?? {})) as ReadonlyMap<string, string>,
    getConfig: <T extends object>() => (options.config ?? {}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason ?? "");
    },
  };
}

/** Validation args for one resource, as the analyzer builds them. */
export function resourceArgs(resource: DeclaredResource, options: RunOptions = {}): ResourceValidationArgs {
  const props = unknownCheckingProxy(structuredClone(resource.props));
  return {
    type: resource.type,
    props,
    urn: urnOf(resource, options.stack),
    name: resource.name,
    opts: noOptions,
    isType: () => false,
    asType: () => undefined,
    ...common(options),
  };
}

/** Runs a resource policy's validations over one resource. */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  resource: DeclaredResource,
  options: RunOptions = {},
): Promise<RunResult> {
  const violations: string[] = [];
  const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
  try {
    for (const validate of validations) {
      await validate(resourceArgs(resource, options), (message) => violations.push(message));
    }
  } catch (e) {
    if (e instanceof NotApplicable) {
      return { violations, notApplicable: e.message };
    }
    throw e;
  }
  return { violations };
}

/** Stack validation args over a list of resources, as the analyzer builds them. */
export function stackArgs(resources: readonly DeclaredResource[], options: RunOptions = {}): StackValidationArgs {
  const policyResources: PolicyResource[] = resources.map((r) => ({
    type: r.type,
    props: unknownCheckingProxy(structuredClone(r.props)),
    urn: urnOf(r, options.stack),
    name: r.name,
    opts: noOptions,
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  }));
  // Parents by name, as the engine links them (a component's name is unique among components here).
  const byName = new Map(policyResources.map((r) => [r.name, r]));
  resources.forEach((r, i) => {
    if (r.parent !== undefined) {
      policyResources[i]!.parent = byName.get(r.parent);
    }
  });
  return { resources: policyResources, ...common(options) };
}

/** Runs a stack policy over a list of resources. */
export async function runStackPolicy(
  policy: StackValidationPolicy,
  resources: readonly DeclaredResource[],
  options: RunOptions = {},
): Promise<RunResult> {
  const violations: string[] = [];
  try {
    await policy.validateStack(stackArgs(resources, options), (message) => violations.push(message));
  } catch (e) {
    if (e instanceof NotApplicable) {
      return { violations, notApplicable: e.message };
    }
    throw e;
  }
  return { violations };
}
