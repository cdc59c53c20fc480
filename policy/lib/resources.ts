/**
 * Finding a stack's resources (by role, by bottle, by name, by the component that declared them),
 * and the name a message gives each.
 */
import { TYPES } from "./vocabulary";
import { known } from "./props";
import { isKubernetes, isPodHolder, metadataOf } from "./kubernetes";
import { bottleOfResource, roleOf, roleOfResource } from "./labels";

/** The minimal view of a resource that both resource and stack policies can provide. */
export interface ResourceView {
  type: string;
  urn: string;
  name: string;
  props: Record<string, any>;
  /** Its parent (stack policies only). */
  parent?: ResourceView;
}

/** The BottleStack component a resource was declared in (its nearest such ancestor), if any. */
export function declaringBottleStack(resource: ResourceView): ResourceView | undefined {
  for (let at = resource.parent; at !== undefined; at = at.parent) {
    if (at.type === TYPES.bottleStack) {
      return at;
    }
  }
  return undefined;
}

/** The one of `candidates` in `bottle` (by its labels); none for an unlabelled bottle. */
export function inBottle<T extends { type: string; props: Record<string, any> }>(
  candidates: readonly T[],
  bottle: string | undefined,
): T | undefined {
  return bottle === undefined ? undefined : candidates.find((c) => bottleOfResource(c) === bottle);
}

/** Containers of the stack that carry the given role label. */
export function containersWithRole(resources: readonly ResourceView[], role: string): ResourceView[] {
  return resources.filter((r) => r.type === TYPES.container && roleOf(r.props) === role);
}

/**
 * The workloads of the stack with the given role, on either backend: Docker containers, and
 * Kubernetes resources that run pods (a Deployment per workload) whose pods carry the role.
 */
export function workloadsWithRole(resources: readonly ResourceView[], role: string): ResourceView[] {
  return resources.filter((r) => (r.type === TYPES.container || isPodHolder(r.type)) && roleOfResource(r) === role);
}

/** The declared Kubernetes objects of `type` named `name` in `namespace`. */
export function objectsNamed(resources: readonly ResourceView[], type: string, namespace: unknown, name: string): ResourceView[] {
  return resources.filter((r) => {
    if (r.type !== type) {
      return false;
    }
    const meta = metadataOf(r.props);
    return meta.name === name && meta.namespace === namespace;
  });
}

/** Docker name of a container or network (its `name` input), falling back to the Pulumi name. */
export function dockerName(resource: ResourceView): string {
  const name = known(() => resource.props.name);
  return typeof name === "string" ? name : resource.name;
}

/**
 * The name a message gives an object: a Docker object's name, a Kubernetes object's
 * `<namespace>/<name>`, falling back to the Pulumi name.
 */
export function objectName(resource: ResourceView): string {
  if (!isKubernetes(resource.type)) {
    return dockerName(resource);
  }
  const { name, namespace } = metadataOf(resource.props);
  const base = typeof name === "string" ? name : resource.name;
  return typeof namespace === "string" ? `${namespace}/${base}` : base;
}
