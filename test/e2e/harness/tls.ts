/**
 * TEST TOOL: realizes @pulumi/tls resources as real keys and certificates for the
 * end-to-end harness, honouring every input the program declares (test/e2e/README.md).
 * Keys come from node:crypto; CA certificates from the host's `openssl req -x509`, with the
 * key in a 0600 temporary file (never on a command line).
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface PrivateKeyInputs {
  algorithm: "RSA" | "ECDSA";
  rsaBits?: number;
  ecdsaCurve?: string;
}

/** The provider's PEM encodings: PKCS#1 for RSA, SEC1 ("EC PRIVATE KEY") for ECDSA. */
export function privateKey(inputs: PrivateKeyInputs): { privateKeyPem: string; publicKeyPem: string } {
  if (inputs.algorithm === "RSA") {
    const { privateKey: key, publicKey } = generateKeyPairSync("rsa", { modulusLength: inputs.rsaBits ?? 2048 });
    return {
      privateKeyPem: key.export({ type: "pkcs1", format: "pem" }).toString(),
      publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    };
  }
  // The provider's default curve is P224; only the P256 the program asks for is implemented.
  if (inputs.ecdsaCurve !== "P256") throw new Error(`tls PrivateKey: ecdsaCurve ${String(inputs.ecdsaCurve)} is not implemented (only P256)`);
  const { privateKey: key, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    privateKeyPem: key.export({ type: "sec1", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export interface SelfSignedCertInputs {
  privateKeyPem: string;
  subject: { commonName?: string; organization?: string };
  isCaCertificate?: boolean;
  setSubjectKeyId?: boolean;
  allowedUses: string[];
  validityPeriodHours: number;
}

const KEY_USAGES: Record<string, string> = { cert_signing: "keyCertSign", crl_signing: "cRLSign" };

/** A self-signed certificate as the tls provider makes it for these inputs. */
export function selfSignedCert(inputs: SelfSignedCertInputs): { certPem: string } {
  const usages = inputs.allowedUses.map((use) => {
    const usage = KEY_USAGES[use];
    if (!usage) throw new Error(`tls SelfSignedCert: allowedUses "${use}" is not implemented (only ${Object.keys(KEY_USAGES).join(", ")})`);
    return usage;
  });
  const subject = [
    inputs.subject.organization && `/O=${escapeRdn(inputs.subject.organization)}`,
    inputs.subject.commonName && `/CN=${escapeRdn(inputs.subject.commonName)}`,
  ].filter(Boolean).join("");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bot-bottle-e2e-tls-"));
  try {
    const keyFile = path.join(dir, "key.pem");
    fs.writeFileSync(keyFile, inputs.privateKeyPem, { mode: 0o600 });
    // An empty config: no extensions but the ones below (openssl's defaults would add others).
    const config = path.join(dir, "openssl.cnf");
    fs.writeFileSync(config, "[req]\ndistinguished_name = dn\n[dn]\n");
    const now = Date.now();
    const args = [
      "req", "-x509", "-new", "-config", config, "-key", keyFile, "-subj", subject || "/",
      // `req` only takes whole days; the exact end time is checked below.
      "-days", String(Math.ceil(inputs.validityPeriodHours / 24)), "-sha256",
      "-addext", `basicConstraints=critical,CA:${inputs.isCaCertificate ? "TRUE" : "FALSE"}`,
      "-addext", `subjectKeyIdentifier=${inputs.setSubjectKeyId ? "hash" : "none"}`,
      "-addext", "authorityKeyIdentifier=none",
      ...(usages.length > 0 ? ["-addext", `keyUsage=critical,${usages.join(",")}`] : []),
    ]; // fmt: skip
    const certPem = execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    // openssl's "hash" SKID is the SHA-1 of the public key, as the provider's setSubjectKeyId.
    const hours = (new Date(new X509Certificate(certPem).validTo).getTime() - now) / 3600_000;
    if (hours < inputs.validityPeriodHours - 1 || hours > inputs.validityPeriodHours + 24) {
      throw new Error(`tls SelfSignedCert: validity ${hours.toFixed(1)} h does not match validityPeriodHours ${inputs.validityPeriodHours}`);
    }
    return { certPem };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// openssl's -subj syntax: "/" and "\" inside a value must be escaped.
function escapeRdn(value: string): string {
  return value.replace(/[\\/]/g, (c) => `\\${c}`);
}
