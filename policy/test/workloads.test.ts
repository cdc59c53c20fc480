import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSystemHostPath, readRunOptions, setsNoNewPrivileges, workloadsHardened, workloadsProcessLimited } from "../policies/workloads";
import { bottleGraph, container, withBulkLane } from "./fixtures";
import { type DeclaredResource, runResourcePolicy, runStackPolicy } from "../offline/run";

type Role = "agent" | "egress-proxy" | "pipelock" | "pipelock-bulk";
const ROLES: Role[] = ["agent", "egress-proxy", "pipelock", "pipelock-bulk"];

/** The options the program declares for its short-lived containers (docker/one-shot.ts), as a command's environment carries them. */
const ONE_SHOT_OPTIONS = {
  "workspace-owner":
    "--network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN --security-opt no-new-privileges:true --memory 32m --memory-swap 32m " +
    "--pids-limit 8 --label bot-bottle.stack=dev --label bot-bottle.bottle=reviewer --label bot-bottle.role=workspace-owner --volume dev-reviewer-workspace:/mnt --entrypoint chown",
  "live-config-writer":
    "--network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --security-opt no-new-privileges:true " +
    "--memory 128m --memory-swap 128m --pids-limit 16 --label bot-bottle.stack=dev --label bot-bottle.bottle=reviewer --label bot-bottle.role=live-config-writer " +
    "--volume dev-reviewer-pipelock-config:/live --entrypoint /opt/venv/bin/python",
  "self-test":
    "--network container:dev-reviewer-agent --user 65534:65534 --read-only --cap-drop ALL --security-opt no-new-privileges:true --memory 64m --memory-swap 64m " +
    "--pids-limit 64 --label bot-bottle.stack=dev --label bot-bottle.bottle=reviewer --label bot-bottle.role=self-test --env BOTTLE_PROXY_URL=http://dev-reviewer-egress-proxy:9099 " +
    "--entrypoint /opt/venv/bin/python",
};

/** A command that starts a short-lived container the way the program's scripts do. */
function oneShot(
  options: string,
  script = 'set -eu\ndocker run --rm $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE" "$BOTTLE_OWNER" /mnt\n',
): DeclaredResource {
  return {
    type: "command:local:Command",
    name: "reviewer-one-shot",
    props: { create: script, environment: { BOTTLE_RUN_OPTIONS: options, BOTTLE_IMAGE: `sha256:${"a".repeat(64)}` } },
  };
}

describe("workloads-hardened: every long-lived container", () => {
  for (const role of ROLES) {
    it(`passes the ${role} as the program declares it`, async () => {
      const { violations } = await runResourcePolicy(workloadsHardened, container(withBulkLane(bottleGraph()), role));
      assert.deepEqual(violations, []);
    });
  }

  const cases: { rule: string; change: (p: Record<string, any>) => void; message: RegExp }[] = [
    { rule: "not root", change: (p) => (p.user = "0:0"), message: /runs as root \(user '0:0'\); set user to the non-root 'uid:gid'/ },
    {
      rule: "a user of its own",
      change: (p) => delete p.user,
      message: /runs as its image's user \(often root\); set user to a numeric non-root/,
    },
    { rule: "a numeric uid", change: (p) => (p.user = "root"), message: /runs as user 'root', which is not a numeric uid/ },
    {
      rule: "no ports",
      change: (p) => (p.ports = [{ internal: 22, external: 2222 }]),
      message: /publishes ports on the host; remove `ports`/,
    },
    { rule: "no publishAllPorts", change: (p) => (p.publishAllPorts = true), message: /sets publishAllPorts/ },
    { rule: "no host network", change: (p) => (p.networkMode = "host"), message: /uses networkMode 'host'/ },
    {
      rule: "no shared network namespace",
      change: (p) => (p.networkMode = "container:dev-reviewer-egress-proxy"),
      message: /networkMode 'container:dev-reviewer-egress-proxy'/,
    },
    { rule: "no host IPC", change: (p) => (p.ipcMode = "host"), message: /uses ipcMode 'host'/ },
    { rule: "no host PID", change: (p) => (p.pidMode = "host"), message: /uses pidMode 'host'/ },
    { rule: "no host user namespace", change: (p) => (p.usernsMode = "host"), message: /usernsMode 'host'/ },
    { rule: "not privileged", change: (p) => (p.privileged = true), message: /is privileged .*remove `privileged`/ },
    {
      rule: "no added capabilities",
      change: (p) => (p.capabilities.adds = ["NET_ADMIN"]),
      message: /adds capabilities \[NET_ADMIN\]; remove them from capabilities.adds/,
    },
    {
      rule: "drops all capabilities",
      change: (p) => (p.capabilities = { drops: ["NET_ADMIN"] }),
      message: /keeps Docker's default capabilities .*set capabilities.drops: \["ALL"\]/,
    },
    { rule: "no devices", change: (p) => (p.devices = [{ hostPath: "/dev/kvm" }]), message: /maps host devices/ },
    {
      rule: "no engine socket as a mount",
      change: (p) => (p.mounts = [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }]),
      message: /mounts host paths \(bind:\/var\/run\/docker.sock\)/,
    },
    {
      rule: "no engine socket as a volume",
      change: (p) => (p.volumes = [...(p.volumes ?? []), { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]),
      message: /has volumes bound from .*\(\/var\/run\/docker.sock\)/,
    },
    {
      rule: "no volumes from another container",
      change: (p) => (p.volumes = [{ fromContainer: "dev-reviewer-pipelock" }]),
      message: /\(from dev-reviewer-pipelock\)/,
    },
    {
      rule: "sets no-new-privileges",
      change: (p) => (p.securityOpts = []),
      message: /does not set no-new-privileges; add "no-new-privileges:true"/,
    },
    {
      rule: "no unconfined seccomp",
      change: (p) => p.securityOpts.push("seccomp=unconfined"),
      message: /turns off kernel confinement \(seccomp=unconfined\)/,
    },
    { rule: "a memory limit", change: (p) => delete p.memory, message: /has no memory limit; set memory/ },
    {
      rule: "no swap past the limit",
      change: (p) => delete p.memorySwap,
      message: /may swap past its memory limit \(memorySwap \(unset: twice memory\)\); set memorySwap equal to memory/,
    },
  ];
  for (const role of ROLES) {
    for (const c of cases) {
      it(`${role}: ${c.rule}`, async () => {
        const workload = container(withBulkLane(bottleGraph()), role);
        c.change(workload.props);
        const { violations } = await runResourcePolicy(workloadsHardened, workload);
        assert.equal(violations.length, 1, violations.join("\n"));
        assert.match(violations[0]!, new RegExp(`^Container '${role}' 'dev-reviewer-${role}' `));
        assert.match(violations[0]!, c.message);
      });
    }
  }

  it("a container with no role gets no exception: a writable root and a project directory are refused", async () => {
    const stranger = container(bottleGraph(), "agent");
    stranger.props.labels = [];
    stranger.props.volumes = [{ hostPath: "/home/me/src/app", containerPath: "/workspace" }];
    const { violations } = await runResourcePolicy(workloadsHardened, stranger);
    assert.deepEqual(violations, [
      "Container 'dev-reviewer-agent' has volumes bound from the host or another container (/home/me/src/app): the engine's socket or host files; use a named volume (volumeName).",
      "Container 'dev-reviewer-agent' has a writable root filesystem; set readOnly: true (its role documents no reason to write there).",
    ]);
  });

  it("only the agent may mount a project directory; no role a system directory", async () => {
    for (const role of ROLES) {
      const workload = container(withBulkLane(bottleGraph()), role);
      workload.props.volumes = [{ hostPath: "/home/me/src/app", containerPath: "/workspace" }];
      const { violations } = await runResourcePolicy(workloadsHardened, workload);
      assert.equal(violations.length, role === "agent" ? 0 : 1, `${role}: ${violations.join("\n")}`);
    }
    for (const path of ["/", "/etc", "/var/run/docker.sock", "/var/lib/docker", "/run/user/1000", "/root/.ssh", "/home/me/docker.sock"]) {
      assert.equal(isSystemHostPath(path), true, path);
    }
    for (const path of ["/home/me/src/app", "/srv/work", "/opt/projects/app"]) {
      assert.equal(isSystemHostPath(path), false, path);
    }
  });

  it("accepts named volumes and tmpfs mounts", async () => {
    const agent = container(bottleGraph(), "agent");
    agent.props.mounts = [
      { type: "volume", source: "workspace", target: "/work" },
      { type: "tmpfs", target: "/tmp" },
    ];
    agent.props.volumes = [{ volumeName: "cache", containerPath: "/cache" }];
    assert.deepEqual((await runResourcePolicy(workloadsHardened, agent)).violations, []);
  });

  it("recognizes every spelling of no-new-privileges", () => {
    for (const opt of ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"]) {
      assert.equal(setsNoNewPrivileges([opt]), true, opt);
    }
    assert.equal(setsNoNewPrivileges(["no-new-privileges:false"]), false);
  });
});

describe("workloads-hardened: the short-lived containers of a bottle's commands", () => {
  for (const [role, options] of Object.entries(ONE_SHOT_OPTIONS)) {
    it(`passes the ${role} as the program declares it`, async () => {
      assert.deepEqual((await runResourcePolicy(workloadsHardened, oneShot(options))).violations, []);
    });
  }

  const cases: { rule: string; role: keyof typeof ONE_SHOT_OPTIONS; change: (o: string) => string; message: RegExp }[] = [
    {
      rule: "privileged",
      role: "live-config-writer",
      change: (o) => `${o} --privileged`,
      message: /\(its 'live-config-writer' container\) is privileged/,
    },
    {
      rule: "a capability beyond its role's",
      role: "workspace-owner",
      change: (o) => `${o} --cap-add SYS_ADMIN`,
      message: /adds capabilities \[SYS_ADMIN\] beyond its role's \[CHOWN\]/,
    },
    {
      rule: "root where its role says nothing of it",
      role: "self-test",
      change: (o) => o.replace("--user 65534:65534", "--user 0:0"),
      message: /\(its 'self-test' container\) runs as root/,
    },
    {
      rule: "the engine's socket",
      role: "live-config-writer",
      change: (o) => `${o} -v /var/run/docker.sock:/var/run/docker.sock`,
      message: /has volumes bound from the host .*\(\/var\/run\/docker.sock\)/,
    },
    {
      rule: "the host's network",
      role: "workspace-owner",
      change: (o) => o.replace("--network none", "--network host"),
      message: /uses networkMode 'host'/,
    },
    {
      rule: "another container's network, where its role says nothing of it",
      role: "workspace-owner",
      change: (o) => o.replace("--network none", "--network container:dev-reviewer-pipelock"),
      message: /networkMode 'container:dev-reviewer-pipelock'/,
    },
    {
      rule: "a writable root",
      role: "live-config-writer",
      change: (o) => o.replace("--read-only ", ""),
      message: /has a writable root filesystem/,
    },
    {
      rule: "no process limit",
      role: "self-test",
      change: (o) => o.replace("--pids-limit 64 ", ""),
      message: /has no process limit; add --pids-limit/,
    },
    {
      rule: "no memory limit",
      role: "self-test",
      change: (o) => o.replace("--memory 64m --memory-swap 64m ", ""),
      message: /has no memory limit/,
    },
    {
      rule: "an unknown role",
      role: "self-test",
      change: (o) => o.replace("bot-bottle.role=self-test", "bot-bottle.role=helper"),
      message: /carries the role 'helper', which is no role of a bottle/,
    },
    {
      rule: "an option the pack cannot judge",
      role: "self-test",
      change: (o) => `${o} --cgroup-parent=/`,
      message: /its docker run option '--cgroup-parent=\/' is not one the policy pack can judge/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.rule}`, async () => {
      const { violations } = await runResourcePolicy(workloadsHardened, oneShot(c.change(ONE_SHOT_OPTIONS[c.role])));
      assert.ok(violations.length >= 1, "a violation");
      assert.match(violations.join("\n"), /^Command 'reviewer-one-shot' /);
      assert.match(violations.join("\n"), c.message);
    });
  }

  it("refuses a script that starts a container any other way, or without declared options", async () => {
    const other = oneShot(ONE_SHOT_OPTIONS["self-test"], 'docker run --rm --privileged "$BOTTLE_IMAGE"\n');
    assert.match(
      (await runResourcePolicy(workloadsHardened, other)).violations.join("\n"),
      /starts a container in its script other than as 'docker run --rm \$BOTTLE_RUN_OPTIONS/,
    );
    const twice = oneShot(
      ONE_SHOT_OPTIONS["self-test"],
      'docker run --rm $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE"\ndocker container create x\n',
    );
    assert.equal((await runResourcePolicy(workloadsHardened, twice)).violations.length, 1);
    const undeclared = oneShot(ONE_SHOT_OPTIONS["self-test"]);
    delete undeclared.props.environment.BOTTLE_RUN_OPTIONS;
    assert.match((await runResourcePolicy(workloadsHardened, undeclared)).violations.join("\n"), /declares no BOTTLE_RUN_OPTIONS/);
  });

  it("passes a command that starts no container", async () => {
    const limits = {
      type: "command:local:Command",
      name: "reviewer-limits",
      props: { create: 'docker update --pids-limit "$X" c', environment: {} },
    };
    assert.deepEqual((await runResourcePolicy(workloadsHardened, limits)).violations, []);
  });

  it("reads options as Docker does: --flag value and --flag=value, sizes with units", () => {
    const read = readRunOptions("--user=1000:1000 --memory=1g --memory-swap 1024m -v vol:/data --read-only --label a=b=c");
    assert.ok(!("error" in read));
    assert.equal(read.props.user, "1000:1000");
    assert.equal(read.props.memory, 1024);
    assert.equal(read.props.memorySwap, 1024);
    assert.deepEqual(read.props.volumes, [{ volumeName: "vol", containerPath: "/data" }]);
    assert.deepEqual(read.props.labels, [{ label: "a", value: "b=c" }]);
    assert.deepEqual(readRunOptions("--memory lots"), { error: "--memory lots is not a size" });
    assert.deepEqual(readRunOptions("--user"), { error: "its docker run option '--user' has no value" });
  });
});

describe("workloads-process-limited", () => {
  /** The bottle's limits command, as the program declares it, over `names`. */
  const limits = (pairs: string): DeclaredResource => ({
    type: "command:local:Command",
    name: "reviewer-limits",
    props: {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's parameter expansions, not a template
      create: 'set -eu\nfor pair in $BOTTLE_PROCESS_LIMITS; do\n  docker update --pids-limit "${pair#*=}" "${pair%%=*}" >/dev/null\ndone',
      environment: { BOTTLE_PROCESS_LIMITS: pairs },
    },
  });
  const ALL = "dev-reviewer-pipelock=256 dev-reviewer-pipelock-bulk=256 dev-reviewer-egress-proxy=256 dev-reviewer-agent=512";

  it("passes a bottle whose every container the limits command names", async () => {
    assert.deepEqual((await runStackPolicy(workloadsProcessLimited, [...withBulkLane(bottleGraph()), limits(ALL)])).violations, []);
  });

  it("refuses a container with no limit, or a limit of zero, and a bottle with no limits command", async () => {
    const missing = await runStackPolicy(workloadsProcessLimited, [
      ...withBulkLane(bottleGraph()),
      limits(ALL.replace("dev-reviewer-egress-proxy=256 ", "").replace("=512", "=0")),
    ]);
    assert.deepEqual(
      missing.violations.map((v) => v.split(" has ")[0]),
      ["Container 'egress-proxy' 'dev-reviewer-egress-proxy'", "Container 'agent' 'dev-reviewer-agent'"],
    );
    assert.match(missing.violations[0]!, /has no process limit: no limits command names it with a limit of at least 1/);
    assert.equal((await runStackPolicy(workloadsProcessLimited, bottleGraph())).violations.length, 3);
  });

  it("counts only a command that applies the limits", async () => {
    const inert = limits(ALL);
    inert.props.create = "echo $BOTTLE_PROCESS_LIMITS";
    assert.equal((await runStackPolicy(workloadsProcessLimited, [...bottleGraph(), inert])).violations.length, 3);
  });
});
