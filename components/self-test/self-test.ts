import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";

/** The probe the self-test runs on the agent network (see probe.py). */
export const SELF_TEST_PROBE = fs.readFileSync(path.join(__dirname, "probe.py"), "utf8");

/**
 * The shell script of the self-test: a throwaway, unprivileged container of the egress-proxy
 * image (it has Python, whatever the agent image has) on the agent network runs the probe.
 * Everything variable comes from the environment, so nothing here needs quoting.
 */
export const SELF_TEST_SCRIPT = [
  "set -eu",
  'docker run --rm --network "$BOTTLE_AGENT_NETWORK" --user 65534:65534 --cap-drop ALL \\',
  "  --security-opt no-new-privileges:true --memory 64m \\",
  '  --label bot-bottle.stack="$BOTTLE_STACK" --label bot-bottle.bottle="$BOTTLE_NAME" --label bot-bottle.role=self-test \\',
  '  -e BOTTLE_PROXY_URL="$BOTTLE_PROXY_URL" --entrypoint /opt/venv/bin/python "$BOTTLE_PROBE_IMAGE" \\',
  '  -c "$BOTTLE_SELF_TEST_PROBE"',
].join("\n");

export interface SelfTestArgs {
  stack: string;
  bottle: string;
  agentNetwork: docker.Network;
  /** The egress-proxy image, used for the probe container. */
  probeImage: pulumi.Input<string>;
  proxyUrl: string;
  /** The engine the bottle runs on; unset means the local one (or DOCKER_HOST). */
  dockerHost?: string;
  /** The containers that must be up (and healthy) first; replacing one re-runs the test. */
  containers: docker.Container[];
}

/**
 * Runs on every `up` that creates or replaces a container of the bottle, after they are up,
 * and fails the deployment if the agent network leaks (see probe.py).
 */
export function createSelfTest(name: string, args: SelfTestArgs, parent: pulumi.Resource): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: SELF_TEST_SCRIPT,
      environment: {
        BOTTLE_STACK: args.stack,
        BOTTLE_NAME: args.bottle,
        BOTTLE_AGENT_NETWORK: args.agentNetwork.name,
        BOTTLE_PROBE_IMAGE: args.probeImage,
        BOTTLE_PROXY_URL: args.proxyUrl,
        BOTTLE_SELF_TEST_PROBE: SELF_TEST_PROBE,
        ...(args.dockerHost && { DOCKER_HOST: args.dockerHost }),
      },
      triggers: args.containers.map((c) => c.id),
    },
    { parent, dependsOn: args.containers },
  );
}
