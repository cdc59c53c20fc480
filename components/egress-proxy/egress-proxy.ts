import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { BottleSpec, GATE_UIDS } from "../config";
import { hardening, healthy, NO_EXTERNAL_DNS } from "../container";
import type { CertificateAuthority } from "../ca/ca";
import { ALIASES, dockerLabels, dockerName } from "../naming";
import type { BottleNetworks } from "../networks/networks";
import { PIPELOCK_PORT } from "../pipelock/config";
import { tokenEnvNames } from "./routes";

/** The egress proxy's listening port inside the bottle. */
export const EGRESS_PROXY_PORT = 9099;

/** The build context of the egress-proxy image. */
export const EGRESS_PROXY_IMAGE_CONTEXT = path.join(__dirname, "image");

/** Files the egress-proxy container reads, per the image contract in shared/design.md. */
export const EGRESS_PROXY_PATHS = {
  routes: "/etc/egress-proxy/routes.yaml",
  upstreamCa: "/etc/egress-proxy/upstream-ca.pem",
  ca: "/home/mitmproxy/.mitmproxy/mitmproxy-ca.pem",
} as const;

/** The uid the image runs mitmproxy as. */
const MITMPROXY_UID = String(GATE_UIDS.egressProxy);

/**
 * The image's public roots (Debian's ca-certificates), trusted on the upstream leg besides
 * pipelock's CA when pipelock passes hosts through: their servers present their own certificates.
 */
export const SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Builds the egress-proxy image from its Dockerfile on the target engine, tagged
 * `bot-bottle/egress-proxy:<stack>` so that stacks sharing an engine never retag each other's
 * image (containers run it by id). The context is relative to the project root (Pulumi's
 * working directory), so state does not depend on where the repository is checked out.
 */
export function buildEgressProxyImage(name: string, stack: string, opts: pulumi.CustomResourceOptions): docker.Image {
  return new docker.Image(
    name,
    {
      imageName: `bot-bottle/egress-proxy:${stack}`,
      build: { context: path.relative(process.cwd(), EGRESS_PROXY_IMAGE_CONTEXT) || ".", target: "runtime" },
      skipPush: true,
    },
    opts,
  );
}

export interface EgressProxyArgs {
  stack: string;
  bottle: BottleSpec;
  /** The rendered routes.yaml (renderRoutesYaml). */
  routesYaml: string;
  /** Image reference (a local build's id, or a pinned prebuilt reference). */
  image: pulumi.Input<string>;
  networks: BottleNetworks;
  /** The egress proxy's own CA; the agent trusts its certificate. */
  ca: CertificateAuthority;
  /** pipelock's CA certificate, the only trust on the upstream leg. */
  upstreamCaCert: pulumi.Input<string>;
  /** Token values by name; every token a route references is present (validated). */
  tokens: Readonly<Record<string, pulumi.Input<string>>>;
  dependsOn: pulumi.Resource[];
}

/**
 * The egress-proxy container: on the agent and egress networks under the alias
 * `egress-proxy`, in upstream mode through the bottle's pipelock. Token values reach only
 * this container's environment, as secret Outputs.
 */
export function createEgressProxy(name: string, args: EgressProxyArgs, parent: pulumi.Resource): docker.Container {
  const { stack, bottle } = args;
  const tokenEnv = tokenEnvNames(bottle.routes);
  const tokenVars = [...tokenEnv].map(([token, variable]) =>
    pulumi.secret(pulumi.interpolate`${variable}=${args.tokens[token]!}`),
  );
  const caBundle = pulumi.secret(pulumi.interpolate`${args.ca.certPem}${args.ca.privateKeyPem}`);
  return new docker.Container(
    name,
    {
      name: dockerName(stack, bottle.name, "egress-proxy"),
      image: args.image,
      labels: dockerLabels(stack, bottle.name, "egress-proxy"),
      user: `${MITMPROXY_UID}:${MITMPROXY_UID}`,
      envs: [
        `EGRESS_PROXY_ROUTES=${EGRESS_PROXY_PATHS.routes}`,
        `EGRESS_PROXY_PORT=${EGRESS_PROXY_PORT}`,
        `EGRESS_PROXY_UPSTREAM_PROXY=http://${ALIASES.pipelock}:${PIPELOCK_PORT}`,
        `EGRESS_PROXY_UPSTREAM_CA=${EGRESS_PROXY_PATHS.upstreamCa}`,
        `EGRESS_PROXY_MAX_BODY_BYTES=${bottle.maxBodyMb * 1024 * 1024}`,
        ...(bottle.pipelock.settings.tls_interception?.passthrough_domains?.length ? [`EGRESS_PROXY_UPSTREAM_EXTRA_CA=${SYSTEM_ROOTS}`] : []),
        ...tokenVars,
      ],
      networksAdvanced: [
        { name: args.networks.agent.name, aliases: [ALIASES.egressProxy] },
        { name: args.networks.egress.name, aliases: [ALIASES.egressProxy] },
      ],
      uploads: [
        { file: EGRESS_PROXY_PATHS.routes, content: args.routesYaml, permissions: "0444" },
        { file: EGRESS_PROXY_PATHS.upstreamCa, content: args.upstreamCaCert, permissions: "0444" },
        {
          file: EGRESS_PROXY_PATHS.ca,
          content: caBundle,
          permissions: "0600",
          owner: MITMPROXY_UID,
          group: MITMPROXY_UID,
        },
      ],
      ...hardening(bottle.egressProxy.memoryMb),
      ...NO_EXTERNAL_DNS,
      ...healthy(["/opt/venv/bin/python", "/opt/egress-proxy/healthcheck.py"]),
    },
    { parent, dependsOn: args.dependsOn },
  );
}
