import type { BottleLayout } from "../layout/types";
import { LABEL_KEYS } from "../vocabulary";

/** The Prometheus label a pod label becomes in `__meta_kubernetes_pod_label_<name>` (every other character an underscore). */
const podLabel = (key: string) => `__meta_kubernetes_pod_label_${key.replace(/[^a-zA-Z0-9_]/g, "_")}`;

/**
 * The spec of a Prometheus Operator PodMonitor for a bottle's gates: each pod with metrics,
 * scraped on its `metrics` port, its series labelled `stack`, `bottle` and `gate` as the shipped
 * scrape configs label them; the egress proxy's own `gate` label (the gate that decided) is kept
 * over the target's. Pure.
 */
export function podMonitorSpec(layout: BottleLayout): Record<string, unknown> {
  const gates = layout.workloads.filter((w) => w.metrics).map((w) => w.role);
  return {
    selector: { matchExpressions: [{ key: LABEL_KEYS.role, operator: "In", values: gates }] },
    podMetricsEndpoints: [
      {
        port: "metrics",
        path: "/metrics",
        relabelings: [
          { sourceLabels: [podLabel(LABEL_KEYS.stack)], targetLabel: "stack" },
          { sourceLabels: [podLabel(LABEL_KEYS.bottle)], targetLabel: "bottle" },
          { sourceLabels: [podLabel(LABEL_KEYS.role)], targetLabel: "gate" },
        ],
        metricRelabelings: [
          { sourceLabels: ["exported_gate"], regex: "(.+)", targetLabel: "gate" },
          { regex: "exported_gate", action: "labeldrop" },
        ],
      },
    ],
  };
}
