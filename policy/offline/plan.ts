/**
 * The policy pack over an offline plan (the root project's `npm run plan -- --json`): the
 * resources the program declares, with each "[secret]" put back as a plaintext stand-in, since
 * the engine gives policies secret values decrypted:
 *   - each token in a live-config command's BOTTLE_TOKENS, and in the tokens file of a Kubernetes
 *     bottle's `egress-proxy-tokens` Secret (both `{"EGRESS_PROXY_TOKEN_<N>": "[secret]"}`),
 *     becomes a fake token unique to that resource and variable, so the token-confinement scan has
 *     real values to look for;
 *   - any other "[secret]" (the CA private keys) becomes a fake PEM private key, so secret
 *     material anywhere outside the CA key uploads and the tls resources is flagged as a key.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { policies } from "../policies";
import { K8S, type PlannedResource, TOPOLOGY, TYPES } from "../lib/vocabulary";
import { type DeclaredResource, runResourcePolicy, runStackPolicy } from "./run";

const SECRET = "[secret]";

export interface Violation {
  policy: string;
  level: string;
  /** The resource, for resource policies. */
  resource?: string;
  message: string;
}

/** Whether the string at `at` of a resource's inputs is a tokens file's JSON. */
type IsTokens = (at: string) => boolean;

/** Where a resource keeps tokens: a live-config command's BOTTLE_TOKENS, the Kubernetes tokens Secret's stringData. */
function tokensPaths(r: PlannedResource): IsTokens {
  const name = (r.inputs.metadata as { name?: unknown } | undefined)?.name;
  if (r.type === TYPES.k8sSecret && name === K8S.tokensSecret) {
    return (at) => at.startsWith("stringData.");
  }
  return (at) => at === `environment.${TOPOLOGY.liveTokensEnv}`;
}

/** Replaces every "[secret]" in `value` with the plaintext stand-in described above. */
function restoreSecrets(value: unknown, owner: string, at: string, isTokens: IsTokens): unknown {
  if (typeof value === "string") {
    if (isTokens(at)) {
      const tokens = JSON.parse(value) as Record<string, string>;
      return JSON.stringify(Object.fromEntries(Object.keys(tokens).map((name) => [name, `plan-token-${owner}-${name}-0123456789`])));
    }
    return value.split(SECRET).join(`-----BEGIN PRIVATE KEY-----\n(secret of ${owner} at ${at})\n-----END PRIVATE KEY-----\n`);
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => restoreSecrets(v, owner, `${at}[${i}]`, isTokens));
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, restoreSecrets(v, owner, at === "" ? k : `${at}.${k}`, isTokens)]));
  }
  return value;
}

/** The plan as the resources a policy would see. */
export function asPolicyResources(planned: readonly PlannedResource[]): DeclaredResource[] {
  return planned.map((r) => ({
    type: r.type,
    name: r.name,
    props: restoreSecrets(r.inputs, r.name, "", tokensPaths(r)) as Record<string, any>,
    ...(r.parent !== undefined && { parent: r.parent }),
  }));
}

/** Every violation of every policy over `resources`, with the policy's default enforcement level. */
export async function runPack(
  resources: readonly DeclaredResource[],
  stack: string,
  stackTags: Record<string, string> = {},
): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const policy of policies) {
    const level = policy.enforcementLevel ?? "advisory";
    if ("validateStack" in policy) {
      const result = await runStackPolicy(policy as StackValidationPolicy, resources, { stack, stackTags });
      found.push(...result.violations.map((message) => ({ policy: policy.name, level, message })));
    } else {
      for (const resource of resources) {
        const result = await runResourcePolicy(policy as ResourceValidationPolicy, resource, { stack, stackTags });
        found.push(...result.violations.map((message) => ({ policy: policy.name, level, resource: resource.name, message })));
      }
    }
  }
  return found;
}
