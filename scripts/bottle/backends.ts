import type { Backend } from "../../components/index";
import type { BottleRef, Cli, DeployedBottle, Engine } from "./deployed";
import { DOCKER_ENGINE_KEYS, dockerBottle } from "./docker";
import { KUBERNETES_ENGINE_KEYS, kubernetesBottle } from "./kubernetes";

/**
 * How `npm run bottle` works on each backend: which settings of the stack file's `<backend>`
 * mapping name a bottle's engine or cluster, and a bottle deployed there. The counterpart of
 * the package's backends (components/backends.ts): the same names, one entry each.
 */
export const DEPLOYED_BACKENDS: Record<
  Backend,
  { engineKeys: readonly string[]; open(ref: BottleRef, engine: Engine, cli: Cli): DeployedBottle }
> = {
  docker: { engineKeys: DOCKER_ENGINE_KEYS, open: dockerBottle },
  kubernetes: { engineKeys: KUBERNETES_ENGINE_KEYS, open: kubernetesBottle },
};
