import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { BottleSpec, GATE_UIDS } from "../config";
import type { CertificateAuthority } from "../ca/ca";
import { hardening, healthy } from "../container";
import { ALIASES, dockerLabels, dockerName } from "../naming";
import type { BottleNetworks } from "../networks/networks";
import { PIPELOCK_PATHS, PIPELOCK_PORT } from "./config";

/** pipelock's image has no USER; run it as this non-root uid, which owns its CA key. */
export const PIPELOCK_UID = String(GATE_UIDS.pipelock);

export interface PipelockArgs {
  stack: string;
  bottle: BottleSpec;
  /** The rendered pipelock.yaml (renderPipelockYaml). */
  pipelockYaml: string;
  networks: BottleNetworks;
  ca: CertificateAuthority;
}

/**
 * The pipelock container: the bottle's second gate and its only way out, on the egress
 * network (alias `pipelock`) and the outbound network.
 */
export function createPipelock(name: string, args: PipelockArgs, parent: pulumi.Resource): docker.Container {
  const { stack, bottle } = args;
  const image = new docker.RemoteImage(`${name}-image`, { name: bottle.pipelock.image, keepLocally: true }, { parent });
  return new docker.Container(
    name,
    {
      name: dockerName(stack, bottle.name, "pipelock"),
      image: image.imageId,
      labels: dockerLabels(stack, bottle.name, "pipelock"),
      user: `${PIPELOCK_UID}:${PIPELOCK_UID}`,
      command: ["run", "--config", PIPELOCK_PATHS.config, "--listen", `0.0.0.0:${PIPELOCK_PORT}`],
      networksAdvanced: [
        { name: args.networks.egress.name, aliases: [ALIASES.pipelock] },
        { name: args.networks.outbound.name },
      ],
      uploads: [
        { file: PIPELOCK_PATHS.config, content: args.pipelockYaml, permissions: "0444" },
        { file: PIPELOCK_PATHS.caCert, content: args.ca.certPem, permissions: "0444" },
        {
          file: PIPELOCK_PATHS.caKey,
          content: args.ca.privateKeyPem,
          permissions: "0600",
          owner: PIPELOCK_UID,
          group: PIPELOCK_UID,
        },
      ],
      ...hardening(bottle.pipelock.memoryMb),
      ...healthy(["/pipelock", "healthcheck"]),
    },
    { parent },
  );
}
