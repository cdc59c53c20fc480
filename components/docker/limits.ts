import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/**
 * Applies each container's process limit with `docker update --pids-limit`, since the docker
 * provider cannot set one. A pids limit is counted per container (a cgroup), unlike the
 * `nproc` ulimit, which is counted per uid across every container that runs as it. Everything
 * variable comes from the environment.
 */
export const PROCESS_LIMITS_SCRIPT = [
  "set -eu",
  "for pair in $BOTTLE_PROCESS_LIMITS; do",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's parameter expansions, not a template
  '  docker update --pids-limit "${pair#*=}" "${pair%%=*}" >/dev/null',
  "done",
  'echo "bot-bottle limits: process limits applied ($BOTTLE_PROCESS_LIMITS)"',
].join("\n");

export interface ContainerLimit {
  container: docker.Container;
  maxProcesses: number;
}

/** `container=limit ...`, the form the limits command and the self-test read. */
export function processLimitsOf(limits: readonly ContainerLimit[]): pulumi.Output<string> {
  return pulumi
    .all(limits.map(({ container, maxProcesses }) => pulumi.interpolate`${container.name}=${maxProcesses}`))
    .apply((pairs) => pairs.join(" "));
}

/**
 * Runs right after the containers are created, and again whenever one is replaced (a new
 * container starts without a limit). Needs the `docker` CLI where Pulumi runs.
 */
export function createProcessLimits(
  name: string,
  args: { limits: readonly ContainerLimit[]; dockerHost?: string },
  parent: pulumi.Resource,
): command.local.Command {
  const containers = args.limits.map((l) => l.container);
  return new command.local.Command(
    name,
    {
      create: PROCESS_LIMITS_SCRIPT,
      environment: {
        BOTTLE_PROCESS_LIMITS: processLimitsOf(args.limits),
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      triggers: containers.map((c) => c.id),
    },
    { parent, dependsOn: containers },
  );
}
