/**
 * Readers for the two documents the gates enforce, taken from the container uploads exactly as
 * the provider will copy them: the egress proxy's routes.yaml and pipelock's pipelock.yaml.
 */
import {
    Maybe,
    TOPOLOGY,
    UNKNOWN,
    envValue,
    isRecord,
    parseYaml,
    stringsOf,
    uploadsOf,
} from "./bottle";

/** A document read from an upload: its parsed value, or why it could not be read. */
export type DocumentRead<T> = { path: string; value: T } | { error: string };

/** The content of the upload at `path`, or an error naming the missing file. */
function uploadedText(props: Record<string, any>, path: string): Maybe<{ text: string } | { error: string }> {
    const uploads = uploadsOf(props);
    if (uploads === UNKNOWN) {
        return UNKNOWN;
    }
    // The provider copies uploads in order, so a later upload of the same file is what lands.
    const upload = uploads.filter((u) => u.file === path).at(-1);
    if (upload === undefined) {
        return { error: `no upload writes ${path}` };
    }
    if (upload.content === UNKNOWN) {
        return UNKNOWN;
    }
    if (typeof upload.content !== "string") {
        return { error: `the upload of ${path} has no inline content to check` };
    }
    return { text: upload.content };
}

/** The upload at `path` parsed as YAML, or an error naming the file. */
function uploadedYaml(props: Record<string, any>, path: string): Maybe<{ value: unknown } | { error: string }> {
    const text = uploadedText(props, path);
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
function routesDocumentOf(props: Record<string, any>): Maybe<DocumentRead<unknown>> {
    const envs = stringsOf(props, "envs");
    if (envs === UNKNOWN) {
        return UNKNOWN;
    }
    const path = envValue(envs, TOPOLOGY.routesEnv) ?? TOPOLOGY.routesDefaultPath;
    const parsed = uploadedYaml(props, path);
    if (parsed === UNKNOWN || "error" in parsed) {
        return parsed;
    }
    return { path, value: parsed.value };
}

/**
 * The routes of the egress proxy's routes.yaml (the file named by `EGRESS_PROXY_ROUTES`, default
 * /etc/egress-proxy/routes.yaml), per the version 1 contract: each a mapping with a host.
 */
export function routesOf(props: Record<string, any>): Maybe<DocumentRead<Record<string, unknown>[]>> {
    const parsed = routesDocumentOf(props);
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

/** Whether the egress proxy's routes.yaml turns audit mode on (`audit: true`). */
export function auditModeOf(props: Record<string, any>): Maybe<DocumentRead<boolean>> {
    const parsed = routesDocumentOf(props);
    if (parsed === UNKNOWN || "error" in parsed) {
        return parsed;
    }
    return { path: parsed.path, value: isRecord(parsed.value) && parsed.value.audit === true };
}

/** The hosts of the egress proxy's routes.yaml (see routesOf). */
export function routeHostsOf(props: Record<string, any>): Maybe<DocumentRead<string[]>> {
    const routes = routesOf(props);
    if (routes === UNKNOWN || "error" in routes) {
        return routes;
    }
    return { path: routes.path, value: routes.value.map((route) => String(route.host)) };
}

/**
 * The path pipelock is started with (`--config FILE` or `--config=FILE` in its command or
 * entrypoint; the last one if repeated). Without it pipelock runs on built-in defaults and
 * ignores the uploaded file.
 */
function pipelockConfigPath(props: Record<string, any>): Maybe<string | undefined> {
    const entrypoints = stringsOf(props, "entrypoints");
    const command = stringsOf(props, "command");
    if (entrypoints === UNKNOWN || command === UNKNOWN) {
        return UNKNOWN;
    }
    const argv = [...entrypoints, ...command];
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

/** pipelock's effective configuration: the uploaded file its command line points at. */
export function pipelockConfigOf(props: Record<string, any>): Maybe<DocumentRead<Record<string, unknown>>> {
    const path = pipelockConfigPath(props);
    if (path === UNKNOWN) {
        return UNKNOWN;
    }
    if (path === undefined) {
        return {
            error:
                "is not started with --config FILE, so it runs on built-in defaults instead of the " +
                "uploaded pipelock.yaml",
        };
    }
    const parsed = uploadedYaml(props, path);
    if (parsed === UNKNOWN || "error" in parsed) {
        return parsed;
    }
    if (!isRecord(parsed.value)) {
        return { error: `${path} is not a YAML mapping` };
    }
    return { path, value: parsed.value };
}

/** The `api_allowlist` entries of a pipelock config (absent means empty, as pipelock reads it). */
export function apiAllowlistOf(config: Record<string, unknown>): string[] {
    const list = config.api_allowlist;
    return Array.isArray(list) ? list.map(String) : [];
}
