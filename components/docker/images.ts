import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { AGENT_IMAGE_CONTEXT } from "../agent/image";
import { EGRESS_PROXY_IMAGE_CONTEXT } from "../egress-proxy/workload";
import type { BuiltImage, WorkloadRole } from "../layout/types";

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

/**
 * An image by reference, pulled unless the engine has it; its `imageId` is what containers run.
 * Where the engine does not have it, a warning first says how to provide it should the pull
 * fail (an engine that reaches no registry): the provider's own error does not.
 */
export function pulledImage(name: string, reference: string, role: WorkloadRole, opts: pulumi.CustomResourceOptions): docker.RemoteImage {
  // The pull waits for the check, so the warning comes before a pull that fails.
  const checked = docker
    .getRemoteImage({ name: reference }, { parent: opts.parent, ...(opts.provider && { provider: opts.provider }) })
    .then(
      () => reference,
      (err: unknown) => {
        if (/did not find docker image/.test(String(err))) pulumi.log.warn(absentImageAdvice(reference, role), opts.parent);
        return reference;
      },
    );
  return new docker.RemoteImage(name, { name: checked, keepLocally: true }, opts);
}

/** What to do where the engine lacks an image it may not be able to pull. */
export function absentImageAdvice(reference: string, role: WorkloadRole): string {
  const provide =
    role === "pipelock" || role === "pipelock-bulk"
      ? "build pipelock's image from its source on the engine (bot-bottle's scripts/pipelock/build-image <tag> does) and set the bottle's pipelock.image to that tag"
      : `put it on the engine (docker pull or docker load there) or set the bottle's ${role === "agent" ? "agent.image" : "egressProxy.image"} to an image the engine has`;
  return `the ${role} image ${reference} is not on the engine: up pulls it from its registry. If the engine cannot reach that registry, the pull fails (and nothing of the bottle is made); then ${provide}.`;
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
