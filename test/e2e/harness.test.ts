/**
 * The e2e harness's own guarantees, checked without Docker: it refuses what it does not
 * implement (so it can never silently differ from `pulumi up`), and its TLS resources honour
 * the declared inputs.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, createPublicKey, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { Realizer } from "./harness/realize";
import { privateKey, selfSignedCert } from "./harness/tls";

const realizer = () =>
  new Realizer({ statePath: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "e2e-harness-")), "state.json"), repoRoot: "." });

describe("e2e harness refuses what it does not implement", () => {
  it("an unknown resource type", async () => {
    await assert.rejects(realizer().realize("command:remote:Command", "self-test", { create: "true" }), /does not implement resource type command:remote:Command/);
  });

  it("an unknown container field, before touching the engine", async () => {
    await assert.rejects(realizer().realize("docker:index/container:Container", "c", { name: "c", image: "x", readOnly: true }), /Container field\(s\): readOnly/);
  });

  it("an unknown command field, and a failing command fails the up", async () => {
    await assert.rejects(realizer().realize("command:local:Command", "c", { create: "true", delete: "x" }), /Command field\(s\): delete/);
    await assert.rejects(realizer().realize("command:local:Command", "c", { create: "echo no >&2; exit 3" }), /command c failed \(exit 3\):\nno/);
    const ok = await realizer().realize("command:local:Command", "c", { create: 'echo "$X"', environment: { X: "from-env" } });
    assert.equal(ok.outputs.stdout, "from-env\n");
  });

  it("an unknown upload field", async () => {
    await assert.rejects(
      realizer().realize("docker:index/container:Container", "c", { name: "c", image: "x", uploads: [{ file: "/f", source: "/etc/passwd" }] }),
      /uploads\[\] field\(s\): source/,
    );
  });

  it("a provider default it does not reproduce (ECDSA without P256)", () => {
    assert.throws(() => privateKey({ algorithm: "ECDSA" }), /ecdsaCurve undefined is not implemented/);
  });
});

describe("e2e harness TLS resources honour the declared inputs", () => {
  for (const algorithm of ["RSA", "ECDSA"] as const) {
    it(`${algorithm} CA: PEM type, CA flag, key usages, SHA-1 subject key id, validity, subject`, () => {
      const key = privateKey(algorithm === "RSA" ? { algorithm, rsaBits: 2048 } : { algorithm, ecdsaCurve: "P256" });
      assert.match(key.privateKeyPem, algorithm === "RSA" ? /^-----BEGIN RSA PRIVATE KEY-----/ : /^-----BEGIN EC PRIVATE KEY-----/);
      const { certPem } = selfSignedCert({
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: "test CA (e2e/x)", organization: "bot-bottle" },
        isCaCertificate: true,
        setSubjectKeyId: true,
        allowedUses: ["cert_signing", "crl_signing"],
        validityPeriodHours: 48,
      });
      const cert = new X509Certificate(certPem);
      assert.equal(cert.ca, true);
      assert.equal(cert.subject, "O=bot-bottle\nCN=test CA (e2e/x)");
      const hours = (new Date(cert.validTo).getTime() - Date.now()) / 3600_000;
      assert.ok(hours > 47 && hours <= 48.1, `validity ${hours} h`);
      const ext = execFileSync("openssl", ["x509", "-noout", "-ext", "basicConstraints,keyUsage,subjectKeyIdentifier"], { input: certPem, encoding: "utf8" });
      assert.match(ext, /Basic Constraints: critical\s+CA:TRUE/);
      assert.match(ext, /Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      // RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's contents.
      const pub = createPublicKey(key.publicKeyPem);
      const bits = algorithm === "RSA" ? pub.export({ type: "pkcs1", format: "der" }) : pub.export({ type: "spki", format: "der" }).subarray(-65);
      const skid = createHash("sha1").update(bits).digest("hex").toUpperCase().match(/../g)!.join(":");
      assert.match(ext, new RegExp(`Subject Key Identifier:\\s+${skid}`));
    });
  }
});
