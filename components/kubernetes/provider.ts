import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KubernetesClusterSpec } from "../config";

/**
 * The provider settings for a bottle's cluster: its kubeconfig (a secret: it may hold
 * credentials) and context, and adoption of existing objects. A kept workspace leaves its
 * namespace and claim behind on `destroy`; the next `up` adopts them instead of failing on
 * "already exists". Safe for a bottle: every object it declares has a fixed name, and the
 * provider replaces a named object delete-first, so an adopted object is never deleted by the
 * replacement that adopted it.
 */
export function kubernetesProviderArgs(cluster: Pick<KubernetesClusterSpec, "kubeconfig" | "context">): k8s.ProviderArgs {
  return {
    ...(cluster.kubeconfig !== undefined && { kubeconfig: pulumi.secret(cluster.kubeconfig) }),
    ...(cluster.context !== undefined && { context: cluster.context }),
    upsertExistingObjects: true,
  };
}
