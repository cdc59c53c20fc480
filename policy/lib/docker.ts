/** Readers of a Docker container's props: the files it uploads and the networks it joins. */
import { type Maybe, UNKNOWN, arrayOf, known } from "./props";

/** The fields of a `docker.Container.uploads` entry that the policies read. */
export interface Upload {
  file: string;
  content: Maybe<string | undefined>;
  permissions: Maybe<string | undefined>;
}

/** A `{name, aliases}` entry of `docker.Container.networksAdvanced`. */
export interface NetworkAttachment {
  name: Maybe<string>;
  aliases: string[];
}

/** The container's uploads; contents that are unknown during preview are `UNKNOWN`. */
export function uploadsOf(props: Record<string, any>): Maybe<Upload[]> {
  const list = known(() => arrayOf(props.uploads));
  if (list === UNKNOWN) {
    return UNKNOWN;
  }
  const out: Upload[] = [];
  for (let i = 0; i < list.length; i++) {
    const file = known(() => String(list[i].file));
    if (file === UNKNOWN) {
      return UNKNOWN;
    }
    out.push({
      file,
      content: known(() => list[i].content as string | undefined),
      permissions: known(() => list[i].permissions as string | undefined),
    });
  }
  return out;
}

/** The container's `networksAdvanced` attachments; a name unknown during preview is `UNKNOWN`. */
export function networksOf(props: Record<string, any>): Maybe<NetworkAttachment[]> {
  const list = known(() => arrayOf(props.networksAdvanced));
  if (list === UNKNOWN) {
    return UNKNOWN;
  }
  const out: NetworkAttachment[] = [];
  for (let i = 0; i < list.length; i++) {
    const aliases = known(() => arrayOf(list[i].aliases).map(String));
    out.push({ name: known(() => String(list[i].name)), aliases: aliases === UNKNOWN ? [] : aliases });
  }
  return out;
}

/** Network modes that share a host or foreign namespace instead of the container's own. */
export function sharesNamespace(mode: unknown): boolean {
  return typeof mode === "string" && (mode === "host" || mode.startsWith("container:"));
}

/** Network modes that attach no user-defined network (the provider disconnects `bridge` when
 * `networksAdvanced` is set; `none` has no network at all). */
const NON_NETWORK_MODES = new Set(["bridge", "default", "none"]);

/**
 * The user-defined networks a container joins, by name: its `networksAdvanced` attachments, and
 * a custom `networkMode`, which joins that network (a shared namespace is no network of its own).
 */
export function networksJoined(attachments: readonly NetworkAttachment[], networkMode: unknown): Maybe<string>[] {
  const custom = typeof networkMode === "string" && !NON_NETWORK_MODES.has(networkMode) && !sharesNamespace(networkMode);
  return [...attachments.map((a) => a.name), ...(custom ? [networkMode] : [])];
}
