import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { argsFromSpec, BottleStack, buildImage, BuiltImage, engineResourceName, KubernetesClusterSpec, kubernetesProviderArgs } from "../components/index";
import { blockedCommand } from "./allow-hint";
import { loadStackConfig } from "./config";

const { spec, tokens } = loadStackConfig();
const stack = pulumi.getStack();

// Per remote engine (`docker.host` on the stack or a bottle) one provider, and per engine one
// egress-proxy image shared by its bottles, named from the engine's host (never from the
// order bottles list engines in, which would rename them when bottles are reordered).
// Stacks deployed before these names named engines by first-seen order (`docker-0`,
// `egress-proxy-image-0`): the alias carries such state over without replacing anything.
const orderNames = [...new Set(spec.bottles.flatMap((b) => (b.docker ? [b.docker.host] : [])))];
const formerly = (prefix: string, host: string | undefined) =>
  host === undefined ? [] : [{ name: `${prefix}-${orderNames.indexOf(host)}` }];
const providers = new Map<string, docker.Provider>();
const providerFor = (host: string | undefined): docker.Provider | undefined => {
  if (host !== undefined && !providers.has(host)) {
    const name = engineResourceName("docker", host);
    providers.set(host, new docker.Provider(name, { host }, { aliases: formerly("docker", host) }));
  }
  return host === undefined ? undefined : providers.get(host);
};
const images = new Map<string, pulumi.Output<string>>();
const builtImageFor = (image: BuiltImage, host: string | undefined): pulumi.Output<string> => {
  const key = `${image} ${host ?? ""}`;
  if (!images.has(key)) {
    const name = engineResourceName(`${image}-image`, host);
    const opts = { provider: providerFor(host), aliases: image === "egress-proxy" ? formerly("egress-proxy-image", host) : [] };
    images.set(key, buildImage(image, name, stack, opts).repoDigest);
  }
  return images.get(key)!;
};

// Per cluster (kubeconfig and context, or neither: the provider's defaults) one provider,
// named from what names it.
const clusters = new Map<string, k8s.Provider>();
const clusterFor = (cluster: KubernetesClusterSpec): k8s.Provider => {
  const { kubeconfig, context } = cluster;
  const key = JSON.stringify([kubeconfig ?? null, context ?? null]);
  if (!clusters.has(key)) {
    const name = `kubernetes-${createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
    clusters.set(key, new k8s.Provider(name, kubernetesProviderArgs(cluster)));
  }
  return clusters.get(key)!;
};

const bottleStacks = spec.bottles.map((bottle) => {
  const host = bottle.docker?.host;
  const used = new Set(bottle.routes.flatMap((r) => (r.auth ? [r.auth.token] : [])));
  const provider = bottle.backend === "kubernetes" ? clusterFor(bottle.kubernetes ?? {}) : providerFor(host);
  const onDocker = bottle.backend !== "kubernetes";
  return new BottleStack(
    bottle.name,
    argsFromSpec(bottle, {
      tokens: Object.fromEntries(Object.entries(tokens).filter(([name]) => used.has(name))),
      allowHint: blockedCommand(stack, bottle.name),
      builtImages: {
        ...(onDocker && bottle.egressProxy.image === undefined && { egressProxy: builtImageFor("egress-proxy", host) }),
        ...(onDocker && bottle.agent && bottle.agent.image === undefined && { agent: builtImageFor("agent", host) }),
      },
    }),
    { providers: provider ? [provider] : [] },
  );
});

/**
 * Per bottle: object names, both CA certificates (public), the agent's proxy URL, and the
 * rendered routes.yaml and pipelock.yaml so a preview diff shows what an agent may reach.
 */
export const bottles = Object.fromEntries(
  bottleStacks.map((b) => [
    b.spec.name,
    {
      objectNames: b.objectNames,
      egressProxyCaCert: b.egressProxyCaCert,
      pipelockCaCert: b.pipelockCaCert,
      proxyUrl: b.proxyUrl,
      routesYaml: b.routesYaml,
      pipelockYaml: b.pipelockYaml,
    },
  ]),
);
