/**
 * The scrape configs' relabelling on a real Prometheus scraping a real /metrics listener: which
 * discovered targets it keeps (a gate, on the egress-side network, with the scrape annotation),
 * the address it scrapes, the stack, bottle and gate labels it gives, and the egress proxy's own
 * `gate` (the deciding gate) kept over the target's. The targets carry the meta labels Docker's
 * and Kubernetes' discovery give, through file discovery (Debian's Prometheus has no Kubernetes one).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startPrometheus } from "./support/prometheus";
import { scrapeConfigWithFileDiscovery } from "./support/scrape";

const EXPOSITION = `# TYPE bot_bottle_egress_requests_total counter
bot_bottle_egress_requests_total{decision="deny",gate="pipelock",reason="dlp",host="api.github.com",method="POST"} 3
# TYPE bot_bottle_egress_reloads_total counter
bot_bottle_egress_reloads_total{result="ok"} 1
`;

type Meta = Record<string, string>;
const docker = (port: number, role: string, network: string, ip: string): Meta => ({
  __meta_docker_container_name: `/coder-${role}-1a2b3c`,
  __meta_docker_container_label_bot_bottle_stack: "dev",
  __meta_docker_container_label_bot_bottle_bottle: "coder",
  __meta_docker_container_label_bot_bottle_role: role,
  __meta_docker_container_label_bot_bottle_metrics_port: String(port),
  __meta_docker_network_label_bot_bottle_role: network,
  __meta_docker_network_ip: ip,
});
const pod = (port: number, role: string, scrape: boolean): Meta => ({
  __meta_kubernetes_namespace: "dev-coder",
  __meta_kubernetes_pod_name: `${role}-5d9f7-x2x4z`,
  __meta_kubernetes_pod_ip: "127.0.0.1",
  __meta_kubernetes_pod_label_bot_bottle_stack: "dev",
  __meta_kubernetes_pod_label_bot_bottle_bottle: "coder",
  __meta_kubernetes_pod_label_bot_bottle_role: role,
  ...(scrape && {
    __meta_kubernetes_pod_annotation_prometheus_io_scrape: "true",
    __meta_kubernetes_pod_annotation_prometheus_io_port: String(port),
    __meta_kubernetes_pod_annotation_prometheus_io_path: "/gate/metrics",
  }),
});

const CASES = [
  {
    name: "docker" as const,
    path: "/metrics",
    // The egress proxy on its egress-side network (kept), the same container on agent-net, the agent.
    targets: (port: number) => [
      docker(port, "egress-proxy", "egress-net", "127.0.0.1"),
      docker(port, "egress-proxy", "agent-net", "127.0.0.2"),
      docker(port, "agent", "agent-net", "127.0.0.3"),
    ],
    expected: (port: number) => ({ container: "coder-egress-proxy-1a2b3c", gate: "egress-proxy", instance: `127.0.0.1:${port}` }),
  },
  {
    name: "kubernetes" as const,
    path: "/gate/metrics",
    // pipelock with the scrape annotations (kept), the egress proxy without them, the agent with them.
    targets: (port: number) => [pod(port, "pipelock", true), pod(port, "egress-proxy", false), pod(port, "agent", true)],
    expected: (port: number) => ({ namespace: "dev-coder", pod: "pipelock-5d9f7-x2x4z", gate: "pipelock", instance: `127.0.0.1:${port}` }),
  },
];

interface ApiTarget {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

for (const scrapeCase of CASES) {
  describe(`scrape-${scrapeCase.name}.yml on a real Prometheus`, () => {
    let dir: string;
    let server: http.Server;
    let port: number;
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    const api = async <T>(route: string): Promise<T> =>
      ((await (await fetch(`${prometheus!.url}/api/v1/${route}`)).json()) as { data: T }).data;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `scrape-${scrapeCase.name}-`));
      server = http.createServer((request, response) => {
        response.writeHead(request.url === scrapeCase.path ? 200 : 404, { "content-type": "text/plain; version=0.0.4" });
        response.end(request.url === scrapeCase.path ? EXPOSITION : "");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as AddressInfo).port;
      const targetsFile = path.join(dir, "targets.json");
      fs.writeFileSync(targetsFile, JSON.stringify(scrapeCase.targets(port).map((labels) => ({ targets: ["discovered:1"], labels }))));
      // Scraped every second, so the test need not wait for 15 s.
      const config = scrapeConfigWithFileDiscovery(scrapeCase.name, targetsFile).replace(/scrape_interval: 15s/, "scrape_interval: 1s");
      prometheus = await startPrometheus(dir, config);
    });
    after(async () => {
      await prometheus?.stop();
      server?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("keeps exactly the gate's target, at its address, labelled with its stack, bottle and gate", async () => {
      let targets: ApiTarget[] = [];
      for (let tries = 0; tries < 100; tries++) {
        targets = (await api<{ activeTargets: ApiTarget[] }>("targets?state=active")).activeTargets;
        if (targets.some((target) => target.health === "up")) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(
        targets.map((target) => target.labels),
        [{ job: "bot-bottle", stack: "dev", bottle: "coder", ...scrapeCase.expected(port) }],
      );
      assert.equal(targets[0]!.health, "up", targets[0]!.lastError);
    });

    it("a series's own gate (the deciding gate) is kept; series without one get the target's", async () => {
      const query = async (expr: string) =>
        (await api<{ result: { metric: Record<string, string> }[] }>(`query?query=${encodeURIComponent(expr)}`)).result.map(
          (r) => r.metric,
        );
      const requests = await query("bot_bottle_egress_requests_total");
      assert.equal(requests.length, 1, JSON.stringify(requests));
      assert.equal(requests[0]!.gate, "pipelock");
      assert.equal(requests[0]!.exported_gate, undefined);
      const reloads = await query("bot_bottle_egress_reloads_total");
      assert.equal(reloads[0]?.gate, scrapeCase.expected(port).gate);
    });
  });
}
