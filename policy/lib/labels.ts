/**
 * Readers of the `bot-bottle.*` labels: which bottle an object belongs to and which role it plays,
 * on a Docker object, a Kubernetes object, and the pods a Kubernetes kind runs.
 */
import { LABELS } from "./vocabulary";
import { UNKNOWN, known, snapshot } from "./props";
import { labelMap, podTemplateOf } from "./kubernetes";

/**
 * Reads an object's labels into a map: a Docker `labels: [{label, value}]` list, or a Kubernetes
 * object's `metadata.labels` map. Unknown entries are skipped.
 */
export function labelsOf(props: Record<string, any>): Map<string, string> {
  const out = new Map<string, string>();
  const list = known(() => props.labels as unknown);
  if (Array.isArray(list)) {
    for (let i = 0; i < list.length; i++) {
      const entry = known(() => ({ label: list[i].label, value: list[i].value }));
      if (entry !== UNKNOWN && typeof entry.label === "string" && typeof entry.value === "string") {
        out.set(entry.label, entry.value);
      }
    }
    return out;
  }
  return labelMap(snapshot(() => props.metadata?.labels));
}

/** The `bot-bottle.role` label of a Docker object, if any. */
export function roleOf(props: Record<string, any>): string | undefined {
  return labelsOf(props).get(LABELS.role);
}

/**
 * Identifies the bottle a Docker object belongs to (`<stack>/<bottle>` from its labels), so that
 * cross-resource rules compare an egress proxy with its own bottle's pipelock only.
 */
export function bottleOf(props: Record<string, any>): string | undefined {
  return bottleOfLabels(labelsOf(props));
}

function bottleOfLabels(labels: ReadonlyMap<string, string>): string | undefined {
  const stack = labels.get(LABELS.stack);
  const bottle = labels.get(LABELS.bottle);
  return stack !== undefined && bottle !== undefined ? `${stack}/${bottle}` : undefined;
}

/**
 * The labels that say what a resource is: a Docker object's labels, a Kubernetes object's
 * `metadata.labels`, and for a Kubernetes kind that runs pods its pod template's labels over
 * those (the pods carry them, and network policies select the pods by them).
 */
export function labelsOfResource(resource: { type: string; props: Record<string, any> }): Map<string, string> {
  const labels = labelsOf(resource.props);
  const pod = podTemplateOf(resource);
  if (pod !== undefined && pod !== UNKNOWN) {
    for (const [k, v] of pod.labels) {
      labels.set(k, v);
    }
  }
  return labels;
}

/** The `bot-bottle.role` of a resource (see labelsOfResource). */
export function roleOfResource(resource: { type: string; props: Record<string, any> }): string | undefined {
  return labelsOfResource(resource).get(LABELS.role);
}

/** The bottle of a resource, `<stack>/<bottle>` (see labelsOfResource). */
export function bottleOfResource(resource: { type: string; props: Record<string, any> }): string | undefined {
  return bottleOfLabels(labelsOfResource(resource));
}
