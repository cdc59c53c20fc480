import type { BottleBackend, SharedEngine } from "./backend/backend";
import { Backend, BACKENDS, type BottleSpec } from "./config";
import { dockerBackend } from "./docker/backend";
import { kubernetesBackend } from "./kubernetes/backend";

/** Every backend, by the name a bottle's `backend` gives: the one place one is chosen. */
const REGISTRY: Record<Backend, BottleBackend> = {
  docker: dockerBackend,
  kubernetes: kubernetesBackend,
};

/** The name of the backend a bottle runs on: Docker when it names none. */
const backendOf = (spec: Pick<BottleSpec, "backend">): Backend => spec.backend ?? Backend.docker;

/** The backend that declares a bottle. */
export function backendFor(spec: Pick<BottleSpec, "backend">): BottleBackend {
  return REGISTRY[backendOf(spec)];
}

/**
 * For a program that declares many bottles: per bottle, what it shares with the program's
 * other bottles on its engine or cluster, to pass as its provider and `builtImages`.
 */
export function sharedEngines(stack: string, bottles: readonly BottleSpec[]): (bottle: BottleSpec) => SharedEngine {
  const perBackend = new Map(
    BACKENDS.map((backend) => [
      backend,
      REGISTRY[backend].sharedEngines(
        stack,
        bottles.filter((b) => backendOf(b) === backend),
      ),
    ]),
  );
  return (bottle) => perBackend.get(backendOf(bottle))!(bottle);
}
