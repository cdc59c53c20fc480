export * from "./types";
export { describeBottle } from "./describe";
export { ALIASES, objectLabels, objectName } from "./naming";
