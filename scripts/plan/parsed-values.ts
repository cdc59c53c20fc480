/** Reading parsed YAML or JSON defensively: a value of the wrong shape reads as empty. */

export const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const strings = (value: unknown): string[] => list(value).map(String);
/** `value` if it is a plain object (parsed YAML or JSON), else an empty one. */
export const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
