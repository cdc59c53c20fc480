export * from "./types";
export { describeBottle } from "./describe";
export { ALIASES, LABEL_KEYS, objectLabels, objectName } from "./naming";
