import type * as pulumi from "@pulumi/pulumi";
import type { CertificateAuthority } from "../ca/ca";
import type { BottleSpec } from "../config";
import type { BottleLayout, CaRole } from "../layout/types";

/**
 * Where a bottle's layout becomes objects: a Docker engine, a Kubernetes cluster. Each backend
 * is a folder implementing this, registered by its `spec.backend` in `components/backends.ts`;
 * `npm run bottle` finds its workloads through its counterpart in `scripts/bottle/`.
 */
export interface BottleBackend {
  /**
   * Declares the layout's objects under the bottle's component (resource names `<name>-<role>`),
   * on the program's provider for the backend, else on one of its own for the spec's engine or
   * cluster. Returns the CAs and the names of what it declared.
   */
  declare(bottle: BottleToDeclare): DeclaredBottle;
  /**
   * For a program with many bottles: per bottle of this backend, what it shares with the
   * others on its engine or cluster (one provider, this package's images built there once),
   * each made on first use and named from what names the engine, never from the bottles' order.
   */
  sharedEngines(stack: string, bottles: readonly BottleSpec[]): (bottle: BottleSpec) => SharedEngine;
}

/** What a backend is given to declare one bottle. */
export interface BottleToDeclare {
  /** The component's name: the prefix of every resource's. */
  name: string;
  spec: BottleSpec;
  layout: BottleLayout;
  /** Token values by name, each a secret. */
  tokens: Record<string, pulumi.Output<string>>;
  builtImages: BuiltImages;
  /** The bottle's component: every resource's parent, and the holder of the program's providers. */
  parent: pulumi.ComponentResource;
}

/** What a backend declared that the component's outputs name. */
export interface DeclaredBottle {
  cas: Record<CaRole, CertificateAuthority>;
  objectNames: BottleObjectNames;
}

/** What a program's bottles on one engine or cluster share. */
export interface SharedEngine {
  /** The program's provider for the engine or cluster; absent: the program's default one. */
  provider?: pulumi.ProviderResource;
  builtImages: BuiltImages;
}

/** Images of this package built once per engine by the program. */
export interface BuiltImages {
  /** The egress-proxy image, for bottles that set no `egressProxy.image`. */
  egressProxy?: pulumi.Input<string>;
  /** The agent image, for agents that set no `image`. */
  agent?: pulumi.Input<string>;
}

/** Names of the bottle's objects on its engine or cluster. */
export interface BottleObjectNames {
  /** The agent's network (Docker). */
  agentNetwork?: pulumi.Output<string>;
  /** The network between the gates (Docker). */
  egressNetwork?: pulumi.Output<string>;
  /** pipelock's way out (Docker). */
  outboundNetwork?: pulumi.Output<string>;
  /** The bottle's namespace (Kubernetes). */
  namespace?: pulumi.Output<string>;
  /** The egress proxy's container (Docker) or Deployment (Kubernetes). */
  egressProxy: pulumi.Output<string>;
  /** pipelock's container or Deployment. */
  pipelock: pulumi.Output<string>;
  /** pipelock-bulk's container or Deployment; absent when no route uses the bulk lane. */
  pipelockBulk?: pulumi.Output<string>;
  /** The agent's container or Deployment; absent when the bottle has no agent. */
  agent?: pulumi.Output<string>;
}
