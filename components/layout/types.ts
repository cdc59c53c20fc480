/**
 * A bottle's layout: what its networks, CAs and containers are, independent of how a backend
 * declares them. Plain data (no Outputs): values only a backend can produce at deploy time,
 * a token's value or a CA's key, appear as references that the backend resolves, as secrets
 * where the reference says so.
 */

import type { CaRole, NetworkRole, WorkloadRole } from "../vocabulary";

export type { CaRole, NetworkRole, OneShotRole, Role, WorkloadRole } from "../vocabulary";

export interface NetworkLayout {
  role: NetworkRole;
  /** The object's name on the engine. */
  name: string;
  /** Whether the network has no way out (no gateway, nothing on the host reachable). */
  internal: boolean;
  labels: Labels;
}

export interface CaLayout {
  role: CaRole;
  /** RSA keys are 2048 bits; ECDSA keys use P-256. */
  algorithm: "RSA" | "ECDSA";
  commonName: string;
  validityHours: number;
}

/** The images this package builds from its own Dockerfiles. */
export type BuiltImage = "egress-proxy" | "agent";

/** Where a workload's image comes from. */
export type ImageSource =
  /** An image reference, pulled unless present (pin it by digest). */
  | { reference: string }
  /** An image built from this package. */
  | { build: BuiltImage };

/** Storage mounted into a workload that outlives its container. */
export interface Mount {
  /** Where, in the container. */
  path: string;
  source:
    | { volume: { name: string; labels: Labels; keep: boolean; protect: boolean } }
    /** A directory of the engine's host. */
    | { hostPath: string };
  /** `uid:gid` that must own the mount's root (a new volume's belongs to root). */
  owner: string;
}

/** An environment variable: a literal (a token's value is never one: see LiveConfig). */
export type EnvVar = { name: string; value: string };

/** A file's content: part of a CA (`key` and `certAndKey` are secret). */
export type FileContent = { ca: CaRole; part: "cert" | "key" | "certAndKey" };

export interface FileLayout {
  /** Absolute path in the container. */
  path: string;
  content: FileContent;
  /** Octal permissions, e.g. "0444". */
  mode: string;
  /** Numeric owner uid (and gid); absent: root. */
  owner?: number;
  /** Whether the content is secret: it must never be stored or shown in plain text. */
  secret: boolean;
}

/**
 * Configuration a workload re-reads while it runs, told by SIGHUP: changing it replaces no
 * container, so the agent's connections and requests in flight never see a change. The
 * workload reads `<dir>/current/<file>`; the backend puts each change in place whole (the
 * old files or the new ones, never a mix) and waits until the workload confirms it.
 */
export interface LiveConfig {
  /** Where the workload finds the files (read-only for it). */
  dir: string;
  /** The document: shown in plans and previews, checked by the policy pack. */
  document: { file: string; text: string };
  /** Token values, by the variable the document names each with, as one JSON file (secret). */
  tokens?: { file: string; variables: Readonly<Record<string, string>> };
  /** The uid (and gid) of the workload: the files are its, readable by it only. */
  owner: number;
  /** Validate the document (with its tokens) as the workload will, before it is put in place. */
  check?: "routes";
}

/** A port a workload serves, named for what it serves (a Service's port name on Kubernetes). */
export interface ServedPort {
  name: string;
  port: number;
}

/** A workload's place on a network, and the names other workloads reach it by there. */
export interface Attachment {
  network: NetworkRole;
  aliases: string[];
}

export interface Workload {
  role: WorkloadRole;
  /**
   * The container's fixed name on the engine. Absent for a workload with `handover`: the
   * backend names each container it makes for it afresh, so a replacement can start first.
   */
  name?: string;
  /**
   * Replaced start-first, for a workload others reach by its aliases only: the replacement
   * starts and takes the aliases too (lookups return both), then the old container is told to
   * stop and gets `drainSeconds` to finish what it serves. Absent: stopped, then replaced.
   */
  handover?: { drainSeconds: number };
  labels: Labels;
  image: ImageSource;
  /** Numeric `uid:gid`. */
  user: string;
  /** Arguments after the image's entrypoint; absent: the image's own command. */
  command?: string[];
  env: EnvVar[];
  files: FileLayout[];
  /** What the workload reloads in place; everything else replaces it when it changes. */
  live?: LiveConfig;
  mounts: Mount[];
  attachments: Attachment[];
  /**
   * Where the workload writes (each an empty, private directory), when its image runs with a
   * read-only root filesystem. Absent: the root filesystem stays writable. Backends that
   * upload files into the root filesystem (Docker) keep it writable and ignore this.
   */
  writablePaths?: string[];
  /** The ports the workload serves the bottle on, and the workloads that use them. */
  serves?: { ports: ServedPort[]; clients: WorkloadRole[] };
  /**
   * The port the workload serves Prometheus metrics on (`/metrics`), to the operator's scraper
   * only: no workload of the bottle is its client, the agent least of all.
   */
  metrics?: { port: number };
  /** The ports the workload dials outside the bottle on (the bottle's only way out). */
  outbound?: { ports: number[] };
  /** A command whose success means the workload serves; later workloads wait for it. */
  health?: { command: string[] };
  memoryMb: number;
  /** The process (pids) limit. */
  maxProcesses: number;
  /**
   * Whether names outside the bottle resolve. False: the workload's resolver answers only for
   * the bottle's own names, so DNS is no way out.
   */
  externalDns: boolean;
  /** Workloads that must be up (and healthy) before this one starts. */
  after: WorkloadRole[];
}

/** The check run after every change of a container: see the Docker backend's self-test. */
export interface SelfTestLayout {
  /** The workload whose network namespace the probe runs in. */
  from: WorkloadRole;
  /** The image of the probe (it needs the egress proxy's Python). */
  probeImage: WorkloadRole;
  /** Workloads whose resolver must answer only for bottle names. */
  noExternalDns: WorkloadRole[];
  /** The proxy the probe uses: this generation of that workload, by its container's name. */
  proxy: { role: WorkloadRole; port: number };
}

/** Labels by key. */
export type Labels = Readonly<Record<string, string>>;

export interface BottleLayout {
  stack: string;
  bottle: string;
  cas: CaLayout[];
  networks: NetworkLayout[];
  /** In start order: each workload's `after` lists only workloads before it. */
  workloads: Workload[];
  /** The proxy URL the agent uses, valid on the agent network. */
  proxyUrl: string;
  /** Absent: no self-test (no agent, or turned off). */
  selfTest?: SelfTestLayout;
}
