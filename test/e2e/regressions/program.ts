/**
 * The REAL program (infra/index.ts) with one deliberate regression applied by a resource
 * transform: the policy pack's regression tests preview this with `--policy-pack` and expect a
 * mandatory violation. The regression is named by the stack config `regression:apply`
 * (regressions.ts); without it the program is unchanged.
 */
import "./apply";
export * from "../../../infra/index";
