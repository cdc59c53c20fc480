import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { caKeyStrength, caValidityMax } from "../policies/ca";
import { bottleGraph, find } from "./fixtures";
import { type DeclaredResource, runResourcePolicy } from "../offline/run";

function key(props: Record<string, unknown>): DeclaredResource {
  return { type: "tls:index/privateKey:PrivateKey", name: "reviewer-egress-proxy-ca-key", props };
}

describe("ca-key-strength", () => {
  it("passes the bottle's CA keys (RSA 2048, ECDSA P256)", async () => {
    for (const suffix of ["-egress-proxy-ca-key", "-pipelock-ca-key"]) {
      const result = await runResourcePolicy(caKeyStrength, find(bottleGraph(), suffix));
      assert.deepEqual(result.violations, [], suffix);
    }
  });

  it("passes stronger keys (RSA 4096, P384, Ed25519)", async () => {
    for (const props of [{ algorithm: "RSA", rsaBits: 4096 }, { algorithm: "ECDSA", ecdsaCurve: "P384" }, { algorithm: "ED25519" }]) {
      const result = await runResourcePolicy(caKeyStrength, key(props));
      assert.deepEqual(result.violations, [], JSON.stringify(props));
    }
  });

  it("rejects RSA below 2048 bits", async () => {
    const { violations } = await runResourcePolicy(caKeyStrength, key({ algorithm: "RSA", rsaBits: 1024 }));
    assert.deepEqual(violations, ["CA key 'reviewer-egress-proxy-ca-key' is RSA with 1024 bits. Set rsaBits to at least 2048."]);
  });

  it("rejects ECDSA without a curve (the provider's default is P224)", async () => {
    const { violations } = await runResourcePolicy(caKeyStrength, key({ algorithm: "ECDSA" }));
    assert.deepEqual(violations, [
      "CA key 'reviewer-egress-proxy-ca-key' is ECDSA on curve P224. Set ecdsaCurve: \"P256\" (or " +
        "P384/P521); the provider's default is P224.",
    ]);
  });

  it("rejects an algorithm that is neither RSA, ECDSA nor Ed25519", async () => {
    const { violations } = await runResourcePolicy(caKeyStrength, key({ algorithm: "DSA" }));
    assert.equal(violations.length, 1);
    assert.match(violations[0], /uses algorithm 'DSA'\. Use RSA \(>= 2048 bits\), ECDSA \(P256 or stronger\) or ED25519/);
  });

  it("honours a stricter minRsaBits from the pack config", async () => {
    const { violations } = await runResourcePolicy(caKeyStrength, key({ algorithm: "RSA", rsaBits: 2048 }), {
      config: { minRsaBits: 3072 },
    });
    assert.equal(violations.length, 1);
    assert.match(violations[0], /Set rsaBits to at least 3072/);
  });

  it("ignores other resources", async () => {
    const result = await runResourcePolicy(caKeyStrength, find(bottleGraph(), "-agent"));
    assert.deepEqual(result.violations, []);
  });
});

describe("ca-validity-max", () => {
  it("passes a one-year CA", async () => {
    const result = await runResourcePolicy(caValidityMax, find(bottleGraph(), "-pipelock-ca-cert"));
    assert.deepEqual(result.violations, []);
  });

  it("rejects a CA valid for longer than the default 8760 hours", async () => {
    const cert = find(bottleGraph(), "-pipelock-ca-cert");
    cert.props.validityPeriodHours = 87600;
    const { violations } = await runResourcePolicy(caValidityMax, cert);
    assert.deepEqual(violations, [
      "CA certificate 'reviewer-pipelock-ca-cert' is valid for 87600 hours, more than the allowed 8760. " +
        "Lower validityPeriodHours (the bottle's CA validity setting) to at most 8760, or raise " +
        "ca-validity-max's maxValidityHours in the policy pack config.",
    ]);
  });

  it("uses maxValidityHours from the pack config", async () => {
    const cert = find(bottleGraph(), "-egress-proxy-ca-cert");
    const { violations } = await runResourcePolicy(caValidityMax, cert, { config: { maxValidityHours: 720 } });
    assert.equal(violations.length, 1);
    assert.match(violations[0], /valid for 8760 hours, more than the allowed 720/);
  });
});
