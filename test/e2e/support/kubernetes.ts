/**
 * The test cluster (test/k8s/cluster) as the Kubernetes tests use it: its facts, kubectl
 * against it, and shells in a bottle's pods.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { LABEL_KEYS } from "../../../components/vocabulary";
import { REPO_ROOT, mustRun, run, type Run, waitFor } from "./process";
import { tail, type TestStack } from "./stack";
import type { Shell } from "./loop";

/** What `test/k8s/cluster info` prints. */
export interface ClusterInfo {
  kubeconfig: string;
  context: string;
  apiServer: string;
  nodeIp: string;
  podCidr: string;
  serviceCidr: string;
  dnsServiceIp: string;
}

export const CLUSTER_SCRIPT = `${REPO_ROOT}/test/k8s/cluster`;

/** The cluster DNS's test hosts file (test/k8s/README.md). */
const TEST_HOSTS_CONFIGMAP = ["-n", "kube-system", "configmap", "bot-bottle-test-hosts"];

/**
 * The test "internet" for a Kubernetes test: the test upstream (`image`) in a container of its
 * own on a Docker network of its own, outside every range pipelock may not dial, both named
 * `<name>-upstream` and `<name>-internet` and labelled with `stack`. Returns its address.
 */
export async function startTestInternet(name: string, stack: string, image: string): Promise<string> {
  await mustRun(["docker", "network", "create", "--label", `${LABEL_KEYS.stack}=${stack}`, `${name}-internet`]);
  await mustRun([
    "docker",
    "run",
    "-d",
    "--name",
    `${name}-upstream`,
    "--label",
    `${LABEL_KEYS.stack}=${stack}`,
    "--network",
    `${name}-internet`,
    image,
  ]);
  return (
    await mustRun(["docker", "inspect", "-f", `{{(index .NetworkSettings.Networks "${name}-internet").IPAddress}}`, `${name}-upstream`])
  ).trim();
}

/** Destroys a stack on the cluster and waits until its namespaces are gone (they terminate in the background), then removes it. */
export async function destroyOnCluster(stack: TestStack, kubectl: Kubectl): Promise<void> {
  const destroyed = await stack.destroy();
  assert.ok(destroyed.ok, `destroy ${stack.name}:\n${tail(destroyed.output)}`);
  await waitFor(`the namespaces of ${stack.name} to go`, 120_000, async () =>
    (await kubectl.json(["get", "namespaces", "-l", `${LABEL_KEYS.stack}=${stack.name}`])).items.length === 0 ? true : undefined,
  );
  await stack.remove();
}

/** Removes what startTestInternet started. */
export async function removeTestInternet(name: string): Promise<void> {
  await run(["docker", "rm", "-f", `${name}-upstream`]);
  await run(["docker", "network", "rm", `${name}-internet`]);
}

/**
 * The running test cluster, with `images` (Docker images of the run) loaded into it; throws
 * when none runs.
 */
export async function testCluster(images: string[]): Promise<{ cluster: ClusterInfo; kubectl: Kubectl }> {
  const info = await clusterInfo();
  if (typeof info === "string") throw new Error(info);
  await mustRun([CLUSTER_SCRIPT, "load-images", ...images], { timeoutMs: 600_000 });
  return { cluster: info, kubectl: new Kubectl(info) };
}

/** The running test cluster, or why there is none. */
export async function clusterInfo(): Promise<ClusterInfo | string> {
  const r = await run([CLUSTER_SCRIPT, "info"]);
  if (r.code !== 0) return `no test cluster running (start one: test/k8s/cluster start): ${r.stderr.trim()}`;
  return JSON.parse(r.stdout) as ClusterInfo;
}

/** A shell in a pod's container (`kubectl exec`). */
export interface PodShell extends Shell {
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<Run>;
}

export class Kubectl {
  constructor(private readonly cluster: ClusterInfo) {}

  run(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
    return run(["kubectl", "--kubeconfig", this.cluster.kubeconfig, ...args], opts);
  }

  async must(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return mustRun(["kubectl", "--kubeconfig", this.cluster.kubeconfig, ...args], opts);
  }

  /**
   * A volume for a workspace claim (the test cluster has no provisioner): a directory of the
   * node owned by uid 1000, 1 GiB, in a storage class of its own name, labelled with `stack`.
   */
  async hostPathVolume(name: string, opts: { dir: string; stack: string; reclaimPolicy: "Delete" | "Retain" }): Promise<void> {
    fs.mkdirSync(opts.dir, { recursive: true });
    fs.chownSync(opts.dir, 1000, 1000);
    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name, labels: { [LABEL_KEYS.stack]: opts.stack } },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: name,
        persistentVolumeReclaimPolicy: opts.reclaimPolicy,
        hostPath: { path: opts.dir, type: "Directory" },
      },
    };
    await this.must(["apply", "-f", "-"], { input: JSON.stringify(pv) });
  }

  /**
   * Puts `lines` (/etc/hosts format) in the cluster DNS's test hosts file, each marked `mark`,
   * in place of the lines marked so before (none: removes them); retried on a conflicting write.
   */
  async setTestHosts(mark: string, lines: string[]): Promise<void> {
    const suffix = `# ${mark}`;
    for (let attempt = 0; ; attempt++) {
      const current = await this.json(["get", ...TEST_HOSTS_CONFIGMAP]);
      const kept = String(current.data?.hosts ?? "")
        .split("\n")
        .filter((l: string) => l && !l.endsWith(suffix));
      current.data = { hosts: `${[...kept, ...lines.map((l) => `${l} ${suffix}`)].join("\n")}\n` };
      const r = await this.run(["replace", "-f", "-"], { input: JSON.stringify(current) });
      if (r.code === 0) return;
      if (attempt >= 5 || !/conflict|modified/i.test(r.stderr)) throw new Error(`updating the test hosts: ${r.stderr}`);
    }
  }

  /** One object as JSON. */
  async json<T = any>(args: string[]): Promise<T> {
    return JSON.parse(await this.must([...args, "-o", "json"])) as T;
  }

  /** A shell in a container of the one pod of a bottle's Deployment. */
  shell(namespace: string, deployment: string, container = deployment): PodShell {
    const target = ["exec", "-n", namespace, `deploy/${deployment}`, "-c", container, "--"];
    return {
      exec: (argv: string[], opts: { timeoutMs?: number } = {}) => this.run([...target, ...argv], { timeoutMs: opts.timeoutMs ?? 60_000 }),
      // kubectl exec cannot detach: the script is started in a session of its own, which outlives the exec.
      start: async (script) => void (await this.must([...target, "sh", "-c", `setsid sh -c "$0" </dev/null >/dev/null 2>&1 &`, script])),
    };
  }
}
