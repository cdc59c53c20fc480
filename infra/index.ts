import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { BottleStack } from "../components";
import { buildEgressProxyImage } from "../components/egress-proxy/egress-proxy";
import { loadStackConfig } from "./config";

const { spec, tokens } = loadStackConfig();

// One provider per remote engine (`docker.host` on the stack or on a bottle); bottles
// without one use the default provider, i.e. the local engine or DOCKER_HOST.
const providers = new Map<string, docker.Provider>();
const providerFor = (host: string | undefined): docker.Provider | undefined => {
  if (host === undefined) return undefined;
  if (!providers.has(host)) {
    providers.set(host, new docker.Provider(`docker-${providers.size}`, { host }));
  }
  return providers.get(host);
};

// The egress-proxy image is built once per engine and shared by that engine's bottles.
const images = new Map<docker.Provider | undefined, pulumi.Output<string>>();
const egressProxyImageFor = (provider: docker.Provider | undefined): pulumi.Output<string> => {
  if (!images.has(provider)) {
    const name = `egress-proxy-image${provider ? `-${[...providers.values()].indexOf(provider)}` : ""}`;
    images.set(provider, buildEgressProxyImage(name, pulumi.getStack(), { provider }).repoDigest);
  }
  return images.get(provider)!;
};

const bottleStacks = spec.bottles.map((bottle) => {
  const dockerHost = bottle.docker?.host ?? spec.docker?.host;
  const provider = providerFor(dockerHost);
  const used = new Set(bottle.routes.flatMap((r) => (r.auth ? [r.auth.token] : [])));
  return new BottleStack(
    bottle.name,
    {
      routes: bottle.routes,
      tokens: Object.fromEntries(Object.entries(tokens).filter(([name]) => used.has(name))),
      agent: bottle.agent,
      egressProxy: bottle.egressProxy,
      pipelock: bottle.pipelock,
      caValidityHours: bottle.caValidityHours,
      requestsPerMinute: bottle.requestsPerMinute,
      maxBodyMb: bottle.maxBodyMb,
      egressProxyImage: bottle.egressProxy.image ? undefined : egressProxyImageFor(provider),
      dockerHost,
      selfTest: bottle.selfTest,
    },
    { providers: provider ? [provider] : [] },
  );
});

/**
 * Per bottle: Docker names, both CA certificates (public), the agent's proxy URL, and the
 * rendered routes.yaml and pipelock.yaml so a preview diff shows what an agent may reach.
 */
export const bottles = Object.fromEntries(
  bottleStacks.map((b) => [
    b.spec.name,
    {
      dockerNames: b.dockerNames,
      egressProxyCaCert: b.egressProxyCaCert,
      pipelockCaCert: b.pipelockCaCert,
      proxyUrl: b.proxyUrl,
      routesYaml: b.routesYaml,
      pipelockYaml: b.pipelockYaml,
    },
  ]),
);
