import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { EGRESS_PROXY_PYTHON } from "../egress-proxy/workload";
import type { FileLayout, Workload, WorkloadRole } from "../layout/types";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;
/** A name in a pod's /etc/hosts: the address is a Service's, known once the Service exists. */
export type HostAlias = { ip: pulumi.Input<string>; hostnames: string[] };

/** The reloader sidecar's program in the egress-proxy image (see reload_on_change.py). */
export const RELOADER_SCRIPT = "/opt/egress-proxy/reload_on_change.py";

/** The process each gate runs, as the reloader finds it to send SIGHUP. */
export const GATE_PROCESS: Readonly<Partial<Record<WorkloadRole, string>>> = {
  "egress-proxy": "mitmdump",
  pipelock: "pipelock",
  "pipelock-bulk": "pipelock",
};

/** Resolver settings of a pod with no DNS: the only nameserver is its own loopback, where
 * nothing listens, so every lookup but /etc/hosts fails at once and no query leaves the pod. */
export const NO_DNS: Pick<PodSpec, "dnsPolicy" | "dnsConfig"> = {
  dnsPolicy: "None",
  dnsConfig: {
    nameservers: ["127.0.0.1"],
    options: [
      { name: "timeout", value: "1" },
      { name: "attempts", value: "1" },
    ],
  },
};

/** What a workload's pod needs besides its layout: names of objects declared beside it. */
export interface PodObjects {
  image: string;
  /** The Secret holding the workload's files (`file-<index>` keys, in `files` order). */
  filesSecret?: string;
  /**
   * Names the workload reaches others by, resolved in /etc/hosts to their Services' IPs; absent
   * when it reaches none. One value for the whole list: before the Services exist every IP is
   * unknown, and a list of entries with unknown IPs has duplicate keys (the `ip` entries merge
   * by), which the provider's preview refuses; an unknown list it leaves to `up`.
   */
  hostAliases?: pulumi.Input<HostAlias[]>;
  /** The live configuration's ConfigMap (the document) and Secret (the tokens). */
  live?: { configMap: string; secret?: string; reloaderImage: string };
  /** Claims by mount path (the workspace). */
  claims: Readonly<Record<string, string>>;
}

/**
 * A workload's pod: its uid and gid, no privilege, no capabilities, the runtime's seccomp
 * profile, no service-account token, no service variables, a read-only root filesystem where
 * the layout lists where it writes, memory bounded. Files are a Secret's keys mounted one by
 * one (readable by the workload's group only when secret); the live configuration is one
 * projected volume (document and tokens change together, in one swap) with a sidecar that
 * tells the gate to reload when kubelet swaps it. Pure.
 */
export function podSpecOf(workload: Workload, objects: PodObjects): PodSpec {
  const [uid, gid = uid] = workload.user.split(":").map(Number) as [number, number?];
  const volumes: Volume[] = [];
  const mounts: VolumeMount[] = [];
  (workload.writablePaths ?? []).forEach((path, i) => {
    volumes.push({ name: `writable-${i}`, emptyDir: { sizeLimit: "64Mi" } });
    mounts.push({ name: `writable-${i}`, mountPath: path });
  });
  if (workload.files.length > 0) {
    if (objects.filesSecret === undefined) throw new Error(`the "${workload.role}" pod has files and no Secret for them`);
    volumes.push({
      name: "files",
      secret: {
        secretName: objects.filesSecret,
        items: workload.files.map((file, i) => ({ key: fileKey(i), path: fileKey(i), mode: fileMode(file) })),
      },
    });
    for (const [i, file] of workload.files.entries())
      mounts.push({ name: "files", mountPath: file.path, subPath: fileKey(i), readOnly: true });
  }
  workload.mounts.forEach((mount, i) => {
    const claim = objects.claims[mount.path];
    if ("hostPath" in mount.source || claim === undefined) {
      throw new Error(`the "${workload.role}" pod mounts ${mount.path} from no claim (on Kubernetes every mount is a claim)`);
    }
    volumes.push({ name: `claim-${i}`, persistentVolumeClaim: { claimName: claim } });
    mounts.push({ name: `claim-${i}`, mountPath: mount.path });
  });
  const sidecars: Container[] = [];
  const { live } = workload;
  if (live) {
    if (objects.live === undefined) throw new Error(`the "${workload.role}" pod has live configuration and no ConfigMap for it`);
    const sources = [
      { configMap: { name: objects.live.configMap } },
      ...(objects.live.secret !== undefined ? [{ secret: { name: objects.live.secret } }] : []),
    ];
    volumes.push({ name: "live", projected: { sources, defaultMode: 0o440 } });
    const liveMount = { name: "live", mountPath: `${live.dir}/current`, readOnly: true };
    mounts.push(liveMount);
    sidecars.push({
      name: "reloader",
      image: objects.live.reloaderImage,
      imagePullPolicy: "IfNotPresent",
      command: [
        EGRESS_PROXY_PYTHON,
        RELOADER_SCRIPT,
        "--dir",
        liveMount.mountPath,
        "--process",
        GATE_PROCESS[workload.role] ?? workload.role,
      ],
      securityContext: containerSecurity(uid, gid, true),
      resources: limits(32),
      volumeMounts: [liveMount],
    });
  }
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // The reloader signals the gate: it must see its process.
    ...(sidecars.length > 0 && { shareProcessNamespace: true }),
    securityContext: {
      runAsUser: uid,
      runAsGroup: gid,
      runAsNonRoot: true,
      fsGroup: gid,
      fsGroupChangePolicy: "OnRootMismatch",
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(workload.externalDns ? {} : NO_DNS),
    ...(objects.hostAliases !== undefined && { hostAliases: objects.hostAliases }),
    ...(workload.handover && { terminationGracePeriodSeconds: workload.handover.drainSeconds + 5 }),
    containers: [
      {
        name: workload.role,
        image: objects.image,
        imagePullPolicy: "IfNotPresent",
        ...(workload.command && { args: workload.command }),
        ...(workload.env.length > 0 && { env: workload.env.map(({ name, value }) => ({ name, value })) }),
        ...(workload.metrics && { ports: [{ name: "metrics", containerPort: workload.metrics.port, protocol: "TCP" }] }),
        securityContext: containerSecurity(uid, gid, workload.writablePaths !== undefined),
        resources: limits(workload.memoryMb),
        ...(workload.health && {
          readinessProbe: { exec: { command: workload.health.command }, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 3 },
        }),
        ...(mounts.length > 0 && { volumeMounts: mounts }),
      },
      ...sidecars,
    ],
    ...(volumes.length > 0 && { volumes }),
  };
}

/** The annotations Prometheus's usual pod discovery keeps a target by (`prometheus.io/*`). */
export function scrapeAnnotations(port: number): Record<string, string> {
  return { "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": "/metrics" };
}

/** The key of a workload's file in its Secret. */
export function fileKey(index: number): string {
  return `file-${index}`;
}

/**
 * A file's mode on Kubernetes: kubelet makes mounted files root's, so a file for its owner
 * only is read-only for the workload's group (the pod's fsGroup) instead.
 */
export function fileMode(file: FileLayout): number {
  return file.owner === undefined ? parseInt(file.mode, 8) : 0o440;
}

function containerSecurity(uid: number, gid: number, readOnlyRoot: boolean): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsUser: uid,
    runAsGroup: gid,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: readOnlyRoot,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function limits(memoryMb: number): k8s.types.input.core.v1.ResourceRequirements {
  return { requests: { memory: `${memoryMb}Mi`, cpu: "50m" }, limits: { memory: `${memoryMb}Mi` } };
}
