import * as docker from "@pulumi/docker";
import type { BottleBackend } from "../backend/backend";
import { declareOnDocker } from "./declare";
import { sharedEngines } from "./engines";
import { engineResourceName } from "./images";

/** The Docker backend: a bottle's networks and containers on one engine (the spec's `docker.host`, else the local one). */
export const dockerBackend: BottleBackend = {
  declare({ name, spec, layout, tokens, builtImages, parent }) {
    const dockerHost = spec.docker?.host;
    const provider =
      dockerHost !== undefined && parent.getProvider("docker::") === undefined
        ? new docker.Provider(engineResourceName(`${name}-docker`, dockerHost), { host: dockerHost }, { parent })
        : undefined;
    const { containers, networks, cas } = declareOnDocker(
      name,
      layout,
      {
        tokens,
        builtImages: {
          ...(builtImages.egressProxy !== undefined && { "egress-proxy": builtImages.egressProxy }),
          ...(builtImages.agent !== undefined && { agent: builtImages.agent }),
        },
        ...(dockerHost !== undefined && { dockerHost }),
      },
      { parent, ...(provider && { provider }) },
    );
    return {
      cas,
      objectNames: {
        agentNetwork: networks["agent-net"].name,
        egressNetwork: networks["egress-net"].name,
        outboundNetwork: networks["outbound-net"].name,
        egressProxy: containers["egress-proxy"]!.name,
        pipelock: containers.pipelock!.name,
        ...(containers["pipelock-bulk"] && { pipelockBulk: containers["pipelock-bulk"].name }),
        ...(containers.agent && { agent: containers.agent.name }),
      },
    };
  },
  sharedEngines,
};
