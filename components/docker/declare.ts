import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { fileContent } from "../backend/contents";
import { type CertificateAuthority, createCa } from "../ca/ca";
import type { BottleLayout, BuiltImage, CaRole, FileLayout, NetworkRole, WorkloadRole } from "../layout/types";
import { containerSettings } from "./container";
import { buildImage, pulledImage } from "./images";
import { createProcessLimits } from "./limits";
import { declareLiveConfig } from "./live-config/live-config";
import { declareMount } from "./mounts";
import { declareNetwork } from "./networks";
import { createSelfTest } from "./self-test/self-test";

/** What the Docker backend needs besides the layout. */
export interface DockerInputs {
  /** Token values by name (every token the layout references). Wrapped as secrets here. */
  tokens: Readonly<Record<string, pulumi.Input<string>>>;
  /** Images of this package already built on the engine; the others are built here. */
  builtImages: Partial<Record<BuiltImage, pulumi.Input<string>>>;
  /** The engine's host for the `docker` CLI of the limits command and self-test; absent: local. */
  dockerHost?: string;
}

/** The Docker objects of one bottle. */
export interface DockerBottle {
  cas: Record<CaRole, CertificateAuthority>;
  networks: Record<NetworkRole, docker.Network>;
  containers: Partial<Record<WorkloadRole, docker.Container>>;
}

/**
 * Declares a bottle's layout on a Docker engine: the CAs, a bridge network per network, a
 * container per workload (in start order, each waiting for the ones it comes after), the
 * process limits, and the self-test. Resource names are `<name>-<role>`.
 */
export function declareOnDocker(
  name: string,
  layout: BottleLayout,
  inputs: DockerInputs,
  opts: { parent: pulumi.Resource; provider?: docker.Provider },
): DockerBottle {
  const { parent } = opts;
  const images: Partial<Record<WorkloadRole, pulumi.Input<string>>> = {};
  // One pull per reference: both pipelocks run the same image.
  const pulled = new Map<string, docker.RemoteImage>();
  for (const workload of layout.workloads) {
    const source = workload.image;
    if ("reference" in source) {
      if (!pulled.has(source.reference))
        pulled.set(source.reference, pulledImage(`${name}-${workload.role}-image`, source.reference, workload.role, opts));
      images[workload.role] = pulled.get(source.reference)!.imageId;
    } else {
      images[workload.role] =
        inputs.builtImages[source.build] ?? buildImage(source.build, `${name}-${workload.role}-image`, layout.stack, opts).repoDigest;
    }
  }
  // Pulls first: one that fails (an engine that reaches no registry) fails the up before
  // anything of the bottle is made, so there is nothing half made to clean up.
  const pulls = [...pulled.values()];
  const afterPulls = { ...opts, dependsOn: pulls };
  const cas = Object.fromEntries(
    layout.cas.map((ca) => [ca.role, createCa(`${name}-${ca.role}-ca`, ca, { parent, dependsOn: pulls })]),
  ) as Record<CaRole, CertificateAuthority>;
  const networks = Object.fromEntries(
    layout.networks.map((network) => [network.role, declareNetwork(`${name}-${network.role}`, network, afterPulls)]),
  ) as Record<NetworkRole, docker.Network>;

  // The egress proxy's image has the tools of the one-off containers: chown, the config writer.
  const toolImage = images["egress-proxy"];
  const dockerHost = inputs.dockerHost !== undefined ? { dockerHost: inputs.dockerHost } : {};
  const containers: Partial<Record<WorkloadRole, docker.Container>> = {};
  for (const workload of layout.workloads) {
    const resourceName = `${name}-${workload.role}`;
    const image = images[workload.role]!;
    if (toolImage === undefined && (workload.mounts.length > 0 || workload.live)) {
      throw new Error(
        `bottle "${layout.bottle}": the "${workload.role}" workload needs the egress proxy's image, and the layout has no egress proxy`,
      );
    }
    const mounts = workload.mounts.map((mount) => declareMount(name, mount, { chownImage: toolImage!, ...dockerHost }, afterPulls));
    const { live } = workload;
    if (live) {
      const args = {
        stack: layout.stack,
        bottle: layout.bottle,
        workload: { ...workload, live },
        tokens: inputs.tokens,
        writerImage: toolImage!,
        ...dockerHost,
      };
      mounts.push(declareLiveConfig(resourceName, args, afterPulls));
    }
    containers[workload.role] = new docker.Container(
      resourceName,
      {
        ...containerSettings(workload),
        image,
        ...(mounts.length > 0 && { volumes: mounts.map((m) => m.volume) }),
        ...(workload.env.length > 0 && { envs: workload.env.map((variable) => `${variable.name}=${variable.value}`) }),
        networksAdvanced: workload.attachments.map((a) => ({
          name: networks[a.network].name,
          ...(a.aliases.length > 0 && { aliases: a.aliases }),
        })),
        uploads: workload.files.map((file) => upload(file, cas)),
      },
      { ...opts, dependsOn: [...workload.after.map((role) => containers[role]!), ...mounts.flatMap((m) => m.ready)] },
    );
  }

  const limited = layout.workloads.map((w) => ({ container: containers[w.role]!, maxProcesses: w.maxProcesses }));
  const processLimits = createProcessLimits(`${name}-limits`, { limits: limited, dockerHost: inputs.dockerHost }, parent);
  if (layout.selfTest) {
    const { from, probeImage, noExternalDns, proxy } = layout.selfTest;
    createSelfTest(
      `${name}-self-test`,
      {
        stack: layout.stack,
        bottle: layout.bottle,
        from: containers[from]!,
        probeImage: images[probeImage]!,
        proxyUrl: urlOf(proxy, containers),
        limits: limited,
        noExternalDns: noExternalDns.map((role) => containers[role]!),
        dockerHost: inputs.dockerHost,
        dependsOn: [...limited.map((l) => l.container), processLimits],
      },
      parent,
    );
  }
  return { cas, networks, containers };
}

/** `http://<container name>:<port>` of a workload declared earlier. */
function urlOf(
  target: { role: WorkloadRole; port: number },
  containers: Partial<Record<WorkloadRole, docker.Container>>,
): pulumi.Output<string> {
  const container = containers[target.role];
  if (container === undefined)
    throw new Error(`"${target.role}" is referenced before it is declared (the layout lists workloads in start order)`);
  return pulumi.interpolate`http://${container.name}:${target.port}`;
}

function upload(file: FileLayout, cas: Record<CaRole, CertificateAuthority>): docker.types.input.ContainerUpload {
  return {
    file: file.path,
    content: fileContent(file, cas),
    permissions: file.mode,
    ...(file.owner !== undefined && { owner: String(file.owner), group: String(file.owner) }),
  };
}
