import * as pulumi from "@pulumi/pulumi";
import type { Labels } from "../layout/types";

/**
 * A short-lived container a command runs with `docker run` (the workspace's owner, the live
 * configuration's writer, the self-test's probe). Its options are declared here as data, given
 * to the command as `BOTTLE_RUN_OPTIONS`, so that what the container may do is in the
 * deployment's inputs (where a preview diffs it and the policy pack judges it) and not only in
 * a shell script.
 */
export interface OneShotContainer<V = pulumi.Input<string>> {
  /** Its labels; `bot-bottle.role` names what it is. */
  labels: Labels;
  /** `uid:gid`. */
  user: string;
  /** Capabilities it keeps; every other one is dropped. Defaults to none. */
  capabilities?: readonly string[];
  /** `none`, or the container whose network namespace it joins. */
  network: "none" | { container: V };
  /** A volume it mounts read-write. Defaults to none. */
  volume?: { name: V; path: string };
  memoryMb: number;
  maxProcesses: number;
  entrypoint: string;
  /** Environment variables. Defaults to none. */
  env?: Readonly<Record<string, V>>;
}

/** What an option word may contain: the script splits the options on white space, and nothing may glob. */
const OPTION_WORD = /^[^\s*?[\]]+$/;

/**
 * The `docker run` options of a one-shot container, space-separated for the script's unquoted
 * `$BOTTLE_RUN_OPTIONS`: a read-only root, no privilege gain, no capabilities but its own, the
 * limits, its network, its volume. Fails on a value that a word split would change. Pure.
 */
export function runOptionWords(container: OneShotContainer<string>): string[] {
  const words = [
    "--network",
    container.network === "none" ? "none" : `container:${container.network.container}`,
    "--user",
    container.user,
    "--read-only",
    "--cap-drop",
    "ALL",
    ...(container.capabilities ?? []).flatMap((c) => ["--cap-add", c]),
    "--security-opt",
    "no-new-privileges:true",
    "--memory",
    `${container.memoryMb}m`,
    "--memory-swap",
    `${container.memoryMb}m`,
    "--pids-limit",
    String(container.maxProcesses),
    ...Object.entries(container.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ...(container.volume ? ["--volume", `${container.volume.name}:${container.volume.path}`] : []),
    ...Object.entries(container.env ?? {}).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    "--entrypoint",
    container.entrypoint,
  ];
  const bad = words.find((w) => !OPTION_WORD.test(w));
  if (bad !== undefined)
    throw new Error(`a one-shot container's docker run option ${JSON.stringify(bad)} would not survive the script's word split`);
  return words;
}

/** `runOptionWords` once every input is known, as one string. */
export function runOptions(container: OneShotContainer): pulumi.Output<string> {
  const { network, volume, env = {} } = container;
  return pulumi
    .all([
      network === "none" ? "none" : pulumi.output(network.container),
      volume ? pulumi.output(volume.name) : undefined,
      pulumi.all(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, pulumi.output(v)]))),
    ])
    .apply(([net, volumeName, values]) =>
      runOptionWords({
        ...container,
        network: net === "none" ? "none" : { container: net },
        volume: volume && { name: volumeName!, path: volume.path },
        env: values as Record<string, string>,
      }).join(" "),
    );
}
