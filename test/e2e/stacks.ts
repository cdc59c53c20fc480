/**
 * The end-to-end test stacks, as stack config (the `bot-bottle:` keys of a stack file), typed
 * by the program's own config types. Images are the run's (support/run-env.ts).
 *
 * The test "internet" is one container on a bottle's outbound network answering for
 * `upstream.test` and `*.upstream.test`. It has a private address, which pipelock refuses as
 * SSRF unless the host is trusted, so each stack trusts exactly the hosts it routes to it.
 */
import type { BottleArgs, Route } from "../../components/index";
import { e2eRun } from "./support/run-env";
import type { TestStackConfig } from "./support/stack";

const images = () => e2eRun().images;
// The test stacks' workspaces go with them (the default keeps them: workspace.test.ts tests that).
const agent = (): BottleArgs["agent"] => ({
  image: images().probe,
  command: ["sleep", "infinity"],
  user: "1000:1000",
  workspace: { keep: false },
});
const pipelock = (trusted: string[]): BottleArgs["pipelock"] => ({ image: images().pipelock, settings: { trusted_domains: trusted } });

/**
 * Stack `main`: bottle `alpha` (agent, two credential routes, HTTP (opted into cleartext) and
 * HTTPS, one route without methods) and bottle `beta`
 * (no agent). `ssrf.upstream.test` is routed by both gates but not trusted by pipelock: its
 * refusal is pipelock's alone. `pass.upstream.test` is passed through by pipelock (no
 * interception).
 */
export function mainStack(): TestStackConfig {
  return {
    bottles: [
      {
        name: "alpha",
        routes: [
          {
            host: "upstream.test",
            ports: [80, 443],
            methods: ["GET", "POST", "PUT"],
            paths: ["/allowed/"],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
            // The plain-HTTP tests send the credential in cleartext on port 80, on purpose.
            insecureCleartextPorts: [80],
          },
          // No methods: the default set.
          { host: "llm.upstream.test", ports: [443], auth: { header: "x-api-key", token: "anthropic" } },
          { host: "ssrf.upstream.test", ports: [443], methods: ["GET"] },
          // The inspect lane, where a passthrough means something: pipelock does not intercept.
          { host: "pass.upstream.test", ports: [443], methods: ["GET", "POST"], bulk: false },
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: {
          image: images().pipelock,
          settings: {
            trusted_domains: ["upstream.test", "llm.upstream.test", "pass.upstream.test"],
            tls_interception: { passthrough_domains: ["pass.upstream.test"] },
          },
        },
      },
      {
        name: "beta",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET"] }],
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
    ],
  };
}

/** Stack `side`, deployed beside `main`: one bottle, no agent, no tokens. */
export function sideStack(): TestStackConfig {
  return {
    bottles: [
      {
        name: "alpha",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET"] }],
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
    ],
  };
}

/**
 * Stack `life` for what only the engine shows: one bottle with an agent and one credential
 * route; its egress-proxy image is built by the program itself, as for a user.
 */
export function lifecycleStack(change: { extraPath?: boolean; extraRoute?: boolean } = {}): TestStackConfig {
  return {
    bottles: [
      {
        name: "solo",
        routes: [
          {
            host: "upstream.test",
            ports: [443],
            methods: ["GET"],
            paths: ["/allowed/", ...(change.extraPath ? ["/also-allowed/"] : [])],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          ...(change.extraRoute ? [{ host: "llm.upstream.test", ports: [443], methods: ["POST" as const] }] : []),
        ],
        agent: agent(),
        pipelock: pipelock(["upstream.test", "llm.upstream.test"]),
      },
    ],
  };
}

/** Stack `failclosed`: an egress proxy whose image can never load its routes (TEST fault). */
export function failClosedStack(): TestStackConfig {
  return {
    bottles: [
      {
        name: "gamma",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET"] }],
        agent: agent(),
        egressProxy: { image: images().brokenEgressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
    ],
  };
}

/**
 * Stack `unpullable`: bottle `delta`, whose pipelock image is one no engine can pull (a
 * registry under `.invalid`, a name that never resolves), as on an engine that reaches no
 * registry. `up` must fail on the pull before anything of the bottle is made.
 */
export function unpullableStack(): TestStackConfig {
  return {
    bottles: [
      {
        name: "delta",
        routes: [{ host: "upstream.test", ports: [443], methods: ["GET"] }],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: { image: `registry.invalid/pipelock:absent-${e2eRun().id}` },
      },
    ],
  };
}

/**
 * Stack `work`: bottle `dev`, an engineer's bottle: the real agent image (Claude Code, git),
 * its API at the fake Messages API (llm.upstream.test), git over HTTPS to acme/app with push on
 * git.upstream.test and without on ro.upstream.test (the same server), a credential injected
 * as Basic auth. Its workspace is kept by destroy (the default).
 */
export function workStack(): TestStackConfig {
  const credential = { header: "Authorization", username: "x-access-token", token: "github" };
  return {
    bottles: [
      {
        name: "dev",
        routes: [
          {
            host: "llm.upstream.test",
            ports: [443],
            methods: ["POST"],
            paths: ["/v1/messages"],
            auth: { header: "x-api-key", token: "anthropic" },
          },
          { host: "git.upstream.test", git: { repositories: ["acme/app"], push: true }, auth: credential },
          { host: "ro.upstream.test", git: { repositories: ["acme/app"] }, auth: credential },
        ],
        agent: { image: images().agent, env: { ANTHROPIC_BASE_URL: "https://llm.upstream.test" } },
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["llm.upstream.test", "git.upstream.test", "ro.upstream.test"]),
      },
    ],
  };
}

/**
 * Stack `lanes`: bottle `lane`, the two lanes with bot-bottle's defaults: git to acme/app and
 * acme/big (20 MiB) with push, downloads and JSON from upstream.test (a credential), the fake
 * Messages API, and inspected.upstream.test with `bulk: false` (pipelock reads everything there).
 * Nothing else is set: these are bot-bottle's defaults.
 */
export function lanesStack(): TestStackConfig {
  const hosts = ["git.upstream.test", "upstream.test", "llm.upstream.test", "inspected.upstream.test"];
  return {
    bottles: [
      {
        name: "lane",
        routes: [
          {
            host: "git.upstream.test",
            git: { repositories: ["acme/app", "acme/big"], pushRules: {} },
            auth: { header: "Authorization", username: "x-access-token", token: "github" },
          },
          {
            host: "upstream.test",
            ports: [443],
            methods: ["GET", "HEAD", "POST"],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          {
            host: "llm.upstream.test",
            ports: [443],
            methods: ["POST"],
            paths: ["/v1/messages"],
            auth: { header: "x-api-key", token: "anthropic" },
          },
          { host: "inspected.upstream.test", ports: [443], methods: ["GET", "POST"], bulk: false },
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(hosts),
      },
    ],
  };
}

/** The test names of stack `kube`, unique to the run (the cluster's test hosts file is shared). */
/** A bottle's `kubernetes` settings on the test cluster: every cluster range private, the workspace in `storageClass`. */
function onTestCluster(cluster: { kubeconfig: string; podCidr: string; serviceCidr: string; nodeIp: string }, storageClass: string) {
  return {
    kubeconfig: cluster.kubeconfig,
    privateCidrs: [cluster.podCidr, cluster.serviceCidr, `${cluster.nodeIp}/32`, "169.254.0.0/16", "127.0.0.0/8"],
    storageClass,
    workspaceSizeGb: 1,
  };
}

export interface KubeStackNames {
  upstream: string;
  llm: string;
  ssrf: string;
  /** The namespace whose pods may scrape the gates' metrics. */
  scraper: string;
}

/**
 * Stack `kube`: bottle `alpha` (agent, two credential routes, a host pipelock does not trust)
 * and bottle `beta` (no agent) on the test cluster, whose own ranges and node pipelock may not
 * dial (the test upstream is on a Docker network of the host, outside them). The workspace is a
 * claim on the volume the test makes (`storageClass`), not kept.
 */
export function kubeStack(
  cluster: { kubeconfig: string; podCidr: string; serviceCidr: string; nodeIp: string },
  names: KubeStackNames,
  storageClass: string,
  change: { extraPath?: boolean } = {},
): TestStackConfig {
  const egressProxy = { image: images().egressProxy };
  return {
    backend: "kubernetes",
    kubernetes: { ...onTestCluster(cluster, storageClass), metrics: { scraperNamespace: names.scraper } },
    bottles: [
      {
        name: "alpha",
        routes: [
          {
            host: names.upstream,
            ports: [443],
            methods: ["GET", "POST"],
            paths: ["/allowed/", "/bytes/", ...(change.extraPath ? ["/also-allowed/"] : [])],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          { host: names.llm, ports: [443], auth: { header: "x-api-key", token: "anthropic" } },
          { host: names.ssrf, ports: [443], methods: ["GET"] },
        ],
        agent: { ...agent(), workspace: { keep: false } },
        egressProxy,
        pipelock: pipelock([names.upstream, names.llm]),
      },
      {
        name: "beta",
        routes: [{ host: names.upstream, ports: [443], methods: ["GET"] }],
        egressProxy,
        pipelock: pipelock([names.upstream]),
      },
    ],
  };
}

/**
 * Stack `regress-dk` / `regress-kb` (policy.test.ts): one bottle with an agent and a credential
 * route whose downloads take the bulk lane, so every workload of a bottle is there to break; on
 * Kubernetes with `kubernetes` set. Previewed only, never deployed.
 */
export function policyStack(kubernetes?: { kubeconfig: string; privateCidrs: string[] }): TestStackConfig {
  return {
    ...(kubernetes && { backend: "kubernetes", kubernetes: { ...kubernetes, workspaceSizeGb: 1 } }),
    bottles: [
      {
        name: "solo",
        routes: [
          {
            host: "upstream.test",
            ports: [443],
            methods: ["GET", "POST"],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
    ],
  };
}

/**
 * Stack `watch`: bottle `seen`, watched by a real Prometheus (metrics.test.ts): a credential
 * route to upstream.test under /allowed/ (both lanes), and ssrf.upstream.test routed by the
 * egress proxy but not trusted by pipelock, so pipelock alone refuses it. `extraPath` adds
 * /also-allowed/: a route change, reloaded in place.
 */
export function watchStack(change: { extraPath?: boolean } = {}): TestStackConfig {
  return {
    bottles: [
      {
        name: "seen",
        routes: [
          {
            host: "upstream.test",
            ports: [443],
            methods: ["GET", "POST"],
            paths: ["/allowed/", ...(change.extraPath ? ["/also-allowed/"] : [])],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          { host: "ssrf.upstream.test", ports: [443], methods: ["GET"] },
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
    ],
  };
}

/**
 * Stack `klive` (kubernetes/live.test.ts): one bottle, `solo` (an agent, a credential route),
 * and, with `added`, a second route both gates must load. pipelock trusts both hosts from the
 * start (trusting lets nothing through that no route allows), so adding or removing the route
 * changes only the gates' live documents: a reload, no rollout.
 */
export function liveStack(
  cluster: { kubeconfig: string; podCidr: string; serviceCidr: string; nodeIp: string },
  names: { upstream: string; added: string },
  storageClass: string,
  change: { added?: boolean } = {},
): TestStackConfig {
  return {
    backend: "kubernetes",
    kubernetes: onTestCluster(cluster, storageClass),
    bottles: [
      {
        name: "solo",
        routes: [
          {
            host: names.upstream,
            ports: [443],
            methods: ["GET", "POST"],
            paths: ["/allowed/"],
            auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
          },
          ...(change.added ? [{ host: names.added, ports: [443], methods: ["GET"] }] : []),
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock([names.upstream, names.added]),
      },
    ],
  };
}

/**
 * Stack `remote` (remote.test.ts): bottle `here` on the local engine and bottle `there` on the
 * remote one (`docker.host`, over SSH), each with a credential route to upstream.test; `there`
 * also routes more.upstream.test, under /first/ and, with `secondPath`, /second/ (a route change).
 */
export function remoteStack(remoteHost: string, change: { secondPath?: boolean } = {}): TestStackConfig {
  const credential = { header: "Authorization", prefix: "Bearer ", token: "github" };
  const upstream = { host: "upstream.test", ports: [443], methods: ["GET" as const], paths: ["/allowed/"], auth: credential };
  return {
    bottles: [
      {
        name: "here",
        routes: [upstream],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test"]),
      },
      {
        name: "there",
        docker: { host: remoteHost },
        routes: [
          upstream,
          { host: "more.upstream.test", ports: [443], methods: ["GET"], paths: ["/first/", ...(change.secondPath ? ["/second/"] : [])] },
        ],
        agent: agent(),
        egressProxy: { image: images().egressProxy },
        pipelock: pipelock(["upstream.test", "more.upstream.test"]),
      },
    ],
  };
}

/** The test upstream's hosts of stack `creds` (credentials.test.ts), by the service each plays. */
export const CREDENTIAL_HOSTS = {
  githubApi: "github-api.upstream.test",
  git: "git.upstream.test",
  oauth2: "oauth2.upstream.test",
  vertex: "aiplatform.upstream.test",
  sts: "sts.upstream.test",
  bedrock: "bedrock-runtime.upstream.test",
  bedrockStatic: "bedrock-static.upstream.test",
} as const;

/**
 * Stack `creds`: bottle `minted`, whose every credential is minted by the egress proxy from a
 * long-lived secret (credentials.test.ts): a GitHub App (the pull requests of acme/app through
 * the API, git with push on acme/app), Bedrock with an STS-assumed role and, on a second host,
 * with the static keys, and Vertex AI with a service account. pipelock trusts every host of the
 * test upstream the bottle talks to, the token endpoints among them (the egress proxy's mint
 * requests go through it).
 */
export function credentialsStack(app: { appId: string; installationId: string }, roleArn: string): TestStackConfig {
  const h = CREDENTIAL_HOSTS;
  const sigv4 = (token: string) => ({ sigv4: { service: "bedrock", region: "us-east-1" }, token });
  const bearer = (token: string) => ({ header: "Authorization", prefix: "Bearer ", token });
  const api = (host: string, methods: ("GET" | "POST")[], paths: string[], auth: Route["auth"]): Route => ({
    host,
    ports: [443],
    methods,
    paths,
    auth,
  });
  const bottle: BottleArgs & { name: string } = {
    name: "minted",
    credentials: {
      github: {
        githubApp: { appId: app.appId, installationId: app.installationId, privateKey: "github-app-key", apiUrl: `https://${h.githubApi}` },
      },
      bedrock: {
        aws: {
          accessKeyId: "aws-access-key-id",
          secretAccessKey: "aws-secret-access-key",
          roleArn,
          stsUrl: `https://${h.sts}`,
          stsRegion: "us-east-1",
          sessionSeconds: 900,
        },
      },
      "bedrock-static": { aws: { accessKeyId: "aws-access-key-id", secretAccessKey: "aws-secret-access-key" } },
      vertex: { googleServiceAccount: { key: "vertex-sa-key", tokenUrl: `https://${h.oauth2}/token` } },
    },
    routes: [
      api(h.githubApi, ["GET", "POST"], ["/repos/acme/app/pulls"], bearer("github")),
      {
        host: h.git,
        git: { repositories: ["acme/app"], pushRules: {} },
        auth: { header: "Authorization", username: "x-access-token", token: "github" },
      },
      api(h.bedrock, ["POST"], ["/model/"], sigv4("bedrock")),
      api(h.bedrockStatic, ["POST"], ["/model/"], sigv4("bedrock-static")),
      api(h.vertex, ["POST"], ["/v1/projects/"], bearer("vertex")),
    ],
    agent: agent(),
    egressProxy: { image: images().egressProxy },
    pipelock: pipelock(Object.values(h)),
    // Every test host is under one registrable domain (upstream.test), whose requests pipelock counts
    // together: room for the refresh test's four loops at once.
    requestsPerMinute: 3000,
  };
  return { bottles: [bottle] };
}

/**
 * Stack `creds-cc`: bottle `claude`, the real agent image (Claude Code) reaching Claude through
 * Bedrock (SigV4 with an STS-assumed role's session) and Vertex AI (a service account's token),
 * its environment the dev example's Bedrock variant plus the fake endpoint's base URL.
 */
export function claudeCredentialsStack(roleArn: string): TestStackConfig {
  const h = CREDENTIAL_HOSTS;
  const bottle: BottleArgs & { name: string } = {
    name: "claude",
    credentials: {
      bedrock: {
        aws: { accessKeyId: "aws-access-key-id", secretAccessKey: "aws-secret-access-key", roleArn, stsUrl: `https://${h.sts}` },
      },
      vertex: { googleServiceAccount: { key: "vertex-sa-key", tokenUrl: `https://${h.oauth2}/token` } },
    },
    routes: [
      {
        host: h.bedrock,
        ports: [443],
        methods: ["POST"],
        paths: ["/model/"],
        auth: { sigv4: { service: "bedrock", region: "us-east-1" }, token: "bedrock" },
      },
      {
        host: h.vertex,
        ports: [443],
        methods: ["POST"],
        paths: ["/v1/projects/"],
        auth: { header: "Authorization", prefix: "Bearer ", token: "vertex" },
      },
    ],
    agent: {
      image: images().agent,
      env: {
        CLAUDE_CODE_USE_BEDROCK: "1",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "placeholder-the-egress-proxy-signs",
        AWS_SECRET_ACCESS_KEY: "placeholder-the-egress-proxy-signs",
        ANTHROPIC_BEDROCK_BASE_URL: `https://${h.bedrock}`,
      },
      workspace: { keep: false },
    },
    egressProxy: { image: images().egressProxy },
    pipelock: pipelock([h.bedrock, h.sts, h.vertex, h.oauth2]),
  };
  return { bottles: [bottle] };
}
