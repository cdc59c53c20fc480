/**
 * A bottle's credential sources and the routes that use them: every rule with its exact config
 * path and message, and the defaults of a valid config.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ConfigProblem, formatProblems, type StackConfigInput, validateBottle, validateStackConfig } from "../../../components/config";

const secret = { secret: true, value: "s3cret-value" };
const TOKENS = Object.fromEntries(["app-key", "aws-id", "aws-secret", "sa-key", "anthropic"].map((name) => [name, secret]));

const github = { githubApp: { appId: "123456", installationId: "7890123", privateKey: "app-key" } };
const bedrock = { aws: { accessKeyId: "aws-id", secretAccessKey: "aws-secret" } };
const vertex = { googleServiceAccount: { key: "sa-key" } };
const apiRoute = (extra: Record<string, unknown> = {}) => ({
  host: "api.github.com",
  paths: ["/repos/acme/app/pulls"],
  auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
  ...extra,
});
const gitRoute = (repository: string) => ({
  host: "github.com",
  git: { repositories: [repository] },
  auth: { header: "Authorization", username: "x-access-token", token: "github" },
});
const sigv4Route = (auth: Record<string, unknown> = {}) => ({
  host: "bedrock-runtime.us-east-1.amazonaws.com",
  auth: { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock", ...auth },
});
const vertexRoute = { host: "us-east5-aiplatform.googleapis.com", auth: { header: "Authorization", prefix: "Bearer ", token: "vertex" } };

const bottle = (credentials: Record<string, unknown>, routes: unknown[]) => ({ name: "coder", credentials, routes });

function problemsOf(input: Partial<StackConfigInput>): ConfigProblem[] {
  const result = validateStackConfig({ bottles: [], tokens: TOKENS, ...input });
  return result.ok ? [] : result.problems;
}

describe("credential sources: each rule, at its path", () => {
  const cases: [string, unknown[], string, string][] = [
    [
      "two kinds in one source",
      [bottle({ github: { ...github, ...bedrock } }, [apiRoute()])],
      "bottles[0].credentials.github",
      "expected exactly one of githubApp, aws, googleServiceAccount (found githubApp, aws); split it into one entry per source",
    ],
    [
      "no kind",
      [bottle({ github: {} }, [apiRoute()])],
      "bottles[0].credentials.github",
      "expected exactly one of githubApp, aws, googleServiceAccount",
    ],
    [
      "an apiUrl in plain HTTP",
      [bottle({ github: { githubApp: { ...github.githubApp, apiUrl: "http://ghe.example.com/api/v3" } } }, [apiRoute()])],
      "bottles[0].credentials.github.githubApp.apiUrl",
      'expected https (the credential\'s proof travels in it), got "http:"',
    ],
    [
      "a URL with a query",
      [bottle({ vertex: { googleServiceAccount: { key: "sa-key", tokenUrl: "https://t.example.com/token?x=1" } } }, [vertexRoute])],
      "bottles[0].credentials.vertex.googleServiceAccount.tokenUrl",
      "expected no query or fragment in the URL",
    ],
    [
      "a URL with a user name",
      [bottle({ github: { githubApp: { ...github.githubApp, apiUrl: "https://u:p@ghe.example.com" } } }, [apiRoute()])],
      "bottles[0].credentials.github.githubApp.apiUrl",
      "expected no user name or password in the URL",
    ],
    [
      "an STS setting without a role",
      [bottle({ bedrock: { aws: { ...bedrock.aws, stsUrl: "https://sts.us-east-1.amazonaws.com" } } }, [sigv4Route()])],
      "bottles[0].credentials.bedrock.aws.stsUrl",
      "only with roleArn (the keys sign themselves without it); remove it",
    ],
    [
      "a session shorter than STS allows",
      [bottle({ bedrock: { aws: { ...bedrock.aws, roleArn: "arn:aws:iam::123456789012:role/r", sessionSeconds: 60 } } }, [sigv4Route()])],
      "bottles[0].credentials.bedrock.aws.sessionSeconds",
      "expected at least 900",
    ],
    [
      "a role that is no role ARN",
      [bottle({ bedrock: { aws: { ...bedrock.aws, roleArn: "bedrock-agent" } } }, [sigv4Route()])],
      "bottles[0].credentials.bedrock.aws.roleArn",
      'expected a role ARN such as "arn:aws:iam::123456789012:role/bedrock-agent"',
    ],
    [
      "an app id written as a number",
      [bottle({ github: { githubApp: { ...github.githubApp, appId: 123456 } } }, [apiRoute()])],
      "bottles[0].credentials.github.githubApp.appId",
      'expected digits as a string such as "123456" (quote it in YAML)',
    ],
    [
      "a source no route uses",
      [bottle({ github, vertex }, [apiRoute()])],
      "bottles[0].credentials.vertex",
      'no route uses it (no auth.token names "vertex"): name it in a route\'s auth, or remove it',
    ],
    [
      "a source's secret missing from the tokens",
      [bottle({ github: { githubApp: { ...github.githubApp, privateKey: "nope" } } }, [apiRoute()])],
      "bottles[0].credentials.github.githubApp.privateKey",
      "no token named \"nope\" in bot-bottle:tokens; set one with: pulumi config set --secret --path 'tokens.nope' <value>",
    ],
    [
      "a GitHub App signing SigV4",
      [bottle({ github }, [sigv4Route({ token: "github" })])],
      "bottles[0].routes[0].auth.sigv4",
      'only an aws source signs, and credentials.github is a githubApp source: inject it in a header instead (header: Authorization, prefix: "Bearer ")',
    ],
    [
      "an aws source in a header",
      [bottle({ bedrock }, [apiRoute({ auth: { header: "Authorization", token: "bedrock" } })])],
      "bottles[0].routes[0].auth.header",
      "credentials.bedrock is an aws source, which signs requests: replace header (and prefix, username) with sigv4: { service, region }",
    ],
    [
      "SigV4 with a static token",
      [bottle({}, [sigv4Route({ token: "anthropic" })])],
      "bottles[0].routes[0].auth.token",
      'a SigV4 route signs with an aws entry of this bottle\'s credentials, and "anthropic" is none: declare credentials.anthropic: { aws: { accessKeyId: <tokens entry>, secretAccessKey: <tokens entry> } }',
    ],
    [
      "header and sigv4 together",
      [bottle({ bedrock }, [sigv4Route({ header: "Authorization" })])],
      "bottles[0].routes[0].auth",
      "expected header or sigv4, not both: a SigV4 route signs with its own headers; remove one",
    ],
    [
      "neither header nor sigv4",
      [bottle({}, [{ host: "api.example.com", auth: { token: "anthropic" } }])],
      "bottles[0].routes[0].auth",
      "expected header (a credential in a header) or sigv4 (requests signed for AWS)",
    ],
    [
      "a prefix on a SigV4 route",
      [bottle({ bedrock }, [sigv4Route({ prefix: "Bearer " })])],
      "bottles[0].routes[0].auth.prefix",
      "only with header: a SigV4 route's signature takes none; remove it",
    ],
    [
      "a region that is no AWS region",
      [bottle({ bedrock }, [sigv4Route({ sigv4: { service: "bedrock", region: "US East" } })])],
      "bottles[0].routes[0].auth.sigv4.region",
      'expected an AWS region such as "us-east-1"',
    ],
    [
      "SigV4 signing for STS (its answers are credentials)",
      [bottle({ bedrock }, [sigv4Route({ sigv4: { service: "sts", region: "us-east-1" } })])],
      "bottles[0].routes[0].auth.sigv4.service",
      '"sts" answers with credentials (STS sessions, IAM access keys): signing for it would hand the agent credentials of its own; sign for the service the agent needs (such as "bedrock")',
    ],
    [
      "SigV4 signing for IAM (it makes access keys)",
      [bottle({ bedrock }, [sigv4Route({ sigv4: { service: "iam", region: "us-east-1" } })])],
      "bottles[0].routes[0].auth.sigv4.service",
      '"iam" answers with credentials (STS sessions, IAM access keys): signing for it would hand the agent credentials of its own; sign for the service the agent needs (such as "bedrock")',
    ],
    [
      "a route to a Google source's token host",
      [bottle({ vertex }, [vertexRoute, { host: "oauth2.googleapis.com" }])],
      "bottles[0].routes[1].host",
      '"oauth2.googleapis.com" reaches oauth2.googleapis.com, where the egress proxy mints credentials.vertex\'s tokens: pipelock passes that host through unread for the egress proxy alone, so no route may reach it; remove the route (or narrow its host)',
    ],
    [
      "a wildcard route over a Google source's token host",
      [bottle({ vertex }, [{ ...vertexRoute, host: "*.googleapis.com" }])],
      "bottles[0].routes[0].host",
      '"*.googleapis.com" reaches oauth2.googleapis.com, where the egress proxy mints credentials.vertex\'s tokens: pipelock passes that host through unread for the egress proxy alone, so no route may reach it; remove the route (or narrow its host)',
    ],
    [
      "audit mode with a Google source",
      [{ ...bottle({ vertex }, [vertexRoute]), auditMode: true }],
      "bottles[0].auditMode",
      "audit mode lets the agent reach hosts no route covers, and pipelock passes oauth2.googleapis.com (credentials.vertex's token endpoint) through unread: turn audit mode off, or learn the routes without this source",
    ],
    [
      "a GitHub App's repositories of two owners",
      [bottle({ github }, [apiRoute(), gitRoute("other/lib")])],
      "bottles[0].credentials.github.githubApp",
      "its routes reach repositories of 2 owners (acme, other), but an installation belongs to one account: declare one source per owner (each its own installation) and give each owner's repositories their own routes",
    ],
    [
      "a GitHub App on a group/subgroup repository",
      [bottle({ github }, [gitRoute("acme/sub/app")])],
      "bottles[0].routes[0].git.repositories[0]",
      'a GitHub App\'s repositories are "owner/name", not "acme/sub/app"',
    ],
    [
      "a GitHub App in another header than Authorization",
      [bottle({ github }, [apiRoute({ auth: { header: "X-Token", token: "github" } })])],
      "bottles[0].routes[0].auth.header",
      "a GitHub App's token goes in Authorization: GitHub reads it there, and the egress proxy's own mint request carries the App's JWT there (a header pipelock must not scan); set header: Authorization",
    ],
    [
      "a credential named like a token another bottle injects directly",
      [
        { name: "direct", routes: [{ host: "api.example.com", auth: { header: "X-Api-Key", token: "anthropic" } }] },
        bottle({ anthropic: github }, [apiRoute({ auth: { header: "Authorization", token: "anthropic" } })]),
      ],
      "bottles[1].credentials.anthropic",
      '"anthropic" is also the bot-bottle:tokens entry a route of bottles[0] injects directly; one name must mean one credential: rename this entry (and the auth.token of the routes that use it)',
    ],
    [
      "a credential name with a space",
      [bottle({ "git hub": github }, [apiRoute({ auth: { header: "Authorization", token: "git hub" } })])],
      "bottles[0].credentials.git hub",
      "expected a credential name of letters, digits, '_' and '-'",
    ],
  ];
  for (const [name, bottles, path, message] of cases) {
    test(name, () => {
      const found = problemsOf({ bottles });
      assert.deepEqual(found, [{ path, message }], formatProblems(found));
    });
  }
});

describe("credential sources: a valid config", () => {
  test("the contract's example validates, defaults applied, URLs without a trailing slash", () => {
    const result = validateStackConfig({
      tokens: TOKENS,
      bottles: [
        bottle(
          {
            github: { githubApp: { ...github.githubApp, apiUrl: "https://ghe.example.com/api/v3/" } },
            bedrock: { aws: { ...bedrock.aws, roleArn: "arn:aws:iam::123456789012:role/bedrock-agent" } },
            vertex,
          },
          [apiRoute(), sigv4Route(), vertexRoute],
        ),
      ],
    });
    assert.ok(result.ok, JSON.stringify(result));
    const credentials = result.value.bottles[0]!.credentials;
    assert.deepEqual(credentials, {
      github: {
        githubApp: { appId: "123456", installationId: "7890123", privateKey: "app-key", apiUrl: "https://ghe.example.com/api/v3" },
      },
      bedrock: {
        aws: {
          accessKeyId: "aws-id",
          secretAccessKey: "aws-secret",
          role: {
            arn: "arn:aws:iam::123456789012:role/bedrock-agent",
            stsUrl: "https://sts.amazonaws.com",
            stsRegion: "us-east-1",
            sessionSeconds: 3600,
          },
        },
      },
      vertex: {
        googleServiceAccount: {
          key: "sa-key",
          scopes: ["https://www.googleapis.com/auth/cloud-platform"],
          tokenUrl: "https://oauth2.googleapis.com/token",
        },
      },
    });
    assert.deepEqual(result.value.bottles[0]!.routes[1]!.auth, { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock" });
  });

  test("the component's tokens: a missing secret is named as the component's", () => {
    const result = validateBottle("coder", { credentials: { github }, routes: [apiRoute()] }, new Set(["other"]));
    assert.deepEqual(result.ok ? [] : result.problems, [
      {
        path: "credentials.github.githubApp.privateKey",
        message: 'no token named "app-key" in the component\'s tokens; pass it: tokens: { "app-key": <secret value> }',
      },
    ]);
  });

  test("a credential shadows nothing in its own bottle: the same name in the tokens, used by no route directly, is accepted", () => {
    const result = validateStackConfig({
      tokens: { ...TOKENS, github: secret },
      bottles: [bottle({ github }, [apiRoute()])],
    });
    assert.ok(result.ok, JSON.stringify(result));
  });
});
