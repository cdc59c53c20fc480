import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { LABEL_KEYS } from "../vocabulary";
import type { Labels, Mount } from "../layout/types";
import { dockerLabels } from "./container";
import { type OneShotContainer, runOptions } from "./one-shot";

/**
 * Gives a new volume's root to its workload's user (Docker creates it owned by root), once,
 * before the workload starts: a throwaway container with only CAP_CHOWN and no network chowns
 * the mount point and nothing else. `image` needs `chown` (the egress proxy's has it).
 * Everything variable comes from the environment.
 */
export const OWN_VOLUME_SCRIPT = [
  "set -eu",
  "# shellcheck disable=SC2086 # one word per option (docker/one-shot.ts)",
  'docker run --rm $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE" "$BOTTLE_OWNER" /mnt',
  'echo "bot-bottle workspace: volume $BOTTLE_VOLUME owned by $BOTTLE_OWNER"',
].join("\n");

/** The owner's container: root with CAP_CHOWN alone, no network, the volume at /mnt. */
function ownerContainer(labels: Labels, volume: pulumi.Input<string>): OneShotContainer {
  return {
    labels,
    user: "0:0",
    capabilities: ["CHOWN"],
    network: "none",
    volume: { name: volume, path: "/mnt" },
    memoryMb: 32,
    maxProcesses: 8,
    entrypoint: "chown",
  };
}

export interface DeclaredMount {
  /** The container's `volumes` entry. */
  volume: docker.types.input.ContainerVolume;
  /** What must have run before the container starts. */
  ready: pulumi.Resource[];
}

/**
 * A workload's mount: a volume of its own (kept or protected as the layout says) whose root is
 * given to the workload's user, or a host directory used as it is. The volume's resource is
 * `<bottle>-<role>` (role from its labels: `workspace`).
 */
export function declareMount(
  bottle: string,
  mount: Mount,
  args: { chownImage: pulumi.Input<string>; dockerHost?: string },
  opts: pulumi.CustomResourceOptions,
): DeclaredMount {
  if ("hostPath" in mount.source) {
    return { volume: { hostPath: mount.source.hostPath, containerPath: mount.path }, ready: [] };
  }
  const { volume: spec } = mount.source;
  const name = `${bottle}-${spec.labels[LABEL_KEYS.role]}`;
  const volume = new docker.Volume(
    name,
    { name: spec.name, labels: dockerLabels(spec.labels) },
    // Kept: destroy forgets the volume and leaves it on the engine; the next up finds it again.
    { ...opts, retainOnDelete: spec.keep, protect: spec.protect },
  );
  const owned = new command.local.Command(
    `${name}-owner`,
    {
      create: OWN_VOLUME_SCRIPT,
      environment: {
        BOTTLE_VOLUME: volume.name,
        BOTTLE_OWNER: mount.owner,
        BOTTLE_IMAGE: args.chownImage,
        BOTTLE_RUN_OPTIONS: runOptions(ownerContainer({ ...spec.labels, [LABEL_KEYS.role]: "workspace-owner" }, volume.name)),
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      triggers: [volume.name, mount.owner],
    },
    { parent: opts.parent, dependsOn: [volume] },
  );
  return { volume: { volumeName: volume.name, containerPath: mount.path }, ready: [owned] };
}
