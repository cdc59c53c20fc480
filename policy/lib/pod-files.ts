/** What a Kubernetes workload's main container finds at a path: the ConfigMap and Secret keys its volumes put there. */
import { type Maybe, UNKNOWN, isRecord } from "./props";
import { mainContainerOf, podTemplateOf } from "./kubernetes";
import { roleOfResource } from "./labels";
import type { ResourceView } from "./resources";

/** A file a pod volume projects from a ConfigMap or Secret key, with the mode it gets. */
export interface ProjectedFile {
  kind: "configMap" | "secret";
  /** The ConfigMap's or Secret's name (in the pod's namespace). */
  name: string;
  key: string;
  /** The file's mode: the item's, else the volume's defaultMode, else Kubernetes' default 0644. */
  mode: Maybe<unknown>;
}

/** What is at a path of a pod's main container: the volume, the file in it, the objects that may project it. */
export type PodFile = { volume: string; file: string; sources: ProjectedFile[] } | { error: string };

/** Kubernetes' default mode of a file projected from a ConfigMap or Secret (0644). */
const DEFAULT_PROJECTED_MODE = 0o644;

/**
 * The file at `path` in the main container of a Kubernetes workload's pods: the deepest volume
 * mount at or above it, and the ConfigMap and Secret keys that volume may put there (a
 * `configMap`, `secret` or `projected` volume; with `items`, only the item whose path it is).
 * `UNKNOWN` when a name it depends on is unknown during preview.
 */
export function podFileAt(workload: ResourceView, path: string): Maybe<PodFile> {
  const pod = podTemplateOf(workload);
  if (pod === UNKNOWN || pod === undefined) {
    return UNKNOWN;
  }
  const mounts = mainContainerOf(pod.spec, roleOfResource(workload))?.volumeMounts;
  if (
    mounts === UNKNOWN ||
    (Array.isArray(mounts) && mounts.some((m) => !isRecord(m) || m.mountPath === UNKNOWN || m.subPath === UNKNOWN || m.name === UNKNOWN))
  ) {
    return UNKNOWN;
  }
  const under = (dir: string) => path === dir || path.startsWith(`${dir.replace(/\/+$/, "")}/`);
  const mount = (Array.isArray(mounts) ? mounts : [])
    .filter(isRecord)
    .filter((m) => typeof m.mountPath === "string" && under(m.mountPath))
    .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
  if (mount === undefined) {
    return { error: `reads ${path}, which is in no volume its container mounts` };
  }
  const mountPath = String(mount.mountPath).replace(/\/+$/, "");
  const rel = path === mount.mountPath ? "" : path.slice(mountPath.length + 1);
  const subPath = typeof mount.subPath === "string" && mount.subPath !== "" ? mount.subPath : undefined;
  const file = subPath === undefined ? rel : rel === "" ? subPath : `${subPath}/${rel}`;
  const volumes = pod.spec.volumes;
  if (volumes === UNKNOWN) {
    return UNKNOWN;
  }
  const volume = (Array.isArray(volumes) ? volumes : []).filter(isRecord).find((v) => v.name === mount.name);
  if (volume === undefined) {
    return { error: `reads ${path} from volume '${String(mount.name)}', which its pod does not declare` };
  }
  const candidates: { kind: ProjectedFile["kind"]; name: unknown; items: unknown; defaultMode: unknown }[] = [];
  if (isRecord(volume.configMap)) {
    candidates.push({
      kind: "configMap",
      name: volume.configMap.name,
      items: volume.configMap.items,
      defaultMode: volume.configMap.defaultMode,
    });
  }
  if (isRecord(volume.secret)) {
    candidates.push({ kind: "secret", name: volume.secret.secretName, items: volume.secret.items, defaultMode: volume.secret.defaultMode });
  }
  if (volume.projected === UNKNOWN) {
    return UNKNOWN;
  }
  if (isRecord(volume.projected)) {
    const projected = volume.projected;
    if (projected.sources === UNKNOWN) {
      return UNKNOWN;
    }
    for (const source of Array.isArray(projected.sources) ? projected.sources.filter(isRecord) : []) {
      for (const kind of ["configMap", "secret"] as const) {
        const object = source[kind];
        if (isRecord(object)) {
          candidates.push({ kind, name: object.name, items: object.items, defaultMode: projected.defaultMode });
        }
      }
    }
  }
  const sources: ProjectedFile[] = [];
  for (const c of candidates) {
    if (c.name === UNKNOWN || c.items === UNKNOWN) {
      return UNKNOWN;
    }
    const defaultMode = c.defaultMode ?? DEFAULT_PROJECTED_MODE;
    if (!Array.isArray(c.items)) {
      sources.push({ kind: c.kind, name: String(c.name), key: file, mode: defaultMode });
      continue;
    }
    const item = c.items.filter(isRecord).find((i) => i.path === file);
    if (item !== undefined) {
      if (item.key === UNKNOWN) {
        return UNKNOWN;
      }
      sources.push({ kind: c.kind, name: String(c.name), key: String(item.key), mode: item.mode ?? defaultMode });
    }
  }
  return { volume: String(volume.name), file, sources };
}
