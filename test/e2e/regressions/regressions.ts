/**
 * Deliberate regressions of the real program, one resource transform each, and what the policy
 * pack must answer at `pulumi preview --policy-pack`: a mandatory violation of `policy` whose
 * message matches `message` (naming the workload and the fix). Each breaks one class of rule:
 * a workload's hardening, its networks, or what a gate is told.
 */
import * as pulumi from "@pulumi/pulumi";
import { parse, stringify } from "yaml";
import { LABEL_KEYS, RESOURCE_TYPES } from "../../../components/vocabulary";

export interface Regression {
  /** What it breaks, as a test names it. */
  what: string;
  backend: "docker" | "kubernetes";
  transform: pulumi.ResourceTransform;
  policy: string;
  message: RegExp;
}

const {
  container: CONTAINER,
  network: NETWORK,
  command: COMMAND,
  k8sDeployment: DEPLOYMENT,
  k8sConfigMap: CONFIG_MAP,
  k8sNetworkPolicy: NETWORK_POLICY,
} = RESOURCE_TYPES;

/** Changes the props of resources of `type` whose name ends with `suffix`. */
function onResource(type: string, suffix: string, change: (props: Record<string, any>) => Record<string, any>): pulumi.ResourceTransform {
  return (args) => (args.type === type && args.name.endsWith(suffix) ? { props: change(args.props), opts: args.opts } : undefined);
}

/** A Deployment's pod spec, changed in place: its other values (Outputs among them) stay as they are, so a preview still knows the rest. */
function podSpecChange(change: (pod: Record<string, any>) => void): (props: Record<string, any>) => Record<string, any> {
  return (props) => {
    const copy = { ...props, spec: { ...props.spec, template: { ...props.spec.template, spec: { ...props.spec.template.spec } } } };
    change(copy.spec.template.spec);
    return copy;
  };
}

/** A YAML document changed by `change`, whether the program gave it as a string or an Output. */
function yamlChange(document: pulumi.Input<string>, change: (doc: Record<string, any>) => Record<string, any>): pulumi.Output<string> {
  return pulumi.output(document).apply((text) => stringify(change(parse(text) as Record<string, any>)));
}

/** Each bottle's agent network name, as the program declares it (networks come before containers). */
const agentNets = new Map<string, pulumi.Input<string>>();

export const REGRESSIONS: Record<string, Regression> = {
  "egress-proxy-engine-socket": {
    what: "the egress proxy's container mounts the Docker engine's socket",
    backend: "docker",
    transform: onResource(CONTAINER, "-egress-proxy", (props) => ({
      ...props,
      volumes: pulumi
        .output(props.volumes ?? [])
        .apply((v) => [...v, { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]),
    })),
    policy: "workloads-hardened",
    message:
      /Container 'egress-proxy' '[^']*egress-proxy[^']*' has volumes bound from the host or another container \(\/var\/run\/docker\.sock\).*use a named volume/,
  },
  "pipelock-as-root": {
    what: "pipelock's container runs as 0:0",
    backend: "docker",
    transform: onResource(CONTAINER, "-pipelock", (props) => ({ ...props, user: "0:0" })),
    policy: "workloads-hardened",
    message: /Container 'pipelock' '[^']*pipelock[^']*' runs as root \(user '0:0'\); set user to the non-root 'uid:gid'/,
  },
  "writer-privileged": {
    what: "the configuration writer's short-lived container runs privileged",
    backend: "docker",
    transform: onResource(COMMAND, "-pipelock-config-apply", (props) => ({
      ...props,
      environment: {
        ...props.environment,
        BOTTLE_RUN_OPTIONS: pulumi.output(props.environment.BOTTLE_RUN_OPTIONS).apply((o: string) => `${o} --privileged`),
      },
    })),
    policy: "workloads-hardened",
    message: /Command '[^']*-pipelock-config-apply' \(its 'live-config-writer' container\) is privileged.*remove `privileged`/,
  },
  "pipelock-on-agent-net": {
    what: "pipelock's container joins the agent's network",
    backend: "docker",
    transform: (args) => {
      if (args.type === NETWORK && args.name.endsWith("-agent-net")) {
        agentNets.set(args.name.slice(0, -"-agent-net".length), args.props.name);
        return undefined;
      }
      if (args.type === CONTAINER && args.name.endsWith("-pipelock")) {
        const agentNet = agentNets.get(args.name.slice(0, -"-pipelock".length));
        const networks = pulumi.output(args.props.networksAdvanced).apply((n: unknown[]) => [...n, { name: agentNet }]);
        return { props: { ...args.props, networksAdvanced: networks }, opts: args.opts };
      }
      return undefined;
    },
    policy: "workloads-on-their-networks",
    message:
      /\(role 'pipelock'\) joins network '[^']*-agent-net' \(role 'agent-net'\), which is not in its role's row of the topology\. Its role joins only 'egress-net' and 'outbound-net'/,
  },
  "pipelock-not-enforcing": {
    what: "pipelock's live document says enforce: false",
    backend: "docker",
    transform: onResource(COMMAND, "-pipelock-config-apply", (props) => ({
      ...props,
      stdin: yamlChange(props.stdin, (doc) => ({ ...doc, enforce: false })),
    })),
    policy: "pipelock-strict-enforcing",
    message:
      /pipelock's pipelock\.yaml \(Command '[^']*-pipelock-config-apply'\) sets enforce: false, so it only logs what it would block\. Remove it or set enforce: true/,
  },
  "egress-proxy-undeclared-route": {
    what: "the egress proxy's live routes.yaml has a route the bottle does not declare",
    backend: "docker",
    transform: onResource(COMMAND, "-egress-proxy-config-apply", (props) => ({
      ...props,
      stdin: yamlChange(props.stdin, (doc) => ({
        ...doc,
        routes: [...doc.routes, { host: "exfil.example.com", ports: [443], methods: ["POST"] }],
      })),
    })),
    policy: "gates-load-the-declared-documents",
    message:
      /egress-proxy '[^']*' loads \/etc\/egress-proxy\/live\/current\/routes\.yaml, which differs from what its BottleStack '[^']*' declares \(routesYaml\) in routes \(\+exfil\.example\.com\)/,
  },
  "k8s-egress-proxy-engine-socket": {
    what: "the egress proxy's pod mounts the node's Docker socket",
    backend: "kubernetes",
    transform: onResource(
      DEPLOYMENT,
      "-egress-proxy",
      podSpecChange((pod) => {
        pod.volumes = [...pod.volumes, { name: "engine", hostPath: { path: "/var/run/docker.sock" } }];
        pod.containers = pod.containers.map((c: any, i: number) =>
          i === 0 ? { ...c, volumeMounts: [...c.volumeMounts, { name: "engine", mountPath: "/var/run/docker.sock" }] } : c,
        );
      }),
    ),
    policy: "kubernetes-pods-hardened",
    message:
      /Deployment '[^']*\/egress-proxy' \(role 'egress-proxy'\) mounts the node's path \/var\/run\/docker\.sock \(hostPath volume 'engine'\); use an emptyDir/,
  },
  "k8s-pipelock-as-root": {
    what: "pipelock's pod runs as uid 0",
    backend: "kubernetes",
    transform: onResource(
      DEPLOYMENT,
      "-pipelock",
      podSpecChange((pod) => {
        // As a workload declared with user 0:0 would be: the pod and each of its containers.
        pod.securityContext = { ...pod.securityContext, runAsUser: 0, runAsGroup: 0 };
        pod.containers = pod.containers.map((c: any) => ({ ...c, securityContext: { ...c.securityContext, runAsUser: 0, runAsGroup: 0 } }));
      }),
    ),
    policy: "kubernetes-pods-hardened",
    message:
      /Deployment '[^']*\/pipelock' \(role 'pipelock'\) container 'pipelock' runs as uid 0 \(runAsUser: 0\); run it as the image's unprivileged user/,
  },
  "k8s-agent-into-pipelock": {
    what: "pipelock's network policy lets the agent's pods in",
    backend: "kubernetes",
    transform: onResource(NETWORK_POLICY, "-policy-pipelock", (props) => ({
      ...props,
      spec: {
        ...props.spec,
        ingress: [...props.spec.ingress, { from: [{ podSelector: { matchLabels: { [LABEL_KEYS.role]: "agent" } } }] }],
      },
    })),
    policy: "kubernetes-workloads-reach-only-their-peers",
    message:
      /NetworkPolicy '[^']*\/pipelock' lets the agent pods connect to the pipelock pods \(ingress rule 1\), which its row of the topology does not/,
  },
  "k8s-pipelock-not-enforcing": {
    what: "pipelock's ConfigMap says enforce: false",
    backend: "kubernetes",
    transform: onResource(CONFIG_MAP, "-pipelock-config", (props) => ({
      ...props,
      data: Object.fromEntries(
        Object.entries(props.data as Record<string, string>).map(([k, v]) => [k, stringify({ ...parse(v), enforce: false })]),
      ),
    })),
    policy: "pipelock-strict-enforcing",
    message: /pipelock's pipelock\.yaml \(ConfigMap '[^']*\/pipelock-config'\) sets enforce: false, so it only logs what it would block/,
  },
};
