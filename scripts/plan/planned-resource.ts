/**
 * One resource of the offline plan, as its JSON prints it. Shared with the policy pack's
 * offline runner (policy/offline), which reads that JSON: this file imports nothing.
 */
export interface PlannedResource {
  type: string;
  name: string;
  /** The parent resource's name; absent for resources directly under the stack. */
  parent?: string;
  /** Inputs as the engine would receive them, with every secret value shown as "[secret]". */
  inputs: Record<string, unknown>;
  /** Input paths the program marked secret (e.g. `envs`, `uploads[2].content`). */
  secretInputs: string[];
}
