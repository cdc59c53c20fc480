/**
 * TEST-ONLY credentials for the end-to-end stacks (test/e2e/Pulumi.e2e.yaml). Shaped like real
 * ones (a `ghp_` GitHub token, an `sk-ant-` Anthropic key) so that DLP patterns would match
 * them, but valid nowhere. The harness supplies them in place of the stack file's `secure:`
 * placeholders; they must never appear on a command line, in a label or in harness output.
 */
export const TEST_TOKENS: Readonly<Record<string, string>> = {
  github: "ghp_e2eTestTokenNotRealAAAAAAAAAAAAAAAAA",
  anthropic: "sk-ant-api03-e2eTestKeyNotReal-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};
