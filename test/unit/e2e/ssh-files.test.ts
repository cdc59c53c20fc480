/** The end-to-end tier's remote engine: the SSH files its ssh wrapper passes (test/e2e/support/remote-engine.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sshFiles } from "../../e2e/support/remote-engine";

describe("sshFiles", () => {
  test("known_hosts pins the host key to the address, without the key's comment", () => {
    const cases: [string, string][] = [
      ["ssh-ed25519 AAAAC3Nza host-key comment\n", "172.17.0.5 ssh-ed25519 AAAAC3Nza\n"],
      ["ssh-ed25519 AAAAC3Nza", "172.17.0.5 ssh-ed25519 AAAAC3Nza\n"],
      ["  ecdsa-sha2-nistp256   AAAAE2Vj  x y\n", "172.17.0.5 ecdsa-sha2-nistp256 AAAAE2Vj\n"],
    ];
    for (const [publicKey, expected] of cases) assert.equal(sshFiles("172.17.0.5", publicKey, "/run/x").knownHosts, expected, publicKey);
  });

  test("ssh_config: that host only, the run's key and known_hosts only, never a question", () => {
    assert.equal(
      sshFiles("172.17.0.5", "ssh-ed25519 AAAA", "/run/x").sshConfig,
      `Host 172.17.0.5
  User deploy
  IdentityFile /run/x/deploy_key
  IdentitiesOnly yes
  UserKnownHostsFile /run/x/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
`,
    );
  });
});
