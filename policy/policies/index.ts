/**
 * Every policy of the bot-bottle pack, in one list, so that tests can run them without starting
 * the pack's gRPC server (which constructing a PolicyPack does).
 */
import type { Policies } from "@pulumi/policy";
import { agentHostWorkspaceReviewed, agentOnlyInternalNetworks, productionAgentNoHostWorkspace } from "./agent";
import { caKeyStrength, caValidityMax } from "./ca";
import { egressProxyBulkLaneThroughPipelockBulk, egressProxyChainsThroughPipelock, gatesKeepImageEntrypoint } from "./chain";
import { productionGithubAppNarrowed, productionPreferExpiringCredentials } from "./credential-sources";
import { credentialsAreSecret } from "./credentials";
import { gatesLoadTheDeclaredDocuments } from "./declared";
import { imagesPinnedByDigest, productionImagesPinnedByDigest } from "./images";
import {
  kubernetesAgentReachesOnlyEgressProxy,
  kubernetesNamespaceDefaultDeny,
  kubernetesNamespaceRestricted,
  kubernetesOnlyPipelockReachesOutside,
  kubernetesPodsHardened,
  kubernetesWorkloadsReachOnlyTheirPeers,
} from "./kubernetes";
import { innerNetworksInternal, onlyPipelockReachesOutside, workloadsOnTheirNetworks } from "./networks";
import {
  pipelockBulkIsPipelockUnintercepted,
  pipelockInterceptsWithItsBottlesCa,
  pipelockPassthroughReviewed,
  pipelockStrictEnforcing,
} from "./pipelock";
import {
  credentialsOnlyOverTls,
  gatesAllowSameHosts,
  gitPushDeletesAndTagsReviewed,
  productionBulkLaneReviewed,
  productionGitPushNamesRefs,
  productionNoAuditMode,
  routesKeysKnown,
  routesNoBroadWildcards,
} from "./routes";
import { workloadsHardened, workloadsProcessLimited } from "./workloads";

/** The policies of the pack, in the order the README documents them. */
export const policies: Policies = [
  agentOnlyInternalNetworks,
  workloadsHardened,
  workloadsProcessLimited,
  productionAgentNoHostWorkspace,
  agentHostWorkspaceReviewed,
  innerNetworksInternal,
  onlyPipelockReachesOutside,
  workloadsOnTheirNetworks,
  kubernetesNamespaceRestricted,
  kubernetesPodsHardened,
  kubernetesNamespaceDefaultDeny,
  kubernetesAgentReachesOnlyEgressProxy,
  kubernetesOnlyPipelockReachesOutside,
  kubernetesWorkloadsReachOnlyTheirPeers,
  egressProxyChainsThroughPipelock,
  egressProxyBulkLaneThroughPipelockBulk,
  gatesKeepImageEntrypoint,
  gatesLoadTheDeclaredDocuments,
  credentialsAreSecret,
  caKeyStrength,
  caValidityMax,
  routesNoBroadWildcards,
  gatesAllowSameHosts,
  routesKeysKnown,
  credentialsOnlyOverTls,
  productionPreferExpiringCredentials,
  productionGithubAppNarrowed,
  productionNoAuditMode,
  productionBulkLaneReviewed,
  productionGitPushNamesRefs,
  gitPushDeletesAndTagsReviewed,
  pipelockStrictEnforcing,
  pipelockInterceptsWithItsBottlesCa,
  pipelockBulkIsPipelockUnintercepted,
  pipelockPassthroughReviewed,
  productionImagesPinnedByDigest,
  imagesPinnedByDigest,
];
