import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { SharedEngine } from "../backend/backend";
import type { BottleSpec } from "../config";
import type { BuiltImage } from "../layout/types";
import { buildImage, engineResourceName } from "./images";

/**
 * Per remote engine (`docker.host`) of a program's bottles one provider, and per engine one
 * build of each of this package's images the bottles there use, named from the engine's host.
 * Stacks deployed before these names named engines by first-seen order (`docker-0`,
 * `egress-proxy-image-0`): the alias carries such state over without replacing anything.
 */
export function sharedEngines(stack: string, bottles: readonly BottleSpec[]): (bottle: BottleSpec) => SharedEngine {
  const orderNames = [...new Set(bottles.flatMap((b) => (b.docker ? [b.docker.host] : [])))];
  const formerly = (prefix: string, host: string | undefined) =>
    host === undefined ? [] : [{ name: `${prefix}-${orderNames.indexOf(host)}` }];
  const providers = new Map<string, docker.Provider>();
  const providerFor = (host: string | undefined): docker.Provider | undefined => {
    if (host !== undefined && !providers.has(host)) {
      providers.set(host, new docker.Provider(engineResourceName("docker", host), { host }, { aliases: formerly("docker", host) }));
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
  return (bottle) => {
    const host = bottle.docker?.host;
    const provider = providerFor(host);
    return {
      ...(provider && { provider }),
      builtImages: {
        ...(bottle.egressProxy.image === undefined && { egressProxy: builtImageFor("egress-proxy", host) }),
        ...(bottle.agent && bottle.agent.image === undefined && { agent: builtImageFor("agent", host) }),
      },
    };
  };
}
