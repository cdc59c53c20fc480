/**
 * Readers for the two documents the gates enforce, exactly as the deployment puts them in place:
 * the egress proxy's routes.yaml and pipelock's pipelock.yaml.
 *
 * - Docker: each gate reads its document from a live configuration volume mounted read-only at
 *   `<dir>`, as `<dir>/current/<file>`; the document is the stdin of the command that writes that
 *   file into that volume (its environment names both: BOTTLE_VOLUME, BOTTLE_DOCUMENT).
 * - Kubernetes: each gate's pod mounts its live configuration (a ConfigMap, projected with the
 *   tokens Secret for the egress proxy) as a directory; the document is the ConfigMap key that
 *   appears at the path the gate reads, in the ConfigMap of that name in the pod's namespace.
 */
import { parseDocument } from "yaml";
import { TOPOLOGY, TYPES } from "./vocabulary";
import { type Maybe, UNKNOWN, arrayOf, envValue, environmentOf, isRecord, known, snapshot } from "./props";
import { uploadsOf } from "./docker";
import { isPodHolder, metadataOf, secretValues } from "./kubernetes";
import { roleOfResource } from "./labels";
import { type ResourceView, objectsNamed } from "./resources";
import { workloadCommandOf, workloadEnvOf } from "./workloads";
import { podFileAt } from "./pod-files";

/** A document read for a container: its parsed value, or why it could not be read. */
export type DocumentRead<T> = { path: string; value: T } | { error: string };

/**
 * The gate (a Docker container, or a Kubernetes workload such as a Deployment) and every resource
 * of the stack (the command or ConfigMap that holds its documents).
 */
export interface Gate {
  container: ResourceView;
  resources: readonly ResourceView[];
}

type DocumentText = Maybe<{ text: string } | { error: string }>;

/** A gate's document where the deployment declares it: the stdin of its live-config command, a key of its ConfigMap. */
export interface DeclaredDocument {
  /** The gate's role (the command's BOTTLE_ROLE, the ConfigMap's role label). */
  role: string;
  /** The document's file name. */
  file: string;
  /** Its text; `UNKNOWN` during preview if it is. */
  text: Maybe<unknown>;
}

/**
 * The gate documents a resource declares: a live-config command's stdin (Docker), or each key of
 * a gate's ConfigMap (Kubernetes). Empty for any other resource. Read from the resource alone, so
 * a resource policy judges each document before anything uses it (at preview, where a stack
 * policy sees only what the provider will compute).
 */
export function declaredDocumentsOf(resource: { type: string; props: Record<string, any> }): DeclaredDocument[] {
  if (resource.type === TYPES.command) {
    const env = environmentOf(resource.props);
    if (env === UNKNOWN || typeof env.BOTTLE_ROLE !== "string" || typeof env.BOTTLE_DOCUMENT !== "string") {
      return [];
    }
    return [{ role: env.BOTTLE_ROLE, file: env.BOTTLE_DOCUMENT, text: known(() => resource.props.stdin as unknown) }];
  }
  if (resource.type === TYPES.k8sConfigMap) {
    const role = roleOfResource(resource);
    const data = snapshot(() => resource.props.data);
    if (role === undefined || !isRecord(data)) {
      return [];
    }
    return Object.entries(data).map(([file, text]) => ({ role, file, text }));
  }
  return [];
}

/** The text of the document the gate reads at `path`, or an error naming what is missing. */
function documentText(gate: Gate, path: string): DocumentText {
  return isPodHolder(gate.container.type) ? kubernetesDocumentText(gate, path) : dockerDocumentText(gate, path);
}

/** A Docker gate's document: what the one live-config command for that file of its volume writes. */
function dockerDocumentText({ container, resources }: Gate, path: string): DocumentText {
  const volumes = known(() =>
    arrayOf(container.props.volumes).map((v) => ({
      dir: String(v.containerPath),
      volume: v.volumeName as unknown,
      readOnly: v.readOnly === true,
    })),
  );
  if (volumes === UNKNOWN) {
    return UNKNOWN;
  }
  const mount = volumes.find((v) => path.startsWith(`${v.dir}/`));
  const file = mount && /^current\/([^/]+)$/.exec(path.slice(mount.dir.length + 1))?.[1];
  if (mount === undefined || file === undefined || typeof mount.volume !== "string") {
    return { error: `reads ${path}, which is not <dir>/current/<file> of a live configuration volume it mounts` };
  }
  if (!mount.readOnly) {
    return { error: `mounts its configuration volume ${mount.volume} writable at ${mount.dir}; mount it read-only` };
  }
  const writers = resources.filter((r) => {
    if (r.type !== TYPES.command) {
      return false;
    }
    const env = environmentOf(r.props);
    return env !== UNKNOWN && env.BOTTLE_VOLUME === mount.volume && env.BOTTLE_DOCUMENT === file;
  });
  if (writers.length !== 1) {
    return { error: `reads ${path}, but ${writers.length} commands write ${file} into volume ${mount.volume} (expected exactly one)` };
  }
  const text = known(() => writers[0]!.props.stdin as unknown);
  if (text === UNKNOWN) {
    return UNKNOWN;
  }
  return typeof text === "string" ? { text } : { error: `the command that writes ${path} has no document on its stdin` };
}

/**
 * A Kubernetes gate's document: the key of a ConfigMap (declared in this stack, in the pod's
 * namespace) that a volume of the pod puts at `path`. No read-only check: the kubelet mounts
 * ConfigMap and projected volumes read-only whatever the mount says.
 */
function kubernetesDocumentText({ container: workload, resources }: Gate, path: string): DocumentText {
  const at = podFileAt(workload, path);
  if (at === UNKNOWN || "error" in at) {
    return at === UNKNOWN ? UNKNOWN : { error: `${at.error} (the document must be a key of the bottle's ConfigMap, mounted as a volume)` };
  }
  const sources = at.sources.filter((s) => s.kind === "configMap");
  if (sources.length === 0) {
    return {
      error: `reads ${path} from volume '${at.volume}', which projects no ConfigMap there (the document must be a key of the bottle's ConfigMap)`,
    };
  }
  const namespace = metadataOf(workload.props).namespace;
  if (namespace === UNKNOWN) {
    return UNKNOWN;
  }
  for (const source of sources) {
    const configMaps = objectsNamed(resources, TYPES.k8sConfigMap, namespace, source.name);
    if (configMaps.length !== 1) {
      const where = typeof namespace === "string" ? `${namespace}/${source.name}` : source.name;
      return {
        error: `reads ${path} from ConfigMap '${where}', but this stack declares ${configMaps.length} ConfigMaps by that name there (expected exactly one)`,
      };
    }
    const text = snapshot(() => configMaps[0]!.props.data?.[source.key]);
    if (text === UNKNOWN) {
      return UNKNOWN;
    }
    if (typeof text === "string") {
      return { text };
    }
  }
  return {
    error: `reads ${path}, but no ConfigMap its volume '${at.volume}' projects (${sources.map((s) => s.name).join(", ")}) has the key ${sources[0]!.key}`,
  };
}

/**
 * Parses a rendered YAML document (routes.yaml, pipelock.yaml). Returns the parsed value, or an
 * error message when the text is not exactly one valid YAML document.
 */
export function parseYaml(text: string): { value: unknown } | { error: string } {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { error: doc.errors[0].message };
  }
  return { value: doc.toJS() };
}

/** A pipelock document's text parsed: a mapping, or why not. */
export function pipelockDocument(text: string): { value: Record<string, unknown> } | { error: string } {
  const parsed = parseYaml(text);
  if ("error" in parsed) {
    return { error: `is not valid YAML: ${parsed.error}` };
  }
  return isRecord(parsed.value) ? { value: parsed.value } : { error: "is not a YAML mapping" };
}

/** The document at `path` parsed as YAML, or an error naming the file. */
function documentYaml(gate: Gate, path: string): Maybe<{ value: unknown } | { error: string }> {
  const text = documentText(gate, path);
  if (text === UNKNOWN || "error" in text) {
    return text;
  }
  const parsed = parseYaml(text.text);
  if ("error" in parsed) {
    return { error: `${path} is not valid YAML: ${parsed.error}` };
  }
  return parsed;
}

/** The egress proxy's routes.yaml (the file named by `EGRESS_PROXY_ROUTES`), parsed. */
export function routesDocumentOf(gate: Gate): Maybe<DocumentRead<unknown>> {
  const envs = workloadEnvOf(gate.container);
  if (envs === UNKNOWN) {
    return UNKNOWN;
  }
  const path = envValue(envs, TOPOLOGY.routesEnv) ?? TOPOLOGY.routesDefaultPath;
  const parsed = documentYaml(gate, path);
  if (parsed === UNKNOWN || "error" in parsed) {
    return parsed;
  }
  return { path, value: parsed.value };
}

/**
 * The routes of the egress proxy's routes.yaml (the file named by `EGRESS_PROXY_ROUTES`, default
 * /etc/egress-proxy/live/current/routes.yaml), per the version 1 contract: each a mapping with a host.
 */
export function routesOf(gate: Gate): Maybe<DocumentRead<Record<string, unknown>[]>> {
  const parsed = routesDocumentOf(gate);
  if (parsed === UNKNOWN || "error" in parsed) {
    return parsed;
  }
  const { path } = parsed;
  const doc = parsed.value;
  if (!isRecord(doc) || doc.version !== 1 || !Array.isArray(doc.routes)) {
    return { error: `${path} is not a version 1 routes document (version: 1, routes: [...])` };
  }
  const routes: Record<string, unknown>[] = [];
  for (const [i, route] of doc.routes.entries()) {
    if (!isRecord(route) || typeof route.host !== "string") {
      return { error: `${path}: routes[${i}] has no host` };
    }
    routes.push(route);
  }
  return { path, value: routes };
}

/**
 * The credential sources of the egress proxy's routes.yaml (`credentials`: name -> source), each a
 * mapping with a `kind`; none when it has no such section.
 */
export function credentialSourcesOf(gate: Gate): Maybe<DocumentRead<Record<string, Record<string, unknown>>>> {
  const parsed = routesDocumentOf(gate);
  if (parsed === UNKNOWN || "error" in parsed) {
    return parsed;
  }
  const section = isRecord(parsed.value) ? parsed.value.credentials : undefined;
  if (section === undefined) {
    return { path: parsed.path, value: {} };
  }
  if (!isRecord(section) || !Object.values(section).every((source) => isRecord(source) && typeof source.kind === "string")) {
    return { error: `${parsed.path}: credentials is not a mapping of sources, each with a kind` };
  }
  return { path: parsed.path, value: section as Record<string, Record<string, unknown>> };
}

/** The hosts the egress proxy mints credentials at: each source's api_url, sts_url or token_url. */
export function mintHostsOf(sources: Record<string, Record<string, unknown>>): string[] {
  return Object.values(sources).flatMap((source) =>
    ["api_url", "sts_url", "token_url"].flatMap((key) => {
      const url = source[key];
      if (typeof url !== "string") {
        return [];
      }
      try {
        return [new URL(url).hostname];
      } catch {
        return [];
      }
    }),
  );
}

/** Whether the egress proxy's routes.yaml turns audit mode on (`audit: true`). */
export function auditModeOf(gate: Gate): Maybe<DocumentRead<boolean>> {
  const parsed = routesDocumentOf(gate);
  if (parsed === UNKNOWN || "error" in parsed) {
    return parsed;
  }
  return { path: parsed.path, value: isRecord(parsed.value) && parsed.value.audit === true };
}

/** The hosts of the egress proxy's routes.yaml (see routesOf). */
export function routeHostsOf(gate: Gate): Maybe<DocumentRead<string[]>> {
  const routes = routesOf(gate);
  if (routes === UNKNOWN || "error" in routes) {
    return routes;
  }
  return { path: routes.path, value: routes.value.map((route) => String(route.host)) };
}

/**
 * The path pipelock is started with (`--config FILE` or `--config=FILE` in its entrypoint or
 * arguments: Docker's entrypoints and command, Kubernetes' command and args; the last one if
 * repeated). Without it pipelock runs on built-in defaults and
 * ignores the rendered file.
 */
function pipelockConfigPath(gate: ResourceView): Maybe<string | undefined> {
  const command = workloadCommandOf(gate);
  if (command === UNKNOWN) {
    return UNKNOWN;
  }
  const argv = [...command.entrypoint, ...command.args];
  let path: string | undefined;
  // Go's flag parsing keeps the last value of a repeated flag, so keep scanning.
  for (const [i, arg] of argv.entries()) {
    const inline = /^--?config=(.+)$/.exec(arg);
    if (arg === "--config" || arg === "-config") {
      path = argv[i + 1];
    } else if (inline) {
      path = inline[1];
    }
  }
  return path;
}

/** pipelock's effective configuration: the document its command line points at. */
export function pipelockConfigOf(gate: Gate): Maybe<DocumentRead<Record<string, unknown>>> {
  const path = pipelockConfigPath(gate.container);
  if (path === UNKNOWN) {
    return UNKNOWN;
  }
  if (path === undefined) {
    return {
      error: "is not started with --config FILE, so it runs on built-in defaults instead of the " + "rendered pipelock.yaml",
    };
  }
  const text = documentText(gate, path);
  if (text === UNKNOWN || "error" in text) {
    return text;
  }
  const parsed = pipelockDocument(text.text);
  return "error" in parsed ? { error: `${path} ${parsed.error}` } : { path, value: parsed.value };
}

/** The `api_allowlist` entries of a pipelock config (absent means empty, as pipelock reads it). */
export function apiAllowlistOf(config: Record<string, unknown>): string[] {
  const list = config.api_allowlist;
  return Array.isArray(list) ? list.map(String) : [];
}

/**
 * The content of the file at `path` in a gate: a Docker container's upload there, or on
 * Kubernetes the key of the Secret (declared in this stack, in the pod's namespace) that a volume
 * of its pod puts there.
 */
export function workloadFileOf(gate: Gate, path: string): Maybe<{ content: string } | { error: string }> {
  if (!isPodHolder(gate.container.type)) {
    const uploads = uploadsOf(gate.container.props);
    if (uploads === UNKNOWN) {
      return UNKNOWN;
    }
    const upload = uploads.find((u) => u.file === path);
    if (upload === undefined) {
      return { error: `has no file at ${path} (no upload there)` };
    }
    return upload.content === UNKNOWN
      ? UNKNOWN
      : typeof upload.content === "string"
        ? { content: upload.content }
        : { error: `uploads no content at ${path}` };
  }
  const at = podFileAt(gate.container, path);
  if (at === UNKNOWN || "error" in at) {
    return at === UNKNOWN ? UNKNOWN : { error: at.error };
  }
  const namespace = metadataOf(gate.container.props).namespace;
  if (namespace === UNKNOWN) {
    return UNKNOWN;
  }
  for (const source of at.sources.filter((s) => s.kind === "secret")) {
    const secrets = objectsNamed(gate.resources, TYPES.k8sSecret, namespace, source.name);
    const values = secrets.length === 1 ? secretValues(secrets[0]!.props) : [];
    if (values === UNKNOWN) {
      return UNKNOWN;
    }
    const value = values.find(([key]) => key === source.key)?.[1];
    if (value !== undefined) {
      return { content: value };
    }
  }
  return { error: `reads ${path} from volume '${at.volume}', which puts no key of a Secret of this stack there` };
}
