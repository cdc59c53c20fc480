/**
 * TEST TOOL: applies resources the real program declares to a local Docker engine with the
 * docker provider's semantics, and removes them again (test/e2e/README.md). Only the types
 * and input fields below are implemented; anything else throws, so a run can never silently
 * differ from what `pulumi up` would do.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pack } from "tar-stream";
import { mapSecretInputs, stringsIn } from "../../../scripts/plan/secret-inputs";
import { call, containerLogs, labelFilter, request } from "./docker-api";
import { privateKey, PrivateKeyInputs, selfSignedCert, SelfSignedCertInputs } from "./tls";


/** A Docker object the harness made, in creation order (the state a destroy works from). */
export type Created =
  | { kind: "container"; id: string; name: string }
  | { kind: "network"; id: string; name: string }
  | { kind: "image"; name: string };

/**
 * TEST-ONLY fault injection: replace the content of one upload of one container, e.g. give an
 * egress proxy an invalid routes file. The program itself can never render one.
 */
export interface UploadFault {
  container: string;
  file: string;
  content: string;
}

export interface RealizerOptions {
  /** Where the list of created objects is kept; rewritten after every creation. */
  statePath: string;
  /** Build contexts are relative to this directory, as under Pulumi. */
  repoRoot: string;
  faults?: UploadFault[];
  log?: (line: string) => void;
}

type Inputs = Record<string, unknown>;

export class Realizer {
  readonly created: Created[] = [];
  /** Every secret value seen in inputs (and the test tokens): redacted from anything printed. */
  readonly secrets = new Set<string>();
  private readonly faults: UploadFault[];

  constructor(private readonly opts: RealizerOptions) {
    this.faults = [...(opts.faults ?? [])];
    this.save();
  }

  /** Realizes one registered resource; returns the provider's outputs. */
  async realize(type: string, name: string, raw: Inputs): Promise<{ id: string; outputs: Inputs }> {
    const inputs = this.unwrap(raw);
    switch (type) {
      case "pulumi:pulumi:Stack":
      case "bot-bottle:index:BottleStack":
        return { id: `${name}-component`, outputs: {} };
      case "tls:index/privateKey:PrivateKey": {
        only(inputs, type, ["algorithm", "rsaBits", "ecdsaCurve"]);
        const key = privateKey(inputs as unknown as PrivateKeyInputs);
        this.secrets.add(key.privateKeyPem);
        return { id: name, outputs: key };
      }
      case "tls:index/selfSignedCert:SelfSignedCert":
        only(inputs, type, ["privateKeyPem", "subject", "isCaCertificate", "setSubjectKeyId", "allowedUses", "validityPeriodHours"]);
        only(inputs.subject as Inputs, `${type}.subject`, ["commonName", "organization"]);
        return { id: name, outputs: selfSignedCert(inputs as unknown as SelfSignedCertInputs) };
      case "docker:index/network:Network":
        return this.network(inputs);
      case "docker:index/image:Image":
        return this.image(inputs);
      case "docker:index/remoteImage:RemoteImage":
        return this.remoteImage(inputs);
      case "docker:index/container:Container":
        return this.container(inputs);
      case "command:local:Command":
        return this.command(name, inputs);
      default:
        throw new Error(`the e2e harness does not implement resource type ${type} (resource "${name}")`);
    }
  }

  /** Faults that matched no upload (a test that injects one must fail if it did not apply). */
  get unusedFaults(): readonly UploadFault[] {
    return this.faults;
  }

  /** Replaces every secret value in `text` with [secret]. */
  redact(text: string): string {
    let out = text;
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("[secret]");
    return out;
  }

  private async network(inputs: Inputs) {
    only(inputs, "Network", ["name", "driver", "internal", "attachable", "options", "labels"]);
    const res = await request<{ Id: string }>("POST", "/networks/create", {
      Name: inputs.name,
      Driver: inputs.driver ?? "bridge",
      Internal: inputs.internal ?? false,
      Attachable: inputs.attachable ?? false,
      Options: inputs.options ?? {},
      Labels: labels(inputs.labels),
      CheckDuplicate: true,
    });
    this.record({ kind: "network", id: res.Id, name: String(inputs.name) });
    return { id: res.Id, outputs: { ...inputs, id: res.Id } };
  }

  private async image(inputs: Inputs) {
    only(inputs, "Image", ["imageName", "build", "skipPush", "buildOnPreview"]);
    const build = inputs.build as Inputs;
    only(build, "Image.build", ["context", "target"]);
    if (inputs.skipPush !== true) throw new Error("Image: only skipPush: true is implemented (no registry here)");
    const imageName = String(inputs.imageName);
    const args = ["build", ...(build.target ? ["--target", String(build.target)] : []), "-t", imageName, String(build.context)];
    this.opts.log?.(`docker ${args.join(" ")}`);
    const run = spawnSync("docker", args, { cwd: this.opts.repoRoot, encoding: "utf8", maxBuffer: 64 << 20, timeout: 900_000 });
    if (run.status !== 0) {
      throw new Error(`docker ${args.join(" ")} failed (exit ${run.status}):\n${tail(`${run.stdout}${run.stderr}`, 30)}`);
    }
    this.record({ kind: "image", name: imageName });
    const { Id } = await request<{ Id: string }>("GET", `/images/${encodeURIComponent(imageName)}/json`);
    return { id: Id, outputs: { ...inputs, repoDigest: Id } };
  }

  /**
   * The command provider's create: `/bin/sh -c <create>` with `environment` added to this
   * process's, failing the up on a non-zero exit. (No update/delete: the program sets none.)
   */
  private async command(name: string, inputs: Inputs) {
    only(inputs, "Command", ["create", "environment", "triggers"]);
    const run = spawnSync("/bin/sh", ["-c", String(inputs.create)], {
      cwd: this.opts.repoRoot,
      env: { ...process.env, ...(inputs.environment as Record<string, string> | undefined) },
      encoding: "utf8",
      maxBuffer: 16 << 20,
      timeout: 300_000,
    });
    const output = this.redact(`${run.stdout ?? ""}${run.stderr ?? ""}`);
    if (run.status !== 0) throw new Error(`command ${name} failed (exit ${run.status}):\n${tail(output, 30)}`);
    this.opts.log?.(`command ${name}: ${output.trim()}`);
    return { id: name, outputs: { ...inputs, stdout: run.stdout, stderr: run.stderr } };
  }

  private async remoteImage(inputs: Inputs) {
    only(inputs, "RemoteImage", ["name", "keepLocally"]);
    // keepLocally: false would remove the image on destroy; the program never asks for it.
    if (inputs.keepLocally !== true) throw new Error("RemoteImage: only keepLocally: true is implemented");
    const name = String(inputs.name);
    const res = await call("GET", `/images/${encodeURIComponent(name)}/json`);
    if (res.status === 404) {
      throw new Error(`RemoteImage: image ${name} is not on the engine and no registry is reachable here; build it first (test/e2e/build-images)`);
    }
    const { Id } = JSON.parse(res.body.toString()) as { Id: string };
    return { id: Id, outputs: { ...inputs, imageId: Id, repoDigest: name } };
  }

  private async container(inputs: Inputs) {
    only(inputs, "Container", [
      "name", "image", "user", "command", "envs", "labels", "capabilities", "securityOpts", "memory", "memorySwap",
      "ulimits", "restart", "init", "healthcheck", "wait", "waitTimeout", "networksAdvanced", "uploads",
    ]); // fmt: skip
    const name = String(inputs.name);
    const caps = (inputs.capabilities ?? {}) as Inputs;
    only(caps, "Container.capabilities", ["adds", "drops"]);
    const ulimits = (inputs.ulimits ?? []) as Inputs[];
    ulimits.forEach((u) => only(u, "Container.ulimits[]", ["name", "soft", "hard"]));
    const health = inputs.healthcheck as Inputs | undefined;
    if (health) only(health, "Container.healthcheck", ["tests", "interval", "timeout", "startPeriod", "retries"]);
    const networks = (inputs.networksAdvanced ?? []) as Inputs[];
    networks.forEach((n) => only(n, "Container.networksAdvanced[]", ["name", "aliases"]));
    const uploads = (inputs.uploads ?? []) as Inputs[];
    uploads.forEach((u) => only(u, "Container.uploads[]", ["file", "content", "permissions", "owner", "group", "executable"]));
    if (inputs.wait === true && !health) throw new Error(`Container ${name}: wait: true needs a healthcheck`);
    const mb = (v: unknown) => (v === undefined ? undefined : Number(v) * 1024 * 1024);

    const { Id: id } = await request<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(name)}`, {
      Image: inputs.image,
      User: inputs.user,
      Cmd: inputs.command,
      Env: inputs.envs,
      Labels: labels(inputs.labels),
      Healthcheck: health && {
        Test: health.tests,
        Interval: nanos(health.interval),
        Timeout: nanos(health.timeout),
        StartPeriod: nanos(health.startPeriod),
        Retries: health.retries,
      },
      HostConfig: {
        CapAdd: caps.adds,
        CapDrop: caps.drops,
        SecurityOpt: inputs.securityOpts,
        Memory: mb(inputs.memory),
        MemorySwap: mb(inputs.memorySwap),
        Ulimits: ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
        RestartPolicy: { Name: inputs.restart ?? "no" },
        Init: inputs.init,
      },
    });
    this.record({ kind: "container", id, name });

    // The provider's order: detach the default bridge, join each network, copy uploads, start.
    if (networks.length > 0) {
      await request("POST", "/networks/bridge/disconnect", { Container: id, Force: true });
      for (const n of networks) {
        await request("POST", `/networks/${encodeURIComponent(String(n.name))}/connect`, {
          Container: id,
          EndpointConfig: { Aliases: n.aliases ?? [] },
        });
      }
    }
    if (uploads.length > 0) {
      await request("PUT", `/containers/${id}/archive?path=/`, await this.tarOf(name, uploads));
    }
    await request("POST", `/containers/${id}/start`, undefined, [304]);
    if (inputs.wait === true) await this.waitHealthy(id, name, Number(inputs.waitTimeout ?? 60));
    return { id, outputs: { ...inputs, id, name } };
  }

  /** Uploads as one tar extracted at `/`, with the provider's modes (0644, 0744 if executable). */
  private async tarOf(container: string, uploads: Inputs[]): Promise<Buffer> {
    const tar = pack();
    for (const u of uploads) {
      const file = String(u.file);
      const fault = this.faults.find((f) => f.container === container && f.file === file);
      if (fault) this.faults.splice(this.faults.indexOf(fault), 1);
      if (typeof u.content !== "string") throw new Error(`Container ${container}: upload ${file}: only "content" is implemented`);
      const id = (v: unknown, what: string) => {
        if (v === undefined) return 0;
        if (!/^\d+$/.test(String(v))) throw new Error(`Container ${container}: upload ${file}: ${what} must be numeric (names resolve on the Pulumi host)`);
        return Number(v);
      };
      tar.entry(
        {
          name: file.replace(/^\/+/, ""),
          mode: u.permissions !== undefined ? parseInt(String(u.permissions), 8) : u.executable ? 0o744 : 0o644,
          uid: id(u.owner, "owner"),
          gid: id(u.group, "group"),
        },
        fault ? fault.content : u.content,
      );
    }
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private async waitHealthy(id: string, name: string, timeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    type State = { Status: string; RestartCount?: number; Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] } };
    let state: State | undefined;
    while (Date.now() < deadline) {
      ({ State: state } = await request<{ State: State }>("GET", `/containers/${id}/json`));
      if (state.Health?.Status === "healthy") return;
      await new Promise((r) => setTimeout(r, 500));
    }
    const last = state?.Health?.Log?.at(-1);
    throw new Error(
      this.redact(
        `container ${name} did not become healthy within ${timeoutSeconds}s ` +
          `(status ${state?.Status}, health ${state?.Health?.Status ?? "none"}, restarts ${state?.RestartCount ?? 0})\n` +
          `last healthcheck (exit ${last?.ExitCode ?? "-"}): ${last?.Output.trim() ?? "(none yet)"}\n` +
          `logs (tail):\n${(await containerLogs(id, 20)).trimEnd()}`,
      ),
    );
  }

  private record(created: Created): void {
    this.created.push(created);
    this.save();
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.opts.statePath), { recursive: true });
    fs.writeFileSync(this.opts.statePath, JSON.stringify({ created: this.created }, null, 2));
  }

  /** Unwraps the mocks' secret markers, remembering every secret string. */
  /** Unwraps the mocks' secret markers, remembering every secret string for redaction. */
  private unwrap(raw: Inputs): Inputs {
    return mapSecretInputs(raw, (inner) => {
      for (const text of stringsIn(inner)) if (text.length > 0) this.secrets.add(text);
      return inner;
    }) as Inputs;
  }
}

/**
 * Removes what `created` lists, newest first: containers (forced, with anonymous volumes),
 * networks, images the harness built. Objects already gone are skipped, so it is idempotent
 * and works after a half-failed up.
 */
export async function destroy(created: readonly Created[]): Promise<void> {
  for (const c of [...created].reverse()) {
    const target =
      c.kind === "container"
        ? `/containers/${c.id}?force=1&v=1`
        : c.kind === "network"
          ? `/networks/${c.id}`
          : `/images/${encodeURIComponent(c.name)}`;
    await request("DELETE", target, undefined, [404]);
  }
}

/**
 * Fallback cleanup: removes every container, network and volume labelled
 * `bot-bottle.stack=<stack>`, whatever made it.
 */
export async function cleanupByLabel(stack: string): Promise<void> {
  const filter = labelFilter([`bot-bottle.stack=${stack}`]);
  for (const c of await request<{ Id: string }[]>("GET", `/containers/json?all=1&filters=${filter}`)) {
    await request("DELETE", `/containers/${c.Id}?force=1&v=1`, undefined, [404]);
  }
  for (const n of await request<{ Id: string }[]>("GET", `/networks?filters=${filter}`)) {
    await request("DELETE", `/networks/${n.Id}`, undefined, [404]);
  }
  const { Volumes } = await request<{ Volumes: { Name: string }[] | null }>("GET", `/volumes?filters=${filter}`);
  for (const v of Volumes ?? []) await request("DELETE", `/volumes/${encodeURIComponent(v.Name)}`, undefined, [404]);
}

/** Throws when `inputs` has a field the harness does not implement. */
function only(inputs: Inputs, where: string, implemented: readonly string[]): void {
  const extra = Object.keys(inputs).filter((k) => inputs[k] !== undefined && !implemented.includes(k));
  if (extra.length > 0) throw new Error(`the e2e harness does not implement ${where} field(s): ${extra.join(", ")}`);
}

/** The provider's `{label, value}[]` as the engine's label map. */
function labels(value: unknown): Record<string, string> {
  const list = (value ?? []) as Inputs[];
  list.forEach((l) => only(l, "labels[]", ["label", "value"]));
  return Object.fromEntries(list.map((l) => [String(l.label), String(l.value)]));
}

/** "5s", "500ms", "1m", "1h" as the engine's nanoseconds. */
function nanos(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h)$/.exec(String(value));
  if (!m) throw new Error(`unsupported duration "${String(value)}" (expected e.g. 5s, 500ms, 1m)`);
  const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
