/**
 * The storage the program mounts into a bottle's workloads, shape by shape as a plan shows it,
 * and what the reach makes of each: a host directory is read (`workspace.hostPath`: the agent
 * can change the engine's host, and the directory outlives the bottle); the bottle's own
 * volumes, secrets and scratch space say nothing about what the agent can reach. Any other
 * shape (a Docker bind mount, a device, another container's volumes, an NFS volume on
 * Kubernetes) could give a workload storage the reach does not see: the reach diff refuses a
 * plan that has one (reach.ts `unknownToReach`) until it is listed here.
 */
import type { KeyTable } from "./document-keys";

/** An entry of a Docker container's `volumes`. */
export const DOCKER_VOLUME_KEYS: KeyTable = {
  containerPath: "ignored: where it is mounted in the container",
  volumeName: "ignored: a volume the program made for the bottle (the workspace, a gate's live configuration)",
  readOnly: "ignored: it only takes writing away",
  hostPath: "read",
};

/** The Docker provider's other container inputs that give a container storage or a device: the program sets none. */
export const UNREAD_DOCKER_STORAGE_INPUTS: readonly string[] = ["mounts", "devices", "deviceRequests", "gpus", "tmpfs"];

/** An entry of a Kubernetes pod's `volumes` (its containers mount nothing else). */
export const KUBERNETES_VOLUME_KEYS: KeyTable = {
  name: "ignored: how the pod's containers name it",
  emptyDir: "ignored: scratch space that goes with the pod",
  secret: "ignored: the workload's own files (a CA, the egress proxy's tokens)",
  projected: "ignored: a gate's live configuration (its ConfigMap and tokens Secret)",
  persistentVolumeClaim: "ignored: the workspace's claim, made by the program for the bottle",
  hostPath: "read",
};
