import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { EGRESS_PROXY_PYTHON } from "../../egress-proxy/workload";
import { SELF_TEST_PROBE } from "../../self-test/probe";
import { ContainerLimit, processLimitsOf } from "../limits";

/** The shell script of the self-test (see self-test.sh). */
export const SELF_TEST_SCRIPT = fs.readFileSync(path.join(__dirname, "self-test.sh"), "utf8");

export interface SelfTestArgs {
  stack: string;
  bottle: string;
  /** The container whose network namespace the probe runs in: the agent. */
  from: docker.Container;
  /** An image with the egress proxy's Python, for the probe container. */
  probeImage: pulumi.Input<string>;
  /** The egress proxy just declared, by its container's name (not the alias, which a
   * replaced proxy may still answer for while it drains). */
  proxyUrl: pulumi.Input<string>;
  /** Every container's process limit, as the limits command applies it; checked here. */
  limits: readonly ContainerLimit[];
  /** Containers whose resolver must answer only for the bottle's names; checked here. */
  noExternalDns: docker.Container[];
  /** The engine the bottle runs on; unset means the local one (or DOCKER_HOST). */
  dockerHost?: string;
  /** What must have happened first (containers up, limits applied). */
  dependsOn: pulumi.Resource[];
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
        BOTTLE_AGENT_CONTAINER: args.from.name,
        BOTTLE_PROCESS_LIMITS: processLimitsOf(args.limits),
        BOTTLE_NO_DNS_CONTAINERS: pulumi.all(args.noExternalDns.map((c) => c.name)).apply((names) => names.join(" ")),
        BOTTLE_PROBE_IMAGE: args.probeImage,
        BOTTLE_PROBE_PYTHON: EGRESS_PROXY_PYTHON,
        BOTTLE_PROXY_URL: args.proxyUrl,
        BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      // A new container (any of them) re-runs the test.
      triggers: args.limits.map((l) => l.container.id),
    },
    { parent, dependsOn: args.dependsOn },
  );
}
