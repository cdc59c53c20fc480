import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { EGRESS_PROXY_IMAGE_CONTEXT } from "../egress-proxy/workload";

/**
 * Builds the egress-proxy image from its Dockerfile on the target engine, tagged
 * `bot-bottle/egress-proxy:<stack>` so that stacks sharing an engine never retag each other's
 * image (containers run it by id). The context is given relative to the working directory
 * (the Pulumi project's), so state does not depend on where the project is checked out.
 */
export function buildEgressProxyImage(name: string, stack: string, opts: pulumi.CustomResourceOptions): docker.Image {
  return new docker.Image(
    name,
    {
      imageName: `bot-bottle/egress-proxy:${stack}`,
      build: { context: path.relative(process.cwd(), EGRESS_PROXY_IMAGE_CONTEXT) || ".", target: "runtime" },
      skipPush: true,
    },
    opts,
  );
}

/** An image by reference, pulled unless the engine has it; its id is what containers run. */
export function pulledImage(name: string, reference: string, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
  return new docker.RemoteImage(name, { name: reference, keepLocally: true }, opts).imageId;
}

/**
 * A resource name for one Docker engine, from its host URL, never from the order engines
 * were first seen in: reordering bottles must not rename (and so replace) anything.
 * `prefix` alone for the local engine; `prefix-<host slug>-<hash>` for a remote one.
 */
export function engineResourceName(prefix: string, host: string | undefined): string {
  if (host === undefined) return prefix;
  const slug = host
    .replace(/^[a-z]+:\/\//, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 40);
  const hash = createHash("sha256").update(host).digest("hex").slice(0, 8);
  return `${prefix}-${slug}-${hash}`;
}
