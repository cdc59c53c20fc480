export * from "./args";
export * from "./schema";
export * from "./validate";
export { routeHostProblem } from "./host";
export { pathPrefixProblem } from "./path";
export { nearestKey } from "./suggest";
