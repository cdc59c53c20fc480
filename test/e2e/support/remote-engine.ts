/**
 * The remote engine of remote.test.ts: a second Docker engine on this machine that answers only
 * over SSH, as a production `docker.host: ssh://deploy@...` does (images/remote-host: Debian's
 * dockerd on its own socket, data root and bridge; sshd with key-only login for `deploy`, in the
 * docker group, whose key may run `docker system dial-stdio` and nothing else).
 *
 * Per run, in `<work>/remote-host/`: the host key and the deploy key (made here, never printed),
 * known_hosts, an ssh_config, and an `ssh` wrapper that adds `-F <ssh_config>`. The docker CLI's
 * SSH transport and the docker provider both run the `ssh` on PATH, and ssh reads the user's own
 * ~/.ssh (it ignores $HOME), which the tests never touch: `env` puts the wrapper first on PATH.
 * Everything it creates (the container, its data volume) is named `e2e-<run>-remote-host` and
 * labelled as the stack of that name, listed in the run's stacks.txt so that the run's cleanup
 * removes it should the test not.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LABEL_KEYS } from "../../../components/vocabulary";
import { commandPath, mustRun, run, waitFor } from "./process";
import { e2eRun } from "./run-env";

export interface RemoteEngine {
  /** The host container, on the local engine. */
  container: string;
  /** `ssh://deploy@<address>`, the bottles' `docker.host`. */
  host: string;
  /** The environment of a process that uses the remote engine: the ssh wrapper first on PATH, DOCKER_HOST. */
  env: NodeJS.ProcessEnv;
  /** PATH with the ssh wrapper first (the program's and `npm run bottle`'s, which read `docker.host` themselves). */
  path: string;
}

/**
 * What a container needs to run an engine here: every capability this machine grants (CI's
 * and this one's lack CAP_SYS_RESOURCE, so `--privileged`, which asks for all of them, cannot
 * start), devices, no seccomp or AppArmor profile, and a cgroup namespace of its own whose
 * mounts the entrypoint makes writable.
 */
const ENGINE_RUN_OPTIONS = [
  "--cap-add=ALL",
  "--cap-drop=SYS_RESOURCE",
  "--security-opt=seccomp=unconfined",
  "--security-opt=apparmor=unconfined",
  "--security-opt=systempaths=unconfined",
  "--device-cgroup-rule=a *:* rwm",
  "--cgroupns=private",
  "--init",
];

/** The lines of the run's SSH files: known_hosts and the ssh_config the wrapper passes. */
export function sshFiles(address: string, hostPublicKey: string, dir: string): { knownHosts: string; sshConfig: string } {
  const [type, key] = hostPublicKey.trim().split(/\s+/);
  return {
    knownHosts: `${address} ${type} ${key}\n`,
    sshConfig: [
      `Host ${address}`,
      "  User deploy",
      `  IdentityFile ${path.join(dir, "deploy_key")}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
      "  GlobalKnownHostsFile /dev/null",
      "  StrictHostKeyChecking yes",
      "  BatchMode yes",
      "  ConnectTimeout 10",
      "",
    ].join("\n"),
  };
}

/** Starts the remote host and waits until its engine answers over SSH; fails (never skips) if it cannot. */
export async function startRemoteEngine(): Promise<RemoteEngine> {
  const { id, workDir, images } = e2eRun();
  const name = `e2e-${id}-remote-host`;
  const dir = path.join(workDir, "remote-host");
  const ssh = await commandPath("ssh").catch(() => {
    throw new Error("no `ssh` on PATH: the docker CLI's SSH transport needs the OpenSSH client (Debian: apt-get install openssh-client)");
  });
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true, mode: 0o700 });
  for (const key of ["host_key", "deploy_key"]) {
    await mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `${name} ${key}`, "-f", path.join(dir, key)]);
  }
  // The deploy key may open the engine's API and nothing else: no shell, no forwarding.
  const deployKey = fs.readFileSync(path.join(dir, "deploy_key.pub"), "utf8").trim();
  fs.writeFileSync(path.join(dir, "authorized_keys"), `restrict,command="docker system dial-stdio" ${deployKey}\n`, { mode: 0o644 });

  fs.appendFileSync(path.join(workDir, "stacks.txt"), `${name}\n`);
  const labels = ["--label", `${LABEL_KEYS.stack}=${name}`];
  await mustRun(["docker", "volume", "create", ...labels, name]);
  await mustRun(["docker", "create", "--name", name, ...labels, ...ENGINE_RUN_OPTIONS, "-v", `${name}:/var/lib/docker`, images.remoteHost]);
  for (const file of ["host_key", "authorized_keys"]) {
    await mustRun(["docker", "cp", path.join(dir, file), `${name}:/etc/ssh/remote-host/${file}`]);
  }
  await mustRun(["docker", "start", name]);
  const address = (await mustRun(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])).trim();

  const files = sshFiles(address, fs.readFileSync(path.join(dir, "host_key.pub"), "utf8"), dir);
  fs.writeFileSync(path.join(dir, "known_hosts"), files.knownHosts);
  fs.writeFileSync(path.join(dir, "ssh_config"), files.sshConfig);
  fs.writeFileSync(path.join(dir, "bin", "ssh"), `#!/bin/sh\nexec ${ssh} -F ${path.join(dir, "ssh_config")} "$@"\n`, { mode: 0o755 });

  const pathWithWrapper = `${path.join(dir, "bin")}:${process.env.PATH ?? ""}`;
  const engine: RemoteEngine = {
    container: name,
    host: `ssh://deploy@${address}`,
    path: pathWithWrapper,
    env: { ...process.env, PATH: pathWithWrapper, DOCKER_HOST: `ssh://deploy@${address}` },
  };
  await waitForEngine(engine, 60_000).catch(async (err: Error) => {
    const logs = await run(["docker", "logs", "--tail", "30", name]);
    throw new Error(`the remote host ${name} did not answer over SSH: ${err.message}\nits log:\n${logs.stdout}${logs.stderr}`);
  });
  return engine;
}

/** Waits until `docker version` answers over SSH; the seconds it took. */
export async function waitForEngine(engine: RemoteEngine, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor("the remote engine to answer `docker version` over SSH", timeoutMs, async () =>
    (await run(["docker", "version", "--format", "{{.Server.Version}}"], { env: engine.env, timeoutMs: 20_000 })).code === 0
      ? true
      : undefined,
  );
  return (Date.now() - started) / 1000;
}

/** `docker save <images> | docker load` into the remote engine, over SSH; the seconds it took. */
export async function loadImages(engine: RemoteEngine, images: string[]): Promise<number> {
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const save = spawn("docker", ["save", ...images], { stdio: ["ignore", "pipe", "pipe"] });
    const load = spawn("docker", ["load", "-q"], { env: engine.env, stdio: ["pipe", "pipe", "pipe"] });
    let errors = "";
    for (const child of [save, load]) child.stderr!.on("data", (d: Buffer) => (errors += d.toString()));
    save.stdout!.pipe(load.stdin!);
    const exits = [save, load].map((child) => new Promise<number | null>((done) => child.on("close", done)));
    Promise.all(exits).then(([saved, loaded]) =>
      saved === 0 && loaded === 0
        ? resolve()
        : reject(new Error(`docker save | docker load over SSH failed (${saved}, ${loaded}): ${errors}`)),
    );
  });
  return (Date.now() - started) / 1000;
}

/** Stops the remote engine's dockerd; the host starts it again (images/remote-host/entrypoint). */
export async function restartEngine(engine: RemoteEngine): Promise<void> {
  await mustRun(["docker", "exec", engine.container, "remote-host", "restart-engine"], { timeoutMs: 120_000 });
}

/**
 * Removes the host container and its data volume (with everything the remote engine held),
 * after a stop that lets its dockerd stop its own containers first.
 */
export async function stopRemoteEngine(engine: RemoteEngine): Promise<void> {
  await mustRun(["docker", "stop", "-t", "60", engine.container], { timeoutMs: 90_000 });
  await mustRun(["docker", "rm", "-f", "-v", engine.container]);
  await mustRun(["docker", "volume", "rm", "-f", engine.container]);
}
