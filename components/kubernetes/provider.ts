import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { SharedEngine } from "../backend/backend";
import type { BottleSpec, KubernetesClusterSpec } from "../config";

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

/**
 * Per cluster of a program's bottles (kubeconfig and context, or neither: the provider's
 * defaults) one provider, named from what names the cluster. A cluster builds no image.
 */
export function sharedClusters(): (bottle: BottleSpec) => SharedEngine {
  const clusters = new Map<string, k8s.Provider>();
  return (bottle) => {
    const cluster = bottle.kubernetes ?? {};
    const key = JSON.stringify([cluster.kubeconfig ?? null, cluster.context ?? null]);
    if (!clusters.has(key)) {
      const name = `kubernetes-${createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
      clusters.set(key, new k8s.Provider(name, kubernetesProviderArgs(cluster)));
    }
    return { provider: clusters.get(key)!, builtImages: {} };
  };
}
