import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";

/** The probe the self-test runs in the agent's network namespace (see probe.py). */
export const SELF_TEST_PROBE = fs.readFileSync(path.join(__dirname, "probe.py"), "utf8");

/** The shell script of the self-test (see self-test.sh). */
export const SELF_TEST_SCRIPT = fs.readFileSync(path.join(__dirname, "self-test.sh"), "utf8");

export interface SelfTestArgs {
  stack: string;
  bottle: string;
  /** The agent container: the probe runs in its network namespace. */
  agent: docker.Container;
  /** The egress-proxy image, used for the probe container. */
  probeImage: pulumi.Input<string>;
  proxyUrl: string;
  /** Each container's process limit, as the limits command applies it; checked here. */
  processLimits: pulumi.Input<string>;
  /** Containers whose DNS must point inside their own namespace; checked here. */
  noDnsContainers: pulumi.Input<string>[];
  /** The engine the bottle runs on; unset means the local one (or DOCKER_HOST). */
  dockerHost?: string;
  /** What must have happened first (containers up, limits applied); replacing one re-runs the test. */
  dependsOn: pulumi.Resource[];
  /** Values whose change re-runs the test (the containers' ids). */
  triggers: pulumi.Input<string>[];
}

/**
 * Runs on every `up` that creates or replaces a container of the bottle, after they are up
 * and limited, and fails the deployment if the bottle leaks (see self-test.sh, probe.py).
 */
export function createSelfTest(name: string, args: SelfTestArgs, parent: pulumi.Resource): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: SELF_TEST_SCRIPT,
      environment: {
        BOTTLE_STACK: args.stack,
        BOTTLE_NAME: args.bottle,
        BOTTLE_AGENT_CONTAINER: args.agent.name,
        BOTTLE_PROCESS_LIMITS: args.processLimits,
        BOTTLE_NO_DNS_CONTAINERS: pulumi.all(args.noDnsContainers).apply((names) => names.join(" ")),
        BOTTLE_PROBE_IMAGE: args.probeImage,
        BOTTLE_PROXY_URL: args.proxyUrl,
        BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      triggers: args.triggers,
    },
    { parent, dependsOn: args.dependsOn },
  );
}
