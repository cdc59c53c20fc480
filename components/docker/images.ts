import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { AGENT_IMAGE_CONTEXT } from "../agent/image";
import { EGRESS_PROXY_IMAGE_CONTEXT } from "../egress-proxy/workload";
import type { BuiltImage } from "../layout/types";

/** The build context (this package's own Dockerfile) and target of each built image. */
export const BUILDS: Record<BuiltImage, { context: string; target: string }> = {
  "egress-proxy": { context: EGRESS_PROXY_IMAGE_CONTEXT, target: "runtime" },
  agent: { context: AGENT_IMAGE_CONTEXT, target: "agent" },
};

/**
 * Builds one of this package's images on the target engine, tagged `bot-bottle/<image>:<stack>`
 * so that stacks sharing an engine never retag each other's image (containers run it by id).
 * The context is given relative to the working directory (the Pulumi project's), so state
 * does not depend on where the project is checked out.
 */
export function buildImage(image: BuiltImage, name: string, stack: string, opts: pulumi.CustomResourceOptions): docker.Image {
  const { context, target } = BUILDS[image];
  return new docker.Image(
    name,
    {
      imageName: `bot-bottle/${image}:${stack}`,
      build: { context: path.relative(process.cwd(), context) || ".", target },
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
