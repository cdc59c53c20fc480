/**
 * The Kubernetes tier, a kept workspace (the default): `destroy` leaves the bottle's namespace
 * with only the workspace claim in it, and the next `up` adopts both and finds the work again.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ClusterInfo, type Kubectl, testCluster } from "../support/kubernetes";
import { waitFor } from "../support/process";
import { e2eRun } from "../support/run-env";
import { tail, TestStack, type TestStackConfig } from "../support/stack";
import { LABEL_KEYS } from "../../../components/vocabulary";

describe("a kept workspace on Kubernetes outlives destroy", () => {
  const { id, images, workDir } = e2eRun();
  const volume = `e2e-${id}-kept`;
  let cluster: ClusterInfo;
  let kubectl: Kubectl;
  let stack: TestStack;
  const ns = () => `${stack.name}-solo`;

  const config = (): TestStackConfig => ({
    backend: "kubernetes",
    kubernetes: { kubeconfig: cluster.kubeconfig, storageClass: volume, workspaceSizeGb: 1 },
    bottles: [
      {
        name: "solo",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET"] }],
        // The default workspace: kept by destroy.
        agent: { image: images.probe, command: ["sleep", "infinity"], user: "1000:1000" },
        egressProxy: { image: images.egressProxy },
        pipelock: { image: images.pipelock, settings: { trusted_domains: ["upstream.test"] } },
        selfTest: false,
      },
    ],
  });

  before(async () => {
    ({ cluster, kubectl } = await testCluster([images.egressProxy, images.pipelock, images.probe]));
    // Retain: the volume stays bound to the kept claim across destroy and up.
    await kubectl.hostPathVolume(volume, {
      dir: path.join(workDir, "kube-kept-workspace"),
      stack: `e2e-${id}-kube`,
      reclaimPolicy: "Retain",
    });
    stack = await TestStack.create("kkept", config());
  });

  after(async () => {
    // The kept namespace is the test's to remove: destroy leaves it by design.
    if (kubectl && stack) {
      await kubectl.run(["delete", "namespace", ns(), "--ignore-not-found", "--timeout=120s"]);
      await stack.remove();
    }
    if (kubectl) await kubectl.run(["delete", "persistentvolume", volume, "--ignore-not-found"]);
  });

  it("destroy leaves the namespace with the claim only; the next up adopts them and the work is there", async () => {
    const up = await stack.up();
    assert.ok(up.ok, `up failed:\n${tail(up.output)}`);
    const agent = kubectl.shell(ns(), "agent");
    const wrote = await agent.exec(["sh", "-c", "echo kept-work > /workspace/notes.txt"]);
    assert.equal(wrote.code, 0, wrote.stderr);

    const destroyed = await stack.destroy();
    assert.ok(destroyed.ok, `destroy failed:\n${tail(destroyed.output)}`);
    await waitFor("the bottle's pods to go", 120_000, async () =>
      (await kubectl.json(["get", "pods", "-n", ns()])).items.length === 0 ? true : undefined,
    );
    const left = await kubectl.json([
      "get",
      "all,configmaps,secrets,networkpolicies,persistentvolumeclaims",
      "-n",
      ns(),
      "-l",
      LABEL_KEYS.stack,
    ]);
    assert.deepEqual(
      left.items.map((o: any) => `${o.kind}/${o.metadata.name}`),
      ["PersistentVolumeClaim/workspace"],
    );

    const again = await stack.up();
    assert.ok(again.ok, `the second up failed:\n${tail(again.output)}`);
    const read = await kubectl.shell(ns(), "agent").exec(["cat", "/workspace/notes.txt"]);
    assert.equal(read.stdout.trim(), "kept-work", read.stderr);
  });
});
