import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..");

function checkPlan(plan: unknown, stack: string): { code: number; out: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "check-plan-")), "plan.json");
  fs.writeFileSync(file, JSON.stringify(plan));
  const r = spawnSync(process.execPath, ["--import", "tsx", "offline/check-plan.ts", "--stack", stack, "--plan", file], {
    cwd: path.join(ROOT, "policy"),
    encoding: "utf8",
  });
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}

describe("check-plan: the pack over an offline plan, for pull requests without secrets", () => {
  const plan = JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", "prod", "--json"], { cwd: ROOT, encoding: "utf8" }),
  ) as { resources: { type: string; name: string; inputs: Record<string, any> }[] };

  it("passes a clean stack (exit 0) and says so, with the advice its static tokens get", () => {
    const { code, out } = checkPlan(plan, "prod");
    assert.equal(code, 0, out);
    const [summary, ...advice] = out.trimEnd().split("\n");
    assert.equal(summary, 'Policy pack over the plan of "prod": 0 mandatory, 2 advisory violations');
    assert.deepEqual(
      advice.map(
        (line) => /^ {2}\[advisory\] production-prefer-expiring-credentials: .* injects the static token (\S+) into/.exec(line)?.[1],
      ),
      ["anthropic", "github-readonly"],
    );
  });

  it("fails (exit 1) on a mandatory violation and names the policy and what is wrong, mandatory first", () => {
    const broken = structuredClone(plan);
    const agent = broken.resources.find((r) => r.name === "reviewer-agent")!;
    agent.inputs.networksAdvanced.push({ name: "prod-reviewer-outbound-net" });
    const { code, out } = checkPlan(broken, "prod");
    assert.equal(code, 1, out);
    assert.match(out, /^Policy pack over the plan of "prod": [1-9]\d* mandatory/);
    assert.match(
      out,
      /\n {2}\[mandatory\] agent-only-internal-networks: Agent container 'prod-reviewer-agent' joins network 'prod-reviewer-outbound-net'/,
    );
  });
});

describe("check-plan over a stack of Kubernetes bottles", () => {
  const plan = JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", "scripts/plan.ts", "--stack", "cluster", "--json"], { cwd: ROOT, encoding: "utf8" }),
  ) as { resources: { type: string; name: string; inputs: Record<string, any> }[] };

  it("passes the clean stack, its tokens Secret and CA key Secrets included", () => {
    const { code, out } = checkPlan(plan, "cluster");
    assert.equal(code, 0, out);
    assert.equal(out, 'Policy pack over the plan of "cluster": 0 mandatory, 0 advisory violations\n');
  });

  it("fails on pipelock reaching the cluster", () => {
    const broken = structuredClone(plan);
    const policy = broken.resources.find(
      (r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && r.inputs.metadata.name === "pipelock",
    )!;
    policy.inputs.spec.egress[0].to[0].ipBlock.except = [];
    const { code, out } = checkPlan(broken, "cluster");
    assert.equal(code, 1, out);
    assert.match(
      out,
      /\n {2}\[mandatory\] kubernetes-only-pipelock-reaches-outside: NetworkPolicy 'cluster-reviewer\/pipelock' \(pipelock's\) allows egress to 0.0.0.0\/0 with an empty 'except'/,
    );
  });
});
