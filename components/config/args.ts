/**
 * A bottle's configuration as users write it, documented field by field: the arguments of the
 * `BottleStack` component and the entries of `bot-bottle:bottles` in stack config. These
 * interfaces are the documentation; the rules and defaults live in schema.ts, and
 * args-match-schema.ts fails to compile if the two ever describe different shapes.
 *
 * Closed sets of values are `as const` objects (not string unions) so that Pulumi can infer
 * the component's schema for other languages from these types. The nested types are named
 * for what they describe (`Route`, not `RouteArgs`): the interface's name is the schema's type
 * name, and Python's SDK generator adds `Args` to each input type itself (`RouteArgs`).
 */

/** The request methods a route may allow. */
export const HttpMethod = {
  GET: "GET",
  HEAD: "HEAD",
  POST: "POST",
  PUT: "PUT",
  PATCH: "PATCH",
  DELETE: "DELETE",
  OPTIONS: "OPTIONS",
} as const;
export type HttpMethod = (typeof HttpMethod)[keyof typeof HttpMethod];

/** Severity of a DLP pattern, in pipelock's terms. */
export const DlpSeverity = { low: "low", medium: "medium", high: "high", critical: "critical" } as const;
export type DlpSeverity = (typeof DlpSeverity)[keyof typeof DlpSeverity];

/** What pipelock does with an answer its response scanning flags. */
export const ResponseScanningAction = { warn: "warn", block: "block", strip: "strip" } as const;
export type ResponseScanningAction = (typeof ResponseScanningAction)[keyof typeof ResponseScanningAction];

/** One destination the agent may reach. Everything not matched by a route is refused by both gates. */
export interface Route {
  /**
   * A lowercase DNS name (`api.github.com`), or `*.example.com` for every subdomain (not the
   * name itself). No URLs, ports, IP literals or wider wildcards.
   */
  host: string;
  /** Ports the agent may use. Defaults to [443] on a route with `auth`, else [80, 443]. */
  ports?: number[];
  /** Methods the agent may use. Defaults to GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS. */
  methods?: HttpMethod[];
  /**
   * Path prefixes the agent may use, matched on segment boundaries (`/user` matches `/user`
   * and `/user/x`, not `/users`). Defaults to any path (or the paths of `git`).
   */
  paths?: string[];
  /**
   * Git over HTTPS (smart HTTP) to these repositories, instead of `paths` and `methods`: fetch
   * always, push only with `push`. Defaults to none.
   */
  git?: RouteGit;
  /** The credential the egress proxy injects into every request this route allows. Defaults to none. */
  auth?: RouteAuth;
  /**
   * Ports on which the credential may travel in plain HTTP: a risk, flagged by the policy pack.
   * Only on a route with `auth`, and only its own ports. Defaults to none: TLS only.
   */
  insecureCleartextPorts?: number[];
  /**
   * Send this route's bulk traffic on the bulk lane, which pipelock gates by host (allowlist,
   * private addresses, rate limit) and through its scan API (the URL, sensitive headers, the
   * text of answers) without holding it: git's fetches and pushes of `git`, and GET and HEAD
   * requests without a body (downloads), whose answers stream to the agent. Everything else
   * (any request with a body but git's, event streams) is read whole by pipelock. false: pipelock
   * reads every request and answer of this route (answers over its
   * `tls_interception.max_response_bytes` are refused). Downloads stay inspected whatever this
   * says when pipelock's `response_scanning.action` is `block` or `strip`. Defaults to true.
   */
  bulk?: boolean;
}

/** Git repositories a route serves, as git's smart-HTTP protocol uses them. */
export interface RouteGit {
  /**
   * Repository paths on the host, without `.git`: `acme/app` allows
   * `/acme/app.git/info/refs`, `/acme/app.git/git-upload-pack` (and the same without `.git`).
   */
  repositories: string[];
  /**
   * Allow pushing (`git-receive-pack`) every ref the token can write: creations, deletions,
   * tags, force pushes. Defaults to false: clone and fetch only (unless `pushRules` is set).
   */
  push?: boolean;
  /**
   * Allow pushing only what these rules allow: the egress proxy reads each push's ref updates
   * before a byte reaches the host and refuses the push whole if one falls outside them. `{}`
   * allows creating and updating `refs/heads/agent/*` only. Takes the place of `push: true`.
   * Defaults to none.
   */
  pushRules?: RouteGitPush;
}

/** The refs a git route lets the agent push, and how. */
export interface RouteGitPush {
  /**
   * Ref patterns, full names under `refs/`; `*` matches any characters, `/` included. Defaults
   * to `["refs/heads/agent/*"]`: the agent's own branches.
   */
  refs?: string[];
  /** Allow creating a ref (a branch that does not exist yet). Defaults to true. */
  create?: boolean;
  /** Allow deleting a ref. Defaults to false. */
  delete?: boolean;
  /** Allow pushing tags (`refs/tags/...`, which must also match `refs`). Defaults to false. */
  tags?: boolean;
}

/**
 * A credential injected by the egress proxy, so that the agent never holds it: in a header
 * (`header`, with `prefix` or `username`), or as an AWS SigV4 signature (`sigv4`). Exactly one
 * of `header` and `sigv4`.
 */
export interface RouteAuth {
  /**
   * The header it goes in (replacing whatever the agent sent), e.g. `Authorization`. Not with
   * `sigv4`. Defaults to none.
   */
  header?: string;
  /** Text before the token, e.g. `"Bearer "`. Only with `header`. Defaults to none. */
  prefix?: string;
  /**
   * Send the token as HTTP Basic credentials with this user name (`Basic base64(username:token)`),
   * as git hosts expect: e.g. `x-access-token` for a GitHub token. Only with `header`, not with
   * `prefix`. Defaults to none: the token goes in as it is.
   */
  username?: string;
  /**
   * Sign every request with AWS Signature Version 4 for this service and region, with the AWS
   * credential `token` names (an `aws` entry of the bottle's `credentials`); whatever AWS auth
   * the agent sent is dropped. Not with `header`. Defaults to none.
   */
  sigv4?: RouteAuthSigv4;
  /**
   * The name of the credential: an entry of the bottle's `credentials` (a short-lived credential
   * the egress proxy mints), else a token (a key of the component's `tokens`, or of
   * `bot-bottle:tokens`).
   */
  token: string;
}

/** What a SigV4 route signs for. */
export interface RouteAuthSigv4 {
  /** The AWS service's signing name, e.g. `bedrock` (for `bedrock-runtime.<region>.amazonaws.com`). */
  service: string;
  /** The AWS region, e.g. `us-east-1`. */
  region: string;
}

/**
 * A source of short-lived credentials the egress proxy mints and refreshes itself from a
 * long-lived secret it alone holds (an entry of `bot-bottle:tokens`, or of the component's
 * `tokens`). Exactly one of its kinds.
 */
export interface CredentialSource {
  /** GitHub App installation tokens (one hour), narrowed to the repositories and permissions of the routes that use it. */
  githubApp?: GithubAppSource;
  /** AWS credentials for SigV4 routes: the keys themselves, or a role assumed with them (session credentials). */
  aws?: AwsSource;
  /** Google OAuth access tokens minted from a service account's key (JWT bearer grant). */
  googleServiceAccount?: GoogleServiceAccountSource;
}

/** A GitHub App installation. */
export interface GithubAppSource {
  /** The App's id: digits, as a string (quoted in YAML). */
  appId: string;
  /** The installation's id: digits, as a string (quoted in YAML): the account whose repositories the tokens reach. */
  installationId: string;
  /** The token entry holding the App's private key (PEM). */
  privateKey: string;
  /**
   * The GitHub API's base URL (https, no query), e.g. `https://ghe.example.com/api/v3` for GitHub
   * Enterprise Server. Defaults to https://api.github.com.
   */
  apiUrl?: string;
}

/** AWS keys, and optionally a role they assume. */
export interface AwsSource {
  /** The token entry holding the access key id. */
  accessKeyId: string;
  /** The token entry holding the secret access key. */
  secretAccessKey: string;
  /**
   * A role to assume with the keys (STS AssumeRole); its session credentials sign, refreshed
   * before they expire. Defaults to none: the keys sign themselves (they never expire).
   */
  roleArn?: string;
  /** STS's URL (https). Only with `roleArn`. Defaults to https://sts.amazonaws.com. */
  stsUrl?: string;
  /** The region STS requests are signed for. Only with `roleArn`. Defaults to us-east-1. */
  stsRegion?: string;
  /** The session's lifetime in seconds, 900 to 43200. Only with `roleArn`. Defaults to 3600. */
  sessionSeconds?: number;
}

/** A Google service account. */
export interface GoogleServiceAccountSource {
  /** The token entry holding the service account's JSON key file. */
  key: string;
  /** The OAuth scopes asked for. Defaults to ["https://www.googleapis.com/auth/cloud-platform"]. */
  scopes?: string[];
  /**
   * Google's token endpoint (https); no route may reach its host. Defaults to
   * https://oauth2.googleapis.com/token.
   */
  tokenUrl?: string;
}

/** The agent's container. */
export interface Agent {
  /**
   * Its image (pin it by digest in production). Defaults to the agent image shipped with this
   * package, built on the bottle's engine: Debian, git, Node 22, npm and Claude Code, uid 1000,
   * working in /workspace.
   */
  image?: string;
  /** Its command. Defaults to the image's. */
  command?: string[];
  /**
   * Numeric `uid[:gid]`; not root, and not a gate's uid (65533, 65532, 65531). Defaults to
   * "1000:1000".
   */
  user?: string;
  /**
   * More environment variables. The proxy and CA variables are set by the bottle and cannot be
   * overridden. Defaults to none.
   */
  env?: { [name: string]: string };
  /** Memory limit in MiB. Defaults to 2048. */
  memoryMb?: number;
  /** The container's process (pids) limit. Defaults to 512. */
  maxProcesses?: number;
  /** The persistent workspace. Defaults to a volume at /workspace, kept by `destroy`. */
  workspace?: Workspace;
}

/** The agent's workspace: a volume of its own that outlives the agent's container. */
export interface Workspace {
  /** Where it is mounted in the agent. Defaults to /workspace. */
  path?: string;
  /**
   * Keep the volume when the stack is destroyed (Pulumi forgets it; the next `up` finds it
   * again). Defaults to true: `false` deletes the work with the stack.
   */
  keep?: boolean;
  /** Refuse to destroy or replace the volume until this is turned off. Defaults to false. */
  protect?: boolean;
  /**
   * A directory on the engine's host to mount instead of a volume, for local development (the
   * agent can change anything in it; the policy pack refuses it in production stacks).
   * Defaults to none.
   */
  hostPath?: string;
}

/** The egress proxy's container. */
export interface EgressProxy {
  /**
   * A prebuilt egress-proxy image (pin it by digest in production). Defaults to building the
   * image shipped with this package on the bottle's engine.
   */
  image?: string;
  /**
   * Memory limit in MiB. Defaults to 512. At least 64 + 7 x `maxBodyMb` (288 for the default
   * 32): the egress proxy holds a request body whole while it checks it.
   */
  memoryMb?: number;
}

/** pipelock's container. */
export interface Pipelock {
  /** Its image. Defaults to pipelock's 2.3.0 release (ghcr.io/luckypipewrench/pipelock:2.3.0). */
  image?: string;
  /** Memory limit in MiB. Defaults to 256. */
  memoryMb?: number;
  /** Extra settings for the rendered pipelock.yaml, in pipelock's own key names. Defaults to none. */
  settings?: PipelockSettings;
}

/**
 * The part of pipelock's configuration a bottle may set. What decides whether pipelock
 * enforces (strict mode, allowlist, interception, blocking DLP) is fixed by the bottle.
 */
export interface PipelockSettings {
  /** Hosts allowed to resolve to private addresses (pipelock's SSRF check). Defaults to none. */
  trusted_domains?: string[];
  /** CIDRs pipelock treats as private. Defaults to pipelock's own list. */
  internal?: string[];
  /** Addresses exempt from the SSRF check. Defaults to none. */
  ssrf?: PipelockSsrf;
  /** Add a hint header to pipelock's refusals (it reveals the policy to the agent). Defaults to false. */
  explain_blocks?: boolean;
  /** Tunnel lifetimes. */
  forward_proxy?: PipelockForwardProxy;
  /** More DLP patterns. */
  dlp?: PipelockDlp;
  /**
   * Detection of BIP-39 seed phrases in what the agent sends. Defaults to on, from 24 words
   * (pipelock's 12 flag ordinary English: Claude Code's first request is refused).
   */
  seed_phrase_detection?: PipelockSeedPhrase;
  /** Response scanning (prompt-injection detection). Defaults to pipelock's: on, warn. */
  response_scanning?: PipelockResponseScanning;
  /** Interception limits and exceptions. */
  tls_interception?: PipelockTlsInterception;
}

export interface PipelockSsrf {
  /** Addresses or CIDRs pipelock may dial although they are private. */
  ip_allowlist: string[];
}

export interface PipelockForwardProxy {
  /** A tunnel's longest life in seconds. Defaults to 3600 (pipelock's 300 cuts long streamed answers). */
  max_tunnel_seconds?: number;
  /** Seconds an idle tunnel stays open. Defaults to pipelock's 120. */
  idle_timeout_seconds?: number;
}

export interface PipelockDlp {
  /** Patterns added to pipelock's built-in ones. */
  patterns: PipelockDlpPattern[];
}

export interface PipelockDlpPattern {
  /** The pattern's name, shown in refusals and logs. */
  name: string;
  /** A Go regular expression. */
  regex: string;
  /** Defaults to pipelock's default severity. */
  severity?: DlpSeverity;
  /** Hosts where pipelock does not apply this pattern to URLs. Defaults to none. */
  exempt_domains?: string[];
}

export interface PipelockSeedPhrase {
  /** Defaults to true. */
  enabled?: boolean;
  /** The fewest consecutive BIP-39 words (with a valid checksum) that count: 12, 15, 18, 21 or 24. Defaults to 24. */
  min_words?: SeedPhraseWords;
}

/** Lengths of BIP-39 phrases. */
export const SeedPhraseWords = { twelve: 12, fifteen: 15, eighteen: 18, twentyOne: 21, twentyFour: 24 } as const;
export type SeedPhraseWords = (typeof SeedPhraseWords)[keyof typeof SeedPhraseWords];

export interface PipelockResponseScanning {
  /** Defaults to true. With it off, pipelock 2.3 buffers event streams whole. */
  enabled?: boolean;
  /** Defaults to warn. */
  action?: ResponseScanningAction;
}

export interface PipelockTlsInterception {
  /**
   * Route hosts pipelock does not intercept: only their names are checked, nothing sent to them
   * is scanned (the policy pack names each). Defaults to none.
   */
  passthrough_domains?: string[];
  /** Intercepted answers larger than this are refused. Defaults to pipelock's 5 MiB. */
  max_response_bytes?: number;
}

/** A Docker engine to deploy to. */
export interface DockerEngine {
  /** `ssh://user@host`, `tcp://host:2376` or `unix:///path`. */
  host: string;
}

/** Where a bottle runs: a Docker engine, or a Kubernetes cluster. */
export const Backend = { docker: "docker", kubernetes: "kubernetes" } as const;
export type Backend = (typeof Backend)[keyof typeof Backend];

/**
 * A Kubernetes cluster to deploy to, and how a bottle uses it. The cluster's network plugin
 * must enforce NetworkPolicy (Calico, Cilium, kube-router...): the bottle's isolation is its
 * policies.
 */
export interface KubernetesCluster {
  /** A kubeconfig file's path, or its contents. Defaults to the provider's: KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** The kubeconfig context. Defaults to its current context. */
  context?: string;
  /**
   * IPv4 ranges pipelock may never dial: the cluster's pod and service ranges, its nodes, and
   * private networks. Defaults to every private, shared (100.64/10), link-local and loopback range.
   */
  privateCidrs?: string[];
  /** The storage class of the agent's workspace claim. Defaults to the cluster's default class. */
  storageClass?: string;
  /** The size of the agent's workspace claim in GiB. Defaults to 10. */
  workspaceSizeGb?: number;
  /** Who scrapes the gates' Prometheus metrics. Defaults to no one: no connection reaches their metrics ports. */
  metrics?: KubernetesMetrics;
}

/** How Prometheus in the cluster scrapes a bottle's gates (their pods carry `prometheus.io/*` annotations). */
export interface KubernetesMetrics {
  /** The namespace Prometheus runs in: its pods alone may connect to the gates' metrics ports. */
  scraperNamespace: string;
  /**
   * Declare a PodMonitor (the Prometheus Operator's) selecting the bottle's gates. Defaults to
   * false. A PodMonitor rather than a ServiceMonitor: the gates' Services serve their clients
   * in the bottle, and the metrics port is not theirs.
   */
  podMonitor?: boolean;
}

/** A bottle: what its agent may reach and how its containers run. */
export interface BottleArgs {
  /** What the agent may reach. At least one route; no two with the same host. */
  routes: Route[];
  /**
   * Sources of short-lived credentials, by name (letters, digits, '_' and '-'): a route's
   * `auth.token` names one. Each must be used by a route. Defaults to none.
   */
  credentials?: { [name: string]: CredentialSource };
  /** The agent's container. Defaults to none: the bottle's gates are declared without an agent. */
  agent?: Agent;
  /** The egress proxy. Defaults to the image built from this package, 256 MiB. */
  egressProxy?: EgressProxy;
  /** pipelock. Defaults to its release image, 256 MiB, no extra settings. */
  pipelock?: Pipelock;
  /** Validity of both CAs in hours. Defaults to 8760 (one year). */
  caValidityHours?: number;
  /**
   * Requests per minute the agent may send to one destination host, counted by the egress
   * proxy per request (429 over it). Defaults to 1200.
   */
  requestsPerMinute?: number;
  /**
   * The largest request body either gate reads, in MiB (413 over it; the egress proxy also
   * refuses a larger response of known length). Defaults to 32.
   */
  maxBodyMb?: number;
  /**
   * Learning mode: the egress proxy lets through what no route covers (without a credential)
   * and logs it as `audit-allow`, for `npm run bottle -- blocked --suggest`; what is unsafe is
   * still refused, credentials are still injected only on declared routes, and pipelock still
   * enforces. The policy pack refuses it in production stacks. Defaults to false.
   */
  auditMode?: boolean;
  /** Where the bottle runs. Defaults to the stack's `bot-bottle:backend`, else docker. */
  backend?: Backend;
  /** The Docker engine of this bottle (backend docker). Defaults to the local one (or DOCKER_HOST). */
  docker?: DockerEngine;
  /** The Kubernetes cluster of this bottle (backend kubernetes). Defaults to the stack's `bot-bottle:kubernetes`. */
  kubernetes?: KubernetesCluster;
  /**
   * Check on every `up` that creates or replaces a container that the bottle does not leak;
   * a leak fails the deployment. On Docker it needs the `docker` CLI where Pulumi runs; on
   * Kubernetes it is a Job in the bottle's namespace. Defaults to true.
   */
  selfTest?: boolean;
}
