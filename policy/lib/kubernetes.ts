/**
 * Readers of Kubernetes objects: their kind, metadata and labels, the pod template of a kind that
 * runs pods and the containers in it, a Secret's values. They read `snapshot` copies of the props
 * (see props.ts), so an unknown field is `UNKNOWN` where it is.
 */
import { POD_TEMPLATE_PATHS } from "./vocabulary";
import { type Maybe, UNKNOWN, isRecord, known, snapshot } from "./props";

/** True for a resource of the Kubernetes provider. */
export function isKubernetes(type: string): boolean {
  return type.startsWith("kubernetes:");
}

/** True for a Kubernetes kind that runs pods (POD_TEMPLATE_PATHS). */
export function isPodHolder(type: string): boolean {
  return Object.hasOwn(POD_TEMPLATE_PATHS, type);
}

/** The kind of a Kubernetes resource type (`kubernetes:apps/v1:Deployment` -> `Deployment`). */
export function kindOf(type: string): string {
  return type.slice(type.lastIndexOf(":") + 1);
}

/** A Kubernetes object's `metadata.name` and `metadata.namespace` (`UNKNOWN` during preview if they are). */
export function metadataOf(props: Record<string, any>): { name: Maybe<unknown>; namespace: Maybe<unknown> } {
  return { name: known(() => props.metadata?.name as unknown), namespace: known(() => props.metadata?.namespace as unknown) };
}

/** The string entries of a Kubernetes label map (a `snapshot`); anything else is skipped. */
export function labelMap(value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "string") {
        out.set(k, v);
      }
    }
  }
  return out;
}

/** A pod template: the labels its pods carry and their spec (a `snapshot`). */
export interface PodTemplate {
  labels: Map<string, string>;
  spec: Record<string, unknown>;
}

/**
 * The pod template of a Kubernetes kind that runs pods (undefined for any other resource);
 * `UNKNOWN` when the template itself is unknown during preview.
 */
export function podTemplateOf(resource: { type: string; props: Record<string, any> }): Maybe<PodTemplate> | undefined {
  if (!isPodHolder(resource.type)) {
    return undefined;
  }
  const path = POD_TEMPLATE_PATHS[resource.type]!;
  const template = snapshot(() => path.reduce<any>((value, key) => value?.[key], resource.props));
  if (template === UNKNOWN) {
    return UNKNOWN;
  }
  const metadata = isRecord(template) ? template.metadata : undefined;
  const spec = isRecord(template) && isRecord(template.spec) ? template.spec : {};
  return { labels: labelMap(isRecord(metadata) ? metadata.labels : undefined), spec };
}

/** The kinds of containers a pod spec lists; every one of them runs in the pod. */
const CONTAINER_LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;

/** Every container of a pod spec (a `snapshot`): containers, init and ephemeral containers. */
export function podContainersOf(spec: Record<string, unknown>): Record<string, unknown>[] {
  return CONTAINER_LISTS.flatMap((list) => (Array.isArray(spec[list]) ? (spec[list] as unknown[]) : []).filter(isRecord));
}

/** The container that runs a workload's own process: the one named after its role, else the first. */
export function mainContainerOf(spec: Record<string, unknown>, role: string | undefined): Record<string, unknown> | undefined {
  const containers = (Array.isArray(spec.containers) ? spec.containers : []).filter(isRecord);
  return containers.find((c) => c.name === role) ?? containers[0];
}

/**
 * A Kubernetes container's `env` as `NAME=value` strings, like a Docker `envs` list (a value
 * from `valueFrom` reads `NAME=<valueFrom>`); `UNKNOWN` if any entry is unknown during preview.
 */
export function containerEnvOf(container: Record<string, unknown>): Maybe<string[]> {
  if (container.env === UNKNOWN) {
    return UNKNOWN;
  }
  const out: string[] = [];
  for (const entry of Array.isArray(container.env) ? container.env : []) {
    if (!isRecord(entry) || entry.name === UNKNOWN || entry.value === UNKNOWN) {
      return UNKNOWN;
    }
    out.push(
      `${String(entry.name)}=${entry.value !== undefined ? String(entry.value) : entry.valueFrom !== undefined ? "<valueFrom>" : ""}`,
    );
  }
  return out;
}

/** A string list of a container (`command`, `args`); `UNKNOWN` if it or any element is. */
export function containerStringsOf(container: Record<string, unknown>, key: string): Maybe<string[]> {
  const list = container[key];
  if (list === UNKNOWN || (Array.isArray(list) && list.includes(UNKNOWN))) {
    return UNKNOWN;
  }
  return Array.isArray(list) ? list.map(String) : [];
}

/** The string values of a Kubernetes Secret: `stringData` as is, `data` decoded from base64, by key. */
export function secretValues(props: Record<string, any>): Maybe<[string, string][]> {
  const stringData = snapshot(() => props.stringData);
  const data = snapshot(() => props.data);
  if (stringData === UNKNOWN || data === UNKNOWN) {
    return UNKNOWN;
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(isRecord(data) ? data : {})) {
    if (typeof v === "string") {
      out.push([k, Buffer.from(v, "base64").toString("utf8")]);
    }
  }
  for (const [k, v] of Object.entries(isRecord(stringData) ? stringData : {})) {
    if (typeof v === "string") {
      out.push([k, v]);
    }
  }
  return out;
}
