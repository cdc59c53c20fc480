/**
 * TEST-ONLY long-lived credentials of the sources credentials.test.ts proves, made afresh for
 * each run and never committed: a GitHub App's RSA key (PKCS#1 PEM, as GitHub hands it out), a
 * Google service account's key file (JSON, its key PKCS#8, as Google hands it out) and an AWS
 * access key pair shaped like a real one (`AKIA` + 16, so pipelock's DLP patterns know it). The
 * bottle gets them as stack secrets (on stdin); the test upstream gets the public halves, and the
 * AWS secret it verifies signatures with, as files in a directory mounted read-only.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export interface CredentialKeys {
  githubApp: { appId: string; installationId: string; account: string; privateKey: string; publicKey: string };
  google: { keyFile: string; clientEmail: string; privateKey: string; publicKey: string };
  aws: { accessKeyId: string; secretAccessKey: string; roleArn: string };
}

const UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64ISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";

function randomOf(alphabet: string, length: number): string {
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join("");
}

function rsaPair(format: "pkcs1" | "pkcs8"): { privateKey: string; publicKey: string } {
  return generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: format, format: "pem" },
  });
}

/** A fresh set of the three sources' long-lived secrets. */
export function makeCredentialKeys(): CredentialKeys {
  const app = rsaPair("pkcs1");
  const google = rsaPair("pkcs8");
  const clientEmail = "bottle-agent@e2e-project.iam.gserviceaccount.com";
  const keyFile = JSON.stringify({
    type: "service_account",
    project_id: "e2e-project",
    private_key_id: randomBytes(20).toString("hex"),
    private_key: google.privateKey,
    client_email: clientEmail,
    client_id: "100000000000000000001",
    // Google's own: the bottle must use the token URL of its stack config instead (the contract).
    token_uri: "https://oauth2.googleapis.com/token",
  });
  return {
    githubApp: { appId: "123456", installationId: "7890123", account: "acme", ...app },
    google: { keyFile, clientEmail, ...google },
    aws: {
      accessKeyId: `AKIA${randomOf(UPPER_DIGITS, 16)}`,
      secretAccessKey: randomOf(BASE64ISH, 40),
      roleArn: "arn:aws:iam::123456789012:role/bedrock-agent",
    },
  };
}

/** The stack's `bot-bottle:tokens` entries the sources name. */
export function credentialTokens(keys: CredentialKeys): Record<string, string> {
  return {
    "github-app-key": keys.githubApp.privateKey,
    "aws-access-key-id": keys.aws.accessKeyId,
    "aws-secret-access-key": keys.aws.secretAccessKey,
    "vertex-sa-key": keys.google.keyFile,
  };
}

/**
 * Writes what the test upstream's fakes verify with into `dir` (mounted read-only at
 * /etc/upstream/credentials): the App's and the service account's PUBLIC keys, and the AWS key
 * pair (SigV4 is symmetric: AWS holds the secret too). 0700/0600: only the engine reads it.
 */
export function writeUpstreamCredentials(dir: string, keys: CredentialKeys, tokenUrl: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, document: object) =>
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(document), { mode: 0o600 });
  const { appId, installationId, account, publicKey } = keys.githubApp;
  // The App may do more than the routes need: the narrowing must ask for less.
  const permissions = { contents: "write", issues: "write", metadata: "read", pull_requests: "write" };
  write("github-app", { app_id: appId, installation_id: installationId, account, public_key: publicKey, permissions });
  write("google-sa", { client_email: keys.google.clientEmail, public_key: keys.google.publicKey, token_url: tokenUrl });
  write("aws", { access_key_id: keys.aws.accessKeyId, secret_access_key: keys.aws.secretAccessKey, role_arn: keys.aws.roleArn });
}

/** Lines of a PEM key's body: what a search for the key looks for (a line is unique to the key). */
export const pemBodyLine = (pem: string) => pem.split("\n")[3]!;
