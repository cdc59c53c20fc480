import * as k8s from "@pulumi/kubernetes";
import type { BottleBackend } from "../backend/backend";
import { declareOnKubernetes } from "./declare";
import { kubernetesProviderArgs, sharedClusters } from "./provider";

/** The Kubernetes backend: a bottle in a namespace of its own on a cluster (the spec's `kubernetes`, else the provider's defaults). */
export const kubernetesBackend: BottleBackend = {
  declare({ name, spec, layout, tokens, parent }) {
    const cluster = spec.kubernetes ?? {};
    // The bottle's own provider adopts a kept workspace (kubernetesProviderArgs).
    const provider =
      parent.getProvider("kubernetes::") === undefined
        ? new k8s.Provider(`${name}-kubernetes`, kubernetesProviderArgs(cluster), { parent })
        : undefined;
    const { cas, namespace, deployments } = declareOnKubernetes(
      name,
      layout,
      { tokens, cluster },
      { parent, ...(provider && { provider }) },
    );
    return {
      cas,
      objectNames: {
        namespace: namespace.metadata.name,
        egressProxy: deployments["egress-proxy"]!.metadata.name,
        pipelock: deployments.pipelock!.metadata.name,
        ...(deployments["pipelock-bulk"] && { pipelockBulk: deployments["pipelock-bulk"].metadata.name }),
        ...(deployments.agent && { agent: deployments.agent.metadata.name }),
      },
    };
  },
  sharedEngines: sharedClusters,
};
