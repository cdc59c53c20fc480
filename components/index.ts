/**
 * bot-bottle: sandboxes for autonomous coding agents, as a Pulumi component.
 *
 *     import { BottleStack } from "bot-bottle";
 *     new BottleStack("coder", { routes: [{ host: "api.github.com" }], agent: { image: "..." } });
 */
// Before BottleStack: Pulumi's schema analyzer reads the documentation of types in the files it
// meets before the component's (the object names and built images are its outputs and inputs).
export { BottleObjectNames, BuiltImages, SharedEngine } from "./backend/backend";
export { BottleStack, BottleStackArgs, argsFromSpec } from "./bottle-stack";
export { sharedEngines } from "./backends";
export * from "./config";
export * from "./layout";
export { describeBottle } from "./describe";
export {
  CA_ROLES,
  KUBERNETES_NAMES,
  LABEL_KEYS,
  METRICS_PORT_LABEL,
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

// For tools that work in a deployed bottle (this repository's `npm run bottle`): where things
// are inside it, where it is on a cluster, and the self-test to run again on a Docker engine.
export { AGENT_CA_FILE } from "./agent/env";
export { EGRESS_PROXY_URL } from "./egress-proxy/workload";
export { namespaceName } from "./kubernetes/declare";
export { SELF_TEST_SCRIPT, selfTestEnvironment } from "./docker/self-test/self-test";
