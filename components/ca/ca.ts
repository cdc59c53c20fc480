import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

/** A CA: its certificate (public) and its private key (always a secret Output). */
export interface CertificateAuthority {
  certPem: pulumi.Output<string>;
  privateKeyPem: pulumi.Output<string>;
}

export interface CaArgs {
  /** RSA keys are 2048 bits; ECDSA keys use P256 (the tls provider's default curve is P224). */
  algorithm: "RSA" | "ECDSA";
  commonName: string;
  validityHours: number;
}

/**
 * A self-signed CA that can only sign certificates. Its Subject Key Identifier is the SHA-1
 * of the public key, which the leaf certificates mitmproxy makes carry as their authority key id.
 */
export function createCa(
  name: string,
  args: CaArgs,
  opts: { parent: pulumi.Resource; dependsOn?: pulumi.Resource[] },
): CertificateAuthority {
  const { parent, dependsOn = [] } = opts;
  const key = new tls.PrivateKey(
    `${name}-key`,
    args.algorithm === "RSA" ? { algorithm: "RSA", rsaBits: 2048 } : { algorithm: "ECDSA", ecdsaCurve: "P256" },
    { parent, dependsOn, additionalSecretOutputs: ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"] },
  );
  // The engine marks the key secret through additionalSecretOutputs, but mocks and older
  // engines do not: wrap it here so the guarantee does not depend on who runs the program.
  const privateKeyPem = pulumi.secret(key.privateKeyPem);
  const cert = new tls.SelfSignedCert(
    `${name}-cert`,
    {
      privateKeyPem,
      subject: { commonName: args.commonName, organization: "bot-bottle" },
      isCaCertificate: true,
      setSubjectKeyId: true,
      allowedUses: ["cert_signing", "crl_signing"],
      validityPeriodHours: args.validityHours,
    },
    { parent },
  );
  return { certPem: cert.certPem, privateKeyPem };
}
