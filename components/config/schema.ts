/**
 * The one description of a bottle's configuration: what may be written (with every rule) and
 * what it means once defaults are applied. Stack config (`bot-bottle:bottles`), the
 * `BottleStack` component's arguments and the specs the rest of the code reads all come from
 * these schemas: the input types are `z.input` (documented as interfaces in args.ts, checked
 * against these), the specs are `z.output`.
 */
import { z } from "zod";
import { Backend, DlpSeverity, HttpMethod, ResponseScanningAction } from "./args";
import { AWS_REGION, CREDENTIAL_SERVICES, type CredentialSourceInputs, credentialsSchema } from "./credential-sources";
import { routeHostProblem } from "./host";
import { pathPrefixProblem } from "./path";

/**
 * The request methods a route may list, and the ones it allows when it lists none. The egress
 * proxy refuses every other method (TRACE, TRACK, CONNECT inside a tunnel, invented ones).
 */
export const HTTP_METHODS = Object.values(HttpMethod);

/** Ports a route allows when it lists none. */
export const DEFAULT_PORTS: readonly number[] = [80, 443];
/**
 * Ports a route that injects a credential allows when it lists none: HTTPS only, so a
 * credential is never sent in cleartext unless a port is opted into it on purpose.
 */
export const DEFAULT_CREDENTIAL_PORTS: readonly number[] = [443];
/**
 * Headers that frame or route the request: injecting them would break or redirect it. The
 * egress proxy refuses the same list (a contract test compares them).
 */
export const RESERVED_HEADERS: readonly string[] = [
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-connection",
  "expect",
];
/** pipelock's release image, the default for every bottle. Pin it by digest in production. */
export const DEFAULT_PIPELOCK_IMAGE = "ghcr.io/luckypipewrench/pipelock:2.3.0";
/** One year, the CA validity when a bottle sets none. */
export const DEFAULT_CA_VALIDITY_HOURS = 8760;
/** Requests per minute to one destination host, when a bottle sets no limit (20 a second). */
export const DEFAULT_REQUESTS_PER_MINUTE = 1200;
/** The largest request body either gate reads, in MiB, when a bottle sets none. */
export const DEFAULT_MAX_BODY_MB = 32;
/** The egress proxy's memory limit, in MiB, when `egressProxy.memoryMb` is not set. */
export const DEFAULT_EGRESS_PROXY_MEMORY_MB = 512;

/**
 * The least memory, in MiB, an egress proxy needs to hold a request body of `maxBodyMb` (a push,
 * an upload) while it checks it: mitmproxy holds it with its copies on the way out (TLS
 * included), measured at about 6 times its size over a 60 MiB base with a 31 MiB push.
 */
export function egressProxyMemoryFloorMb(maxBodyMb: number): number {
  return 64 + 7 * maxBodyMb;
}
/** Where the agent's workspace is mounted when a bottle says nowhere else. */
export const DEFAULT_WORKSPACE_PATH = "/workspace";
/** The agent's user when a bottle sets none. */
export const DEFAULT_AGENT_USER = "1000:1000";
/**
 * The uids the gates run as. No agent may use them: a uid's process count and files are
 * shared by every container that runs as it.
 */
export const GATE_UIDS = { egressProxy: 65533, pipelock: 65532, pipelockBulk: 65531 } as const;
/** The process (pids) limit of each gate's container. */
export const GATE_MAX_PROCESSES = 256;

/** Variables that point the agent's HTTP clients at the egress proxy. */
export const AGENT_PROXY_ENV: readonly string[] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
/** Variables that would exempt hosts from the proxy; the bottle sets them empty. */
export const AGENT_NO_PROXY_ENV: readonly string[] = ["NO_PROXY", "no_proxy"];
/** Variables that point common HTTP clients and TLS stacks at the egress proxy's CA. */
export const AGENT_CA_ENV: readonly string[] = [
  "SSL_CERT_FILE",
  "NODE_EXTRA_CA_CERTS",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "PIP_CERT",
];
/**
 * Names the bottle sets in the agent's environment itself; a bottle's `agent.env` may not set
 * them (compared case-insensitively), so the agent's clients always use the egress proxy.
 */
export const MANAGED_AGENT_ENV: ReadonlySet<string> = new Set(
  // ALL_PROXY would name another proxy for some clients: the bottle leaves it unset.
  [...AGENT_PROXY_ENV, ...AGENT_NO_PROXY_ENV, "ALL_PROXY", ...AGENT_CA_ENV].map((n) => n.toUpperCase()),
);

// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

const positiveInt = (min: number, max: number) => z.int().min(min).max(max);
const uniqueList = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1)
    .refine((list) => new Set(list.map((v) => JSON.stringify(v))).size === list.length, {
      message: "expected no duplicate entries",
    });
/** A string checked by a pure rule that returns a problem or `undefined`. */
const checked = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: "custom", message });
  });

/** A bottle's name: lowercase, it becomes part of every Docker name. */
export const bottleNameSchema = z.string().regex(NAME, {
  message: "expected a lowercase name of letters, digits and inner hyphens, at most 32 characters, starting with a letter",
});

const authSchema = z
  .strictObject({
    header: z
      .string()
      .regex(HEADER_NAME, { message: "expected an HTTP header name such as Authorization" })
      .refine((h) => !RESERVED_HEADERS.includes(h.toLowerCase()), {
        message: "this header frames or routes the request and cannot carry a credential",
      })
      .optional(),
    prefix: z
      .string()
      .regex(/^[\x20-\x7e]*$/, { message: "expected printable ASCII (no line breaks)" })
      .optional(),
    username: z
      .string()
      .regex(/^[\x21-\x39\x3b-\x7e]+$/, { message: "expected printable ASCII without spaces or ':'" })
      .optional(),
    sigv4: z
      .strictObject({
        service: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'expected an AWS signing name such as "bedrock"' })
          .refine((service) => !CREDENTIAL_SERVICES.includes(service), {
            error: (issue) =>
              `${JSON.stringify(issue.input)} answers with credentials (STS sessions, IAM access keys): signing for it would hand ` +
              'the agent credentials of its own; sign for the service the agent needs (such as "bedrock")',
          }),
        region: z.string().regex(AWS_REGION, { message: 'expected an AWS region such as "us-east-1"' }),
      })
      .optional(),
    token: z.string().min(1, { message: "expected the name of a credentials entry or of an entry of bot-bottle:tokens" }),
  })
  .superRefine((auth, ctx) => {
    if ((auth.header === undefined) === (auth.sigv4 === undefined)) {
      ctx.addIssue({
        code: "custom",
        message:
          auth.header === undefined
            ? "expected header (a credential in a header) or sigv4 (requests signed for AWS)"
            : "expected header or sigv4, not both: a SigV4 route signs with its own headers; remove one",
      });
    }
    for (const key of ["prefix", "username"] as const) {
      if (auth.sigv4 !== undefined && auth[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: "only with header: a SigV4 route's signature takes none; remove it" });
      }
    }
  })
  // The header form's prefix is "" when none is given.
  .transform(({ prefix, ...auth }) => ({ ...auth, ...(auth.header !== undefined && { prefix: prefix ?? "" }) }));

/** `owner/name` (or `group/subgroup/name`), without `.git`. */
const REPOSITORY = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)+$/;

/** A ref pattern: a full ref name under `refs/`, where `*` stands for any characters, `/` included. */
const REF_PATTERN = /^refs\/[A-Za-z0-9._/*+-]+$/;

/** What a git route lets the agent push: which refs, and whether it may create, delete and tag. */
export interface GitPushRules {
  refs: string[];
  create: boolean;
  delete: boolean;
  tags: boolean;
}

/** `push: true`: every ref, creations, deletions and tags (what a token with write access can do). */
export const PUSH_EVERY_REF: Readonly<GitPushRules> = { refs: ["refs/*"], create: true, delete: true, tags: true };

/** The refs `pushRules: {}` allows: the agent's own branches. */
export const DEFAULT_PUSH_REFS: readonly string[] = ["refs/heads/agent/*"];

const gitPushSchema = z.strictObject({
  refs: uniqueList(
    z
      .string()
      .regex(REF_PATTERN, { message: 'expected a ref pattern such as "refs/heads/agent/*" (a full ref name; * matches any characters)' })
      .refine((ref) => !ref.includes("..") && !ref.includes("//") && !ref.endsWith("/"), {
        message: 'expected a ref pattern without "..", "//" or a trailing "/"',
      }),
  ).default([...DEFAULT_PUSH_REFS]),
  create: z.boolean().default(true),
  delete: z.boolean().default(false),
  tags: z.boolean().default(false),
});

const gitSchema = z
  .strictObject({
    repositories: uniqueList(
      z
        .string()
        .regex(REPOSITORY, { message: 'expected a repository path such as "acme/app"' })
        .refine((repo) => !repo.endsWith(".git") && !repo.split("/").some((s) => s === "." || s === ".."), {
          message: 'expected a repository path without ".git" or dot segments, such as "acme/app"',
        }),
    ),
    push: z.boolean().optional(),
    pushRules: gitPushSchema.optional(),
  })
  .superRefine((git, ctx) => {
    if (git.push === false && git.pushRules !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["pushRules"],
        message: "rules for pushing on a route with push: false; remove push: false (pushRules alone allows pushing)",
      });
    }
  })
  // One shape after validation: what the agent may push, or false.
  .transform(({ push, pushRules, ...git }) => ({
    ...git,
    push: pushRules ?? (push === true ? { ...PUSH_EVERY_REF } : (false as GitPushRules | false)),
  }));

/**
 * The path prefixes and methods of git's smart-HTTP protocol for some repositories: ref
 * discovery (`info/refs`) and fetch (`git-upload-pack`), and push (`git-receive-pack`) when
 * `push` is set, with and without `.git` in the URL (git hosts answer both).
 */
export function gitPaths(git: { repositories: readonly string[]; push: GitPushRules | false }): string[] {
  const services = ["info/refs", "git-upload-pack", ...(git.push !== false ? ["git-receive-pack"] : [])];
  return git.repositories.flatMap((repo) => [`/${repo}.git`, `/${repo}`].flatMap((base) => services.map((s) => `${base}/${s}`)));
}

const routeSchema = z
  .strictObject({
    host: checked(routeHostProblem),
    ports: uniqueList(positiveInt(1, 65535)).optional(),
    methods: uniqueList(z.enum(HttpMethod)).optional(),
    paths: uniqueList(checked(pathPrefixProblem)).optional(),
    git: gitSchema.optional(),
    auth: authSchema.optional(),
    insecureCleartextPorts: uniqueList(positiveInt(1, 65535)).optional(),
    bulk: z.boolean().default(true),
  })
  .transform(({ ports, methods, paths, ...route }) => ({
    ...route,
    ports: ports ?? [...(route.auth ? DEFAULT_CREDENTIAL_PORTS : DEFAULT_PORTS)],
    methods: methods ?? (route.git ? [HttpMethod.GET, HttpMethod.POST] : [...HTTP_METHODS]),
    ...((paths ?? route.git) && { paths: paths ?? gitPaths(route.git!) }),
  }));

const absolutePath = z.string().regex(/^\/[^\0]*$/, { message: 'expected an absolute path such as "/workspace"' });

const workspaceSchema = z.strictObject({
  path: absolutePath.default(DEFAULT_WORKSPACE_PATH),
  keep: z.boolean().default(true),
  protect: z.boolean().default(false),
  hostPath: absolutePath.optional(),
});

const agentSchema = z.strictObject({
  image: z.string().min(1, { message: "expected an image reference" }).optional(),
  command: z.array(z.string()).min(1).optional(),
  user: z
    .string()
    .regex(/^[0-9]+(?::[0-9]+)?$/, {
      message: 'expected "<uid>:<gid>" numbers such as "1000:1000" (a name resolves inside the image, where it could match a gate\'s uid)',
    })
    .refine((user) => Number(user.split(":")[0]) !== 0, { message: "the agent must not run as root (uid 0)" })
    .refine((user) => !Object.values(GATE_UIDS).includes(Number(user.split(":")[0]) as never), {
      message: `uids ${Object.values(GATE_UIDS).join(", ")} belong to the gates (egress proxy, pipelock, pipelock-bulk); pick another uid`,
    })
    .default(DEFAULT_AGENT_USER),
  env: z.record(z.string().regex(ENV_NAME, { message: "expected an environment variable name" }), z.string()).default({}),
  memoryMb: positiveInt(64, 1 << 20).default(2048),
  maxProcesses: positiveInt(16, 1 << 22).default(512),
  workspace: workspaceSchema.prefault({}),
});

/**
 * The pipelock settings a bottle may add to the rendered pipelock.yaml: a typed subset of
 * pipelock's own config (its key names). Anything that decides whether pipelock enforces
 * (mode, allowlist, interception, DLP action) is fixed by the renderer and cannot be set here.
 */
const pipelockSettingsSchema = z.strictObject({
  trusted_domains: z.array(z.string().min(1)).optional(),
  internal: z.array(z.string().min(1)).optional(),
  ssrf: z.strictObject({ ip_allowlist: z.array(z.string().min(1)) }).optional(),
  explain_blocks: z.boolean().optional(),
  forward_proxy: z
    .strictObject({
      max_tunnel_seconds: positiveInt(1, 86_400).optional(),
      idle_timeout_seconds: positiveInt(1, 86_400).optional(),
    })
    .optional(),
  dlp: z
    .strictObject({
      patterns: z.array(
        z.strictObject({
          name: z.string().min(1),
          regex: z.string().min(1),
          severity: z.enum(DlpSeverity).optional(),
          exempt_domains: z.array(z.string().min(1)).optional(),
        }),
      ),
    })
    .optional(),
  seed_phrase_detection: z
    .strictObject({
      enabled: z.boolean().optional(),
      min_words: z
        .union([z.literal(12), z.literal(15), z.literal(18), z.literal(21), z.literal(24)], {
          message: "expected 12, 15, 18, 21 or 24",
        })
        .optional(),
    })
    .optional(),
  response_scanning: z
    .strictObject({
      enabled: z.boolean().optional(),
      action: z.enum(ResponseScanningAction).optional(),
    })
    .optional(),
  tls_interception: z
    .strictObject({
      passthrough_domains: uniqueList(checked(routeHostProblem)).optional(),
      max_response_bytes: positiveInt(1024, 1 << 30).optional(),
    })
    .optional(),
});

export const dockerEngineSchema = z.strictObject({
  host: z.string().regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, {
    message: 'expected a Docker host URL such as "ssh://user@host" or "unix:///var/run/docker.sock"',
  }),
});

/** Where a bottle runs. */
export const BACKENDS = Object.values(Backend);

/**
 * Ranges pipelock may never dial on Kubernetes when a bottle names none: every private, shared
 * and link-local IPv4 range, so that pods, services, nodes and the cloud's metadata endpoint
 * stay out of reach whatever the cluster's own ranges are.
 */
export const DEFAULT_PRIVATE_CIDRS: readonly string[] = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "127.0.0.0/8",
];
/** The size of a workspace's claim on Kubernetes when a bottle sets none. */
export const DEFAULT_WORKSPACE_SIZE_GB = 10;

/** A Kubernetes namespace's name (an RFC 1123 label). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

export const kubernetesClusterSchema = z.strictObject({
  kubeconfig: z.string().min(1, { message: "expected a kubeconfig file's path or its contents" }).optional(),
  context: z.string().min(1, { message: "expected a context name of the kubeconfig" }).optional(),
  privateCidrs: uniqueList(z.string().regex(IPV4_CIDR, { message: 'expected an IPv4 CIDR such as "10.96.0.0/12"' })).optional(),
  storageClass: z.string().min(1).optional(),
  workspaceSizeGb: positiveInt(1, 1 << 16).optional(),
  metrics: z
    .strictObject({
      scraperNamespace: z.string().regex(DNS_LABEL, { message: 'expected a namespace name such as "monitoring"' }),
      podMonitor: z.boolean().optional(),
    })
    .optional(),
});

/** A bottle, without its name (the component's name, or the stack config entry's `name`). */
export const bottleSchema = z.strictObject({
  routes: z.array(routeSchema).min(1, { message: "a bottle needs at least one route" }),
  credentials: credentialsSchema.optional(),
  agent: agentSchema.optional(),
  egressProxy: z
    .strictObject({
      image: z.string().min(1).optional(),
      memoryMb: positiveInt(64, 1 << 20).default(DEFAULT_EGRESS_PROXY_MEMORY_MB),
    })
    .prefault({}),
  pipelock: z
    .strictObject({
      image: z.string().min(1).default(DEFAULT_PIPELOCK_IMAGE),
      memoryMb: positiveInt(64, 1 << 20).default(256),
      settings: pipelockSettingsSchema.default({}),
    })
    .prefault({}),
  caValidityHours: positiveInt(24, 10 * 8760).default(DEFAULT_CA_VALIDITY_HOURS),
  requestsPerMinute: positiveInt(1, 1_000_000).default(DEFAULT_REQUESTS_PER_MINUTE),
  maxBodyMb: positiveInt(1, 1024).default(DEFAULT_MAX_BODY_MB),
  auditMode: z.boolean().default(false),
  backend: z.enum(BACKENDS).optional(),
  docker: dockerEngineSchema.optional(),
  kubernetes: kubernetesClusterSchema.optional(),
  selfTest: z.boolean().default(true),
});

/** A bottle as the stack config lists it: with its name. */
export const namedBottleSchema = bottleSchema.extend({ name: bottleNameSchema });

/**
 * `bot-bottle:bottles`, `bot-bottle:backend`, `bot-bottle:docker` and `bot-bottle:kubernetes`
 * of a stack. A bottle that names no backend, engine or cluster gets the stack's.
 */
export const stackSchema = z
  .strictObject({
    bottles: z.array(namedBottleSchema).min(1, { message: "declare at least one bottle" }),
    backend: z.enum(BACKENDS).optional(),
    docker: dockerEngineSchema.optional(),
    kubernetes: kubernetesClusterSchema.optional(),
  })
  .transform(({ bottles, backend, docker, kubernetes }) => ({
    bottles: bottles.map((bottle) => {
      const chosen = bottle.backend ?? backend ?? "docker";
      return {
        ...bottle,
        backend: chosen,
        ...(chosen === "docker" && !bottle.docker && docker && { docker }),
        ...(chosen === "kubernetes" && { kubernetes: { ...kubernetes, ...bottle.kubernetes } }),
      };
    }),
    ...(backend && { backend }),
    ...(docker && { docker }),
    ...(kubernetes && { kubernetes }),
  }));

/** A validated bottle with every default applied. Everything past validation reads this. */
export type BottleSpec = z.output<typeof namedBottleSchema>;
export type KubernetesClusterSpec = NonNullable<BottleSpec["kubernetes"]>;
export type RouteSpec = BottleSpec["routes"][number];
export type RouteAuthSpec = NonNullable<RouteSpec["auth"]>;
export type AgentSpec = NonNullable<BottleSpec["agent"]>;
export type WorkspaceSpec = AgentSpec["workspace"];
export type PipelockSettingsSpec = BottleSpec["pipelock"]["settings"];
export type StackSpec = z.output<typeof stackSchema>;

/** The input types args-match-schema.ts holds the documented interfaces (args.ts) to. */
export type SchemaInputs = CredentialSourceInputs & {
  bottle: z.input<typeof bottleSchema>;
  route: z.input<typeof routeSchema>;
  auth: z.input<typeof authSchema>;
  git: z.input<typeof gitSchema>;
  agent: z.input<typeof agentSchema>;
  workspace: z.input<typeof workspaceSchema>;
  pipelockSettings: z.input<typeof pipelockSettingsSchema>;
  dockerEngine: z.input<typeof dockerEngineSchema>;
  kubernetesCluster: z.input<typeof kubernetesClusterSchema>;
};
