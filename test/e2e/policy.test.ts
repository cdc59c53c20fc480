/**
 * Tier 4, the policy pack against regressions of the real program on Docker (regressions/): each
 * deliberate break of a workload's hardening, its networks or a gate's document, applied by a
 * resource transform and previewed by the real engine with `--policy-pack`, ends in a mandatory
 * violation naming the workload and the fix.
 */
import { regressionTests } from "./regressions/check";
import { policyStack } from "./stacks";
import { TEST_TOKENS } from "./support/tokens";

regressionTests("docker", async () => policyStack(), { github: TEST_TOKENS.github });
