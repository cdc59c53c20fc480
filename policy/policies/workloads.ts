/**
 * One standard for every container of a Docker bottle, whatever it runs: the agent, the gates,
 * and the short-lived containers its commands start (the workspace's owner, the live
 * configuration's writer, the self-test's probe). What a role may hold beyond the standard is
 * written down once, in ROLE_EXCEPTIONS, with the reason.
 *
 * A long-lived container is judged on the inputs the program declares (a resource policy: at
 * preview those are known, where a stack policy would see the provider's computed outputs). A
 * short-lived one is judged on the `docker run` options its command declares in
 * `BOTTLE_RUN_OPTIONS`, read the way Docker reads them; a command that starts a container any
 * other way cannot be judged, and is refused.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { LABELS, ONE_SHOT_ROLES, ROLES, TYPES } from "../lib/vocabulary";
import { type Maybe, UNKNOWN, arrayOf, environmentOf, known, stringsOf } from "../lib/props";
import { sharesNamespace } from "../lib/docker";
import { roleOf } from "../lib/labels";
import { type ResourceView, dockerName } from "../lib/resources";
import { BOTTLE_TOPOLOGY } from "../lib/topology";

/** What one role may hold beyond the standard, each with the reason a reviewer reads. */
export interface RoleExceptions {
  /** Capabilities it adds back after dropping all of them. */
  capabilities?: { add: readonly string[]; why: string };
  /** Why it runs as uid 0. */
  root?: string;
  /** Why its root filesystem stays writable. */
  writableRoot?: string;
  /** Why it may mount a host directory (never a system directory or the engine's socket). */
  hostDirectory?: string;
  /** Why it shares another container's network namespace (`container:<name>`). */
  sharedNetwork?: string;
}

const UPLOADS =
  "the docker provider writes its files (CA, key) into the root filesystem when it creates the " +
  "container, which a read-only root refuses; nothing else in it is writable by its uid";

/** Every role of a bottle's containers and what it may hold beyond the standard. */
export const ROLE_EXCEPTIONS: Readonly<Record<string, RoleExceptions>> = {
  [ROLES.agent]: {
    writableRoot: `the agent installs and builds in its own filesystem; also ${UPLOADS}`,
    hostDirectory:
      "a project directory as the workspace, for local development (refused in production by production-agent-no-host-workspace)",
  },
  [ROLES.egressProxy]: { writableRoot: UPLOADS },
  [ROLES.pipelock]: { writableRoot: UPLOADS },
  [ROLES.pipelockBulk]: { writableRoot: UPLOADS },
  [ONE_SHOT_ROLES.workspaceOwner]: {
    root: "it gives a new volume's root to the workload's uid (chown), once, with no network",
    capabilities: { add: ["CHOWN"], why: "chown of the volume's root" },
  },
  [ONE_SHOT_ROLES.liveConfigWriter]: {
    root: "it writes a gate's configuration into the gate's volume and hands the files to the gate's uid, with no network",
    capabilities: {
      add: ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
      why: "chown of the files it writes, and replacing them in directories it has handed over",
    },
  },
  [ONE_SHOT_ROLES.selfTest]: {
    sharedNetwork: "it probes from the agent's network namespace what the agent can reach (and nothing else: it runs as nobody)",
  },
};

/** True when a `securityOpts` list sets no-new-privileges (Docker accepts `:` or `=`, optional `true`). */
export function setsNoNewPrivileges(opts: string[]): boolean {
  return opts.some((o) => /^no-new-privileges(?:[:=]true)?$/.test(o.trim()));
}

/** Host directories no container may see: the system's own, and the Docker socket's. */
const SYSTEM_DIRECTORIES = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var"];

/** True for a host path in (or above) a system directory, as opposed to a project directory. */
export function isSystemHostPath(hostPath: string): boolean {
  const clean = hostPath.replace(/\/+$/, "") || "/";
  const top = `/${clean.split("/")[1] ?? ""}`;
  return clean === "/" || clean.includes("docker.sock") || SYSTEM_DIRECTORIES.includes(top);
}

/** One rule of the standard: the problem and its fix when `props` (a Docker container's) break it. */
type WorkloadCheck = (props: Record<string, any>, role: RoleExceptions) => string | undefined;

/** A numeric `uid[:gid]`; anything else (a name, unset) cannot be shown not to be root. */
function uidOf(user: unknown): number | undefined {
  const match = typeof user === "string" ? /^(\d+)(?::\d+)?$/.exec(user.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

const workloadChecks: WorkloadCheck[] = [
  (p, role) => {
    const user = known(() => p.user as unknown);
    if (user === UNKNOWN || role.root !== undefined) {
      return undefined;
    }
    const uid = uidOf(user);
    return uid === undefined
      ? `runs as ${user === undefined || user === "" ? "its image's user (often root)" : `user '${String(user)}', which is not a numeric uid`}; set user to a numeric non-root 'uid:gid'`
      : uid === 0
        ? `runs as root (user '${String(user)}'); set user to the non-root 'uid:gid' its role documents`
        : undefined;
  },
  (p) => (known(() => p.privileged) === true ? "is privileged (full access to host devices and kernel); remove `privileged`" : undefined),
  (p, role) => {
    const adds = known(() => arrayOf(p.capabilities?.adds).map((c) => String(c).toUpperCase().replace(/^CAP_/, "")));
    if (adds === UNKNOWN) {
      return undefined;
    }
    const allowed = role.capabilities?.add ?? [];
    const extra = adds.filter((c) => !allowed.includes(c));
    return extra.length > 0
      ? `adds capabilities [${extra.join(", ")}]${allowed.length > 0 ? ` beyond its role's [${allowed.join(", ")}]` : ""}; remove them from capabilities.adds`
      : undefined;
  },
  (p) => {
    const drops = known(() => arrayOf(p.capabilities?.drops).map((c) => String(c).toUpperCase()));
    return drops !== UNKNOWN && !drops.includes("ALL")
      ? 'keeps Docker\'s default capabilities (NET_RAW, CHOWN, SETUID...); set capabilities.drops: ["ALL"]'
      : undefined;
  },
  (p) => {
    const ports = known(() => arrayOf(p.ports).length);
    return ports !== UNKNOWN && ports > 0
      ? "publishes ports on the host; remove `ports` (a bottle is reached only on its internal networks)"
      : undefined;
  },
  (p) =>
    known(() => p.publishAllPorts) === true
      ? "sets publishAllPorts; remove it (a bottle is reached only on its internal networks)"
      : undefined,
  (p, role) => {
    const mode = known(() => p.networkMode);
    if (!sharesNamespace(mode)) {
      return undefined;
    }
    return String(mode).startsWith("container:") && role.sharedNetwork !== undefined
      ? undefined
      : `uses networkMode '${String(mode)}', sharing another network namespace; remove networkMode`;
  },
  (p) => {
    const mode = known(() => p.ipcMode);
    return sharesNamespace(mode)
      ? `uses ipcMode '${String(mode)}', sharing another IPC namespace; remove ipcMode or set 'private'`
      : undefined;
  },
  (p) => {
    const mode = known(() => p.pidMode);
    return sharesNamespace(mode) ? `uses pidMode '${String(mode)}', sharing another PID namespace; remove pidMode` : undefined;
  },
  (p) =>
    known(() => p.usernsMode) === "host"
      ? "uses usernsMode 'host', which turns off user-namespace remapping; remove usernsMode"
      : undefined,
  (p) => {
    const devices = known(() => arrayOf(p.devices).length);
    return devices !== UNKNOWN && devices > 0 ? "maps host devices; remove `devices`" : undefined;
  },
  (p) => {
    const mounts = known(() => arrayOf(p.mounts).map((m) => ({ type: String(m.type), source: m.source as unknown })));
    if (mounts === UNKNOWN) {
      return undefined;
    }
    const host = mounts.filter((m) => m.type !== "volume" && m.type !== "tmpfs");
    return host.length > 0
      ? `mounts host paths (${host.map((m) => `${m.type}:${String(m.source)}`).join(", ")}), which can expose the engine's socket or host files; use a named volume or tmpfs`
      : undefined;
  },
  (p, role) => {
    const volumes = known(() =>
      arrayOf(p.volumes).map((v) => ({ hostPath: v.hostPath as unknown, fromContainer: v.fromContainer as unknown })),
    );
    if (volumes === UNKNOWN) {
      return undefined;
    }
    const bad = volumes.filter(
      (v) => v.fromContainer || (typeof v.hostPath === "string" && (role.hostDirectory === undefined || isSystemHostPath(v.hostPath))),
    );
    return bad.length > 0
      ? `has volumes bound from ${role.hostDirectory === undefined ? "the host" : "the host's system directories"} or another container ` +
          `(${bad.map((v) => String(v.hostPath ?? `from ${String(v.fromContainer)}`)).join(", ")}): the engine's socket or host files; ` +
          "use a named volume (volumeName)"
      : undefined;
  },
  (p) => {
    const opts = stringsOf(p, "securityOpts");
    return opts !== UNKNOWN && !setsNoNewPrivileges(opts)
      ? 'does not set no-new-privileges; add "no-new-privileges:true" to securityOpts'
      : undefined;
  },
  (p) => {
    const opts = stringsOf(p, "securityOpts");
    if (opts === UNKNOWN) {
      return undefined;
    }
    const unconfined = opts.filter((o) => /^(seccomp|apparmor)[:=]unconfined$/.test(o.trim()));
    return unconfined.length > 0 ? `turns off kernel confinement (${unconfined.join(", ")}); remove it from securityOpts` : undefined;
  },
  (p, role) => {
    const readOnly = known(() => p.readOnly);
    return readOnly === UNKNOWN || readOnly === true || role.writableRoot !== undefined
      ? undefined
      : "has a writable root filesystem; set readOnly: true (its role documents no reason to write there)";
  },
  (p) => {
    const memory = known(() => p.memory as unknown);
    const swap = known(() => p.memorySwap as unknown);
    if (memory === UNKNOWN || swap === UNKNOWN) {
      return undefined;
    }
    if (typeof memory !== "number" || memory <= 0) {
      return "has no memory limit; set memory (MB) to the limit its role documents";
    }
    return swap !== memory
      ? `may swap past its memory limit (memorySwap ${String(swap ?? "(unset: twice memory)")}); set memorySwap equal to memory (${memory})`
      : undefined;
  },
];

/** The problems of a Docker container (its props) under the standard and its role's exceptions. */
export function workloadProblems(props: Record<string, any>, role: string | undefined): string[] {
  const exceptions = (role !== undefined && ROLE_EXCEPTIONS[role]) || {};
  return workloadChecks.map((check) => check(props, exceptions)).filter((p): p is string => p !== undefined);
}

/** `<n>` with an optional unit (b, k, m, g) as Docker reads `--memory`, in MB. */
function megabytes(value: string): number | undefined {
  const match = /^(\d+)([bkmg]?)$/i.exec(value);
  if (!match) {
    return undefined;
  }
  const factor = { "": 1 / (1024 * 1024), b: 1 / (1024 * 1024), k: 1 / 1024, m: 1, g: 1024 }[
    match[2]!.toLowerCase() as "" | "b" | "k" | "m" | "g"
  ];
  return Number(match[1]) * factor;
}

/** What a short-lived container's declared options say, in a Docker container's props. */
export type RunOptions = { props: Record<string, any>; maxProcesses?: number } | { error: string };

/**
 * Reads `docker run` options (space-separated words, `--flag value` or `--flag=value`) into the
 * props of a Docker container, for the same checks. Fails closed: an option this reader does not
 * know is an error, since what it does cannot be judged.
 */
export function readRunOptions(text: string): RunOptions {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const props: Record<string, any> = {
    labels: [],
    volumes: [],
    mounts: [],
    securityOpts: [],
    capabilities: { adds: [], drops: [] },
    envs: [],
    devices: [],
    ports: [],
  };
  let maxProcesses: number | undefined;
  // Each option's reader: undefined when it took the value, else the problem with it.
  const assign =
    (key: string) =>
    (v: string): undefined => {
      props[key] = v;
      return undefined;
    };
  const append =
    (list: unknown[], item: (v: string) => unknown = (v) => v) =>
    (v: string): undefined => {
      list.push(item(v));
      return undefined;
    };
  const size =
    (flag: string, key: string) =>
    (v: string): string | undefined => {
      const mb = megabytes(v);
      if (mb === undefined) {
        return `${flag} ${v} is not a size`;
      }
      props[key] = mb;
      return undefined;
    };
  const set: Record<string, (value: string) => string | undefined> = {
    "--network": assign("networkMode"),
    "--net": assign("networkMode"),
    "--user": assign("user"),
    "-u": assign("user"),
    "--cap-add": append(props.capabilities.adds),
    "--cap-drop": append(props.capabilities.drops),
    "--security-opt": append(props.securityOpts),
    "--memory": size("--memory", "memory"),
    "-m": size("-m", "memory"),
    "--memory-swap": size("--memory-swap", "memorySwap"),
    "--pids-limit": (v) => {
      if (!/^\d+$/.test(v)) {
        return `--pids-limit ${v} is not a count`;
      }
      maxProcesses = Number(v);
      return undefined;
    },
    "--label": append(props.labels, (v) => {
      const at = v.indexOf("=");
      return { label: at < 0 ? v : v.slice(0, at), value: at < 0 ? "" : v.slice(at + 1) };
    }),
    "--volume": (v) => volume(v),
    "-v": (v) => volume(v),
    "--env": append(props.envs),
    "-e": append(props.envs),
    "--entrypoint": (v) => {
      props.entrypoints = [v];
      return undefined;
    },
    "--pid": assign("pidMode"),
    "--ipc": assign("ipcMode"),
    "--userns": assign("usernsMode"),
    "--device": append(props.devices, (v) => ({ hostPath: v })),
    "--publish": append(props.ports, (v) => ({ published: v })),
    "-p": append(props.ports, (v) => ({ published: v })),
    "--mount": append(props.mounts, (v) => ({
      type: /(?:^|,)type=([^,]+)/.exec(v)?.[1] ?? "bind",
      source: /(?:^|,)(?:source|src)=([^,]+)/.exec(v)?.[1],
    })),
  };
  const flags: Record<string, () => void> = {
    "--read-only": () => {
      props.readOnly = true;
    },
    "--privileged": () => {
      props.privileged = true;
    },
    "--publish-all": () => {
      props.publishAllPorts = true;
    },
    "-P": () => {
      props.publishAllPorts = true;
    },
    "--init": () => undefined,
  };
  function volume(v: string): string | undefined {
    const [source = "", target] = v.split(":");
    if (target === undefined) {
      return `--volume ${v} names no mount point`;
    }
    props.volumes.push(
      source.startsWith("/") ? { hostPath: source, containerPath: target } : { volumeName: source, containerPath: target },
    );
    return undefined;
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    if (flags[name] !== undefined && eq < 0) {
      flags[name]!();
      continue;
    }
    const handler = set[name];
    if (handler === undefined) {
      return { error: `its docker run option '${word}' is not one the policy pack can judge` };
    }
    const value = eq > 0 ? word.slice(eq + 1) : words[++i];
    if (value === undefined) {
      return { error: `its docker run option '${word}' has no value` };
    }
    const problem = handler(value);
    if (problem !== undefined) {
      return { error: problem };
    }
  }
  return { props, ...(maxProcesses !== undefined && { maxProcesses }) };
}

/** The one form in which a command's script may start a container: options from BOTTLE_RUN_OPTIONS, image from BOTTLE_IMAGE. */
const DECLARED_RUN = /docker run --rm (?:-i )?\$BOTTLE_RUN_OPTIONS "\$BOTTLE_IMAGE"/g;
/** Any way of starting a container from the docker CLI. */
const ANY_RUN = /docker\s+(?:container\s+)?(?:run|create)\b/g;

/** What a command's scripts start: how many containers in the declared form, how many in any form. */
function containerStarts(props: Record<string, any>): { declared: number; any: number } | typeof UNKNOWN {
  const texts = known(() => [props.create, props.update, props.delete].filter((s): s is string => typeof s === "string"));
  if (texts === UNKNOWN) {
    return UNKNOWN;
  }
  // What runs: comment lines say what they like.
  const scripts = texts.map((t) =>
    t
      .split("\n")
      .filter((line) => !/^\s*#/.test(line))
      .join("\n"),
  );
  return {
    declared: scripts.reduce((n, s) => n + (s.match(DECLARED_RUN)?.length ?? 0), 0),
    any: scripts.reduce((n, s) => n + (s.match(ANY_RUN)?.length ?? 0), 0),
  };
}

/** The problems of a command that starts short-lived containers (none for one that starts none). */
export function oneShotProblems(props: Record<string, any>): { role: string | undefined; problems: string[] } | typeof UNKNOWN {
  const starts = containerStarts(props);
  const env = environmentOf(props);
  if (starts === UNKNOWN || env === UNKNOWN) {
    return UNKNOWN;
  }
  if (starts.any === 0) {
    return { role: undefined, problems: [] };
  }
  if (starts.declared !== starts.any) {
    return {
      role: undefined,
      problems: [
        `starts a container in its script other than as 'docker run --rm $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE" ...', so what that container may do cannot be judged; declare its options in BOTTLE_RUN_OPTIONS`,
      ],
    };
  }
  const text = env.BOTTLE_RUN_OPTIONS;
  if (typeof text !== "string") {
    return { role: undefined, problems: ["starts a container but declares no BOTTLE_RUN_OPTIONS; declare its docker run options there"] };
  }
  const read = readRunOptions(text);
  if ("error" in read) {
    return { role: undefined, problems: [`${read.error}; declare only options the pack reads (docker/one-shot.ts in the program)`] };
  }
  const role = roleOf(read.props);
  const problems = workloadProblems(read.props, role);
  if (read.maxProcesses === undefined || read.maxProcesses < 1) {
    problems.push("has no process limit; add --pids-limit to its options");
  }
  if (role === undefined || ROLE_EXCEPTIONS[role] === undefined) {
    problems.push(`carries the role '${role ?? "(none)"}', which is no role of a bottle; label it with its ${LABELS.role}`);
  }
  return { role, problems };
}

/**
 * Every container of the stack, long- or short-lived, holds the standard: no root, no privilege,
 * no capability beyond its role's, no host namespace, no engine socket or system host path,
 * read-only root unless its role says why not, memory (and for short-lived ones, process) limits.
 */
export const workloadsHardened: ResourceValidationPolicy = {
  name: "workloads-hardened",
  description:
    "Every container of a Docker bottle (agent, egress proxy, pipelock, pipelock-bulk, and the short-lived " +
    "containers its commands start: the workspace's owner, the configuration writer, the self-test's probe) " +
    "must run as a numeric non-root uid, not privileged, with all capabilities dropped and none added " +
    "beyond its role's, share no host namespace, publish no port, map no device, mount no host path (the " +
    "engine's socket above all; the agent's project workspace outside production excepted), set " +
    "no-new-privileges, keep seccomp and AppArmor, keep a read-only root unless its role documents why " +
    "not, and have a memory limit without extra swap. A gate is as much a way onto the host as the agent: " +
    "a compromised egress proxy with the engine's socket owns the host and every bottle on it.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type === TYPES.container) {
      const role = roleOf(args.props);
      const what = role === undefined ? "Container" : `Container '${role}'`;
      for (const problem of workloadProblems(args.props, role)) {
        reportViolation(`${what} '${dockerName(args)}' ${problem}.`);
      }
      return;
    }
    if (args.type === TYPES.command) {
      const oneShot = oneShotProblems(args.props);
      if (oneShot === UNKNOWN) {
        return;
      }
      for (const problem of oneShot.problems) {
        reportViolation(`Command '${args.name}' ${oneShot.role === undefined ? "" : `(its '${oneShot.role}' container) `}${problem}.`);
      }
    }
  },
};

/** The process limits the stack's limits commands apply: container name -> limit. */
function processLimitsOf(resources: readonly ResourceView[]): Maybe<Map<string, number>> {
  const limits = new Map<string, number>();
  for (const command of resources.filter((r) => r.type === TYPES.command)) {
    const env = environmentOf(command.props);
    const script = known(() => command.props.create as unknown);
    if (env === UNKNOWN || script === UNKNOWN) {
      return UNKNOWN;
    }
    if (typeof env.BOTTLE_PROCESS_LIMITS !== "string" || typeof script !== "string" || !script.includes("docker update --pids-limit")) {
      continue;
    }
    for (const pair of env.BOTTLE_PROCESS_LIMITS.split(/\s+/).filter((p) => p !== "")) {
      const at = pair.lastIndexOf("=");
      limits.set(pair.slice(0, at), Number(pair.slice(at + 1)));
    }
  }
  return limits;
}

/**
 * Every long-lived container of a Docker bottle has a process limit, applied by the bottle's
 * limits command (`docker update --pids-limit`: the docker provider cannot set one).
 */
export const workloadsProcessLimited: StackValidationPolicy = {
  name: "workloads-process-limited",
  description:
    "Every long-lived container of a Docker bottle (agent, egress proxy, pipelock, pipelock-bulk) must be named, " +
    "with a limit of at least one process, in a limits command that applies it with `docker update --pids-limit` " +
    "(BOTTLE_PROCESS_LIMITS; the docker provider cannot set one). Without it a fork bomb in the agent, or a gate " +
    "driven to spawn, takes every process of the engine's host, every other bottle's included.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const limits = processLimitsOf(args.resources);
    if (limits === UNKNOWN) {
      return;
    }
    for (const container of args.resources.filter((r) => r.type === TYPES.container)) {
      const role = roleOf(container.props);
      const name = known(() => container.props.name as unknown);
      if (role === undefined || BOTTLE_TOPOLOGY[role] === undefined || typeof name !== "string") {
        continue;
      }
      const limit = limits.get(name);
      if (limit === undefined || !(limit >= 1)) {
        reportViolation(
          `Container '${role}' '${name}' has no process limit: no limits command names it with a limit of at least 1 ` +
            "(BOTTLE_PROCESS_LIMITS, applied with docker update --pids-limit). Declare it with the bottle, which limits every container.",
          container.urn,
        );
      }
    }
  },
};
