/**
 * bot-bottle: sandboxes for autonomous coding agents, as a Pulumi component.
 *
 *     import { BottleStack } from "bot-bottle";
 *     new BottleStack("coder", { routes: [{ host: "api.github.com" }], agent: { image: "..." } });
 */
export { BottleStack, BottleStackArgs, BottleObjectNames, BuiltImages, argsFromSpec } from "./bottle-stack";
export * from "./config";
export * from "./layout";
export { describeBottle } from "./describe";
export {
  CA_ROLES,
  LABEL_KEYS,
  NETWORK_ROLES,
  ONE_SHOT_ROLES,
  PIPELOCK_SETTINGS_LABEL,
  PlannedResource,
  RESOURCE_TYPES,
  ResourceType,
  TESTED_DEPLOYMENTS_ANNOTATION,
  WORKLOAD_ROLES,
  WORKSPACE_ROLE,
} from "./vocabulary";
export { renderRoutesYaml, tokenEnvNames, TOKEN_ENV_PREFIX } from "./egress-proxy/routes";
export { pipelockSettingsKey, renderPipelockBulkYaml, renderPipelockYaml } from "./pipelock/config";
export { answerScanBytes, BulkKind, bulkKinds, Lane, usesBulkLane } from "./pipelock/lanes";
export { buildImage, engineResourceName } from "./docker/images";
export { kubernetesProviderArgs } from "./kubernetes/provider";
