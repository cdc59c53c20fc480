import * as pulumi from "@pulumi/pulumi";
import type { BottleObjectNames, BuiltImages } from "./backend/backend";
import { backendFor } from "./backends";
import { type BottleArgs, type BottleSpec, formatProblems, isValidatedSpec, validateBottle, withPythonPaths } from "./config";
import { describeBottle } from "./describe";
import type { BottleLayout, WorkloadRole } from "./layout";
import { allowHintProblem } from "./egress-proxy/routes";

/** Arguments of {@link BottleStack}: a bottle's configuration, and what only a program can pass. */
export interface BottleStackArgs extends BottleArgs {
  /**
   * Token values by name, referenced from `routes[].auth.token`: an object whose values are
   * secret Outputs (e.g. `{ github: config.requireSecret("githubToken") }`; an Output of the
   * whole object hides the names validation needs). They are wrapped in `pulumi.secret` anyway.
   * Values reach only the egress proxy's tokens file (readable by its uid only; a Secret on
   * Kubernetes), never an environment, an argument, a log or the agent. Defaults to no tokens.
   */
  tokens?: { [name: string]: pulumi.Input<string> };
  /**
   * This package's images, already built on the bottle's engine (image ids), so that a
   * program with many bottles on one engine builds each once. Defaults to building them for
   * this bottle where it uses them.
   */
  builtImages?: BuiltImages;
  /**
   * The environment's name in object names (`<stack>-<bottle>-<role>`) and `bot-bottle.stack`
   * labels. Defaults to the Pulumi stack's name.
   */
  stackName?: string;
  /**
   * What a refusal of the egress proxy tells the agent a human can do to allow it, appended as
   * `(to allow it, a human runs: <allowHint>)`: your team's command or runbook, one line of
   * printable ASCII, at most 200 characters. Defaults to none: refusals name the gate and the
   * reason only.
   */
  allowHint?: string;
}

// Each bottle's spec and layout, kept off the class's properties: Pulumi infers the component's
// schema (for other languages) from those, and these hold types no schema can express.
const described = new WeakMap<BottleStack, { spec: BottleSpec; layout: BottleLayout }>();

// Arguments built from a spec that stack config validation produced: not validated again.
const prevalidated = new WeakMap<BottleStackArgs, BottleSpec>();

/**
 * The arguments of a bottle whose spec came from `validateStackConfig` (which reports every
 * bottle's problems at once): BottleStack uses that spec instead of validating again. The
 * returned object is frozen, so what was validated is what is declared.
 */
export function argsFromSpec(
  spec: BottleSpec,
  extra: Pick<BottleStackArgs, "tokens" | "builtImages" | "stackName" | "allowHint">,
): BottleStackArgs {
  if (!isValidatedSpec(spec)) throw new Error("argsFromSpec takes a spec returned by validateStackConfig or validateBottle");
  const { name: _name, routes, ...bottle } = spec;
  // A git route's push as arguments: the rules it was validated to (every ref's included).
  const argRoutes = routes.map(({ git, ...route }) => ({
    ...route,
    ...(git && { git: { repositories: git.repositories, ...(git.push !== false && { pushRules: git.push }) } }),
  }));
  const args: BottleStackArgs = Object.freeze({ ...bottle, routes: argRoutes, ...extra });
  prevalidated.set(args, spec);
  return args;
}

/**
 * A bottle: a sandbox for one autonomous coding agent. The agent reaches only the egress
 * proxy, which allows exactly the declared routes, injects credentials and chains every
 * request through pipelock, the only container with a way out (docs/architecture.md).
 */
export class BottleStack extends pulumi.ComponentResource {
  /** Names of the bottle's networks and containers on its engine. */
  public readonly objectNames: BottleObjectNames;
  /** The egress-proxy CA certificate (public): what the agent trusts. */
  public readonly egressProxyCaCert: pulumi.Output<string>;
  /** pipelock's CA certificate (public): what the egress proxy trusts upstream. */
  public readonly pipelockCaCert: pulumi.Output<string>;
  /** The proxy URL the agent uses, valid inside the bottle's agent network. */
  public readonly proxyUrl: string;
  /**
   * The egress proxy's routes.yaml. Also an output so that a preview shows route changes in
   * plain text: the container's uploads are all secret, since one of them holds the CA key.
   */
  public readonly routesYaml: string;
  /** pipelock's rendered pipelock.yaml, an output for the same reason. */
  public readonly pipelockYaml: string;
  /** pipelock-bulk's rendered pipelock.yaml; absent when no route uses the bulk lane. */
  public readonly pipelockBulkYaml: string | undefined;

  /** The validated bottle, every default applied. */
  public get spec(): BottleSpec {
    return described.get(this)!.spec;
  }

  /** What the bottle is: networks, CAs and workloads, as the backend declared them. */
  public get layout(): BottleLayout {
    return described.get(this)!.layout;
  }

  constructor(name: string, args: BottleStackArgs, opts?: pulumi.ComponentResourceOptions) {
    const { tokens = {}, builtImages = {}, stackName, allowHint, ...bottle } = args;
    const hintProblem = allowHint === undefined ? undefined : allowHintProblem(allowHint);
    if (hintProblem) throw new pulumi.RunError(`BottleStack "${name}" has invalid arguments:\n  allowHint: ${hintProblem}`);
    if (pulumi.Output.isInstance(tokens)) {
      // Validation needs the names now; an Output of a whole object (requireSecretObject) hides them.
      throw new pulumi.RunError(
        `BottleStack "${name}": tokens must be an object of token names to secret values, e.g. ` +
          `{ github: config.requireSecret("githubToken") }, not an Output of an object`,
      );
    }
    const spec = prevalidated.get(args) ?? validated(name, bottle, tokens);
    const layout = describeBottle(spec, { stack: stackName ?? pulumi.getStack(), ...(allowHint !== undefined && { allowHint }) });
    // The documents the gates load, as the layout holds them. Also the component's inputs: what
    // the bottle declares, against which the policy pack holds what each gate is given.
    const documents = {
      routesYaml: documentOf(layout, "egress-proxy")!,
      pipelockYaml: documentOf(layout, "pipelock")!,
      pipelockBulkYaml: documentOf(layout, "pipelock-bulk"),
    };
    super("bot-bottle:index:BottleStack", name, documents, opts);
    described.set(this, { spec, layout });
    this.proxyUrl = layout.proxyUrl;
    this.routesYaml = documents.routesYaml;
    this.pipelockYaml = documents.pipelockYaml;
    this.pipelockBulkYaml = documents.pipelockBulkYaml;

    const secretTokens = Object.fromEntries(Object.entries(tokens).map(([token, value]) => [token, pulumi.secret(value)]));
    const declared = backendFor(spec).declare({ name, spec, layout, tokens: secretTokens, builtImages, parent: this });
    this.egressProxyCaCert = declared.cas["egress-proxy"].certPem;
    this.pipelockCaCert = declared.cas.pipelock.certPem;
    this.objectNames = declared.objectNames;
    this.registerOutputs({
      objectNames: this.objectNames,
      egressProxyCaCert: this.egressProxyCaCert,
      pipelockCaCert: this.pipelockCaCert,
      proxyUrl: this.proxyUrl,
      routesYaml: this.routesYaml,
      pipelockYaml: this.pipelockYaml,
      ...(this.pipelockBulkYaml !== undefined && { pipelockBulkYaml: this.pipelockBulkYaml }),
    });
  }
}

/** The live document a workload of the layout loads, if it has that workload. */
function documentOf(layout: BottleLayout, role: WorkloadRole): string | undefined {
  return layout.workloads.find((w) => w.role === role)?.live?.document.text;
}

function validated(name: string, bottle: BottleArgs, tokens: Record<string, unknown>): BottleSpec {
  const result = validateBottle(name, bottle, new Set(Object.keys(tokens)));
  if (!result.ok)
    throw new pulumi.RunError(`BottleStack "${name}" has invalid arguments:\n${formatProblems(withPythonPaths(result.problems))}`);
  return result.value;
}
