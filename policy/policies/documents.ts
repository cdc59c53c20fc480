/**
 * Readers for the two documents the gates enforce, exactly as the deployment puts them in place:
 * the egress proxy's routes.yaml and pipelock's pipelock.yaml. Each gate reads its document from a
 * live configuration volume mounted read-only at `<dir>`, as `<dir>/current/<file>`; the
 * document is the stdin of the command that writes that file into that volume (its
 * environment names both: BOTTLE_VOLUME, BOTTLE_DOCUMENT).
 */
import {
    Maybe,
    ResourceView,
    TOPOLOGY,
    TYPES,
    UNKNOWN,
    arrayOf,
    envValue,
    environmentOf,
    isRecord,
    known,
    parseYaml,
    stringsOf,
} from "./bottle";

/** A document read for a container: its parsed value, or why it could not be read. */
export type DocumentRead<T> = { path: string; value: T } | { error: string };

/** The container's view and every resource of the stack (the command that writes its documents). */
export interface Gate {
    container: ResourceView;
    resources: readonly ResourceView[];
}

/** The text of the document the container reads at `path`, or an error naming what is missing. */
function documentText({ container, resources }: Gate, path: string): Maybe<{ text: string } | { error: string }> {
    const volumes = known(() =>
        arrayOf(container.props.volumes).map((v) => ({ dir: String(v.containerPath), volume: v.volumeName as unknown, readOnly: v.readOnly === true })),
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
function routesDocumentOf(gate: Gate): Maybe<DocumentRead<unknown>> {
    const envs = stringsOf(gate.container.props, "envs");
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
 * The path pipelock is started with (`--config FILE` or `--config=FILE` in its command or
 * entrypoint; the last one if repeated). Without it pipelock runs on built-in defaults and
 * ignores the rendered file.
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

/** pipelock's effective configuration: the document its command line points at. */
export function pipelockConfigOf(gate: Gate): Maybe<DocumentRead<Record<string, unknown>>> {
    const path = pipelockConfigPath(gate.container.props);
    if (path === UNKNOWN) {
        return UNKNOWN;
    }
    if (path === undefined) {
        return {
            error:
                "is not started with --config FILE, so it runs on built-in defaults instead of the " +
                "rendered pipelock.yaml",
        };
    }
    const parsed = documentYaml(gate, path);
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
