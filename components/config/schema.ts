import { z } from "zod";
import { routeHostProblem } from "./host";
import { pathPrefixProblem } from "./path";

/**
 * The request methods a route may list, and the ones it allows when it lists none. The egress
 * proxy refuses every other method (TRACE, TRACK, CONNECT inside a tunnel, invented ones).
 */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Ports a route allows when it lists none. */
export const DEFAULT_PORTS: readonly number[] = [80, 443];
/**
 * Ports a route that injects a credential allows when it lists none: HTTPS only, so a
 * credential is never sent in cleartext unless port 80 is listed on purpose.
 */
export const DEFAULT_CREDENTIAL_PORTS: readonly number[] = [443];
/** The pinned pipelock release (see shared/reference/pipelock.md). */
export const DEFAULT_PIPELOCK_IMAGE = "ghcr.io/luckypipewrench/pipelock:2.3.0";
/** One year, the CA validity when a bottle sets none. */
export const DEFAULT_CA_VALIDITY_HOURS = 8760;
/** The process (pids) limit of each gate's container. */
export const GATE_MAX_PROCESSES = 256;
/** Requests per minute to one destination host, when a bottle sets no limit (20 a second). */
export const DEFAULT_REQUESTS_PER_MINUTE = 1200;
/** The largest request body either gate reads, in MiB, when a bottle sets none. */
export const DEFAULT_MAX_BODY_MB = 32;
/**
 * The uids the gates run as. No agent may use them: a uid's process count and files are
 * shared by every container that runs as it.
 */
export const GATE_UIDS = { egressProxy: 65533, pipelock: 65532 } as const;

// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers that frame or route the request: injecting them would break or redirect it.
const RESERVED_HEADERS = new Set([
  "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
  "upgrade", "proxy-authorization", "proxy-connection", "expect",
]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

const name = z.string().regex(NAME, {
  message: "expected a lowercase name of letters, digits and inner hyphens, at most 32 characters, starting with a letter",
});
const positiveInt = (min: number, max: number) => z.int().min(min).max(max);
const uniqueList = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1).refine((list) => new Set(list.map((v) => JSON.stringify(v))).size === list.length, {
    message: "expected no duplicate entries",
  });

const authSchema = z.strictObject({
  header: z
    .string()
    .regex(HEADER_NAME, { message: "expected an HTTP header name such as Authorization" })
    .refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), {
      message: "this header frames or routes the request and cannot carry a credential",
    }),
  prefix: z
    .string()
    .regex(/^[\x20-\x7e]*$/, { message: "expected printable ASCII (no line breaks)" })
    .optional(),
  token: z.string().min(1, { message: "expected the name of an entry of bot-bottle:tokens" }),
});

/** A string checked by a pure rule that returns a problem or `undefined`. */
const checked = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: "custom", message });
  });

const routeSchema = z.strictObject({
  host: checked(routeHostProblem),
  ports: uniqueList(positiveInt(1, 65535)).optional(),
  methods: uniqueList(z.enum(HTTP_METHODS)).optional(),
  paths: uniqueList(checked(pathPrefixProblem)).optional(),
  auth: authSchema.optional(),
  insecureCleartextPorts: uniqueList(positiveInt(1, 65535)).optional(),
});

const agentSchema = z.strictObject({
  image: z.string().min(1, { message: "expected an image reference" }),
  command: z.array(z.string()).min(1).optional(),
  user: z
    .string()
    .regex(/^[0-9]+(?::[0-9]+)?$/, {
      message: 'expected "<uid>:<gid>" numbers such as "1000:1000" (a name resolves inside the image, where it could match a gate\'s uid)',
    })
    .refine((user) => Number(user.split(":")[0]) !== 0, { message: "the agent must not run as root (uid 0)" })
    .refine((user) => !Object.values(GATE_UIDS).includes(Number(user.split(":")[0]) as never), {
      message: `uids ${Object.values(GATE_UIDS).join(" and ")} belong to the gates (egress proxy, pipelock); pick another uid`,
    })
    .optional(),
  env: z.record(z.string().regex(ENV_NAME, { message: "expected an environment variable name" }), z.string()).optional(),
  memoryMb: positiveInt(64, 1 << 20).optional(),
  maxProcesses: positiveInt(16, 1 << 22).optional(),
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
          severity: z.enum(["low", "medium", "high", "critical"]).optional(),
          exempt_domains: z.array(z.string().min(1)).optional(),
        }),
      ),
    })
    .optional(),
  response_scanning: z
    .strictObject({
      enabled: z.boolean().optional(),
      action: z.enum(["warn", "block", "strip"]).optional(),
    })
    .optional(),
  tls_interception: z
    .strictObject({
      passthrough_domains: uniqueList(checked(routeHostProblem)).optional(),
      max_response_bytes: positiveInt(1024, 1 << 30).optional(),
    })
    .optional(),
});

const dockerSchema = z.strictObject({
  host: z.string().regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, {
    message: 'expected a Docker host URL such as "ssh://user@host" or "unix:///var/run/docker.sock"',
  }),
});

export const bottleSchema = z.strictObject({
  name,
  routes: z.array(routeSchema).min(1, { message: "a bottle needs at least one route" }),
  agent: agentSchema.optional(),
  egressProxy: z
    .strictObject({
      image: z.string().min(1).optional(),
      memoryMb: positiveInt(64, 1 << 20).optional(),
    })
    .optional(),
  pipelock: z
    .strictObject({
      image: z.string().min(1).optional(),
      memoryMb: positiveInt(64, 1 << 20).optional(),
      settings: pipelockSettingsSchema.optional(),
    })
    .optional(),
  caValidityHours: positiveInt(24, 10 * 8760).optional(),
  requestsPerMinute: positiveInt(1, 1_000_000).optional(),
  maxBodyMb: positiveInt(1, 1024).optional(),
  docker: dockerSchema.optional(),
  selfTest: z.boolean().optional(),
});

export const stackSchema = z.strictObject({
  bottles: z.array(bottleSchema).min(1, { message: "declare at least one bottle" }),
  docker: dockerSchema.optional(),
});

/** A route as written in stack config (`bot-bottle:bottles[].routes[]`). */
export type RouteConfig = z.input<typeof routeSchema>;
/** The agent container as written in stack config. */
export type AgentConfig = z.input<typeof agentSchema>;
/** Extra pipelock settings, in pipelock's own key names. */
export type PipelockSettings = z.input<typeof pipelockSettingsSchema>;
/** A bottle as written in stack config (`bot-bottle:bottles[]`). */
export type BottleConfig = z.input<typeof bottleSchema>;
/** A Docker engine to deploy to. */
export type DockerHostConfig = z.input<typeof dockerSchema>;
