/**
 * `npm run test:e2e`: the end-to-end tier (test/e2e/README.md). Prepares one run, runs every
 * test file of the tier against it with the real Pulumi engine, and removes what the run made.
 * `run.ts --bench FILE` runs a benchmark script (test/bench/chain.ts) in the same way.
 *
 *   1. preconditions: a Docker engine, a Pulumi CLI (scripts/lib/pulumi.sh puts one on PATH),
 *      pipelock's source (PIPELOCK_SOURCE) or a pipelock image (E2E_PIPELOCK_BASE). Missing
 *      ones skip the tier with a message, or fail it when BOTTLE_E2E=required;
 *   2. a run id, a work directory test/e2e/.work/<id>/ (file backend, stack config files,
 *      PKI) and images tagged with the id (test/e2e/build-images);
 *   3. `node --test` over test/e2e/*.test.ts, each file deploying and destroying its own stacks
 *      (E2E_ONLY=lanes,bottle runs only those files, while working on them; kubernetes/live one
 *      file of the Kubernetes tier);
 *   4. cleanup of exactly what this run created: its stacks' labelled Docker objects (a
 *      fallback: the tests destroy their stacks) and its image tags. Nothing else is removed.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type E2eRun, e2eRunEnv } from "./support/run-env";
import { REPO_ROOT } from "./support/process";
import { LABEL_KEYS } from "../../components/vocabulary";

const E2E_DIR = __dirname;
const required = process.env.BOTTLE_E2E === "required";
const kubernetesRequired = process.env.BOTTLE_K8S === "required";
const CLUSTER = path.join(REPO_ROOT, "test", "k8s", "cluster");
// `run.ts --bench FILE`: the same run around a benchmark script instead of the test files.
const bench = process.argv[2] === "--bench" ? path.resolve(process.argv[3] ?? "") : undefined;

function sh(argv: string[], env: NodeJS.ProcessEnv = process.env): { code: number; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env, encoding: "utf8" });
  return { code: r.status ?? 1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Why the tier cannot run here, or undefined. */
function missingPrecondition(): string | undefined {
  if (sh(["docker", "info"]).code !== 0) return "no Docker engine answers `docker info` (start one: scripts/docker/ensure-engine)";
  if (sh(["pulumi", "version"]).code !== 0) {
    return "no Pulumi CLI on PATH (install it, or set BOT_BOTTLE_PULUMI_BUNDLE; scripts/test sources scripts/lib/pulumi.sh)";
  }
  if (!process.env.PIPELOCK_SOURCE && !process.env.E2E_PIPELOCK_BASE) {
    return "neither PIPELOCK_SOURCE (pipelock's source, to build it) nor E2E_PIPELOCK_BASE (a pipelock image) is set";
  }
  return undefined;
}

/** Removes the Docker objects labelled with one of this run's stacks, and its image tags. */
function cleanup(run: E2eRun): void {
  const stacksFile = path.join(run.workDir, "stacks.txt");
  const stacks = fs.existsSync(stacksFile) ? fs.readFileSync(stacksFile, "utf8").split("\n").filter(Boolean) : [];
  for (const stack of stacks) {
    const filter = `label=bot-bottle.stack=${stack}`;
    const list = (argv: string[]) => sh(argv).out.split("\n").filter(Boolean);
    const containers = list(["docker", "ps", "-aq", "--filter", filter]);
    if (containers.length > 0) sh(["docker", "rm", "-f", ...containers]);
    const networks = list(["docker", "network", "ls", "-q", "--filter", filter]);
    if (networks.length > 0) sh(["docker", "network", "rm", ...networks]);
    const volumes = list(["docker", "volume", "ls", "-q", "--filter", filter]);
    if (volumes.length > 0) sh(["docker", "volume", "rm", "-f", ...volumes]);
  }
  const kubeconfig = clusterKubeconfig();
  if (kubeconfig !== undefined) {
    for (const stack of stacks) {
      sh([
        "kubectl",
        "--kubeconfig",
        kubeconfig,
        "delete",
        "namespaces,persistentvolumes",
        "-l",
        `${LABEL_KEYS.stack}=${stack}`,
        "--ignore-not-found",
        "--wait=false",
      ]);
    }
    sh([
      "kubectl",
      "--kubeconfig",
      kubeconfig,
      "delete",
      "persistentvolumes",
      "-l",
      `${LABEL_KEYS.stack}=e2e-${run.id}-kube`,
      "--ignore-not-found",
      "--wait=false",
    ]);
    sh([CLUSTER, "remove-images", run.images.egressProxy, run.images.pipelock, run.images.probe]);
  }
  const imagesFile = path.join(run.workDir, "images.txt");
  const images = fs.existsSync(imagesFile) ? fs.readFileSync(imagesFile, "utf8").split("\n").filter(Boolean) : [];
  // The egress-proxy images the program built for the run's stacks carry the stack's name.
  images.push(...stacks.map((stack) => `bot-bottle/egress-proxy:${stack}`));
  const present = images.filter((image) => sh(["docker", "image", "inspect", image]).code === 0);
  if (present.length > 0) sh(["docker", "rmi", ...present]);
  console.log(`e2e: removed this run's objects (${stacks.length} stacks, ${present.length} image tags)`);
}

/** The test cluster's kubeconfig, or undefined when none runs. */
function clusterKubeconfig(): string | undefined {
  const info = sh([CLUSTER, "info"]);
  if (info.code !== 0) return undefined;
  return (JSON.parse(info.out) as { kubeconfig: string }).kubeconfig;
}

/** The Kubernetes tier's files when the test cluster runs; why not, otherwise. */
function kubernetesFiles(): string[] | string {
  if (clusterKubeconfig() === undefined) return "no test cluster runs (start one: test/k8s/cluster start)";
  const dir = path.join(E2E_DIR, "kubernetes");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".test.ts") && (only?.includes("kubernetes") || chosen(`kubernetes/${f}`)))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Kubernetes files that restart the test cluster's kubelet (test/k8s/cluster restart-kubelet). */
const NODE_RESTARTING_FILES = ["live.test.ts"];

/** E2E_ONLY: the files to run, by name without `.test.ts` ("kubernetes" for that tier, "kubernetes/live" for one of its files); unset: all. */
const only = process.env.E2E_ONLY?.split(",").map((f) => f.trim());
const chosen = (file: string) => only === undefined || only.includes(file.replace(/\.test\.ts$/, ""));

function main(): number {
  const missing = missingPrecondition();
  if (missing) {
    if (required) {
      console.error(`e2e: FAILED: ${missing}, and BOTTLE_E2E=required`);
      return 1;
    }
    console.log(`e2e: SKIPPED: ${missing}; set BOTTLE_E2E=required to make this an error`);
    return 0;
  }

  const id = randomBytes(3).toString("hex");
  const workDir = path.join(E2E_DIR, ".work", id);
  fs.mkdirSync(workDir, { recursive: true });
  const run: E2eRun = {
    id,
    workDir,
    passphrase: randomBytes(24).toString("base64url"),
    pulumiHome: path.join(REPO_ROOT, ".tools", "pulumi-home"),
    images: {
      egressProxy: `bot-bottle-test/egress-proxy:${id}`,
      pipelock: `bot-bottle-test/pipelock:${id}`,
      probe: `bot-bottle-test/probe:${id}`,
      agent: process.env.E2E_IMAGE_AGENT ?? `bot-bottle/agent:e2e-${id}`,
      upstream: `bot-bottle-test/upstream:${id}`,
      brokenEgressProxy: `bot-bottle-test/egress-proxy-broken:${id}`,
      remoteHost: `bot-bottle-test/remote-host:${id}`,
    },
  };
  console.log(`e2e: run ${id}, work directory ${path.relative(REPO_ROOT, workDir)}`);
  let code = 1;
  try {
    const built = spawnSync(path.join(E2E_DIR, "build-images"), [id, workDir], { stdio: "inherit", cwd: REPO_ROOT });
    if (built.status !== 0) {
      console.error("e2e: FAILED: test/e2e/build-images");
      return 1;
    }
    const files = fs
      .readdirSync(E2E_DIR)
      .filter((f) => f.endsWith(".test.ts") && chosen(f))
      .sort()
      .map((f) => path.join(E2E_DIR, f));
    const kubernetes = only === undefined || only.some((f) => f === "kubernetes" || f.startsWith("kubernetes/")) ? kubernetesFiles() : [];
    if (typeof kubernetes === "string") {
      if (kubernetesRequired) {
        console.error(`e2e: FAILED: the Kubernetes tier cannot run: ${kubernetes}, and BOTTLE_K8S=required`);
        return 1;
      }
      console.log(`e2e: Kubernetes tier SKIPPED: ${kubernetes}; set BOTTLE_K8S=required to make this an error`);
    }
    // The Kubernetes files run after the Docker ones, not beside them: kube-router saves the
    // host's whole filter table at each policy sync and restores it at the end, so a rule
    // Docker adds in between is lost. A Docker network created while the Kubernetes tests churn
    // NetworkPolicies lost its FORWARD rule that way (every connection across it timed out).
    // Files that restart a node's components run last and alone: no other test sees the node restart.
    const clusterFiles = typeof kubernetes === "string" ? [] : kubernetes;
    const restartsNode = (file: string) => NODE_RESTARTING_FILES.includes(path.basename(file));
    const batches = bench
      ? [[]]
      : [files, clusterFiles.filter((f) => !restartsNode(f)), clusterFiles.filter(restartsNode)].filter((batch) => batch.length > 0);
    if (batches.length === 0) {
      console.error(`e2e: FAILED: E2E_ONLY=${process.env.E2E_ONLY ?? ""} names no test file of the tier`);
      return 1;
    }
    code = 0;
    for (const batch of batches) {
      const argv = bench
        ? ["--import", "tsx", bench]
        : ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=3", "--test-timeout=1200000", ...batch];
      const tests = spawnSync(process.execPath, argv, { stdio: "inherit", cwd: REPO_ROOT, env: { ...process.env, ...e2eRunEnv(run) } });
      if ((tests.status ?? 1) !== 0) code = tests.status ?? 1;
    }
    return code;
  } finally {
    cleanup(run);
    // The backend holds only ciphertext, but keep nothing of a passing run; keep a failed one to read.
    if (code === 0) fs.rmSync(workDir, { recursive: true, force: true });
    else console.log(`e2e: kept ${path.relative(REPO_ROOT, workDir)} for inspection`);
  }
}

process.exit(main());
