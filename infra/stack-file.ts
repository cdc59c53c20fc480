import { parseDocument } from "yaml";

/** The `bot-bottle:` keys of one stack's config, as the program reads them. */
export interface BotBottleConfig {
  bottles?: unknown;
  backend?: unknown;
  docker?: unknown;
  kubernetes?: unknown;
  /** Token entries by name: value, and whether it was stored as a `secure:` value. */
  tokens?: Record<string, { secret: boolean; value: unknown }>;
}

/** The keys this program reads; any other `bot-bottle:` key is a typo. */
export const CONFIG_KEYS = ["bottles", "backend", "docker", "kubernetes", "tokens"] as const;

const NAMESPACE = "bot-bottle:";

/** A stack file that is not valid YAML; the message starts with `line:col: `. */
export class StackFileError extends Error {}

/**
 * Reads the `bot-bottle:` keys from the text of a `Pulumi.<stack>.yaml`. Encrypted values
 * (`{secure: v1:...}`) cannot be decrypted here: each is replaced by `placeholder(path)`, so
 * the offline plan can run the real program with stand-in secrets.
 */
export function readStackFile(text: string, placeholder: (path: string) => string): { config: BotBottleConfig; unknownKeys: string[] } {
  const parsed = parseDocument(text);
  const error = parsed.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    throw new StackFileError(`${at ? `${at.line}:${at.col}: ` : ""}${error.message.split(" at line ")[0]} (YAML)`);
  }
  const doc = (parsed.toJS() ?? {}) as { config?: Record<string, unknown> };
  const raw = doc.config ?? {};
  const config: BotBottleConfig = {};
  const unknownKeys: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!key.startsWith(NAMESPACE)) continue;
    const name = key.slice(NAMESPACE.length);
    if (name === "tokens") config.tokens = tokenEntries(value, placeholder);
    else if (name === "bottles" || name === "backend" || name === "docker" || name === "kubernetes")
      config[name] = replaceSecure(value, name, placeholder);
    else unknownKeys.push(key);
  }
  return { config, unknownKeys };
}

/** Token entries, each marked secret only if stored as a `secure:` value. */
export function tokenEntries(value: unknown, placeholder: (path: string) => string): Record<string, { secret: boolean; value: unknown }> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([name, entry]) =>
      isSecure(entry) ? [name, { secret: true, value: placeholder(`tokens.${name}`) }] : [name, { secret: false, value: entry }],
    ),
  );
}

function isSecure(value: unknown): boolean {
  return typeof value === "object" && value !== null && Object.keys(value).length === 1 && "secure" in value;
}

function replaceSecure(value: unknown, path: string, placeholder: (path: string) => string): unknown {
  if (isSecure(value)) return placeholder(path);
  if (Array.isArray(value)) return value.map((v, i) => replaceSecure(v, `${path}[${i}]`, placeholder));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceSecure(v, `${path}.${k}`, placeholder)]));
  }
  return value;
}
