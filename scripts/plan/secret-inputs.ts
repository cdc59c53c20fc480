/** Pulumi's marker for a secret value inside the inputs a mock monitor receives. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/**
 * Rebuilds mock-registered inputs, replacing each secret marker by what `onSecret` returns
 * for its (already rebuilt) value and its path (`uploads[2].content`). Strings pass through
 * `onString` when given.
 */
export function mapSecretInputs(
  value: unknown,
  onSecret: (inner: unknown, path: string) => unknown,
  onString: (text: string) => unknown = (text) => text,
  path = "",
): unknown {
  const recurse = (v: unknown, p: string) => mapSecretInputs(v, onSecret, onString, p);
  if (typeof value === "string") return onString(value);
  if (Array.isArray(value)) return value.map((v, i) => recurse(v, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] !== undefined) return onSecret(recurse(record.value, path), path);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, recurse(v, path ? `${path}.${k}` : k)]));
  }
  return value;
}

/** Every string inside `value`. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(stringsIn);
  return [];
}
