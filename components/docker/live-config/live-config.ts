import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { tokensFile } from "../../backend/contents";
import { objectLabels, objectName } from "../../layout/naming";
import { EGRESS_PROXY_PYTHON } from "../../egress-proxy/workload";
import type { LiveConfig, Workload } from "../../layout/types";
import { dockerLabels } from "../container";
import type { DeclaredMount } from "../mounts";
import { type OneShotContainer, runOptions } from "../one-shot";

/** The script that puts a change in place and waits for the gates to confirm it (live-config.sh). */
export const LIVE_CONFIG_SCRIPT = fs.readFileSync(path.join(__dirname, "live-config.sh"), "utf8");

/**
 * The writer's container: root with only the capabilities to hand the files to the gate's uid
 * (chown, and write and rename in directories it then owns no more), no network, the volume at
 * /live. Its Python reads the document and writes nothing but the volume.
 */
export function writerContainer<V>(stack: string, bottle: string, volume: V): OneShotContainer<V> {
  return {
    labels: objectLabels(stack, bottle, "live-config-writer"),
    user: "0:0",
    capabilities: ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
    network: "none",
    volume: { name: volume, path: "/live" },
    memoryMb: 128,
    maxProcesses: 16,
    entrypoint: EGRESS_PROXY_PYTHON,
  };
}

/** How long a running gate may take to confirm a reload. */
export const RELOAD_SECONDS = 30;

export interface LiveConfigArgs {
  stack: string;
  bottle: string;
  workload: Workload & { live: LiveConfig };
  /** Token values by name (every token the live config references). */
  tokens: Readonly<Record<string, pulumi.Input<string>>>;
  /** An image with the writer (the egress proxy's). */
  writerImage: pulumi.Input<string>;
  dockerHost?: string;
}

/**
 * A workload's live configuration on Docker, mounted like any volume (read-only): a volume of
 * its own (`<name>-config`), and a command (`<name>-config-apply`) that puts the document and
 * tokens in place on create and on every change, then has the running containers reload and
 * confirm it. The document is the command's plain stdin, so a preview shows its diff line by
 * line; the tokens are a secret environment variable of the command.
 */
export function declareLiveConfig(name: string, args: LiveConfigArgs, opts: pulumi.CustomResourceOptions): DeclaredMount {
  const { workload } = args;
  const { live } = workload;
  const role = `${workload.role}-config` as const;
  const volume = new docker.Volume(
    `${name}-config`,
    { name: objectName(args.stack, args.bottle, role), labels: dockerLabels(objectLabels(args.stack, args.bottle, role)) },
    opts,
  );
  const apply = new command.local.Command(
    `${name}-config-apply`,
    {
      create: LIVE_CONFIG_SCRIPT,
      update: LIVE_CONFIG_SCRIPT,
      stdin: live.document.text,
      environment: {
        BOTTLE_STACK: args.stack,
        BOTTLE_NAME: args.bottle,
        BOTTLE_ROLE: workload.role,
        BOTTLE_VOLUME: volume.name,
        BOTTLE_IMAGE: args.writerImage,
        BOTTLE_RUN_OPTIONS: runOptions(writerContainer<pulumi.Input<string>>(args.stack, args.bottle, volume.name)),
        BOTTLE_OWNER: String(live.owner),
        BOTTLE_DOCUMENT: live.document.file,
        BOTTLE_LABELS: Object.entries(workload.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(" "),
        BOTTLE_RELOAD_SECONDS: String(RELOAD_SECONDS),
        ...(live.check && { BOTTLE_CHECK: live.check }),
        ...(live.tokens && { BOTTLE_TOKENS_FILE: live.tokens.file, BOTTLE_TOKENS: tokensFile(live.tokens.variables, args.tokens) }),
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      // A new volume starts empty: write it again.
      triggers: [volume.name],
    },
    { parent: opts.parent, dependsOn: [volume] },
  );
  return { volume: { volumeName: volume.name, containerPath: live.dir, readOnly: true }, ready: [apply] };
}
