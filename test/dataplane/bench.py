"""Benchmark of the egress-proxy addon (not a test: it asserts nothing).

mitmdump's CPU time per request (user + system, from /proc, over the measured requests
only), requests/s and p50/p99 latency through mitmdump with the addon (10 and 10,000
routes) against the same mitmdump without it, side by side as ratios, on loopback, for
plain HTTP (absolute-form) and HTTPS inside a kept-alive CONNECT tunnel, with 16 and 64
clients on kept-alive connections. CPU time is the stable figure on a shared machine:
requests/s swing with whatever else runs. Also times the route lookup alone, and a 100 MiB
download straight from the upstream, through mitmdump alone and through mitmdump + addon.

    .venv-dataplane/bin/python test/dataplane/bench.py [--requests 1600] [--rounds 2] [--json FILE]

(test/dataplane/run-host.sh creates that venv.) Prints markdown tables; --json writes the rows.
"""

import argparse
import functools
import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import conftest  # noqa: E402  (fixtures' building blocks: upstreams, PKI, Proxy)
from routes_yaml import parse_routes  # noqa: E402

TOKEN = {"EGRESS_PROXY_TOKEN_0": "bench-token"}


def routes_document(count: int, plain_port: int, tls_port: int) -> dict[str, Any]:
    """`count` routes; the one used is last in the file, the rest are fillers of both kinds."""
    fillers = []
    for i in range(count - 1):
        host = f"h{i}.example.net" if i % 2 else f"*.w{i}.example.org"
        fillers.append({"host": host, "ports": [443], "methods": ["GET"], "path_allowlist": ["/a", "/b/"]})
    used = {
        "host": "localhost",
        "ports": [plain_port, tls_port],
        "methods": ["GET"],
        "path_allowlist": ["/user"],
        "auth": {"header": "Authorization", "prefix": "Bearer ", "token_env": "EGRESS_PROXY_TOKEN_0"},
        # The plain-HTTP rows inject the credential in cleartext, which a route must opt into.
        "insecure_cleartext_ports": [plain_port],
    }
    return {"version": 1, "routes": [*fillers, used]}


def start_proxy(workdir: Path, routes: dict[str, Any] | None, ca: Path) -> conftest.Proxy:
    workdir.mkdir(parents=True)
    port = conftest.free_port()
    confdir = workdir / "confdir"
    argv = [conftest.MITMDUMP, "--listen-host", conftest.LOOPBACK, "--listen-port", str(port),
            "--set", f"confdir={confdir}", "--set", f"ssl_verify_upstream_trusted_ca={ca}",
            "--set", "flow_detail=0", "--set", "termlog_verbosity=warn"]  # fmt: skip
    if routes is None:
        # Big answers stream, as the addon has them stream (only the download row has any).
        argv += ["--set", "stream_large_bodies=1m"]
    else:
        path = workdir / "routes.yaml"
        path.write_text(json.dumps(routes))
        argv += ["-s", str(conftest.ADDON), "--set", f"egress_routes={path}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_PROXY_")}
    proxy = conftest.Proxy(argv, {**env, **TOKEN}, workdir, port, confdir)
    conftest.wait_port(port)
    deadline = time.monotonic() + 60
    while not proxy.ca_cert.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy


def client_loop(proxy: conftest.Proxy, scheme: str, port: int, count: int, out: list[float]) -> None:
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(conftest.LOOPBACK, proxy.port, context=ctx, timeout=30)
        conn.set_tunnel("localhost", port)
        target = "/user/bench?q=1"
    else:
        conn = http.client.HTTPConnection(conftest.LOOPBACK, proxy.port, timeout=30)
        target = f"http://localhost:{port}/user/bench?q=1"
    headers = {"Host": f"localhost:{port}"}
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            resp.read()
            out.append(time.perf_counter() - start)
            if resp.status != 200:
                raise RuntimeError(f"unexpected status {resp.status}")
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(proxy: conftest.Proxy, scheme: str, port: int, clients: int, total: int) -> tuple[float, list[float], float]:
    """req/s, the latencies and the proxy's CPU seconds per request of `total` requests spread
    over `clients` kept-alive connections."""
    client_loop(proxy, scheme, port, 50, [])  # warm-up
    per_client = total // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    threads = [threading.Thread(target=client_loop, args=(proxy, scheme, port, per_client, latencies[i])) for i in range(clients)]
    cpu = cpu_seconds(proxy.process.pid)
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(proxy.process.pid) - cpu
    flat = [x for lat in latencies for x in lat]
    if len(flat) != per_client * clients:
        raise RuntimeError("a client failed")
    return len(flat) / elapsed, flat, cpu / len(flat)


def lookup_micro() -> list[tuple[int, float, float, float]]:
    """µs per decision: exact-host hit, wildcard hit (suffix walk), miss."""
    results = []
    for count in (10, 10_000):
        table = parse_routes(routes_document(count, 8080, 8443), TOKEN)
        wild = "a.b.w2.example.org"  # under the filler "*.w2.example.org"
        number = 100_000
        timings = []
        cases = [("localhost", 8080, "/user/x"), (wild, 443, "/a/x"), ("nowhere.example.com", 443, "/a/x")]
        for host, port, path in cases:
            decide = functools.partial(table.decide_request, host, port, "GET", path)
            timings.append(timeit.timeit(decide, number=number) / number * 1e6)
        assert table.decide_request("localhost", 8080, "GET", "/user/x").allowed
        assert table.decide_request(wild, 443, "GET", "/a/x").allowed
        exact, wildcard, miss = timings
        results.append((count, exact, wildcard, miss))
    return results


DOWNLOAD_BYTES = 100 * 1024 * 1024


def download(proxy: conftest.Proxy | None, tls_port: int, ca: Path, size: int) -> tuple[float, float]:
    """Seconds to fetch `size` bytes over HTTPS (through `proxy`'s CONNECT tunnel, or straight to
    the upstream), and the proxy's CPU seconds for it."""
    ctx = ssl.create_default_context(cafile=str(proxy.ca_cert if proxy else ca))
    if proxy is None:
        conn = http.client.HTTPSConnection("localhost", tls_port, context=ctx, timeout=120)
    else:
        conn = http.client.HTTPSConnection(conftest.LOOPBACK, proxy.port, context=ctx, timeout=120)
        conn.set_tunnel("localhost", tls_port)
    cpu = cpu_seconds(proxy.process.pid) if proxy else 0.0
    start = time.perf_counter()
    try:
        conn.request("GET", f"/user/bytes/{size}", headers={"Host": f"localhost:{tls_port}"})
        resp = conn.getresponse()
        got = 0
        while chunk := resp.read(1 << 20):
            got += len(chunk)
    finally:
        conn.close()
    elapsed = time.perf_counter() - start
    if resp.status != 200 or got != size:
        raise RuntimeError(f"download: status {resp.status}, {got} of {size} bytes")
    return elapsed, (cpu_seconds(proxy.process.pid) - cpu) if proxy else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1600, help="requests per measurement (default 1600)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per row (default 2)")
    parser.add_argument("--clients", default="16,64", help="concurrent connections, comma-separated (default 16,64)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="egress-bench-") as tmp_name:
        tmp = Path(tmp_name)
        pki = conftest.make_pki(tmp)
        plain, plain_server = conftest._start_upstream(None)
        tls, tls_server = conftest._start_upstream(conftest._server_context(pki))
        configs: list[tuple[str, dict[str, Any] | None]] = [
            ("mitmdump, no addon", None),
            ("mitmdump + addon, 10 routes", routes_document(10, plain.port, tls.port)),
            ("mitmdump + addon, 10,000 routes", routes_document(10_000, plain.port, tls.port)),
        ]
        rows: list[dict[str, Any]] = []
        downloads: list[dict[str, Any]] = []
        proxies = [start_proxy(tmp / f"proxy{i}", routes, pki.ca_pem) for i, (_, routes) in enumerate(configs)]
        try:
            for scheme, port in (("http", plain.port), ("https", tls.port)):
                for clients in (int(c) for c in args.clients.split(",")):
                    # Interleaved rounds, so that drift in machine load hits every config alike.
                    samples: list[list[tuple[float, list[float], float]]] = [[] for _ in configs]
                    for _ in range(args.rounds):
                        for i, proxy in enumerate(proxies):
                            samples[i].append(measure(proxy, scheme, port, clients, args.requests))
                    for i, (name, _) in enumerate(configs):
                        rps = statistics.median(r for r, _, _ in samples[i])
                        cpu_us = statistics.median(c for _, _, c in samples[i]) * 1e6
                        flat = sorted(x for _, lat, _ in samples[i] for x in lat)
                        p50 = statistics.median(flat) * 1000
                        p99 = flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000
                        rows.append(
                            {
                                "proxy": name,
                                "scheme": scheme,
                                "clients": clients,
                                "cpu_us": cpu_us,
                                "rps": rps,
                                "p50_ms": p50,
                                "p99_ms": p99,
                            }
                        )
                        print(f"  {name:34} {scheme:5} c={clients}: {cpu_us:6.0f} µs CPU/req, {rps:7.0f} req/s", file=sys.stderr)
            # A download's time: where it goes when nothing but mitmproxy stands in the way.
            for name, via in [("direct", None), *zip((n for n, _ in configs[:2]), proxies[:2], strict=True)]:
                times = sorted(download(via, tls.port, pki.ca_pem, DOWNLOAD_BYTES) for _ in range(3))
                seconds, cpu = times[1]
                downloads.append({"proxy": name, "seconds": seconds, "mb_per_s": DOWNLOAD_BYTES / seconds / 1e6, "cpu_s": cpu})
        finally:
            for proxy in proxies:
                proxy.stop()
                if "bench-token" in proxy.output():
                    raise RuntimeError("token in proxy output")
            plain_server.shutdown()
            tls_server.shutdown()

    print(f"\nLoopback, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"mitmproxy {__import__('mitmproxy.version').version.VERSION}; per row: medians of {args.rounds} "
          f"interleaved rounds of {args.requests} requests; ratios against mitmdump without the addon.\n")  # fmt: skip
    print("| proxy | scheme | clients | CPU µs/request | CPU ratio | req/s | req/s ratio | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        bare = next(r for r in rows if r["scheme"] == row["scheme"] and r["clients"] == row["clients"])
        row["cpu_ratio"], row["rps_ratio"] = row["cpu_us"] / bare["cpu_us"], row["rps"] / bare["rps"]
        print(f"| {row['proxy']} | {row['scheme']} | {row['clients']} | {row['cpu_us']:,.0f} | {row['cpu_ratio']:.3f}x | "
              f"{row['rps']:,.0f} | {row['rps_ratio']:.2f}x | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")  # fmt: skip
    print(f"\nA {DOWNLOAD_BYTES >> 20} MiB download over HTTPS, one client (median of 3):\n")
    print("| path | seconds | MB/s | ratio to direct | mitmdump CPU seconds |")
    print("|---|---:|---:|---:|---:|")
    for d in downloads:
        print(
            f"| {d['proxy']} | {d['seconds']:.3f} | {d['mb_per_s']:,.0f} | {d['seconds'] / downloads[0]['seconds']:.1f}x | {d['cpu_s']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print("\nRoute lookup alone (RouteTable.decide_request, µs per decision):\n")
    print("| routes | exact host | wildcard (suffix walk) | no match |")
    print("|---:|---:|---:|---:|")
    for count, exact, wild, miss in lookup_micro():
        print(f"| {count:,} | {exact:.2f} | {wild:.2f} | {miss:.2f} |")


if __name__ == "__main__":
    main()
