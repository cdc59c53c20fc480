/**
 * A stack's reach, read from its offline plan: per bottle, what its agent can reach and on
 * what terms (routes with the token each injects, pipelock's exceptions, limits, images). Read
 * from the planned resources and rendered files, not from the config, so two plans made by
 * different versions of the program compare too.
 */
import { parse } from "yaml";
import { type KeyPaths, LABEL_KEYS, RESOURCE_TYPES, type RouteReachField } from "../../components/index";
import { type KeyTable, PIPELOCK_DOCUMENT_KEYS, ROUTE_KEYS, ROUTES_DOCUMENT_KEYS, type UnjudgedKeys, unjudgedKeys } from "./document-keys";
import { CREDENTIAL_KEYS, type CredentialReach, credentialReach } from "./credential-reach";
import { list, record, strings } from "./parsed-values";
import { DOCKER_VOLUME_KEYS, KUBERNETES_VOLUME_KEYS, UNREAD_DOCKER_STORAGE_INPUTS } from "./mount-keys";

/** The parts of the plan's JSON this reads (`npm run plan -- --json`). */
export interface PlanJson {
  resources: { type: string; name: string; parent?: string; inputs: Record<string, unknown> }[];
  files: Record<string, Record<string, string>>;
}

export interface RouteReach {
  host: string;
  ports: number[];
  methods: string[];
  /** Path prefixes; absent: any path. */
  paths?: string[];
  /** A git route's repositories (routes.yaml `git.repositories`); absent: not a git route. */
  repositories?: string[];
  /**
   * The credential the route injects: in a header, or as a SigV4 signature; the token's name
   * (absent in plans made before routes.yaml named tokens: then only the variable is known), and
   * either the variable of a static token or the credential source that mints it (the bottle's
   * `credentials`).
   */
  credential?: {
    header?: string;
    sigv4?: { service: string; region: string };
    token?: string;
    variable?: string;
    source?: string;
    username?: string;
  };
  /** Ports on which the credential travels in plain HTTP. */
  cleartextPorts: number[];
  /**
   * The kinds of this route's traffic on the bulk lane (`git`, `downloads`): pipelock checks
   * their host and streams them; what can be read of them goes through its scan API. Empty:
   * pipelock reads all of the route's traffic.
   */
  bulk: string[];
  /**
   * What a git route lets the agent push (routes.yaml `git.push`); absent: no push. Plans made
   * before push rules read `push: true` as every ref.
   */
  push?: PushReach;
}

// The route contract (components/config/route-contract.ts) names the field each key of a route
// is read into: these lines fail to compile unless those are exactly RouteReach's fields.
type Fields = KeyPaths<RouteReach>;
const contractNamesEveryField: [RouteReachField] extends [Fields] ? ([Fields] extends [RouteReachField] ? true : false) : false = true;
void contractNamesEveryField;

/** A git route's push rules: ref patterns (`*` any characters), and whether it may create, delete, tag. */
export interface PushReach {
  refs: string[];
  create: boolean;
  delete: boolean;
  tags: boolean;
}

export interface PipelockReach {
  /** Hosts pipelock lets resolve to private addresses. */
  trustedDomains: string[];
  /** Addresses exempt from pipelock's SSRF check. */
  ssrfAllowlist: string[];
  /** Route hosts pipelock does not intercept (nothing sent to them is scanned). */
  passthrough: string[];
  /** The DLP patterns added to pipelock's own: each one's definition (regex, severity, exempt domains) as JSON, by name. */
  dlpPatterns: Record<string, string>;
  responseScanning: string;
  /** The fewest words of a seed phrase pipelock detects; 0: detection off. */
  seedPhraseMinWords: number;
  maxResponseBytes?: number;
  explainBlocks: boolean;
  /** How many bytes of a text answer on the bulk lane pipelock scans; 0: none (or no bulk lane). */
  bulkAnswerScanBytes: number;
  /** The request headers pipelock's DLP reads (`sensitive_headers`). */
  scannedHeaders: string[];
}

export interface BottleReach {
  routes: RouteReach[];
  /** The credential sources the routes use, by name (absent in plans made before there were any). */
  credentials?: Record<string, CredentialReach>;
  /** Audit mode: the egress proxy lets through (and logs) what no route covers. */
  auditMode: boolean;
  requestsPerMinute?: number;
  maxBodyBytes?: number;
  pipelock: PipelockReach;
  /** Image per workload: a reference, or "built by the program". */
  images: Record<string, string>;
  memoryMb: Record<string, number>;
  maxProcesses: Record<string, number>;
  selfTest: boolean;
  /**
   * The gates' settings the reach does not interpret, as `<file> <key path>` -> JSON value: the
   * ones it compares as they are and any key it does not know (document-keys.ts). Any change
   * to them counts as widening.
   */
  unjudged: Record<string, string>;
  /** The agent's user, command and the names of the variables it is given. */
  agent?: {
    user: string;
    command?: string[];
    env: string[];
    /** Host directories it mounts (a `workspace.hostPath`); absent in plans made before this was read. */
    hostPaths?: string[];
  };
}

export type StackReach = Record<string, BottleReach>;

/** What the program builds rather than pulls. */
export const BUILT = "built by the program";

function labelsOf(inputs: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(list(inputs.labels).map((l) => [String(record(l).label), String(record(l).value)]));
}

function envOf(inputs: Record<string, unknown>): Map<string, string> {
  return new Map(
    strings(inputs.envs).map((entry) => {
      const eq = entry.indexOf("=");
      return [entry.slice(0, eq), entry.slice(eq + 1)];
    }),
  );
}

/** A workload as either backend declares it: a Docker container or a Kubernetes Deployment. */
interface PlannedWorkload {
  bottle: string;
  role: string;
  /** The image reference; absent: the program builds it. */
  image?: string;
  memoryMb: number;
  /** The pids limit the limits command applies (Docker); absent on Kubernetes (the node's). */
  maxProcesses?: number;
  user: string;
  command?: string[];
  env: Map<string, string>;
  /** Host directories the workload mounts (Docker volumes with a hostPath, Kubernetes hostPath volumes). */
  hostPaths: string[];
}

function dockerWorkloads(plan: PlanJson): PlannedWorkload[] {
  const containers = plan.resources.filter((r) => r.type === RESOURCE_TYPES.container);
  const limitsOf = (bottle: string) =>
    new Map(
      String(
        record(plan.resources.find((r) => r.type === RESOURCE_TYPES.command && r.name === `${bottle}-limits`)?.inputs.environment)
          .BOTTLE_PROCESS_LIMITS ?? "",
      )
        .split(" ")
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.lastIndexOf("=")), Number(pair.slice(pair.lastIndexOf("=") + 1))]),
    );
  // A pulled image is named for the first workload that runs it; the others run the same id.
  const references = new Map<string, string>();
  for (const c of containers) {
    const labels = labelsOf(c.inputs);
    const pulled = plan.resources.find(
      (r) => r.type === RESOURCE_TYPES.remoteImage && r.name === `${labels[LABEL_KEYS.bottle]}-${labels[LABEL_KEYS.role]}-image`,
    );
    if (pulled) references.set(`${labels[LABEL_KEYS.bottle]} ${String(c.inputs.image)}`, String(pulled.inputs.name));
  }
  return containers.flatMap((c) => {
    const labels = labelsOf(c.inputs);
    const bottle = labels[LABEL_KEYS.bottle];
    const role = labels[LABEL_KEYS.role];
    if (!bottle || !role) return [];
    const image = references.get(`${bottle} ${String(c.inputs.image)}`);
    const limit = limitsOf(bottle).get(String(c.inputs.name));
    return [
      {
        bottle,
        role,
        ...(image !== undefined && { image }),
        memoryMb: Number(c.inputs.memory),
        ...(limit !== undefined && { maxProcesses: limit }),
        user: String(c.inputs.user),
        ...(c.inputs.command !== undefined && { command: strings(c.inputs.command) }),
        env: envOf(c.inputs),
        hostPaths: list(c.inputs.volumes)
          .flatMap((v) => (typeof record(v).hostPath === "string" ? [String(record(v).hostPath)] : []))
          .sort(),
      },
    ];
  });
}

function kubernetesWorkloads(plan: PlanJson): PlannedWorkload[] {
  return plan.resources
    .filter((r) => r.type === RESOURCE_TYPES.k8sDeployment)
    .flatMap((d) => {
      const labels = record(record(d.inputs.metadata).labels);
      const bottle = labels[LABEL_KEYS.bottle];
      const role = labels[LABEL_KEYS.role];
      const pod = record(record(record(d.inputs.spec).template).spec);
      const main = record(list(pod.containers)[0]);
      if (typeof bottle !== "string" || typeof role !== "string") return [];
      const security = record(pod.securityContext);
      const memory = String(record(record(main.resources).limits).memory ?? "0");
      return [
        {
          bottle,
          role,
          image: String(main.image),
          memoryMb: Number.parseInt(memory, 10),
          user: `${String(security.runAsUser)}:${String(security.runAsGroup)}`,
          ...(main.args !== undefined && { command: strings(main.args) }),
          env: new Map(list(main.env).map((e) => [String(record(e).name), String(record(e).value ?? "")])),
          hostPaths: list(pod.volumes)
            .flatMap((v) => (record(v).hostPath !== undefined ? [String(record(record(v).hostPath).path)] : []))
            .sort(),
        },
      ];
    });
}

/** The reach of every bottle of a plan. */
export function reachOfPlan(plan: PlanJson): StackReach {
  const workloads = [...dockerWorkloads(plan), ...kubernetesWorkloads(plan)];
  const bottles = [...new Set(workloads.map((w) => w.bottle))].sort();
  return Object.fromEntries(
    bottles.map((bottle) => [
      bottle,
      bottleReach(
        plan,
        bottle,
        workloads.filter((w) => w.bottle === bottle),
      ),
    ]),
  );
}

function bottleReach(plan: PlanJson, bottle: string, workloads: PlannedWorkload[]): BottleReach {
  const files = plan.files[bottle] ?? {};
  const routesDoc = record(parse(files["routes.yaml"] ?? "{}"));
  const pipelockDoc = record(parse(files["pipelock.yaml"] ?? "{}"));
  const byRole = new Map(workloads.map((w) => [w.role, w]));
  const roles = [...byRole.keys()].sort();
  const egressEnv = byRole.get("egress-proxy")?.env ?? new Map<string, string>();
  const selfTest =
    plan.resources.some((r) => r.type === RESOURCE_TYPES.command && r.name === `${bottle}-self-test`) ||
    plan.resources.some((r) => r.type === RESOURCE_TYPES.k8sJob && r.name === `${bottle}-self-test`);
  const agent = byRole.get("agent");
  const tls = record(pipelockDoc.tls_interception);
  const scanning = record(pipelockDoc.response_scanning);
  const seed = record(pipelockDoc.seed_phrase_detection);
  const maxBody = egressEnv.get("EGRESS_PROXY_MAX_BODY_BYTES");
  return {
    routes: list(routesDoc.routes).map((raw) => routeReach(record(raw))),
    credentials: Object.fromEntries(
      Object.entries(record(routesDoc.credentials)).map(([name, raw]) => [name, credentialReach(record(raw))]),
    ),
    auditMode: routesDoc.audit === true,
    ...(routesDoc.requests_per_minute !== undefined && { requestsPerMinute: Number(routesDoc.requests_per_minute) }),
    ...(maxBody !== undefined && { maxBodyBytes: Number(maxBody) }),
    pipelock: {
      trustedDomains: strings(pipelockDoc.trusted_domains),
      ssrfAllowlist: strings(record(pipelockDoc.ssrf).ip_allowlist),
      passthrough: strings(tls.passthrough_domains),
      dlpPatterns: Object.fromEntries(list(record(pipelockDoc.dlp).patterns).map((p) => [String(record(p).name), JSON.stringify(p)])),
      // pipelock's default: on, warn.
      responseScanning: scanning.enabled === false ? "off" : `on (${typeof scanning.action === "string" ? scanning.action : "warn"})`,
      // pipelock's own default, when the file does not say: on, 12 words.
      seedPhraseMinWords: seed.enabled === false ? 0 : Number(seed.min_words ?? 12),
      ...(tls.max_response_bytes !== undefined && { maxResponseBytes: Number(tls.max_response_bytes) }),
      explainBlocks: pipelockDoc.explain_blocks === true,
      bulkAnswerScanBytes: Number(record(routesDoc.bulk_lane).answer_scan_bytes ?? 0),
      scannedHeaders: strings(record(pipelockDoc.request_body_scanning).sensitive_headers).sort(),
    },
    unjudged: documentsUnjudged(files).values,
    images: Object.fromEntries(roles.map((role) => [role, byRole.get(role)!.image ?? BUILT])),
    memoryMb: Object.fromEntries(roles.map((role) => [role, byRole.get(role)!.memoryMb])),
    maxProcesses: Object.fromEntries(
      roles.flatMap((role) => (byRole.get(role)!.maxProcesses === undefined ? [] : [[role, byRole.get(role)!.maxProcesses!]])),
    ),
    selfTest,
    ...(agent && {
      agent: {
        user: agent.user,
        ...(agent.command !== undefined && { command: agent.command }),
        env: [...agent.env.keys()].sort(),
        hostPaths: agent.hostPaths,
      },
    }),
  };
}

/**
 * What of a bottle's gate documents (routes.yaml, pipelock.yaml, pipelock-bulk.yaml) the reach
 * does not interpret, keyed `<file> <key path>`; a route's keys under `routes[<host>]`.
 */
export function documentsUnjudged(files: Record<string, string>): UnjudgedKeys {
  const found: UnjudgedKeys = { values: {}, unknown: [] };
  const add = (file: string, part: UnjudgedKeys) => {
    for (const [key, value] of Object.entries(part.values)) found.values[`${file} ${key}`] = value;
    found.unknown.push(...part.unknown.map((key) => `${file} ${key}`));
  };
  const routesDoc = record(parse(files["routes.yaml"] ?? "{}"));
  add("routes.yaml", unjudgedKeys(routesDoc, ROUTES_DOCUMENT_KEYS));
  for (const route of list(routesDoc.routes)) add("routes.yaml", unjudgedKeys(route, ROUTE_KEYS, `routes[${String(record(route).host)}].`));
  for (const [name, source] of Object.entries(record(routesDoc.credentials))) {
    add("routes.yaml", unjudgedKeys(source, CREDENTIAL_KEYS, `credentials[${name}].`));
  }
  for (const file of ["pipelock.yaml", "pipelock-bulk.yaml"]) {
    if (files[file] !== undefined) add(file, unjudgedKeys(parse(files[file]), PIPELOCK_DOCUMENT_KEYS));
  }
  return found;
}

/**
 * What of a plan the reach cannot account for, each as `<bottle or resource>: <where>`: keys of
 * the gates' documents no table lists (document-keys.ts; a route's are the route contract's)
 * and storage mounted into a workload in a shape it does not read (mount-keys.ts). The reach
 * diff refuses to judge a plan that has any: what it cannot see could widen.
 */
export function unknownToReach(plan: PlanJson): string[] {
  const documents = Object.entries(plan.files).flatMap(([bottle, files]) =>
    documentsUnjudged(files).unknown.map((key) => `${bottle}: ${key}`),
  );
  const storage = plan.resources.flatMap((r) => unknownStorage(r).map((where) => `${r.name}: ${where}`));
  return [...documents, ...storage];
}

function unknownStorage(resource: PlanJson["resources"][number]): string[] {
  const unknownIn = (volumes: unknown, table: KeyTable) =>
    list(volumes).flatMap((volume, i) => unjudgedKeys(volume, table, `volumes[${i}].`).unknown);
  const { type, inputs } = resource;
  if (type === RESOURCE_TYPES.container) {
    return [
      ...UNREAD_DOCKER_STORAGE_INPUTS.filter((input) => inputs[input] !== undefined),
      ...unknownIn(inputs.volumes, DOCKER_VOLUME_KEYS),
    ];
  }
  if (type === RESOURCE_TYPES.k8sDeployment || type === RESOURCE_TYPES.k8sJob)
    return unknownIn(record(record(record(inputs.spec).template).spec).volumes, KUBERNETES_VOLUME_KEYS);
  return [];
}

// The usual order of HTTP methods, for reading; unknown ones last.
const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const methodRank = (method: string) => (METHOD_ORDER.includes(method) ? METHOD_ORDER.indexOf(method) : METHOD_ORDER.length);

/** A route of routes.yaml as a reach: its keys as the route contract reads them. */
export function routeReach(raw: Record<string, unknown>): RouteReach {
  const auth = raw.auth === undefined ? undefined : record(raw.auth);
  return {
    host: String(raw.host),
    ports: list(raw.ports)
      .map(Number)
      .sort((a, b) => a - b),
    methods: strings(raw.methods).sort((a, b) => methodRank(a) - methodRank(b)),
    ...(raw.path_allowlist !== undefined && { paths: strings(raw.path_allowlist).sort() }),
    ...(raw.git !== undefined && { repositories: strings(record(raw.git).repositories).sort() }),
    ...(auth && {
      credential: {
        ...(auth.header !== undefined && { header: String(auth.header) }),
        ...(auth.sigv4 !== undefined && {
          sigv4: { service: String(record(auth.sigv4).service), region: String(record(auth.sigv4).region) },
        }),
        ...(typeof auth.token === "string" && { token: auth.token }),
        ...(typeof auth.basic_username === "string" && { username: auth.basic_username }),
        ...(auth.token_env !== undefined && { variable: String(auth.token_env) }),
        ...(auth.credential !== undefined && { source: String(auth.credential) }),
      },
    }),
    cleartextPorts: list(raw.insecure_cleartext_ports)
      .map(Number)
      .sort((a, b) => a - b),
    bulk: strings(raw.bulk),
    ...pushReach(record(raw.git).push),
  };
}

/** routes.yaml's `git.push` as a reach: false or absent no push, true every ref, else its rules. */
function pushReach(push: unknown): { push?: PushReach } {
  if (push === true) return { push: { refs: ["refs/*"], create: true, delete: true, tags: true } };
  if (typeof push !== "object" || push === null) return {};
  const rules = record(push);
  return {
    push: { refs: strings(rules.refs).sort(), create: rules.create === true, delete: rules.delete === true, tags: rules.tags === true },
  };
}
