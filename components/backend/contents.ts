import * as pulumi from "@pulumi/pulumi";
import type { CertificateAuthority } from "../ca/ca";
import type { CaRole, FileLayout } from "../layout/types";

/**
 * What the layout leaves as references, resolved for every backend alike: a file's CA part,
 * and a live configuration's tokens file. Whatever holds a key or a token is a secret Output.
 */

/** A file's content: the CA part it names; secret when it holds a key, whatever the layout says. */
export function fileContent(file: FileLayout, cas: Record<CaRole, CertificateAuthority>): pulumi.Output<string> {
  const { content } = file;
  const ca = cas[content.ca];
  switch (content.part) {
    case "cert":
      return file.secret ? pulumi.secret(ca.certPem) : ca.certPem;
    case "key":
      return pulumi.secret(ca.privateKeyPem);
    case "certAndKey":
      return pulumi.secret(pulumi.interpolate`${ca.certPem}${ca.privateKeyPem}`);
  }
}

/** `{"<variable>": "<value>", ...}` on one line, as a secret: a live configuration's tokens file. */
export function tokensFile(
  variables: Readonly<Record<string, string>>,
  tokens: Readonly<Record<string, pulumi.Input<string>>>,
): pulumi.Output<string> {
  const entries = Object.entries(variables).map(([variable, token]) => {
    const value = tokens[token];
    if (value === undefined) throw new Error(`no value for token "${token}" (validation lets no bottle reference a missing token)`);
    return pulumi.output(value).apply((v) => [variable, v] as const);
  });
  return pulumi.secret(pulumi.all(entries).apply((pairs) => JSON.stringify(Object.fromEntries(pairs))));
}
