import * as pulumi from "@pulumi/pulumi";
import { parse, stringify } from "yaml";

type Transform = pulumi.ResourceTransform;

export interface Regression {
  transform: Transform;
}

const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const COMMAND = "command:local:Command";

/** Changes the props of resources of `type` whose name ends with `suffix`. */
function onResource(type: string, suffix: string, change: (props: Record<string, any>) => Record<string, any>): Transform {
  return (args) => (args.type === type && args.name.endsWith(suffix) ? { props: change(args.props), opts: args.opts } : undefined);
}

const agentNets = new Map<string, pulumi.Input<string>>();

export const REGRESSIONS: Record<string, Regression> = {
  "egress-proxy-engine-socket": {
    transform: onResource(CONTAINER, "-egress-proxy", (props) => ({
      ...props,
      volumes: pulumi.output(props.volumes ?? []).apply((v) => [...v, { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]),
    })),
  },
  "pipelock-as-root": {
    transform: onResource(CONTAINER, "-pipelock", (props) => ({ ...props, user: "0:0" })),
  },
  "pipelock-on-agent-net": {
    transform: (args) => {
      if (args.type === NETWORK && args.name.endsWith("-agent-net")) {
        agentNets.set(args.name.slice(0, -"-agent-net".length), args.props.name);
        return undefined;
      }
      if (args.type === CONTAINER && args.name.endsWith("-pipelock")) {
        const net = agentNets.get(args.name.slice(0, -"-pipelock".length))!;
        return { props: { ...args.props, networksAdvanced: pulumi.output(args.props.networksAdvanced).apply((n: any[]) => [...n, { name: net }]) }, opts: args.opts };
      }
      return undefined;
    },
  },
  "pipelock-not-enforcing": {
    transform: onResource(COMMAND, "-pipelock-config-apply", (props) => ({
      ...props,
      stdin: pulumi.output(props.stdin).apply((text: string) => stringify({ ...parse(text), enforce: false })),
    })),
  },
};
