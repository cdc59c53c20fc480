import * as pulumi from "@pulumi/pulumi";
import { createAgent } from "./agent/agent";
import { createCa } from "./ca/ca";
import {
  AgentConfig,
  BottleSpec,
  formatProblems,
  GATE_MAX_PROCESSES,
  PipelockSettings,
  RouteConfig,
  validateBottle,
} from "./config";
import { buildEgressProxyImage, createEgressProxy, EGRESS_PROXY_PORT } from "./egress-proxy/egress-proxy";
import { renderRoutesYaml } from "./egress-proxy/routes";
import { ALIASES } from "./naming";
import { createNetworks } from "./networks/networks";
import { renderPipelockYaml } from "./pipelock/config";
import { createPipelock } from "./pipelock/pipelock";
import { createProcessLimits, processLimitsOf } from "./limits/limits";
import { createSelfTest } from "./self-test/self-test";

/** Arguments of {@link BottleStack}. The resource name is the bottle's name. */
export interface BottleStackArgs {
  /**
   * What the agent may reach: each route names a host and optionally its ports, methods,
   * path prefixes and the credential to inject. Everything else is refused by both gates.
   * At least one route is required.
   */
  routes: RouteConfig[];
  /**
   * Token values by name, referenced from `routes[].auth.token`. Pass secret Outputs
   * (e.g. from `config.requireSecretObject`); they are wrapped with `pulumi.secret` anyway.
   * Values reach only the egress-proxy container's environment. Defaults to no tokens.
   */
  tokens?: Record<string, pulumi.Input<string>>;
  /** The agent container. Defaults to none: the bottle's gates are declared without an agent. */
  agent?: AgentConfig;
  /**
   * The egress proxy. `image` is a prebuilt image reference (pin it by digest in production);
   * defaults to building `components/egress-proxy/image` on the target engine.
   * `memoryMb` defaults to 256.
   */
  egressProxy?: { image?: string; memoryMb?: number };
  /**
   * pipelock. `image` defaults to `ghcr.io/luckypipewrench/pipelock:2.3.0`; `memoryMb` to 256;
   * `settings` adds typed pipelock settings (trusted domains, SSRF allowlist, DLP patterns,
   * rate limit...) to the rendered pipelock.yaml. Defaults to none.
   */
  pipelock?: { image?: string; memoryMb?: number; settings?: PipelockSettings };
  /** Validity of both CAs, in hours. Defaults to 8760 (one year). */
  caValidityHours?: number;
  /**
   * Requests per minute the agent may send to one destination host, counted per request by
   * the egress proxy (429 over it); pipelock's own limit is a backstop at twice this.
   * Defaults to 1200.
   */
  requestsPerMinute?: number;
  /**
   * The largest request body either gate reads, in MiB: the egress proxy answers 413 over it
   * before holding it in memory (and refuses a response with a larger known length), pipelock
   * refuses to pass a request body it could not scan whole. Defaults to 32.
   */
  maxBodyMb?: number;
  /**
   * A prebuilt egress-proxy image to use when `egressProxy.image` is not set, so a program
   * with many bottles builds the image once per engine. Defaults to building it here.
   */
  egressProxyImage?: pulumi.Input<string>;
  /**
   * The environment name in Docker names (`<stack>-<bottle>-...`) and `bot-bottle.stack`
   * labels. Defaults to the Pulumi stack name.
   */
  stackName?: string;
  /**
   * Run the self-test on every `up` that creates or replaces a container: a throwaway probe
   * on the agent network must find no direct way out (a public address, the host) and must
   * get the egress proxy's 403 for a host outside the routes, or the deployment fails. Needs
   * the `docker` CLI where Pulumi runs. Only for bottles with an agent. Defaults to true.
   */
  selfTest?: boolean;
  /**
   * The Docker engine the bottle's provider targets (`ssh://...`, `tcp://...`), for the
   * self-test's `docker` CLI. Defaults to the local engine (or `DOCKER_HOST`).
   */
  dockerHost?: string;
}

/** Names of the bottle's Docker objects. */
export interface BottleDockerNames {
  agentNetwork: pulumi.Output<string>;
  egressNetwork: pulumi.Output<string>;
  outboundNetwork: pulumi.Output<string>;
  egressProxy: pulumi.Output<string>;
  pipelock: pulumi.Output<string>;
  /** Absent when the bottle has no agent. */
  agent?: pulumi.Output<string>;
}

/**
 * A bottle: a sandbox for one autonomous coding agent. The agent reaches only the egress
 * proxy, which allows exactly the declared routes, injects credentials and chains every
 * request through pipelock, the only container with a way out (see shared/design.md).
 */
export class BottleStack extends pulumi.ComponentResource {
  /** The validated bottle, every default applied. */
  public readonly spec: BottleSpec;
  /** Network and container names on the Docker engine. */
  public readonly dockerNames: BottleDockerNames;
  /** The egress-proxy CA certificate (public): what the agent trusts. */
  public readonly egressProxyCaCert: pulumi.Output<string>;
  /** pipelock's CA certificate (public): what the egress proxy trusts upstream. */
  public readonly pipelockCaCert: pulumi.Output<string>;
  /** The proxy URL the agent uses, valid inside the bottle's agent network. */
  public readonly proxyUrl: string;
  /**
   * The egress proxy's routes.yaml. Also exported so that a preview shows route changes in
   * plain text: the container's uploads are all secret, since one of them holds the CA key.
   */
  public readonly routesYaml: string;
  /** pipelock's rendered pipelock.yaml, exported for the same reason. */
  public readonly pipelockYaml: string;

  constructor(name: string, args: BottleStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("bot-bottle:index:BottleStack", name, {}, opts);
    const tokens = args.tokens ?? {};
    const validated = validateBottle(
      {
        name,
        routes: args.routes,
        agent: args.agent,
        egressProxy: args.egressProxy,
        pipelock: args.pipelock,
        caValidityHours: args.caValidityHours,
        requestsPerMinute: args.requestsPerMinute,
        maxBodyMb: args.maxBodyMb,
        selfTest: args.selfTest,
      },
      new Set(Object.keys(tokens)),
    );
    if (!validated.ok) {
      throw new pulumi.RunError(`BottleStack "${name}" has invalid arguments:\n${formatProblems(validated.problems)}`);
    }
    const spec = validated.value;
    const stack = args.stackName ?? pulumi.getStack();
    this.spec = spec;
    this.proxyUrl = `http://${ALIASES.egressProxy}:${EGRESS_PROXY_PORT}`;
    this.routesYaml = renderRoutesYaml(spec);
    this.pipelockYaml = renderPipelockYaml(spec);

    const networks = createNetworks(name, stack, spec.name, this);
    const egressProxyCa = createCa(
      `${name}-egress-proxy-ca`,
      { algorithm: "RSA", commonName: `bot-bottle egress proxy CA (${stack}/${spec.name})`, validityHours: spec.caValidityHours },
      this,
    );
    const pipelockCa = createCa(
      `${name}-pipelock-ca`,
      { algorithm: "ECDSA", commonName: `bot-bottle pipelock CA (${stack}/${spec.name})`, validityHours: spec.caValidityHours },
      this,
    );
    const pipelock = createPipelock(
      `${name}-pipelock`,
      { stack, bottle: spec, pipelockYaml: this.pipelockYaml, networks, ca: pipelockCa },
      this,
    );
    const egressProxyImage =
      spec.egressProxy.image ?? args.egressProxyImage ?? buildEgressProxyImage(`${name}-egress-proxy-image`, stack, { parent: this }).repoDigest;
    const egressProxy = createEgressProxy(
      `${name}-egress-proxy`,
      {
        stack,
        bottle: spec,
        routesYaml: this.routesYaml,
        image: egressProxyImage,
        networks,
        ca: egressProxyCa,
        upstreamCaCert: pipelockCa.certPem,
        tokens: Object.fromEntries(Object.entries(tokens).map(([k, v]) => [k, pulumi.secret(v)])),
        dependsOn: [pipelock],
      },
      this,
    );
    const agent =
      spec.agent &&
      createAgent(
        `${name}-agent`,
        {
          stack,
          bottle: spec.name,
          agent: spec.agent,
          network: networks.agent,
          proxyUrl: this.proxyUrl,
          caCert: egressProxyCa.certPem,
          egressProxy,
        },
        this,
      );

    const limits = [
      { container: pipelock, maxProcesses: GATE_MAX_PROCESSES },
      { container: egressProxy, maxProcesses: GATE_MAX_PROCESSES },
      ...(agent && spec.agent ? [{ container: agent, maxProcesses: spec.agent.maxProcesses }] : []),
    ];
    const processLimits = createProcessLimits(
      `${name}-limits`,
      { limits, ...(args.dockerHost && { dockerHost: args.dockerHost }) },
      this,
    );

    if (agent && spec.selfTest) {
      createSelfTest(
        `${name}-self-test`,
        {
          stack,
          bottle: spec.name,
          agent,
          probeImage: egressProxyImage,
          proxyUrl: this.proxyUrl,
          processLimits: processLimitsOf(limits),
          noDnsContainers: [agent.name, egressProxy.name],
          ...(args.dockerHost && { dockerHost: args.dockerHost }),
          dependsOn: [pipelock, egressProxy, agent, processLimits],
          triggers: limits.map((l) => l.container.id),
        },
        this,
      );
    }

    this.egressProxyCaCert = egressProxyCa.certPem;
    this.pipelockCaCert = pipelockCa.certPem;
    this.dockerNames = {
      agentNetwork: networks.agent.name,
      egressNetwork: networks.egress.name,
      outboundNetwork: networks.outbound.name,
      egressProxy: egressProxy.name,
      pipelock: pipelock.name,
      ...(agent && { agent: agent.name }),
    };
    this.registerOutputs({
      dockerNames: this.dockerNames,
      egressProxyCaCert: this.egressProxyCaCert,
      pipelockCaCert: this.pipelockCaCert,
      proxyUrl: this.proxyUrl,
      routesYaml: this.routesYaml,
      pipelockYaml: this.pipelockYaml,
    });
  }
}
