/**
 * Pure parts of `npm run bottle`: which engine and bottle a command means, what `docker
 * inspect` says about a bottle's containers, and both gates' logs merged in time order.
 */
import { LABEL_KEYS } from "../../components/index";
import { readStackFile } from "../../infra/stack-file";

/** Where a bottle runs, as its stack file says: a Docker engine, or a Kubernetes cluster. */
export type Engine =
  | { backend: "docker"; host?: string }
  | { backend: "kubernetes"; kubeconfig?: string; context?: string };

/**
 * Each bottle's engine, by name, from a stack file: its own `backend`, `docker` or
 * `kubernetes`, else the stack's (`bot-bottle:backend`, `bot-bottle:docker`,
 * `bot-bottle:kubernetes`); docker on the local engine when nothing says otherwise.
 */
export function bottlesOfStackFile(text: string): Map<string, Engine> {
  const { config } = readStackFile(text, () => "");
  const bottles = Array.isArray(config.bottles) ? (config.bottles as unknown[]) : [];
  return new Map(
    bottles.flatMap((b) => {
      const bottle = b as { name?: unknown; backend?: unknown; docker?: unknown; kubernetes?: unknown };
      if (typeof bottle.name !== "string") return [];
      const backend = bottle.backend ?? config.backend ?? "docker";
      if (backend === "kubernetes") {
        const cluster = { ...stringsOf(config.kubernetes, ["kubeconfig", "context"]), ...stringsOf(bottle.kubernetes, ["kubeconfig", "context"]) };
        return [[bottle.name, { backend: "kubernetes", ...cluster } as Engine] as const];
      }
      const host = hostOf(bottle.docker) ?? hostOf(config.docker);
      return [[bottle.name, { backend: "docker", ...(host !== undefined && { host }) } as Engine] as const];
    }),
  );
}

function hostOf(docker: unknown): string | undefined {
  const host = (docker as { host?: unknown } | undefined)?.host;
  return typeof host === "string" ? host : undefined;
}

/** The string-valued `keys` of a mapping. */
function stringsOf(value: unknown, keys: string[]): Record<string, string> {
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  return Object.fromEntries(keys.flatMap((key) => (typeof record[key] === "string" ? [[key, record[key] as string]] : [])));
}

/** The bottle a command names, or the stack's only one; an error message otherwise. */
export function chooseBottle(bottles: ReadonlyMap<string, unknown>, named: string | undefined, stack: string): string {
  if (named !== undefined) {
    if (!bottles.has(named)) throw new Error(`stack "${stack}" has no bottle "${named}"; its bottles: ${[...bottles.keys()].join(", ")}`);
    return named;
  }
  if (bottles.size === 1) return [...bottles.keys()][0]!;
  throw new Error(`stack "${stack}" has ${bottles.size} bottles (${[...bottles.keys()].join(", ")}): name one`);
}

/** What `docker inspect` says about one container, as status prints it. */
export interface ContainerState {
  name: string;
  role: string;
  status: string;
  health?: string;
  image: string;
  startedAt: string;
  user: string;
  pidsLimit?: number;
  /** Mount destinations by source name (a volume) or host path (a bind). */
  mounts: { source: string; destination: string; kind: string }[];
}

/** Parses `docker inspect` output (a JSON array) into container states. */
export function containerStates(inspectJson: string): ContainerState[] {
  const list = JSON.parse(inspectJson) as {
    Name: string;
    Config: { Labels?: Record<string, string>; Image: string; User?: string };
    State: { Status: string; StartedAt: string; Health?: { Status: string } };
    HostConfig: { PidsLimit?: number | null };
    Mounts?: { Type: string; Name?: string; Source: string; Destination: string }[];
  }[];
  return list.map((c) => ({
    name: c.Name.replace(/^\//, ""),
    role: c.Config.Labels?.[LABEL_KEYS.role] ?? "?",
    status: c.State.Status,
    ...(c.State.Health && { health: c.State.Health.Status }),
    image: c.Config.Image,
    startedAt: c.State.StartedAt,
    user: c.Config.User ?? "",
    ...(c.HostConfig.PidsLimit ? { pidsLimit: c.HostConfig.PidsLimit } : {}),
    mounts: (c.Mounts ?? []).map((m) => ({ source: m.Type === "volume" ? m.Name ?? m.Source : m.Source, destination: m.Destination, kind: m.Type })),
  }));
}

/** One log line of a gate, with Docker's RFC 3339 timestamp (`docker logs --timestamps`). */
export interface LogLine {
  time: string;
  gate: string;
  text: string;
}

/** Splits `docker logs --timestamps` output into lines of one gate. */
export function logLines(output: string, gate: string): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const space = line.indexOf(" ");
      return { time: line.slice(0, space), gate, text: line.slice(space + 1) };
    });
}

/**
 * A timestamp as Docker writes it (RFC 3339 in UTC, fraction trimmed of trailing zeros, so
 * `…:02Z` and `…:02.1Z`) with the fraction padded to nine digits: these sort as times do.
 */
function sortable(time: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(time);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}` : time;
}

/** Lines of several gates in time order (stable for equal times), newest last. */
export function mergeLogs(...gates: LogLine[][]): LogLine[] {
  const key = (line: LogLine) => sortable(line.time);
  return gates.flat().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
