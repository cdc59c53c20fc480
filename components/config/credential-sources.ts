/**
 * The schema of a bottle's `credentials`: sources of short-lived credentials the egress proxy
 * mints from a long-lived secret (an entry of the tokens) it alone holds. Which routes use a
 * source, and how, is checked with the routes (validate.ts).
 */
import { z } from "zod";
import { field } from "./raw";

/** A token's name, and a credentials entry's: the routes' `auth.token` names either. */
export const TOKEN_NAME = /^[A-Za-z0-9_-]+$/;

export const DEFAULT_GITHUB_API_URL = "https://api.github.com";
export const DEFAULT_STS_URL = "https://sts.amazonaws.com";
export const DEFAULT_STS_REGION = "us-east-1";
export const DEFAULT_SESSION_SECONDS = 3600;
export const DEFAULT_GOOGLE_SCOPES: readonly string[] = ["https://www.googleapis.com/auth/cloud-platform"];
export const DEFAULT_GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** The kinds of source, by their config key. */
export const CREDENTIAL_KINDS = ["githubApp", "aws", "googleServiceAccount"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

/**
 * AWS services whose answers are credentials (STS sessions, IAM access keys): a SigV4 route may
 * not sign for them, or the agent would get credentials of its own, outside the egress proxy.
 */
export const CREDENTIAL_SERVICES: readonly string[] = ["sts", "iam"];

/** An AWS region's name (`us-east-1`, `eu-central-2`, `us-gov-west-1`). */
export const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]+$/;

/**
 * Why `value` cannot be a mint endpoint's URL, or undefined: https only (the secret's proof
 * travels in it), no user name or password, no query or fragment.
 */
export function mintUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected an https URL such as "https://api.example.com", got ${JSON.stringify(value)}`;
  }
  if (url.protocol !== "https:") return `expected https (the credential's proof travels in it), got ${JSON.stringify(url.protocol)}`;
  if (url.username !== "" || url.password !== "") return "expected no user name or password in the URL";
  if (url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")) {
    return "expected no query or fragment in the URL";
  }
  return undefined;
}

/** The host name a mint URL reaches (what pipelock allows). */
export function mintHost(url: string): string {
  return new URL(url).hostname;
}

const tokenEntry = z.string().regex(TOKEN_NAME, { message: "expected the name of an entry of the tokens (letters, digits, '_' and '-')" });
const mintUrl = (fallback: string) =>
  z
    .string()
    .superRefine((value, ctx) => {
      const message = mintUrlProblem(value);
      if (message) ctx.addIssue({ code: "custom", message });
    })
    // One spelling: no trailing slash (the egress proxy appends its paths).
    .transform((value) => value.replace(/\/+$/, ""))
    .default(fallback);
const digits = z
  .string({ error: 'expected digits as a string such as "123456" (quote it in YAML)' })
  .regex(/^[0-9]+$/, { message: 'expected digits as a string such as "123456"' });

const githubAppSchema = z.strictObject({
  appId: digits,
  installationId: digits,
  privateKey: tokenEntry,
  apiUrl: mintUrl(DEFAULT_GITHUB_API_URL),
});

const ONLY_WITH_ROLE = ["stsUrl", "stsRegion", "sessionSeconds"] as const;

const awsSchema = z
  .strictObject({
    accessKeyId: tokenEntry,
    secretAccessKey: tokenEntry,
    roleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[\w+=,.@/-]{1,512}$/, {
        message: 'expected a role ARN such as "arn:aws:iam::123456789012:role/bedrock-agent"',
      })
      .optional(),
    stsUrl: z.string().optional(),
    stsRegion: z.string().regex(AWS_REGION, { message: 'expected an AWS region such as "us-east-1"' }).optional(),
    sessionSeconds: z.int().min(900).max(43_200).optional(),
  })
  .superRefine((aws, ctx) => {
    for (const key of ONLY_WITH_ROLE) {
      if (aws.roleArn === undefined && aws[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: "only with roleArn (the keys sign themselves without it); remove it" });
      }
    }
    const problem = aws.stsUrl === undefined ? undefined : mintUrlProblem(aws.stsUrl);
    if (problem) ctx.addIssue({ code: "custom", path: ["stsUrl"], message: problem });
  })
  // With a role: every STS setting, defaults applied; without: none.
  .transform(({ roleArn, stsUrl, stsRegion, sessionSeconds, ...keys }) => ({
    ...keys,
    ...(roleArn !== undefined && {
      role: {
        arn: roleArn,
        stsUrl: (stsUrl ?? DEFAULT_STS_URL).replace(/\/+$/, ""),
        stsRegion: stsRegion ?? DEFAULT_STS_REGION,
        sessionSeconds: sessionSeconds ?? DEFAULT_SESSION_SECONDS,
      },
    }),
  }));

const googleServiceAccountSchema = z.strictObject({
  key: tokenEntry,
  scopes: z
    .array(
      z
        .string()
        .regex(/^https:\/\/[\x21-\x7e]+$/, { message: 'expected a scope URL such as "https://www.googleapis.com/auth/cloud-platform"' }),
    )
    .min(1)
    .refine((list) => new Set(list).size === list.length, { message: "expected no duplicate entries" })
    .default([...DEFAULT_GOOGLE_SCOPES]),
  tokenUrl: mintUrl(DEFAULT_GOOGLE_TOKEN_URL),
});

export const credentialSourceSchema = z
  .strictObject({
    githubApp: githubAppSchema.optional(),
    aws: awsSchema.optional(),
    googleServiceAccount: googleServiceAccountSchema.optional(),
  })
  .superRefine((source, ctx) => {
    const kinds = CREDENTIAL_KINDS.filter((kind) => source[kind] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `expected exactly one of ${CREDENTIAL_KINDS.join(", ")}${kinds.length > 1 ? ` (found ${kinds.join(", ")}); split it into one entry per source` : ""}`,
      });
    }
  });

export const credentialsSchema = z.record(
  z.string().regex(TOKEN_NAME, { message: "expected a credential name of letters, digits, '_' and '-'" }),
  credentialSourceSchema,
);

/** The keys of each kind of source that name the tokens entries holding its secrets. */
export const SECRET_KEYS: Readonly<Record<CredentialKind, readonly string[]>> = {
  githubApp: ["privateKey"],
  aws: ["accessKeyId", "secretAccessKey"],
  googleServiceAccount: ["key"],
};

/** The kind of a source, raw or validated: its one kind key, or undefined (none, or several: the schema reports it). */
export function kindOf(source: unknown): CredentialKind | undefined {
  const kinds = CREDENTIAL_KINDS.filter((kind) => field(source, kind) !== undefined);
  return kinds.length === 1 ? kinds[0] : undefined;
}

/** The token entries a validated source holds its secrets in. */
export function secretEntriesOf(source: CredentialSourceSpec): string[] {
  const kind = kindOf(source);
  return kind === undefined ? [] : SECRET_KEYS[kind].map((key) => String(field(source[kind], key)));
}

/** The URLs the egress proxy mints a source's credentials at (none for static AWS keys). */
export function mintUrlsOf(source: CredentialSourceSpec): string[] {
  if (source.githubApp) return [source.githubApp.apiUrl];
  if (source.aws) return source.aws.role ? [source.aws.role.stsUrl] : [];
  return source.googleServiceAccount ? [source.googleServiceAccount.tokenUrl] : [];
}

export type CredentialSourceSpec = z.output<typeof credentialSourceSchema>;
export type CredentialSourceInputs = {
  credentialSource: z.input<typeof credentialSourceSchema>;
  githubApp: z.input<typeof githubAppSchema>;
  aws: z.input<typeof awsSchema>;
  googleServiceAccount: z.input<typeof googleServiceAccountSchema>;
};
