export * from "./types";
export { ALIASES, objectLabels, objectName } from "./naming";
