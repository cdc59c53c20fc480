/**
 * Credential confinement: token values live only in the egress proxy's tokens file (written by its
 * live-config command on Docker, the `egress-proxy-tokens` Secret on Kubernetes), private keys
 * only in the two CA files that need them.
 *
 * What a policy can and cannot see (@pulumi/policy 1.21): the engine hands props to the analyzer
 * with secrets marked, but the SDK's `deserializeProperties(props, false)` (server.js, analyze and
 * analyzeStack) unwraps every secret to its plaintext and keeps no marker (pulumi/pulumi-policy#241
 * is the open request for one; only remediations get `Secret` wrappers). So a validation cannot
 * tell whether `BOTTLE_TOKENS` was a secret Output. What it CAN see is the plaintext itself, which makes
 * the stronger half of the rule checkable: the token values and key PEMs must not appear anywhere
 * except where they belong. The secret marking of those values is asserted by the component's unit
 * tests and by this pack's example-stacks test, which reads it from the offline plan.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { K8S, LABELS, ROLES, TOPOLOGY, TYPES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, environmentOf, isRecord, known, stringsOf } from "../lib/props";
import { uploadsOf } from "../lib/docker";
import { isKubernetes, isPodHolder, kindOf, metadataOf, podContainersOf, podTemplateOf, secretValues } from "../lib/kubernetes";
import { labelsOf, roleOf, roleOfResource } from "../lib/labels";
import { type ResourceView, dockerName, objectName } from "../lib/resources";
import { podFileAt } from "../lib/pod-files";
import { pipelockConfigOf } from "../lib/documents";

/** A PEM private key block of any kind (PKCS#1, SEC1, PKCS#8, OpenSSH). */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Token values shorter than this are not searched for: a value that short would match unrelated
 * text, and no real API token is that short.
 */
const MIN_SEARCHED_TOKEN_LENGTH = 8;

/** Resource types that hold key material by design (the key and the cert signed with it). */
const KEY_HOLDER_TYPES: readonly string[] = [TYPES.privateKey, TYPES.selfSignedCert];

/** Calls `visit` with every known string inside `value` and its property path. */
function walkStrings(value: unknown, path: string, visit: (text: string, path: string) => void): void {
  if (typeof value === "string") {
    visit(value, path);
    return;
  }
  if (typeof value !== "object" || value === null) {
    return;
  }
  // Index and key loops, not map(): reading an unknown element through the proxy throws, and
  // known() must wrap each read on its own.
  const entries: [string, Maybe<unknown>][] = [];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      entries.push([`${path}[${i}]`, known(() => value[i] as unknown)]);
    }
  } else {
    for (const k of Object.keys(value)) {
      entries.push([path === "" ? k : `${path}.${k}`, known(() => (value as Record<string, unknown>)[k])]);
    }
  }
  for (const [childPath, child] of entries) {
    if (child !== UNKNOWN) {
      walkStrings(child, childPath, visit);
    }
  }
}

/** The `EGRESS_PROXY_TOKEN_*` entries of a container's env, as names. */
function tokenEnvNames(props: Record<string, any>): Maybe<string[]> {
  const envs = stringsOf(props, "envs");
  if (envs === UNKNOWN) {
    return UNKNOWN;
  }
  return envs.filter((e) => e.startsWith(TOPOLOGY.tokenEnvPrefix)).map((e) => e.split("=")[0]!);
}

/** The tokens a live-config command writes (its BOTTLE_TOKENS, a JSON object), as [name, value]. */
function liveTokens(props: Record<string, any>): Maybe<{ role: unknown; entries: [string, string][] } | undefined> {
  const env = environmentOf(props);
  if (env === UNKNOWN) {
    return UNKNOWN;
  }
  const json = env[TOPOLOGY.liveTokensEnv];
  if (typeof json !== "string") {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { role: env.BOTTLE_ROLE, entries: [] };
  }
  const entries = isRecord(parsed) ? Object.entries(parsed).map(([k, v]) => [k, String(v)] as [string, string]) : [];
  return { role: env.BOTTLE_ROLE, entries };
}

/** Upload paths of a container that may hold a CA private key. */
function keyUploadPaths(container: ResourceView, resources: readonly ResourceView[], role: string | undefined): string[] {
  if (role === ROLES.egressProxy) {
    return [TOPOLOGY.egressProxyCaPath];
  }
  if (role === ROLES.pipelock) {
    const config = pipelockConfigOf({ container, resources });
    if (config !== UNKNOWN && !("error" in config)) {
      const tls = config.value.tls_interception;
      if (isRecord(tls) && typeof tls.ca_key === "string") {
        return [tls.ca_key];
      }
    }
  }
  return [];
}

/** True when a file mode string ("0600") grants nothing to group or others. */
function isOwnerOnly(mode: string | undefined): boolean {
  return mode !== undefined && /^0?[0-7]{3}$/.test(mode) && (parseInt(mode, 8) & 0o077) === 0;
}

/** The tokens of a tokens file's JSON (`{"EGRESS_PROXY_TOKEN_<N>": value}`), as [name, value]. */
function tokensOfJson(json: string): [string, string][] {
  try {
    const parsed: unknown = JSON.parse(json);
    return isRecord(parsed) ? Object.entries(parsed).map(([k, v]) => [k, String(v)] as [string, string]) : [];
  } catch {
    return [];
  }
}

/** `<namespace>/<name>` of a namespaced Kubernetes object, or undefined when either is not known yet. */
function namespacedName(namespace: unknown, name: unknown): string | undefined {
  return typeof name === "string" && namespace !== UNKNOWN ? `${typeof namespace === "string" ? namespace : ""}/${name}` : undefined;
}

/** The Secrets a pod reads into its containers' environment (`env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`), per container. */
function secretsInEnv(spec: Record<string, unknown>): { container: string; variable: string; secret: unknown }[] {
  const out: { container: string; variable: string; secret: unknown }[] = [];
  for (const c of podContainersOf(spec)) {
    for (const e of Array.isArray(c.env) ? c.env.filter(isRecord) : []) {
      const ref = isRecord(e.valueFrom) ? e.valueFrom.secretKeyRef : undefined;
      if (isRecord(ref)) {
        out.push({ container: String(c.name), variable: `env ${String(e.name)}`, secret: ref.name });
      }
    }
    for (const e of Array.isArray(c.envFrom) ? c.envFrom.filter(isRecord) : []) {
      if (isRecord(e.secretRef)) {
        out.push({ container: String(c.name), variable: "envFrom", secret: e.secretRef.name });
      }
    }
  }
  return out;
}

/** The Secrets a pod mounts as volumes (`secret` volumes, `projected` secret sources). */
function secretsInVolumes(spec: Record<string, unknown>): { volume: string; secret: unknown }[] {
  const out: { volume: string; secret: unknown }[] = [];
  for (const v of Array.isArray(spec.volumes) ? spec.volumes.filter(isRecord) : []) {
    if (isRecord(v.secret)) {
      out.push({ volume: String(v.name), secret: v.secret.secretName });
    }
    const sources = isRecord(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources.filter(isRecord) : [];
    for (const source of sources) {
      if (isRecord(source.secret)) {
        out.push({ volume: String(v.name), secret: source.secret.name });
      }
    }
  }
  return out;
}

/** True when a Kubernetes file mode grants nothing to others (the owner is root, the group the pod's fsGroup). */
function isGroupOnly(mode: number): boolean {
  return (mode & 0o007) === 0;
}

/**
 * Token values appear only in the tokens the egress proxy's live-config command writes (its
 * secret BOTTLE_TOKENS); PEM private keys only in the egress proxy's and pipelock's CA key
 * uploads, which are owner-only (0600).
 */
export const credentialsAreSecret: StackValidationPolicy = {
  name: "credentials-are-secret",
  description:
    "Credentials reach exactly one place: the egress proxy's tokens file, written by its live-config " +
    "command from that command's secret BOTTLE_TOKENS environment variable (on Kubernetes: the " +
    "stringData of its Secret 'egress-proxy-tokens', which only the egress proxy's pod mounts). No " +
    "container carries an EGRESS_PROXY_TOKEN_<N> variable or the tokens Secret in its environment " +
    "(the egress proxy reads its tokens file), no other command or Secret holds tokens, and no token " +
    "value appears in any other property of any resource (a label, annotation, command, entrypoint, " +
    "env var, healthcheck, rendered document or ConfigMap, local command). Private keys appear only in " +
    "the CA bundle uploads (the egress proxy's mitmproxy-ca.pem and pipelock's tls_interception.ca_key), " +
    "with mode 0600 (on Kubernetes: in the files Secret key the gate mounts there, mode 0440 or " +
    "stricter). Anything else puts a secret where the agent, `docker inspect`, `kubectl get`, logs or " +
    "plaintext state can read it. Limitation: policies receive secrets already decrypted with no " +
    "marker, so whether the tokens are a secret Output cannot be checked here; see the pack README.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const tokens: { name: string; value: string; owner: string; place: string }[] = [];
    for (const r of args.resources.filter((x) => x.type === TYPES.container)) {
      const names = tokenEnvNames(r.props);
      for (const name of names === UNKNOWN ? [] : names) {
        reportViolation(
          `Container '${dockerName(r)}' (role '${roleOf(r.props) ?? "none"}') has the credential variable ` +
            `${name} in its env. Tokens reach only the egress proxy's tokens file (its live config); remove it.`,
          r.urn,
        );
      }
    }
    for (const r of args.resources.filter((x) => x.type === TYPES.command)) {
      const live = liveTokens(r.props);
      if (live === UNKNOWN || live === undefined) {
        continue;
      }
      if (live.role !== ROLES.egressProxy) {
        reportViolation(
          `Command '${r.name}' writes tokens (${TOPOLOGY.liveTokensEnv}) for role '${String(live.role)}'. ` +
            `Only the egress proxy's live config may hold tokens; remove them.`,
          r.urn,
        );
        continue;
      }
      for (const [name, value] of live.entries) {
        if (value.length >= MIN_SEARCHED_TOKEN_LENGTH) {
          tokens.push({ name, value, owner: r.urn, place: `the egress proxy's live-config ${TOPOLOGY.liveTokensEnv}` });
        }
      }
    }

    // Kubernetes: the tokens are the egress-proxy-tokens Secret's; no other Secret holds a
    // live configuration's tokens, and only the egress proxy's pod mounts that Secret.
    const tokenSecrets = new Set<string>();
    for (const r of args.resources.filter((x) => x.type === TYPES.k8sSecret)) {
      const { name, namespace } = metadataOf(r.props);
      if (typeof name !== "string" || !name.endsWith(K8S.tokensSecretSuffix)) {
        continue;
      }
      const role = labelsOf(r.props).get(LABELS.role);
      if (name !== K8S.tokensSecret || role !== ROLES.egressProxy) {
        reportViolation(
          `Secret '${objectName(r)}' (role '${role ?? "none"}') holds a live configuration's tokens. Only the ` +
            `egress proxy's Secret '${K8S.tokensSecret}' (role '${ROLES.egressProxy}') may hold tokens; remove it.`,
          r.urn,
        );
        continue;
      }
      const id = namespacedName(namespace, name);
      if (id !== undefined) {
        tokenSecrets.add(id);
      }
      const values = secretValues(r.props);
      for (const [, json] of values === UNKNOWN ? [] : values) {
        for (const [token, value] of tokensOfJson(json)) {
          if (value.length >= MIN_SEARCHED_TOKEN_LENGTH) {
            tokens.push({ name: token, value, owner: r.urn, place: `the egress proxy's Secret '${K8S.tokensSecret}'` });
          }
        }
      }
    }
    // Where each Kubernetes gate may keep its CA key: the Secret key its pod mounts at the key's path.
    const keySecretKeys = new Set<string>();
    for (const r of args.resources.filter((x) => isPodHolder(x.type))) {
      const pod = podTemplateOf(r);
      if (pod === UNKNOWN || pod === undefined) {
        continue;
      }
      const role = roleOfResource(r);
      const what = `${kindOf(r.type)} '${objectName(r)}' (role '${role ?? "none"}')`;
      const namespace = metadataOf(r.props).namespace;
      for (const c of podContainersOf(pod.spec)) {
        const env = Array.isArray(c.env) ? c.env.filter(isRecord) : [];
        for (const e of env.filter((e) => typeof e.name === "string" && e.name.startsWith(TOPOLOGY.tokenEnvPrefix))) {
          reportViolation(
            `${what} has the credential variable ${String(e.name)} in the env of container '${String(c.name)}'. ` +
              `Tokens reach only the egress proxy's tokens file (its live config); remove it.`,
            r.urn,
          );
        }
      }
      for (const ref of secretsInEnv(pod.spec)) {
        const id = namespacedName(namespace, ref.secret);
        if (id !== undefined && tokenSecrets.has(id)) {
          reportViolation(
            `${what} puts the tokens Secret '${String(ref.secret)}' into the environment of container ` +
              `'${ref.container}' (${ref.variable}), where the process, its children and its logs can read ` +
              `them. Tokens reach only the egress proxy's tokens file; remove that reference.`,
            r.urn,
          );
        }
      }
      if (role !== ROLES.egressProxy) {
        for (const ref of secretsInVolumes(pod.spec)) {
          const id = namespacedName(namespace, ref.secret);
          if (id !== undefined && tokenSecrets.has(id)) {
            reportViolation(
              `${what} mounts the tokens Secret '${String(ref.secret)}' (volume '${ref.volume}'). Only the ` +
                `egress proxy's pod may; remove the volume.`,
              r.urn,
            );
          }
        }
      }
      if (role !== ROLES.egressProxy && role !== ROLES.pipelock) {
        continue;
      }
      for (const path of keyUploadPaths(r, args.resources, role)) {
        const at = podFileAt(r, path);
        if (at === UNKNOWN || "error" in at) {
          continue;
        }
        for (const source of at.sources.filter((s) => s.kind === "secret")) {
          const id = namespacedName(namespace, source.name);
          if (id !== undefined) {
            keySecretKeys.add(`${id}#${source.key}`);
          }
          const mode = source.mode;
          if (mode !== UNKNOWN && (typeof mode !== "number" || !isGroupOnly(mode))) {
            reportViolation(
              `${what} mounts its CA key ${path} from Secret '${source.name}' (key ${source.key}) with mode ` +
                `${typeof mode === "number" ? `0${mode.toString(8)}` : String(mode)}, readable by every user in ` +
                `the pod. Set the item's mode to 0440 (the pod's fsGroup only) or stricter.`,
              r.urn,
            );
          }
        }
      }
    }

    for (const r of args.resources) {
      const role = r.type === TYPES.container ? roleOf(r.props) : undefined;
      const keyPaths = r.type === TYPES.container ? keyUploadPaths(r, args.resources, role) : [];
      const secretId = r.type === TYPES.k8sSecret ? namespacedName(metadataOf(r.props).namespace, metadataOf(r.props).name) : undefined;
      const check = (text: string, path: string) => {
        const isOwnTokens =
          tokens.some((t) => t.owner === r.urn) &&
          (path === `environment.${TOPOLOGY.liveTokensEnv}` || (r.type === TYPES.k8sSecret && /^(stringData|data)\./.test(path)));
        if (!isOwnTokens) {
          for (const token of tokens.filter((t) => text.includes(t.value))) {
            reportViolation(
              `The value of ${token.name} appears in ${r.type} '${r.name}' at ${path}. Token ` +
                `values may only be in ${token.place}; remove it from ${path}.`,
              r.urn,
            );
          }
        }
        // A credential source's secret (a GitHub App's key, a service account's key file) is a token.
        if (!isOwnTokens && !KEY_HOLDER_TYPES.includes(r.type) && PRIVATE_KEY_PEM.test(text)) {
          const upload = /^uploads\[(\d+)\]\.content$/.exec(path);
          const file = upload ? known(() => String(r.props.uploads[Number(upload[1])].file)) : UNKNOWN;
          const secretKey = /^(?:stringData|data)\.(.+)$/.exec(path)?.[1];
          const allowedSecretKey = secretId !== undefined && secretKey !== undefined && keySecretKeys.has(`${secretId}#${secretKey}`);
          if (!allowedSecretKey && (file === UNKNOWN || !keyPaths.includes(file))) {
            reportViolation(
              `${r.type} '${r.name}' carries a private key at ${path}. Private keys may only be ` +
                (isKubernetes(r.type)
                  ? `in the Secret key a gate's pod mounts as its CA key (egress proxy: ` +
                    `${TOPOLOGY.egressProxyCaPath}; pipelock: its tls_interception.ca_key)`
                  : `uploaded as the CA bundle (egress proxy: ${TOPOLOGY.egressProxyCaPath}; pipelock: its tls_interception.ca_key)`) +
                `; remove it from ${path}.`,
              r.urn,
            );
          }
        }
      };
      walkStrings(r.props, "", (text, path) => {
        check(text, path);
        // Base64 values (a Secret's data, a ConfigMap's binaryData) are checked decoded too.
        if ((r.type === TYPES.k8sSecret && /^data\./.test(path)) || (r.type === TYPES.k8sConfigMap && /^binaryData\./.test(path))) {
          check(Buffer.from(text, "base64").toString("utf8"), path);
        }
      });
      if (r.type !== TYPES.container || keyPaths.length === 0) {
        continue;
      }
      const uploads = uploadsOf(r.props);
      for (const upload of uploads === UNKNOWN ? [] : uploads) {
        if (keyPaths.includes(upload.file) && upload.permissions !== UNKNOWN && !isOwnerOnly(upload.permissions)) {
          reportViolation(
            `Container '${dockerName(r)}' uploads its CA key ${upload.file} with mode ` +
              `${upload.permissions ?? "0644 (default)"}, readable by other users. Set ` +
              `permissions: "0600" (and owner to the process uid).`,
            r.urn,
          );
        }
      }
    }
  },
};
