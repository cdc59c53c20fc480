import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { imagesPinnedByDigest, isPinnedByDigest, productionImagesPinnedByDigest } from "../policies/images";
import { bottleGraph, find, kubernetesBottleGraph, object, podSpec } from "./fixtures";
import { type DeclaredResource, runResourcePolicy } from "../offline/run";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const PRODUCTION_TAGS = { "bot-bottle:environment": "production" };

function remoteImage(name: string): DeclaredResource {
  return { type: "docker:index/remoteImage:RemoteImage", name: "reviewer-agent-image", props: { name, keepLocally: true } };
}

describe("isPinnedByDigest", () => {
  it("accepts digest references and image ids", () => {
    assert.equal(isPinnedByDigest(`ghcr.io/luckypipewrench/pipelock:2.3.0@${DIGEST}`), true);
    assert.equal(isPinnedByDigest(`node@${DIGEST}`), true);
    assert.equal(isPinnedByDigest(DIGEST), true);
  });

  it("refuses tags and malformed digests", () => {
    assert.equal(isPinnedByDigest("ghcr.io/luckypipewrench/pipelock:2.3.0"), false);
    assert.equal(isPinnedByDigest("node:22-bookworm-slim"), false);
    assert.equal(isPinnedByDigest("node@sha256:abc"), false);
  });
});

describe("production-images-pinned-by-digest", () => {
  it("passes digest-pinned images in a production stack", async () => {
    const result = await runResourcePolicy(productionImagesPinnedByDigest, remoteImage(`node:22@${DIGEST}`), {
      stackTags: PRODUCTION_TAGS,
    });
    assert.deepEqual(result, { violations: [] });
  });

  it("rejects a tag in a stack tagged production", async () => {
    const result = await runResourcePolicy(productionImagesPinnedByDigest, remoteImage("node:22-bookworm-slim"), {
      stackTags: PRODUCTION_TAGS,
    });
    assert.deepEqual(result.violations, [
      "Image 'reviewer-agent-image' pulls 'node:22-bookworm-slim', a mutable tag. Pin it by digest: " +
        "'node:22-bookworm-slim@sha256:<digest>' (docker buildx imagetools inspect node:22-bookworm-slim " +
        "prints the digest).",
    ]);
  });

  it("treats a stack named prod as production without the tag", async () => {
    const image = find(bottleGraph({ stack: "prod" }), "-pipelock-image");
    const result = await runResourcePolicy(productionImagesPinnedByDigest, image, { stack: "prod" });
    assert.equal(result.violations.length, 1);
    assert.match(result.violations[0], /pulls 'ghcr.io\/luckypipewrench\/pipelock:2.3.0', a mutable tag/);
  });

  it("rejects a container whose image is a literal tag", async () => {
    const proxy = find(bottleGraph(), "-egress-proxy");
    proxy.props.image = "ghcr.io/acme/egress-proxy:latest";
    const result = await runResourcePolicy(productionImagesPinnedByDigest, proxy, { stackTags: PRODUCTION_TAGS });
    assert.equal(result.violations.length, 1);
    assert.match(result.violations[0], /^Container 'dev-reviewer-egress-proxy' runs 'ghcr.io\/acme\/egress-proxy:latest', a mutable tag/);
  });

  it("is not applicable outside production", async () => {
    const result = await runResourcePolicy(productionImagesPinnedByDigest, remoteImage("node:22"), { stack: "dev" });
    assert.deepEqual(result, {
      violations: [],
      notApplicable: "not a production stack; images-pinned-by-digest advises instead",
    });
  });
});

describe("images-pinned-by-digest (advisory outside production)", () => {
  it("is advisory by default", () => {
    assert.equal(imagesPinnedByDigest.enforcementLevel, "advisory");
    assert.equal(productionImagesPinnedByDigest.enforcementLevel, "mandatory");
  });

  it("reports a tag in a dev stack", async () => {
    const result = await runResourcePolicy(imagesPinnedByDigest, remoteImage("node:22"), { stack: "dev" });
    assert.equal(result.violations.length, 1);
    assert.match(result.violations[0], /pulls 'node:22', a mutable tag/);
  });

  it("leaves production stacks to the mandatory policy", async () => {
    const result = await runResourcePolicy(imagesPinnedByDigest, remoteImage("node:22"), { stack: "production" });
    assert.equal(result.notApplicable, "production stack; production-images-pinned-by-digest enforces instead");
  });
});

describe("image pinning on a Kubernetes bottle", () => {
  it("checks every container of every pod, in production", async () => {
    const agent = object(kubernetesBottleGraph({ stack: "prod" }), "Deployment", "agent");
    podSpec(agent).initContainers = [{ name: "setup", image: "busybox:1.36" }];
    const { violations } = await runResourcePolicy(productionImagesPinnedByDigest, agent, { stack: "prod" });
    assert.deepEqual(violations, [
      "Deployment 'prod-reviewer/agent' container 'agent' runs 'node:22.12.0-bookworm-slim', a mutable tag. Pin it by " +
        "digest: 'node:22.12.0-bookworm-slim@sha256:<digest>' (docker buildx imagetools inspect node:22.12.0-bookworm-slim prints the digest).",
      "Deployment 'prod-reviewer/agent' container 'setup' runs 'busybox:1.36', a mutable tag. Pin it by digest: " +
        "'busybox:1.36@sha256:<digest>' (docker buildx imagetools inspect busybox:1.36 prints the digest).",
    ]);
  });

  it("passes pods whose images are pinned (the gates, the self-test), and advises outside production", async () => {
    const graph = kubernetesBottleGraph({ stack: "prod" });
    for (const name of ["egress-proxy", "pipelock"]) {
      assert.deepEqual(
        (await runResourcePolicy(productionImagesPinnedByDigest, object(graph, "Deployment", name), { stack: "prod" })).violations,
        [],
      );
    }
    assert.deepEqual(
      (await runResourcePolicy(productionImagesPinnedByDigest, object(graph, "Job", "self-test"), { stack: "prod" })).violations,
      [],
    );
    const advice = await runResourcePolicy(imagesPinnedByDigest, object(kubernetesBottleGraph(), "Deployment", "agent"));
    assert.equal(advice.violations.length, 1);
  });
});
