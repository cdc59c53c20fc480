/**
 * The policy pack's regression tests of the real program, for one backend: a stack of the
 * regression program (program.ts) previewed with `--policy-pack` once as it is (no mandatory
 * violation) and once per regression of that backend (the regression's mandatory violation).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO_ROOT } from "../support/process";
import { e2eRun } from "../support/run-env";
import { tail, TestStack, type TestStackConfig } from "../support/stack";
import { REGRESSIONS } from "./regressions";

export function regressionTests(
  backend: "docker" | "kubernetes",
  config: () => Promise<TestStackConfig>,
  tokens: Readonly<Record<string, string>>,
): void {
  describe(`the policy pack stops regressions of the real program at pulumi preview (${backend})`, () => {
    let stack: TestStack;

    before(async () => {
      stack = await TestStack.create(`regress-${backend === "docker" ? "dk" : "kb"}`, await config(), tokens, {
        dir: path.join(e2eRun().workDir, "regressions"),
        main: path.join(REPO_ROOT, "test", "e2e", "regressions", "program.ts"),
      });
    });

    after(async () => {
      await stack?.remove();
    });

    it("the program as it is: no mandatory violation (the regressions below are the only change)", async () => {
      const preview = await stack.preview({ policyPack: true });
      assert.ok(preview.ok, tail(preview.output));
      assert.doesNotMatch(preview.output, /\[mandatory\]/);
      assert.match(preview.output, /bot-bottle@v/, "the pack ran");
    });

    for (const [name, regression] of Object.entries(REGRESSIONS).filter(([, r]) => r.backend === backend)) {
      it(`${regression.what}: ${regression.policy}`, async () => {
        await stack.setConfig({ "regression:apply": name });
        const preview = await stack.preview({ policyPack: true });
        assert.equal(preview.ok, false, `the preview passed:\n${tail(preview.output)}`);
        assert.match(preview.output, new RegExp(`\\[mandatory\\]\\s+${regression.policy}\\s`), tail(preview.output));
        assert.match(preview.output, regression.message, tail(preview.output));
      });
    }
  });
}
