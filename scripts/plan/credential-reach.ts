/**
 * The credential sources of a bottle (routes.yaml `credentials`) as a reach: what each mints,
 * for whom and how narrowly (reach-diff.ts diffs them).
 */
import type { KeyTable } from "./document-keys";
import { record, strings } from "./parsed-values";

export interface CredentialReach {
  /** routes.yaml's kind: `github_app`, `aws`, `google_service_account`. */
  kind: string;
  /** Whose credential: `app 1 installation 2`, `role <arn>`, `static keys` (AWS without a role), `service account`. */
  identity: string;
  /** Where the egress proxy mints it; absent: nothing is minted (static AWS keys). */
  mintUrl?: string;
  /** A GitHub App's repositories; empty: every repository of the installation. */
  repositories?: string[];
  /** A GitHub App's permissions, `name: level`. */
  permissions?: Record<string, string>;
  /** An assumed role's session lifetime in seconds. */
  sessionSeconds?: number;
  /** A Google service account's scopes. */
  scopes?: string[];
}

/** The keys of one source in routes.yaml's `credentials`, with what the reach makes of each. */
export const CREDENTIAL_KEYS: KeyTable = {
  kind: "read",
  app_id: "read",
  installation_id: "read",
  api_url: "read",
  private_key_env: "ignored: the variable of the tokens file holding the App's key",
  repositories: "read",
  permissions: "read",
  access_key_id_env: "ignored: the variable of the tokens file holding the access key id",
  secret_access_key_env: "ignored: the variable of the tokens file holding the secret key",
  role_arn: "read",
  sts_url: "read",
  sts_region: "read",
  session_seconds: "read",
  key_env: "ignored: the variable of the tokens file holding the service account's key",
  scopes: "read",
  token_url: "read",
};

/** One source of routes.yaml's `credentials` as a reach. */
export function credentialReach(raw: Record<string, unknown>): CredentialReach {
  const kind = String(raw.kind);
  if (kind === "github_app") {
    return {
      kind,
      identity: `app ${String(raw.app_id)} installation ${String(raw.installation_id)}`,
      mintUrl: String(raw.api_url),
      repositories: strings(raw.repositories).sort(),
      permissions: Object.fromEntries(Object.entries(record(raw.permissions)).map(([name, level]) => [name, String(level)])),
    };
  }
  if (kind === "aws") {
    if (raw.role_arn === undefined) return { kind, identity: "static keys" };
    return {
      kind,
      identity: `role ${String(raw.role_arn)}`,
      mintUrl: `${String(raw.sts_url)} (${String(raw.sts_region)})`,
      sessionSeconds: Number(raw.session_seconds),
    };
  }
  return { kind, identity: "service account", mintUrl: String(raw.token_url), scopes: strings(raw.scopes).sort() };
}

/** `github_app app 1 installation 2: repositories acme/app; contents: write, metadata: read`. */
export function describeCredential(credential: CredentialReach): string {
  const parts = [`${credential.kind} ${credential.identity}`];
  if (credential.repositories) {
    parts.push(
      credential.repositories.length > 0
        ? `repositories ${credential.repositories.join(", ")}`
        : "EVERY repository of the installation (no narrowing)",
    );
  }
  if (credential.permissions) parts.push(`permissions ${permissionList(credential.permissions)}`);
  if (credential.scopes) parts.push(`scopes ${credential.scopes.join(", ")}`);
  if (credential.sessionSeconds !== undefined) parts.push(`sessions of ${credential.sessionSeconds} s`);
  parts.push(credential.mintUrl ? `minted at ${credential.mintUrl}` : "never expires");
  return parts.join("; ");
}

export const permissionList = (permissions: Record<string, string>) =>
  Object.entries(permissions)
    .map(([name, level]) => `${name}: ${level}`)
    .join(", ");
