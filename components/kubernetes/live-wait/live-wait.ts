import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { KubernetesClusterSpec } from "../../config";

/** The script that waits for a gate's pods to confirm their live configuration (live-wait.sh). */
export const LIVE_WAIT_SCRIPT = fs.readFileSync(path.join(__dirname, "live-wait.sh"), "utf8");

/**
 * How long a gate's pods may take to confirm a change. kubelet swaps a mounted ConfigMap or
 * Secret at its next sync of the pod, up to its `syncFrequency` (1 min by default) plus its
 * cache's propagation after the change; then the reloader's tick (1 s) and the reload (well under
 * a second). Twice the default sync covers all of it with room for a busy node.
 */
export const LIVE_WAIT_SECONDS = 120;

/**
 * The sha256 of a live document as the gates log it: of the file's bytes, the UTF-8 text the
 * ConfigMap holds (the egress proxy's `load_config`, pipelock's `Config.Hash` and the Docker
 * writer's `live_config.py` all hash the raw file). Pure.
 */
export function documentHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export interface LiveWaitArgs {
  stack: string;
  bottle: string;
  /** The gate's role: also its container's name in its pod. */
  role: string;
  namespace: pulumi.Input<string>;
  /** The labels the gate's Deployment selects its pods by. */
  selector: Readonly<Record<string, string>>;
  /** The live configuration's objects, `configmap/<name>` and `secret/<name>`: their last change starts the wait. */
  objects: readonly string[];
  /** The document the gates must confirm. */
  document: string;
  /** Changes when the tokens' Secret does (its resourceVersion): a rotation waits for a reload too. */
  tokensVersion?: pulumi.Input<string>;
  cluster: Pick<KubernetesClusterSpec, "kubeconfig" | "context">;
  waitSeconds?: number;
}

/** The script's environment (live-wait.sh): the kubeconfig a secret, no token. Pure. */
export function liveWaitEnvironment(args: LiveWaitArgs): Record<string, pulumi.Input<string>> {
  return {
    BOTTLE_STACK: args.stack,
    BOTTLE_NAME: args.bottle,
    BOTTLE_ROLE: args.role,
    BOTTLE_NAMESPACE: args.namespace,
    BOTTLE_SELECTOR: Object.entries(args.selector)
      .map(([key, value]) => `${key}=${value}`)
      .join(","),
    BOTTLE_OBJECTS: args.objects.join(" "),
    BOTTLE_CONFIG_HASH: documentHash(args.document),
    BOTTLE_WAIT_SECONDS: String(args.waitSeconds ?? LIVE_WAIT_SECONDS),
    ...(args.tokensVersion !== undefined && { BOTTLE_TOKENS_VERSION: args.tokensVersion }),
    ...(args.cluster.kubeconfig !== undefined && { BOTTLE_KUBECONFIG: pulumi.secret(args.cluster.kubeconfig) }),
    ...(args.cluster.context !== undefined && { BOTTLE_CONTEXT: args.cluster.context }),
  };
}

/**
 * A command (`<name>-config-wait`) that runs after a gate's live configuration and Deployment
 * are in place, on create and whenever the document or the tokens change, and returns once every
 * pod of the gate has loaded the document (live-wait.sh): `up` returns with the change live, or
 * fails naming the pod that refused it or did not confirm it in time.
 */
export function declareLiveWait(name: string, args: LiveWaitArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
  return new command.local.Command(
    `${name}-config-wait`,
    { create: LIVE_WAIT_SCRIPT, update: LIVE_WAIT_SCRIPT, environment: liveWaitEnvironment(args) },
    opts,
  );
}
