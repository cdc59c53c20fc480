/**
 * Declares a BottleStack under Pulumi's mocks and returns what each resource was
 * registered with. Each call installs fresh mocks, so one test process can compare
 * several declarations (e.g. before and after a token rotation).
 */
import * as pulumi from "@pulumi/pulumi";
import type { BottleStack, BottleStackArgs } from "../../components";
import { mapSecretInputs } from "../../scripts/plan/secret-inputs";

export interface Registered {
  type: string;
  name: string;
  /** Inputs with secret values replaced by `{ secret: value }`. */
  inputs: Record<string, unknown>;
}

export interface Declared {
  stack: BottleStack;
  resources: Registered[];
  /** The first resource of `type` whose name ends with `suffix`. */
  find(type: string, suffix: string): Registered;
}

export const TYPES = {
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  privateKey: "tls:index/privateKey:PrivateKey",
  cert: "tls:index/selfSignedCert:SelfSignedCert",
  image: "docker:index/image:Image",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  command: "command:local:Command",
} as const;

export async function declareBottle(
  name: string,
  args: BottleStackArgs,
  stackName = "test",
): Promise<Declared> {
  const resources: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name: resourceName, inputs }) => {
        resources.push({ type, name: resourceName, inputs: mapSecretInputs(inputs, (secret) => ({ secret })) as Record<string, unknown> });
        const outputs: Record<string, unknown> = { ...inputs };
        if (type === TYPES.privateKey) outputs.privateKeyPem = `PRIVATE KEY OF ${resourceName}`;
        if (type === TYPES.cert) outputs.certPem = `CERTIFICATE OF ${resourceName}`;
        if (type === TYPES.remoteImage) outputs.imageId = `sha256:image-of-${inputs.name}`;
        if (type === TYPES.image) outputs.repoDigest = "sha256:built-egress-proxy";
        return { id: `${resourceName}-id`, state: outputs };
      },
      call: (args) => args.inputs,
    },
    "bot-bottle",
    stackName,
    false,
  );
  const { BottleStack } = await import("../../components");
  const stack = new BottleStack(name, args);
  await pulumi.runtime.disconnect();
  return {
    stack,
    resources,
    find(type, suffix) {
      const found = resources.find((r) => r.type === type && r.name.endsWith(suffix));
      if (!found) throw new Error(`no ${type} named *${suffix}; have ${resources.map((r) => r.name).join(", ")}`);
      return found;
    },
  };
}

/** Resolves an Output's value and whether it is secret (awaiting both before returning). */
export async function unwrap<T>(output: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
  const value = await new Promise<T>((resolve) => output.apply((v) => resolve(v)));
  return { value, secret: await pulumi.isSecret(output) };
}
