/**
 * The one way this project runs a Pulumi program under mocks (the offline plan and the unit
 * tests): no engine, no providers. Every resource the program registers is recorded with its
 * inputs (secret values still marked) and its parent, and answered with the outputs below, the
 * stand-ins for what the providers would compute.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { RESOURCE_TYPES } from "../../components/index";

/** A resource the program registered. */
export interface MockedResource {
  type: string;
  name: string;
  /** The parent resource's name; absent for resources directly under the stack. */
  parent?: string;
  /** Inputs as the engine would receive them, secrets marked (see mapSecretInputs). */
  inputs: Record<string, unknown>;
}

/** The stand-in outputs, deterministic per resource, so tests can name them exactly. */
export const MOCK_OUTPUTS = {
  privateKeyPem: (name: string) => `-----BEGIN PRIVATE KEY-----\nmock key of ${name}\n-----END PRIVATE KEY-----\n`,
  certPem: (name: string) => `-----BEGIN CERTIFICATE-----\nmock certificate of ${name}\n-----END CERTIFICATE-----\n`,
  /** An image id: the digest of the image's resource name (built) or reference (pulled). */
  imageId: (of: string) => `sha256:${createHash("sha256").update(of).digest("hex")}`,
  /** A container Pulumi names (no `name` input): the resource's name and a suffix made at up. */
  containerName: (resource: string) => `${resource}-<suffix-made-at-up>`,
  /** The address the cluster gives a Service. */
  clusterIp: (service: string) => `cluster-ip-of-${service}`,
} as const;

function mockOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case RESOURCE_TYPES.privateKey:
      return { privateKeyPem: MOCK_OUTPUTS.privateKeyPem(name), publicKeyPem: `public key of ${name}` };
    case RESOURCE_TYPES.selfSignedCert:
      return { certPem: MOCK_OUTPUTS.certPem(name) };
    case RESOURCE_TYPES.image:
      return { repoDigest: MOCK_OUTPUTS.imageId(name), imageName: inputs.imageName };
    case RESOURCE_TYPES.container:
      return { name: inputs.name ?? MOCK_OUTPUTS.containerName(name) };
    case RESOURCE_TYPES.remoteImage:
      return { imageId: MOCK_OUTPUTS.imageId(String(inputs.name)), repoDigest: String(inputs.name) };
    case RESOURCE_TYPES.k8sService:
      return { spec: { ...(inputs.spec as object), clusterIP: MOCK_OUTPUTS.clusterIp(name) } };
    case RESOURCE_TYPES.k8sDeployment:
      return { metadata: { ...(inputs.metadata as object), generation: 1 } };
    default:
      return {};
  }
}

export interface MockRun {
  /** The Pulumi stack's name (what `pulumi.getStack()` returns). */
  stack: string;
  /** Engine config (`bot-bottle:bottles` → JSON text). Defaults to none. */
  config?: Record<string, string>;
  /** Config keys the engine holds as secrets. */
  secretKeys?: string[];
}

/**
 * Runs `program` as a Pulumi program of project `bot-bottle` under mocks and returns what it
 * returned and every resource it registered. Each call installs fresh mocks, so one process
 * can compare several runs; a program module imported once does not run again.
 */
export async function runUnderMocks<T>(run: MockRun, program: () => T | Promise<T>): Promise<{ result: T; resources: MockedResource[] }> {
  const resources: MockedResource[] = [];
  const parents = new Map<string, string>();
  // The SDK takes a stack trace for every resource and every promise it makes, to report leaks
  // and source positions that a run under mocks never shows: with source maps on (tsx turns
  // them on) formatting them was 40% of a plan's time, and taking them another 35%. A program
  // that throws still reports its message (and a stack with BOT_BOTTLE_PLAN_STACKS=1).
  const keepStacks = process.env.BOT_BOTTLE_PLAN_STACKS === "1";
  const [sourceMaps, stackTraceLimit] = [process.sourceMapsEnabled, Error.stackTraceLimit];
  if (!keepStacks) {
    process.setSourceMapsEnabled(false);
    Error.stackTraceLimit = 0;
  }
  try {
    return await underMocks(run, program, resources, parents);
  } finally {
    process.setSourceMapsEnabled(sourceMaps);
    Error.stackTraceLimit = stackTraceLimit;
  }
}

async function underMocks<T>(
  run: MockRun,
  program: () => T | Promise<T>,
  resources: MockedResource[],
  parents: Map<string, string>,
): Promise<{ result: T; resources: MockedResource[] }> {
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        resources.push({ type, name, inputs });
        return { id: `${name}-id`, state: { ...inputs, ...mockOutputs(type, name, inputs) } };
      },
      call: (args) => args.inputs,
    },
    "bot-bottle",
    run.stack,
    false,
  );
  pulumi.runtime.setAllConfig(run.config ?? {}, run.secretKeys ?? []);
  let result: T | undefined;
  let failure: { err: unknown } | undefined;
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation(({ type, name, opts }) => {
      // The SDK keeps a resource's name and type on these (internal, pinned) fields.
      const parent = opts.parent as { __name?: string; __pulumiType?: string } | undefined;
      if (parent?.__name && parent.__pulumiType !== RESOURCE_TYPES.stack) parents.set(`${type}::${name}`, parent.__name);
      return undefined;
    });
    try {
      result = await program();
    } catch (err) {
      // Thrown out of here, the SDK would also report it as an unhandled rejection.
      failure = { err };
    }
    return undefined;
  });
  await pulumi.runtime.disconnect();
  if (failure) throw failure.err;
  return {
    result: result as T,
    resources: resources
      .filter((r) => r.type !== RESOURCE_TYPES.stack)
      .map((r) => {
        const parent = parents.get(`${r.type}::${r.name}`);
        return { ...r, ...(parent && { parent }) };
      }),
  };
}
