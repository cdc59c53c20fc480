/**
 * Tier 4, pipelock's own verdict on the config the program renders: for every example stack
 * (Pulumi.<stack>.yaml at the repository root, planned offline), each bottle's pipelock.yaml
 * (and pipelock-bulk.yaml, where a route takes the bulk lane) passes `pipelock check`, and the
 * real pipelock starts on it with a CA made like the program's (ECDSA P-256, SEC1 key)
 * uploaded as the program uploads it (key 0600, owned by the uid pipelock runs as). A key
 * readable by others is refused (the control).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { pack } from "tar-stream";
import { PIPELOCK_PATHS } from "../../components/pipelock/config";
import { GATE_UIDS } from "../../components/config";
import { mustRun, REPO_ROOT, run, waitFor } from "./support/process";
import { e2eRun } from "./support/run-env";

interface Plan {
  files: Record<string, Record<string, string>>;
}

const stacks = fs
  .readdirSync(REPO_ROOT)
  .flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? [])
  .sort();

/** A CA as the program makes it for pipelock: ECDSA P-256 key in SEC1 PEM, a SHA-1 key id. */
function makeCa(dir: string): { cert: string; key: string } {
  const key = path.join(dir, "ca-key.pem");
  const cert = path.join(dir, "ca.pem");
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
  execFileSync("openssl", [
    "req",
    "-x509",
    "-new",
    "-key",
    key,
    "-sha256",
    "-days",
    "1",
    "-subj",
    "/O=bot-bottle/CN=pipelock check CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-addext",
    "subjectKeyIdentifier=hash",
    "-out",
    cert,
  ]); // fmt: skip
  return { cert: fs.readFileSync(cert, "utf8"), key: fs.readFileSync(key, "utf8") };
}

/** A tar of pipelock's three files, owned and moded as the program's uploads are. */
function uploads(config: string, ca: { cert: string; key: string }, keyMode: number): Promise<Buffer> {
  const tar = pack();
  const uid = GATE_UIDS.pipelock;
  tar.entry({ name: PIPELOCK_PATHS.config.slice(1), mode: 0o444 }, config);
  tar.entry({ name: PIPELOCK_PATHS.caCert.slice(1), mode: 0o444 }, ca.cert);
  tar.entry({ name: PIPELOCK_PATHS.caKey.slice(1), mode: keyMode, uid, gid: uid }, ca.key);
  tar.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    tar.on("data", (c: unknown) => void chunks.push(c as Buffer));
    tar.on("end", () => resolve(Buffer.concat(chunks)));
    tar.on("error", reject);
  });
}

describe("every example stack's pipelock.yaml, checked and run by the real pipelock", () => {
  const { id, images } = e2eRun();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pipelock-check-"));
  const containers: string[] = [];
  let ca: { cert: string; key: string };
  const checked = new Set<string>();

  before(() => {
    ca = makeCa(dir);
  });

  after(async () => {
    if (containers.length > 0) await run(["docker", "rm", "-f", ...containers]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Creates pipelock on `config` with the uploads, starts it, and returns its name. */
  async function start(name: string, config: string, keyMode: number, command: string[]): Promise<string> {
    const container = `e2e-${id}-${name}`;
    containers.push(container);
    await mustRun([
      "docker",
      "create",
      "--name",
      container,
      "--network",
      "none",
      "--user",
      `${GATE_UIDS.pipelock}:${GATE_UIDS.pipelock}`,
      images.pipelock,
      ...command,
    ]);
    const tar = await uploads(config, ca, keyMode);
    const copied = await run(["docker", "cp", "-", `${container}:/`], { input: tar });
    assert.equal(copied.code, 0, copied.stderr);
    await mustRun(["docker", "start", container]);
    return container;
  }

  it("there are example stacks to check", () => {
    assert.deepEqual(stacks, ["cluster", "dev", "prod", "staging"]);
  });

  for (const stack of stacks) {
    it(`${stack}: pipelock check passes, and pipelock runs on it with the uploaded CA key`, async () => {
      const plan = JSON.parse(await mustRun([process.execPath, "--import", "tsx", "scripts/plan.ts", "--stack", stack, "--json"])) as Plan;
      for (const [bottle, files] of Object.entries(plan.files)) {
        assert.ok(files["pipelock.yaml"], `${stack}/${bottle} has no pipelock.yaml`);
        // pipelock-bulk.yaml: where a route of the bottle takes the bulk lane.
        for (const document of ["pipelock.yaml", "pipelock-bulk.yaml"].filter((d) => files[d] !== undefined)) {
          checked.add(document);
          const config = files[document]!;
          const name = `${stack}-${bottle}-${document.replace(".yaml", "")}`;
          const checker = await start(`check-${name}`, config, 0o600, ["check", "--config", PIPELOCK_PATHS.config]);
          const exit = (await mustRun(["docker", "wait", checker])).trim();
          const logs = await run(["docker", "logs", checker]);
          assert.equal(exit, "0", `${stack}/${bottle} ${document}: ${logs.stdout}${logs.stderr}`);
          assert.match(`${logs.stdout}${logs.stderr}`, /Config validation: OK/);

          const runner = await start(`run-${name}`, config, 0o600, [
            "run",
            "--config",
            PIPELOCK_PATHS.config,
            "--listen",
            "127.0.0.1:8888",
          ]);
          await waitFor(`${stack}/${bottle} ${document}: pipelock to answer its health check`, 30_000, async () => {
            const health = await run(["docker", "exec", runner, "/pipelock", "healthcheck"]);
            return health.code === 0 ? true : undefined;
          });
        }
      }
    });
  }

  it("both pipelocks' configs were among those checked", () => {
    assert.deepEqual([...checked].sort(), ["pipelock-bulk.yaml", "pipelock.yaml"]);
  });

  it("control: a CA key readable by others is refused when pipelock starts", async () => {
    const plan = JSON.parse(await mustRun([process.execPath, "--import", "tsx", "scripts/plan.ts", "--stack", "dev", "--json"])) as Plan;
    const config = Object.values(plan.files)[0]!["pipelock.yaml"]!;
    const runner = await start("run-loose-key", config, 0o644, ["run", "--config", PIPELOCK_PATHS.config, "--listen", "127.0.0.1:8888"]);
    const exit = (await mustRun(["docker", "wait", runner])).trim();
    const logs = await run(["docker", "logs", runner]);
    assert.notEqual(exit, "0", `pipelock started with a 0644 key:\n${logs.stdout}${logs.stderr}`);
    assert.match(`${logs.stdout}${logs.stderr}`, /CA key \/etc\/pipelock\/ca-key.pem is too permissive \(mode 0644\)/);
  });
});
