export { BottleStack, BottleStackArgs, BottleDockerNames } from "./bottle-stack";
export * from "./config";
export { renderRoutesYaml, tokenEnvNames } from "./egress-proxy/routes";
export { renderPipelockYaml } from "./pipelock/config";
export { dockerLabels, dockerName, LABEL_KEYS, Role } from "./naming";
