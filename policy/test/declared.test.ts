import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { gatesLoadTheDeclaredDocuments } from "../policies/declared";
import {
  bottleGraph,
  container,
  kubernetesBottleGraph,
  liveConfigOf,
  object,
  pipelockConfig,
  podSpec,
  routesYaml,
  setConfigMapDocument,
  setDocument,
  withBulkLane,
} from "./fixtures";
import { type DeclaredResource, runStackPolicy } from "../offline/run";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel
const CONFIG = "/etc/pipelock/live/current/pipelock.yaml";
const violationsOf = async (graph: DeclaredResource[]) => (await runStackPolicy(gatesLoadTheDeclaredDocuments, graph)).violations;

/** A second document, `file`, in pipelock's volume (as a second apply command would write it). */
function withSecondDocument(graph: DeclaredResource[], file: string, config: Record<string, unknown>): DeclaredResource[] {
  const writer = structuredClone(liveConfigOf(graph, "pipelock"));
  writer.name = `reviewer-pipelock-${file}-apply`;
  writer.props.environment.BOTTLE_DOCUMENT = file;
  writer.props.stdin = stringify(config);
  return [...graph, writer];
}

describe("gates-load-the-declared-documents", () => {
  it("passes every gate of a Docker and a Kubernetes bottle loading what its BottleStack declares", async () => {
    assert.deepEqual(await violationsOf(withBulkLane(bottleGraph())), []);
    assert.deepEqual(await violationsOf(kubernetesBottleGraph()), []);
  });

  it("refuses a route the bottle does not declare, naming it", async () => {
    const graph = bottleGraph();
    setDocument(graph, "egress-proxy", routesYaml(["api.anthropic.com", "api.github.com", "attacker.example.com"]));
    assert.deepEqual(await violationsOf(graph), [
      "egress-proxy 'dev-reviewer-egress-proxy' loads /etc/egress-proxy/live/current/routes.yaml, which differs from what its BottleStack " +
        "'reviewer' declares (routesYaml) in routes (+attacker.example.com): the gate would enforce what no reviewer saw. Give it the declared document unchanged.",
    ]);
  });

  it("refuses audit mode the bottle does not declare", async () => {
    const graph = bottleGraph();
    setDocument(graph, "egress-proxy", `audit: true\n${routesYaml(["api.anthropic.com", "api.github.com"])}`);
    assert.match((await violationsOf(graph)).join("\n"), /declares \(routesYaml\) in audit:/);
  });

  it("refuses a pipelock document that differs from the declared one, on Kubernetes too", async () => {
    const docker = bottleGraph();
    setDocument(docker, "pipelock", stringify({ ...pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com"]), enforce: false }));
    assert.match(
      (await violationsOf(docker)).join("\n"),
      /^pipelock 'dev-reviewer-pipelock' loads \/etc\/pipelock\/live\/current\/pipelock.yaml, which differs .* in enforce:/,
    );
    const k8s = kubernetesBottleGraph();
    const config: Record<string, any> = pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com"]);
    config.tls_interception.passthrough_domains = ["exfil.example.com"];
    setConfigMapDocument(k8s, "pipelock", stringify(config));
    assert.match((await violationsOf(k8s)).join("\n"), /^pipelock 'dev-reviewer\/pipelock' loads .* differs .* in tls_interception:/);
  });

  it("refuses a gate declared outside a BottleStack, and a BottleStack that declares no document", async () => {
    const orphan = bottleGraph().map((r) => (r.name === "reviewer-pipelock" ? { ...r, parent: undefined } : r));
    assert.match((await violationsOf(orphan)).join("\n"), /^pipelock 'dev-reviewer-pipelock' is declared outside a BottleStack/);
    const silent = bottleGraph();
    delete silent.find((r) => r.type === "bot-bottle:index:BottleStack")!.props.pipelockYaml;
    assert.match((await violationsOf(silent)).join("\n"), /but its BottleStack 'reviewer' declares no pipelockYaml/);
  });

  it("defers a declared document that is unknown during preview", async () => {
    const graph = bottleGraph();
    graph.find((r) => r.type === "bot-bottle:index:BottleStack")!.props.routesYaml = UNKNOWN_STRING;
    setDocument(graph, "egress-proxy", routesYaml(["elsewhere.example.com"]));
    assert.deepEqual(await violationsOf(graph), []);
  });

  it("refuses pipelock started without --config (built-in defaults)", async () => {
    const graph = bottleGraph();
    container(graph, "pipelock").props.command = ["run", "--listen", "0.0.0.0:8888"];
    assert.match(
      (await violationsOf(graph)).join("\n"),
      /^pipelock 'dev-reviewer-pipelock' is not started with --config FILE, so it runs on built-in defaults/,
    );
  });

  it("follows the file --config names (the last one when repeated), not any pipelock.yaml", async () => {
    for (const command of [
      ["run", "--config=/etc/pipelock/live/current/audit.yaml"],
      ["run", "--config", CONFIG, "--config", "/etc/pipelock/live/current/audit.yaml"],
    ]) {
      const graph = withSecondDocument(bottleGraph(), "audit.yaml", { version: 1, mode: "audit" });
      container(graph, "pipelock").props.command = command;
      assert.match(
        (await violationsOf(graph)).join("\n"),
        /loads \/etc\/pipelock\/live\/current\/audit.yaml, which differs/,
        command.join(" "),
      );
    }
  });

  it("refuses a document two commands write (which one lands is a race)", async () => {
    const graph = withSecondDocument(bottleGraph(), "pipelock.yaml", { version: 1, mode: "audit" });
    assert.match(
      (await violationsOf(graph)).join("\n"),
      /reads \/etc\/pipelock\/live\/current\/pipelock.yaml, but 2 commands write pipelock.yaml into volume dev-reviewer-pipelock-config \(expected exactly one\)/,
    );
  });

  it("refuses a config path outside a live configuration volume, and a writable one", async () => {
    const outside = bottleGraph();
    container(outside, "pipelock").props.command[2] = "/etc/pipelock/pipelock.yaml";
    assert.match(
      (await violationsOf(outside)).join("\n"),
      /reads \/etc\/pipelock\/pipelock.yaml, which is not <dir>\/current\/<file> of a live configuration volume it mounts/,
    );
    const writable = bottleGraph();
    container(writable, "egress-proxy").props.volumes[0].readOnly = false;
    assert.match(
      (await violationsOf(writable)).join("\n"),
      /^egress-proxy .* mounts its configuration volume dev-reviewer-egress-proxy-config writable at \/etc\/egress-proxy\/live; mount it read-only/,
    );
  });

  it("on Kubernetes, reads --config from the container's args, or its command", async () => {
    const noConfig = kubernetesBottleGraph();
    podSpec(object(noConfig, "Deployment", "pipelock")).containers[0].args = ["run", "--listen", "0.0.0.0:8888"];
    assert.match((await violationsOf(noConfig)).join("\n"), /^pipelock 'dev-reviewer\/pipelock' is not started with --config FILE/);
    const inCommand = kubernetesBottleGraph();
    const main = podSpec(object(inCommand, "Deployment", "pipelock")).containers[0];
    main.command = ["/pipelock", ...main.args];
    delete main.args;
    assert.deepEqual(await violationsOf(inCommand), []);
  });
});
