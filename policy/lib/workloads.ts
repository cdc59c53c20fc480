/**
 * What a workload runs, read the same way on either backend: a Docker container's props, or the
 * main container of the pods a Kubernetes workload runs.
 */
import { type Maybe, UNKNOWN, stringsOf } from "./props";
import { containerEnvOf, containerStringsOf, isPodHolder, mainContainerOf, podTemplateOf } from "./kubernetes";
import { roleOfResource } from "./labels";
import type { ResourceView } from "./resources";

/** The main container of a Kubernetes workload's pods (see mainContainerOf); `UNKNOWN` if its template is. */
function mainContainerOfWorkload(resource: ResourceView): Maybe<Record<string, unknown> | undefined> {
  const pod = podTemplateOf(resource);
  if (pod === UNKNOWN) {
    return UNKNOWN;
  }
  return pod === undefined ? undefined : mainContainerOf(pod.spec, roleOfResource(resource));
}

/**
 * A workload's environment as `NAME=value` strings: a Docker container's `envs`, or the `env` of
 * the main container of a Kubernetes workload's pods.
 */
export function workloadEnvOf(resource: ResourceView): Maybe<string[]> {
  if (!isPodHolder(resource.type)) {
    return stringsOf(resource.props, "envs");
  }
  const main = mainContainerOfWorkload(resource);
  return main === UNKNOWN ? UNKNOWN : main === undefined ? [] : containerEnvOf(main);
}

/**
 * What a workload declares in place of its image's entrypoint, and the arguments it passes: a
 * Docker container's `entrypoints` and `command`, a Kubernetes main container's `command` and
 * `args` (the same two things under other names).
 */
export function workloadCommandOf(resource: ResourceView): Maybe<{ entrypoint: string[]; args: string[] }> {
  if (!isPodHolder(resource.type)) {
    // Unknown only in a stack policy's preview, where the provider will fill in the image's own
    // entrypoint: the gates declare none (gates-keep-image-entrypoint), so it is none here.
    const declared = stringsOf(resource.props, "entrypoints");
    const entrypoint = declared === UNKNOWN ? [] : declared;
    const args = stringsOf(resource.props, "command");
    return args === UNKNOWN ? UNKNOWN : { entrypoint, args };
  }
  const main = mainContainerOfWorkload(resource);
  if (main === UNKNOWN) {
    return UNKNOWN;
  }
  if (main === undefined) {
    return { entrypoint: [], args: [] };
  }
  const entrypoint = containerStringsOf(main, "command");
  const args = containerStringsOf(main, "args");
  return entrypoint === UNKNOWN || args === UNKNOWN ? UNKNOWN : { entrypoint, args };
}
