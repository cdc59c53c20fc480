/**
 * A bottle on a Kubernetes cluster (kubectl with the stack file's kubeconfig and context), in
 * its namespace: a Deployment per workload, each named after its role, as is its container.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_WORKSPACE_PATH, LABEL_KEYS, namespaceName, type OneShotRole, type WorkloadRole } from "../../components/index";
import { readStackFile } from "../../infra/stack-file";
import { type BottleRef, type Cli, type DeployedBottle, type Engine, gatesAmong, logFlags } from "./deployed";

/** The stack file's `kubernetes` settings that name a bottle's cluster. */
export const KUBERNETES_ENGINE_KEYS = ["kubeconfig", "context"] as const;

/** The self-test's role: its pod's label, and the name of the Job of the last `up` that ran it. */
const SELF_TEST: OneShotRole = "self-test";

export function kubernetesBottle(ref: BottleRef, engine: Engine, cli: Cli): DeployedBottle {
  const { stack, bottle } = ref;
  const namespace = namespaceName(stack, bottle);
  if (namespace === undefined)
    throw new Error(`bottle "${bottle}" of stack "${stack}": "${stack}-${bottle}" cannot name a Kubernetes namespace, so no up made it`);
  const where = `the Kubernetes cluster ${engine.context ?? "of the kubeconfig's current context"}`;
  const flags = clusterFlags(engine);
  const kubectl = (args: string[], opts: { interactive?: boolean } = {}) =>
    cli.run("kubectl", [...flags, ...args], { env: cli.env, ...opts });
  const workload = (role: WorkloadRole) => [`deploy/${role}`, "-c", role];
  const gates = () =>
    gatesAmong(kubectl(["get", "deployments", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}"]).stdout.split(" "));

  return {
    execInAgent(command) {
      const inWorkspace = ["sh", "-c", 'cd "$0" 2>/dev/null; exec "$@"', workspacePath(ref), ...command];
      const args = ["exec", ...(cli.tty ? ["-it"] : ["-i"]), "-n", namespace, ...workload("agent"), "--", ...inWorkspace];
      return kubectl(args, { interactive: true }).status ?? 1;
    },

    status() {
      const pods = kubectl(["get", "pods", "-n", namespace, "-o", "json"]);
      if (pods.status !== 0) throw new Error(`kubectl on ${where}: ${pods.stderr.trim()}`);
      const items = (JSON.parse(pods.stdout) as { items: PodState[] }).items;
      if (items.length === 0)
        throw new Error(`no pod of bottle "${bottle}" of stack "${stack}" in namespace ${namespace} on ${where}: is the stack up?`);
      console.log(`bottle "${bottle}" of stack "${stack}" in namespace ${namespace} on ${where}`);
      let ok = true;
      for (const pod of items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
        const role = pod.metadata.labels?.[LABEL_KEYS.role] ?? "?";
        const containers = (pod.status.containerStatuses ?? [])
          .map((c) => `${c.name} ${c.ready ? "ready" : "not ready"}, ${c.restartCount} restarts`)
          .join("; ");
        console.log(`  ${role.padEnd(12)} ${pod.metadata.name}: ${pod.status.phase}; ${containers}`);
        if (role !== SELF_TEST && !(pod.status.containerStatuses ?? []).every((c) => c.ready)) ok = false;
      }
      const job = kubectl(["get", "job", SELF_TEST, "-n", namespace, "-o", "jsonpath={.status.succeeded}"]);
      console.log(`  self-test (the Job of the last up): ${job.stdout === "1" ? "passed" : "did not pass"}`);
      return ok && job.stdout === "1" ? 0 : 1;
    },

    gateLogs(options) {
      const podLog = (gate: WorkloadRole) => {
        const out = kubectl(["logs", "-n", namespace, ...workload(gate), ...logFlags(options)]);
        if (out.status !== 0) throw new Error(`kubectl logs ${gate} on ${where}: ${out.stderr.trim()}`);
        return out.stdout;
      };
      return Object.fromEntries(gates().map((gate) => [gate, podLog(gate)]));
    },

    followGateLogs(options) {
      const follow = (gate: WorkloadRole) =>
        cli.follow(
          "kubectl",
          [...flags, "logs", "-n", namespace, ...workload(gate), ...logFlags({ ...options, follow: true, timestamps: true })],
          {
            env: cli.env,
          },
        );
      return Object.fromEntries(gates().map((gate) => [gate, follow(gate)]));
    },
  };
}

interface PodState {
  metadata: { name: string; labels?: Record<string, string> };
  status: { phase: string; containerStatuses?: { name: string; ready: boolean; restartCount: number }[] };
}

/** kubectl's flags for a cluster: a kubeconfig given by its contents goes to a private file. */
function clusterFlags(engine: Engine): string[] {
  let { kubeconfig } = engine;
  if (kubeconfig?.includes("\n")) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-kubeconfig-"));
    const file = path.join(dir, "config");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    kubeconfig = file;
  }
  return [
    ...(kubeconfig !== undefined ? ["--kubeconfig", kubeconfig] : []),
    ...(engine.context !== undefined ? ["--context", engine.context] : []),
  ];
}

/** The agent's workspace, as the stack file sets it. */
function workspacePath(ref: BottleRef): string {
  const { config } = readStackFile(fs.readFileSync(ref.stackFile, "utf8"), () => "placeholder");
  const entry = (Array.isArray(config.bottles) ? config.bottles : []).find((b: { name?: unknown }) => b.name === ref.bottle) as
    | { agent?: { workspace?: { path?: string } } }
    | undefined;
  return entry?.agent?.workspace?.path ?? DEFAULT_WORKSPACE_PATH;
}
