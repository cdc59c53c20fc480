export * from "./args";
export * from "./schema";
export * from "./route-contract";
export * from "./validate";
export { routeHostProblem } from "./host";
export { pathPrefixProblem } from "./path";
export { pythonName, pythonPath } from "./python";
export { nearestKey } from "./suggest";
