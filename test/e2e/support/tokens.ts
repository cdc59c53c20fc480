/**
 * TEST-ONLY credentials for the end-to-end stacks. Shaped like real ones (a `ghp_` GitHub
 * token, an `sk-ant-` Anthropic key) so that pipelock's DLP patterns match them, but valid
 * nowhere. They reach the engine on stdin (`pulumi config set --secret`) and must never
 * appear on a command line, in a label, in CLI output or in plaintext state.
 */
export const TEST_TOKENS = {
  github: "ghp_e2eTestTokenNotRealAAAAAAAAAAAAAAAAA",
  anthropic: "sk-ant-api03-e2eTestKeyNotReal-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
} as const;

/** The GitHub token after a rotation (the lifecycle tests set it with `pulumi config set`). */
export const ROTATED_GITHUB_TOKEN = "ghp_e2eRotatedTokenNotRealBBBBBBBBBBBBBBB";
