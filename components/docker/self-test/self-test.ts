import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { EGRESS_PROXY_PYTHON } from "../../egress-proxy/workload";
import { SELF_TEST_PROBE } from "../../self-test/probe";
import { objectLabels } from "../../layout/naming";
import { type ContainerLimit, processLimitsOf } from "../limits";
import { type OneShotContainer, runOptions, runOptionWords } from "../one-shot";

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
 * The probe's container: in the agent's network namespace (what it tests is what the agent
 * reaches), as nobody, with the egress proxy's Python and the agent's proxy URL.
 */
export function probeContainer<V>(args: { stack: string; bottle: string; agentContainer: V; proxyUrl: V }): OneShotContainer<V> {
  return {
    labels: objectLabels(args.stack, args.bottle, "self-test"),
    user: "65534:65534",
    network: { container: args.agentContainer },
    memoryMb: 64,
    maxProcesses: 64,
    entrypoint: EGRESS_PROXY_PYTHON,
    env: { BOTTLE_PROXY_URL: args.proxyUrl },
  };
}

/** The self-test script's variables (self-test.sh), of plain values or of Pulumi inputs. */
function selfTestVariables<V>(vars: { processLimits: V; noDnsContainers: V; probeImage: V; runOptions: V }): Record<string, V | string> {
  return {
    BOTTLE_PROCESS_LIMITS: vars.processLimits,
    BOTTLE_NO_DNS_CONTAINERS: vars.noDnsContainers,
    BOTTLE_IMAGE: vars.probeImage,
    BOTTLE_RUN_OPTIONS: vars.runOptions,
    BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
  };
}

/**
 * The self-test's environment for a bottle found on an engine (`npm run bottle -- self-test`,
 * tests): the same script and probe as the deployment's, every input known.
 */
export function selfTestEnvironment(args: {
  stack: string;
  bottle: string;
  agentContainer: string;
  proxyUrl: string;
  processLimits: string;
  noDnsContainers: string;
  probeImage: string;
}): Record<string, string> {
  return selfTestVariables({ ...args, runOptions: runOptionWords(probeContainer(args)).join(" ") });
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
        ...selfTestVariables<pulumi.Input<string>>({
          processLimits: processLimitsOf(args.limits),
          noDnsContainers: pulumi.all(args.noExternalDns.map((c) => c.name)).apply((names) => names.join(" ")),
          probeImage: args.probeImage,
          runOptions: runOptions(
            probeContainer<pulumi.Input<string>>({
              stack: args.stack,
              bottle: args.bottle,
              agentContainer: args.from.name,
              proxyUrl: args.proxyUrl,
            }),
          ),
        }),
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      // A new container (any of them) re-runs the test.
      triggers: args.limits.map((l) => l.container.id),
    },
    { parent, dependsOn: args.dependsOn },
  );
}
