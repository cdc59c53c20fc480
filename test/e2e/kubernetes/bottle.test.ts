/**
 * The Kubernetes tier: stack `kube` (two bottles, `backend: kubernetes`) deployed with a real
 * `pulumi up` (the real Kubernetes provider) on the real single-node cluster of test/k8s, with
 * the real egress proxy and the real pipelock, then checked from inside the agent's pod: the
 * same allowed routes, refusals by either gate, no credential in the agent and no way around
 * the gates as on Docker, plus what a cluster adds (the API server, the node's ports, the other
 * bottle's namespace, DNS). A route change under load, then `pulumi destroy` leaves nothing.
 *
 * The test "internet" is a container on a Docker network of this host, outside the cluster's
 * ranges (the one thing pipelock's policy lets it reach); its names, unique to the run, are in
 * the cluster DNS's test hosts file (test/k8s/cluster).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { failuresOf, underLoad } from "../support/loop";
import { curlIn, header, recordedFor as upstreamRecordedFor, tcpProbeIn, unique } from "../support/inside";
import {
  type ClusterInfo,
  destroyOnCluster,
  type Kubectl,
  type PodShell,
  removeTestInternet,
  startTestInternet,
  testCluster,
} from "../support/kubernetes";
import { REPO_ROOT, run } from "../support/process";
import { e2eRun } from "../support/run-env";
import { tail, TestStack } from "../support/stack";
import { TEST_TOKENS } from "../support/tokens";
import { kubeStack, type KubeStackNames } from "../stacks";

/** The first host address of an IPv4 CIDR: the API server's Service in a service range. */
function firstAddress(cidr: string): string {
  const octets = cidr.split("/")[0]!.split(".").map(Number);
  octets[3]! += 1;
  return octets.join(".");
}

describe("a bottle on Kubernetes, deployed by pulumi up, checked from inside its pods", () => {
  const { id, images, workDir } = e2eRun();
  let cluster: ClusterInfo;
  let kubectl: Kubectl;
  let stack: TestStack;
  let names: KubeStackNames;
  let upIp = "";
  const upstream = `e2e-${id}-kube-upstream`;
  const volume = `e2e-${id}-workspace`;
  const ns = () => `${stack.name}-alpha`;
  const agent = () => kubectl.shell(ns(), "agent");
  const egressProxy = () => kubectl.shell(ns(), "egress-proxy");

  const recordedFor = (urlPath: string) => upstreamRecordedFor(upstream, urlPath);
  const agentCurl = (args: string[]) => curlIn((argv) => agent().exec(argv), args);
  const tcp = (from: PodShell, python: string, host: string, port: number) =>
    tcpProbeIn((argv) => from.exec(argv), "a pod", python, host, port, 4);

  /** Adds (or, with none, removes) this run's lines in the cluster DNS's test hosts file. */
  const setTestHosts = (lines: string[]) => kubectl.setTestHosts(`e2e-${id}`, lines);

  before(async () => {
    ({ cluster, kubectl } = await testCluster([images.egressProxy, images.pipelock, images.probe]));

    // The "internet": a Docker network of its own, outside every range pipelock may not dial.
    upIp = await startTestInternet(`e2e-${id}-kube`, `e2e-${id}-kube`, images.upstream);
    names = {
      upstream: `up-${id}.upstream.test`,
      llm: `llm-${id}.upstream.test`,
      ssrf: `ssrf-${id}.upstream.test`,
      scraper: `e2e-${id}-monitoring`,
    };
    await setTestHosts([`${upIp} ${names.upstream} ${names.llm} ${names.ssrf}`]);

    // The workspace claim binds a volume made for it (the test cluster has no provisioner).
    await kubectl.hostPathVolume(volume, { dir: path.join(workDir, "kube-workspace"), stack: `e2e-${id}-kube`, reclaimPolicy: "Delete" });

    stack = await TestStack.create("kube", kubeStack(cluster, names, volume), TEST_TOKENS);
    const up = await stack.up();
    assert.ok(up.ok, `up ${stack.name} failed:\n${tail(up.output)}`);
    console.log(`# figure: pulumi up on Kubernetes, stack kube (2 bottles, 7 pods, self-test Job): ${up.seconds.toFixed(1)} s`);
  });

  after(async () => {
    if (stack) await destroyOnCluster(stack, kubectl);
    if (kubectl) {
      if (names) await kubectl.run(["delete", "namespace", names.scraper, "--ignore-not-found", "--wait=false"]);
      await kubectl.run(["delete", "persistentvolume", volume, "--ignore-not-found"]);
      await setTestHosts([]);
    }
    await removeTestInternet(`e2e-${id}-kube`);
  });

  it("the self-test Job ran and passed from the agent's place", async () => {
    const job = await kubectl.json(["get", "-n", ns(), "job", "self-test"]);
    assert.equal(job.status.succeeded, 1, JSON.stringify(job.status));
    const log = await kubectl.must(["logs", "-n", ns(), "job/self-test"]);
    assert.match(log, /bot-bottle self-test: ok \(5 direct routes closed, no external DNS, unrouted host refused\)/);
  });

  it("the namespace enforces Pod Security 'restricted', and no pod holds a service-account token", async () => {
    const namespace = await kubectl.json(["get", "namespace", ns()]);
    assert.equal(namespace.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
    const ls = await agent().exec(["ls", "/var/run/secrets/kubernetes.io/serviceaccount"]);
    assert.notEqual(ls.code, 0, "the agent has a service-account token mounted");
  });

  /** The address of the bottle's only pod of a role. */
  const podIp = async (role: string) => {
    const pods = (await kubectl.json(["get", "pods", "-n", ns(), "-l", `bot-bottle.role=${role}`])).items;
    assert.equal(pods.length, 1, `pods of ${role}: ${pods.length}`);
    return pods[0].status.podIP as string;
  };

  describe("allowed routes, through the egress proxy and either pipelock", () => {
    it("HTTPS with a body: 200, the credential injected exactly once, from pipelock's pod (the inspect lane)", async () => {
      const p = unique("/allowed/https-");
      const res = await agentCurl(["-X", "POST", "-d", "{}", `https://${names.upstream}${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.deepEqual(header(recs[0]!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
      assert.equal(recs[0]!.client, await podIp("pipelock"));
    });

    it("a 10 MiB download: whole, the credential injected once, from pipelock-bulk's pod (the bulk lane)", async () => {
      const bytes = 10 * 1024 * 1024;
      const got = await agent().exec(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", `https://${names.upstream}/bytes/${bytes}`],
        { timeoutMs: 120_000 },
      );
      assert.equal(got.stdout.trim(), `200 ${bytes}`, got.stderr);
      const recs = await recordedFor(`/bytes/${bytes}`);
      assert.ok(recs.length >= 1);
      assert.deepEqual(header(recs.at(-1)!, "Authorization"), [`Bearer ${TEST_TOKENS.github}`]);
      assert.equal(recs.at(-1)!.client, await podIp("pipelock-bulk"));
    });

    it("a second credential route: the sk-ant- key in x-api-key, not the other route's", async () => {
      const p = unique("/v1/messages-");
      const res = await agentCurl(["-X", "POST", "-d", "{}", `https://${names.llm}${p}`]);
      assert.equal(res.status, "200", `${res.body}\n${res.run.stderr}`);
      const recs = await recordedFor(p);
      assert.equal(recs.length, 1);
      assert.deepEqual(header(recs[0]!, "x-api-key"), [TEST_TOKENS.anthropic]);
      assert.deepEqual(header(recs[0]!, "Authorization"), []);
    });
  });

  describe("refusals by either gate", () => {
    it("the egress proxy: a host not routed, a path outside the route, a method not allowed; the upstream saw nothing", async () => {
      const p = unique("/allowed/other-");
      const host = await agentCurl([`http://not-routed.test${p}`]);
      assert.equal(host.status, "403");
      assert.match(host.body, /^egress-proxy: host not in allowlist: not-routed\.test/);
      const pathRes = await agentCurl([`https://${names.upstream}${unique("/forbidden/")}`]);
      assert.equal(pathRes.status, "403");
      assert.match(pathRes.body, /^egress-proxy: path not allowed/);
      const method = await agentCurl(["-X", "DELETE", `https://${names.upstream}${p}`]);
      assert.equal(method.status, "403");
      assert.match(method.body, /^egress-proxy: method not allowed/);
      assert.deepEqual(await recordedFor(p), []);
    });

    it("pipelock's DLP: a secret in a request body is refused before the upstream", async () => {
      const p = unique("/allowed/dlp-");
      const res = await agentCurl(["-X", "POST", "--data-binary", '{"key": "AKIAIOSFODNN7EXAMPLE"}', `https://${names.upstream}${p}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), /^pipelock: blocked: /);
      assert.deepEqual(await recordedFor(p), []);
    });

    it("pipelock on the bulk lane (its scan API): a GitHub token in a download's query is refused before the upstream", async () => {
      const p = unique("/allowed/bulk-dlp-");
      const res = await agentCurl([`https://${names.upstream}${p}?access_token=${TEST_TOKENS.github}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), /^pipelock: blocked: /);
      assert.deepEqual(await recordedFor(p), []);
    });

    it("pipelock's SSRF check: a routed host at a private address it does not trust is refused", async () => {
      const p = unique("/ssrf-");
      const res = await agentCurl([`https://${names.ssrf}${p}`]);
      assert.equal(res.status, "403", `${res.body}\n${res.run.stderr}`);
      assert.match(res.body.trim(), /^pipelock: /);
      assert.deepEqual(await recordedFor(p), []);
    });
  });

  describe("no credential in the agent", () => {
    for (const [name, token] of Object.entries(TEST_TOKENS)) {
      it(`no ${name} token in the agent's environment or filesystem; the egress proxy's tokens file has it (control)`, async () => {
        const env = await agent().exec(["sh", "-c", "cat /proc/1/environ; env"]);
        assert.equal(env.code, 0, env.stderr);
        assert.ok(!env.stdout.includes(token), "token in the agent's environment");
        const grep = await agent().exec(["grep", "-rlsF", "--exclude-dir=proc", "--exclude-dir=sys", token, "/"], { timeoutMs: 180_000 });
        assert.equal(grep.stdout.trim(), "", `token in the agent's files: ${grep.stdout}`);
        const control = await egressProxy().exec(["cat", "/etc/egress-proxy/live/current/tokens.json"]);
        assert.ok(control.stdout.includes(token), "the search must find the token where it is");
        const proxyEnv = await egressProxy().exec(["sh", "-c", "cat /proc/1/environ"]);
        assert.ok(!proxyEnv.stdout.includes(token), "token in the egress proxy's environment");
      });
    }
  });

  describe("no way around the gates", () => {
    it("control: the probe connects where the policies allow (agent -> egress proxy, egress proxy -> both pipelocks)", async () => {
      const proxyIp = (await kubectl.json(["get", "-n", ns(), "service", "egress-proxy"])).spec.clusterIP;
      const pipelockIp = (await kubectl.json(["get", "-n", ns(), "service", "pipelock"])).spec.clusterIP;
      const bulkIp = (await kubectl.json(["get", "-n", ns(), "service", "pipelock-bulk"])).spec.clusterIP;
      assert.equal(await tcp(agent(), "python3", proxyIp, 9099), "connected");
      assert.equal(await tcp(egressProxy(), "/opt/venv/bin/python", pipelockIp, 8888), "connected");
      assert.equal(await tcp(egressProxy(), "/opt/venv/bin/python", bulkIp, 8888), "connected");
      assert.equal(await tcp(egressProxy(), "/opt/venv/bin/python", bulkIp, 9090), "connected");
    });

    it("from the agent: the upstream, both pipelocks, the API server, the node's ports, cluster DNS and the other bottle are closed", async () => {
      const pipelock = await kubectl.json(["get", "-n", ns(), "service", "pipelock"]);
      const pipelockPod = (await kubectl.json(["get", "pods", "-n", ns(), "-l", "bot-bottle.role=pipelock"])).items[0];
      const bulk = await kubectl.json(["get", "-n", ns(), "service", "pipelock-bulk"]);
      const bulkPod = await podIp("pipelock-bulk");
      const beta = await kubectl.json(["get", "-n", `${stack.name}-beta`, "service", "egress-proxy"]);
      const api = new URL(cluster.apiServer);
      const targets: [string, string, number][] = [
        ["the upstream", upIp, 443],
        ["pipelock's Service", pipelock.spec.clusterIP, 8888],
        ["pipelock's pod", pipelockPod.status.podIP, 8888],
        ["pipelock-bulk's Service", bulk.spec.clusterIP, 8888],
        ["pipelock-bulk's scan API (Service)", bulk.spec.clusterIP, 9090],
        ["pipelock-bulk's pod", bulkPod, 8888],
        ["pipelock-bulk's scan API (pod)", bulkPod, 9090],
        ["the API server's Service", firstAddress(cluster.serviceCidr), 443],
        ["the API server on the node", api.hostname, Number(api.port || 443)],
        ["the kubelet", cluster.nodeIp, 10250],
        ["cluster DNS (TCP)", cluster.dnsServiceIp, 53],
        ["bottle beta's egress proxy", beta.spec.clusterIP, 9099],
        ["a public address", "1.1.1.1", 443],
      ];
      for (const [what, host, port] of targets) {
        const got = await tcp(agent(), "python3", host, port);
        assert.notEqual(got, "connected", `${what} (${host}:${port}) is reachable from the agent`);
      }
      const dns = await agent().exec(["python3", "-c", `import socket; socket.getaddrinfo("${names.upstream}", 443)`]);
      assert.notEqual(dns.code, 0, "the agent resolved an outside name");
    });

    it("the gates' metrics: a pod of the scraper's namespace reads each gate's /metrics; the agent connects to none", async () => {
      await kubectl.must(["create", "namespace", names.scraper]);
      await kubectl.must([
        "run",
        "scraper",
        "-n",
        names.scraper,
        `--image=${images.probe}`,
        "--image-pull-policy=IfNotPresent",
        "--restart=Never",
        "--command",
        "--",
        "sleep",
        "600",
      ]); // fmt: skip
      await kubectl.must(["wait", "-n", names.scraper, "pod/scraper", "--for=condition=Ready", "--timeout=90s"]);
      const scraper: PodShell = {
        exec: (argv) => kubectl.run(["exec", "-n", names.scraper, "scraper", "--", ...argv], { timeoutMs: 60_000 }),
        start: async () => undefined,
      };
      const endpoints: [string, number, RegExp][] = [
        ["egress-proxy", 9464, /^bot_bottle_egress_requests_total\{/m],
        ["pipelock", 9465, /^pipelock_/m],
        ["pipelock-bulk", 9465, /^pipelock_/m],
      ];
      for (const [role, port, metric] of endpoints) {
        const ip = await podIp(role);
        const got = await scraper.exec([
          "python3",
          "-c",
          `import urllib.request; print(urllib.request.urlopen("http://${ip}:${port}/metrics", timeout=10).read().decode())`,
        ]);
        assert.equal(got.code, 0, `the scraper reads ${role}'s metrics: ${got.stderr}`);
        assert.match(got.stdout, metric, role);
        assert.notEqual(
          await tcp(agent(), "python3", ip, port),
          "connected",
          `${role}'s metrics (${ip}:${port}) are reachable from the agent`,
        );
      }
    });

    it("from the egress proxy: the upstream is closed (only the pipelocks leave)", async () => {
      assert.notEqual(await tcp(egressProxy(), "/opt/venv/bin/python", upIp, 443), "connected");
    });
  });

  describe("npm run bottle, through kubectl", () => {
    const bottleCli = (own: string[], rest: string[] = []) =>
      run(
        [
          process.execPath,
          "--import",
          "tsx",
          "scripts/bottle.ts",
          ...own,
          "--file",
          stack.configFile,
          ...(rest.length ? ["--", ...rest] : []),
        ],
        { cwd: REPO_ROOT, timeoutMs: 120_000 },
      );

    it("shell runs in the agent's pod, as its user, in its workspace", async () => {
      const r = await bottleCli(["shell", stack.name, "alpha"], ["echo $(id -u) $(pwd)"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "1000 /workspace");
    });

    it("status lists the pods and the self-test; blocked names what the egress proxy refused", async () => {
      const status = await bottleCli(["status", stack.name, "alpha"]);
      assert.equal(status.code, 0, `${status.stdout}${status.stderr}`);
      assert.match(status.stdout, new RegExp(`in namespace ${ns()}`));
      assert.match(
        status.stdout,
        /^ {2}egress-proxy +egress-proxy-\S+: Running; egress-proxy ready, 0 restarts; reloader ready, 0 restarts$/m,
      );
      assert.match(status.stdout, /self-test \(the Job of the last up\): passed/);
      const p = unique("/blocked-");
      assert.equal((await agentCurl([`http://not-routed.test${p}`])).status, "403");
      const blocked = await bottleCli(["blocked", stack.name, "alpha", "--json"]);
      assert.equal(blocked.code, 0, blocked.stderr);
      assert.match(blocked.stdout, /not-routed\.test/);
    });
  });

  describe("a route change", () => {
    it("reloads in place: no pod replaced, no request of the agent's loop failed, the new path answers the first request after up", async () => {
      const before = await kubectl.json(["get", "pods", "-n", ns()]);
      const podsBefore = before.items
        .map((p: any) => `${p.metadata.name}:${p.status.containerStatuses.map((c: any) => c.restartCount).join(",")}`)
        .sort();
      const newPath = unique("/also-allowed/");
      let upSeconds = 0;
      const seen = await underLoad(agent(), `https://${names.upstream}/allowed/loop`, async () => {
        stack.writeConfig(kubeStack(cluster, names, volume, { extraPath: true }));
        const up = await stack.up();
        assert.ok(up.ok, `up (route change) failed:\n${tail(up.output)}`);
        upSeconds = up.seconds;
        // Live when up returns (it waited for both gates): no retry.
        const first = await agentCurl([`https://${names.upstream}${newPath}`]);
        assert.equal(first.status, "200", `the first request after up: ${first.status} ${first.body}`);
      });
      const { failed, span } = failuresOf(seen);
      console.log(
        `# figure: route change on Kubernetes: up ${upSeconds.toFixed(1)} s, the new path answering the first request after it; ${failed.length} failed of ${seen.length} requests over ${span.toFixed(1)} s`,
      );
      assert.deepEqual(failed, [], "requests failed during the route change");
      const after = await kubectl.json(["get", "pods", "-n", ns()]);
      const podsAfter = after.items
        .map((p: any) => `${p.metadata.name}:${p.status.containerStatuses.map((c: any) => c.restartCount).join(",")}`)
        .sort();
      assert.deepEqual(podsAfter, podsBefore, "a pod was replaced or restarted");
      const reloads = await kubectl.must(["logs", "-n", ns(), "deploy/egress-proxy", "-c", "egress-proxy"]);
      assert.match(reloads, /"event":"config_reload","status":"success"/);
    });
  });
});
