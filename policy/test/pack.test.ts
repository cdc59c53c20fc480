/**
 * The pack as the Pulumi CLI runs it: `index.ts` started as its own process, spoken to over the
 * analyzer gRPC protocol. This checks what unit tests of the policies cannot: that the pack
 * starts and describes every policy, that an enforcement level and a policy's parameters set in the
 * pack config (`--policy-pack-config`) take effect, and how secret props reach a policy.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  type AnalyzeDiagnostic,
  AnalyzeRequest,
  type AnalyzeResponse,
  AnalyzeStackRequest,
  type AnalyzerInfo,
  AnalyzerResource,
  AnalyzerResourceOptions,
  ConfigureAnalyzerRequest,
  EnforcementLevel,
  PolicyConfig,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { policies } from "../policies";
import { GITHUB_TOKEN, bottleGraph, container, liveConfigOf } from "./fixtures";
import { type DeclaredResource, urnOf } from "../offline/run";

const PACK_DIR = path.resolve(__dirname, "..");
/** How the engine marks a secret value on the wire (the "4dabf18193072939515e22adb298388d" signature). */
const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };

/** Starts `index.ts` like the CLI's policy runtime does and returns the port it prints. */
function startPack(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", "index.ts"], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const port = /^(\d+)\s*$/m.exec(out);
      if (port) {
        resolve({ child, port: Number(port[1]) });
      }
    });
    child.on("exit", (code) => reject(new Error(`policy pack exited with ${code}: ${err}`)));
  });
}

/** Promisifies one unary call of the analyzer client. */
function call<Req, Res>(fn: (req: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (e, r) => (e ? reject(e) : resolve(r))));
}

function options(): AnalyzerResourceOptions {
  return new AnalyzerResourceOptions().setCustomtimeouts(new AnalyzerResourceOptions.CustomTimeouts());
}

function analyzeRequest(resource: DeclaredResource): AnalyzeRequest {
  return new AnalyzeRequest()
    .setType(resource.type)
    .setName(resource.name)
    .setUrn(urnOf(resource))
    .setProperties(Struct.fromJavaScript(resource.props))
    .setOptions(options());
}

function diagnosticsOf(response: AnalyzeResponse, policy: string): AnalyzeDiagnostic[] {
  return response.getDiagnosticsList().filter((d) => d.getPolicyname() === policy);
}

describe("the policy pack over the analyzer protocol", () => {
  let child: ChildProcess;
  let client: AnalyzerClient;

  before(async () => {
    const started = await startPack();
    child = started.child;
    client = new AnalyzerClient(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client?.close();
    child?.kill();
  });

  const longCa: DeclaredResource = {
    type: "tls:index/selfSignedCert:SelfSignedCert",
    name: "reviewer-pipelock-ca-cert",
    props: { isCaCertificate: true, validityPeriodHours: 8760 },
  };

  it("describes every policy, with its default enforcement level and config schema", async () => {
    const info = await call<Empty, AnalyzerInfo>((r, cb) => client.getAnalyzerInfo(r, cb), new Empty());
    assert.equal(info.getName(), "bot-bottle");
    const served = new Map(info.getPoliciesList().map((p) => [p.getName(), p]));
    assert.deepEqual(
      [...served.keys()],
      policies.map((p) => p.name),
    );
    assert.equal(served.get("agent-only-internal-networks")!.getEnforcementlevel(), EnforcementLevel.MANDATORY);
    assert.equal(served.get("images-pinned-by-digest")!.getEnforcementlevel(), EnforcementLevel.ADVISORY);
    const schema = served.get("ca-validity-max")!.getConfigschema()!.getProperties()!.toJavaScript();
    assert.deepEqual(schema.maxValidityHours, { type: "integer", minimum: 1, default: 8760 });
  });

  it("applies an enforcement level and parameters from the pack config", async () => {
    const initially = await call<AnalyzeRequest, AnalyzeResponse>((r, cb) => client.analyze(r, cb), analyzeRequest(longCa));
    assert.deepEqual(diagnosticsOf(initially, "ca-validity-max"), []);

    const config = new ConfigureAnalyzerRequest();
    config
      .getPolicyconfigMap()
      .set(
        "ca-validity-max",
        new PolicyConfig().setEnforcementlevel(EnforcementLevel.ADVISORY).setProperties(Struct.fromJavaScript({ maxValidityHours: 720 })),
      );
    await call<ConfigureAnalyzerRequest, Empty>((r, cb) => client.configure(r, cb), config);
    const configured = diagnosticsOf(
      await call<AnalyzeRequest, AnalyzeResponse>((r, cb) => client.analyze(r, cb), analyzeRequest(longCa)),
      "ca-validity-max",
    );
    assert.equal(configured.length, 1);
    assert.equal(configured[0].getEnforcementlevel(), EnforcementLevel.ADVISORY);
    assert.match(configured[0].getMessage(), /valid for 8760 hours, more than the allowed 720/);

    const disabled = new ConfigureAnalyzerRequest();
    disabled
      .getPolicyconfigMap()
      .set(
        "ca-validity-max",
        new PolicyConfig().setEnforcementlevel(EnforcementLevel.DISABLED).setProperties(Struct.fromJavaScript({ maxValidityHours: 720 })),
      );
    await call<ConfigureAnalyzerRequest, Empty>((r, cb) => client.configure(r, cb), disabled);
    const none = await call<AnalyzeRequest, AnalyzeResponse>((r, cb) => client.analyze(r, cb), analyzeRequest(longCa));
    assert.deepEqual(diagnosticsOf(none, "ca-validity-max"), []);
  });

  it("receives secret-marked props decrypted, so token confinement is checked on them", async () => {
    const graph = bottleGraph();
    const apply = liveConfigOf(graph, "egress-proxy");
    // What the engine sends for an `environment` holding a pulumi.secret(): the whole map wrapped.
    apply.props.environment = { ...SECRET_SIG, value: apply.props.environment };
    container(graph, "agent").props.envs.push(`GH=${GITHUB_TOKEN}`);
    const request = new AnalyzeStackRequest().setResourcesList(
      graph.map((r) =>
        new AnalyzerResource()
          .setType(r.type)
          .setName(r.name)
          .setUrn(urnOf(r))
          .setProperties(Struct.fromJavaScript(r.props))
          .setOptions(options()),
      ),
    );
    const response = await call<AnalyzeStackRequest, AnalyzeResponse>((r, cb) => client.analyzeStack(r, cb), request);
    const found = diagnosticsOf(response, "credentials-are-secret");
    assert.equal(
      found.length,
      1,
      response
        .getDiagnosticsList()
        .map((d) => d.getMessage())
        .join("\n"),
    );
    assert.match(found[0].getMessage(), /The value of EGRESS_PROXY_TOKEN_1 appears in .*'reviewer-agent' at envs\[4\]/);
    assert.equal(found[0].getEnforcementlevel(), EnforcementLevel.MANDATORY);
  });
});
