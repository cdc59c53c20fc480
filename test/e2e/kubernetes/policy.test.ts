/**
 * The Kubernetes tier, the policy pack against regressions of the real program on a cluster
 * (../regressions/): previewed by the real engine and the real Kubernetes provider, with the
 * test cluster's API server answering the provider's previews.
 */
import { regressionTests } from "../regressions/check";
import { policyStack } from "../stacks";
import { clusterInfo } from "../support/kubernetes";
import { TEST_TOKENS } from "../support/tokens";

regressionTests(
  "kubernetes",
  async () => {
    const cluster = await clusterInfo();
    if (typeof cluster === "string") throw new Error(cluster);
    return policyStack({
      kubeconfig: cluster.kubeconfig,
      privateCidrs: [cluster.podCidr, cluster.serviceCidr, `${cluster.nodeIp}/32`, "169.254.0.0/16", "127.0.0.0/8"],
    });
  },
  { github: TEST_TOKENS.github },
);
