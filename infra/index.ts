import * as pulumi from "@pulumi/pulumi";
import { argsFromSpec, BottleStack, sharedEngines, usedTokens } from "../components/index";
import { blockedCommand } from "./allow-hint";
import { loadStackConfig } from "./config";

const { spec, tokens } = loadStackConfig();
const stack = pulumi.getStack();
// Bottles on one engine or cluster share its provider and this package's images built there.
const sharedEngineOf = sharedEngines(stack, spec.bottles);

const bottleStacks = spec.bottles.map((bottle) => {
  // Static route tokens and the secrets of credential sources: nothing else reaches the bottle.
  const used = new Set(usedTokens(bottle));
  const { provider, builtImages } = sharedEngineOf(bottle);
  return new BottleStack(
    bottle.name,
    argsFromSpec(bottle, {
      tokens: Object.fromEntries(Object.entries(tokens).filter(([name]) => used.has(name))),
      allowHint: blockedCommand(stack, bottle.name),
      builtImages,
    }),
    { providers: provider ? [provider] : [] },
  );
});

/**
 * Per bottle: object names, both CA certificates (public), the agent's proxy URL, and the
 * rendered routes.yaml and pipelock.yaml so a preview diff shows what an agent may reach.
 */
export const bottles = Object.fromEntries(
  bottleStacks.map((b) => [
    b.spec.name,
    {
      objectNames: b.objectNames,
      egressProxyCaCert: b.egressProxyCaCert,
      pipelockCaCert: b.pipelockCaCert,
      proxyUrl: b.proxyUrl,
      routesYaml: b.routesYaml,
      pipelockYaml: b.pipelockYaml,
    },
  ]),
);
