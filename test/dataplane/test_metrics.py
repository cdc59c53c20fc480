"""The egress proxy's Prometheus metrics on a real chain (mitmdump + addon, then a stand-in for
pipelock): after a known set of requests and reloads, /metrics holds exactly their counts, no
token value, and is served on the address toward the upstream proxy only."""

import hashlib
import http.client
import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (
    ADDON,
    STANDIN,
    TOKENS,
    Pki,
    Proxy,
    ProxyFactory,
    Upstream,
    connect,
    free_port,
    http_request,
    marker,
    standard_routes,
    upstream_mode_env,
    wait_for,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, path: str = "/metrics", address: str = "127.0.0.1") -> tuple[int, str]:
    conn = http.client.HTTPConnection(address, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def samples(port: int) -> Samples:
    status, text = scrape(port)
    assert status == 200, text
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def series(found: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in found.items() if n == name}


def decided(decision: str, reason: str, host: str, method: str, gate: str = "egress-proxy") -> dict[str, str]:
    return {"decision": decision, "gate": gate, "reason": reason, "host": host, "method": method}


@pytest.fixture(scope="module")
def chained(proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A gate with metrics on a free port, in upstream mode through the stand-in, its routes in a
    file the test rewrites before SIGHUP."""
    pipelock = proxies.start(None, addon=False, extra=["-s", str(STANDIN), "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}"])
    assert wait_for(lambda: pipelock.ca_cert.exists())
    routes_path = tmp_path_factory.mktemp("metrics") / "routes.yaml"
    routes_path.write_text(json.dumps(standard_routes(upstreams)))
    metrics_port = free_port()
    env = {**upstream_mode_env(pipelock, pipelock.ca_cert), "EGRESS_PROXY_METRICS_PORT": str(metrics_port)}
    gate = proxies.start(routes_path, env=env)
    return gate, routes_path, metrics_port


def test_the_listener_serves_only_metrics_on_the_address_toward_the_upstream(chained: tuple[Proxy, Path, int]) -> None:
    gate, _, metrics_port = chained
    # The entrypoint asked the kernel which address reaches the stand-in (127.0.0.1).
    assert f"egress_metrics_listen=127.0.0.1:{metrics_port}".encode() in Path(f"/proc/{gate.process.pid}/cmdline").read_bytes()
    assert scrape(metrics_port)[0] == 200
    for path in ("/", "/metrics/x", "/favicon.ico", "/debug"):
        assert scrape(metrics_port, path)[0] == 404, path
    # Bound to that one address, not to every address: another local address finds nothing.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", metrics_port), timeout=5).close()


def test_counts_match_the_requests_and_reloads_and_name_no_token(chained: tuple[Proxy, Path, int], upstreams: dict[str, Upstream]) -> None:
    gate, routes_path, metrics_port = chained
    plain = f"http://localhost:{upstreams['plain'].port}"
    before = samples(metrics_port)
    m = marker()
    allowed = http_request(gate.port, "GET", f"{plain}/user/{m}")
    assert allowed.status == 200
    assert http_request(gate.port, "POST", f"{plain}/user/{m}", body=b"x" * 300).status == 200
    assert http_request(gate.port, "GET", f"{plain}/orgs/{m}").status == 403
    assert http_request(gate.port, "TRACE", f"{plain}/user/{m}").status == 403
    assert http_request(gate.port, "GET", f"http://x{m}.example/").status == 403
    sock, refusal = connect(gate.port, f"x{m}.example:443")
    sock.close()
    assert refusal is None  # accepted, to refuse its requests inside (refused_tunnels.py): none here

    def count(name: str, **labels: str) -> float:
        return (value(samples(metrics_port), name, **labels) or 0) - (value(before, name, **labels) or 0)

    requests = "bot_bottle_egress_requests_total"
    assert count(requests, **decided("allow", "allowed", "localhost", "GET")) == 1
    assert count(requests, **decided("allow", "allowed", "localhost", "POST")) == 1
    assert count(requests, **decided("deny", "path not allowed", "localhost", "GET")) == 1
    assert count(requests, **decided("deny", "method not allowed", "localhost", "other")) == 1
    assert count(requests, **decided("deny", "host not in allowlist", "(no route)", "GET")) == 1
    assert count(requests, **decided("deny", "host not in allowlist", "(no route)", "CONNECT")) == 1
    assert count("bot_bottle_egress_credentials_injected_total", token="github") == 2  # noqa: S106 - a token's name
    # Both allowed requests went upstream on the inspect lane, their answers whole.
    assert count("bot_bottle_egress_chain_seconds_count", lane="inspect") == 2
    assert count("bot_bottle_egress_request_body_bytes_count", lane="inspect") == 2
    assert count("bot_bottle_egress_request_body_bytes_sum", lane="inspect") == 300
    assert count("bot_bottle_egress_response_body_bytes_count", lane="inspect") == 2
    assert count("bot_bottle_egress_response_body_bytes_sum", lane="inspect") >= len(allowed.body) > 0
    # One hook-time observation per HTTP request of this test's (each has a decision line, the CONNECT none).
    after = samples(metrics_port)
    lines = [d for d in gate.decisions() if "decision" in d]
    mine = [d for d in lines if m in f"{d['host']}{d['path']}" and d["method"] != "CONNECT"]
    assert count("bot_bottle_egress_hook_seconds_count") == len(mine) == 5
    # And one count per decision line; the healthcheck's probes write none and are not counted.
    assert sum(series(after, requests).values()) == len(lines)
    assert not [labels for labels in series(after, requests) if ("reason", "healthcheck") in labels]

    # A reload that validates, then one that does not.
    routes = standard_routes(upstreams)
    routes["routes"][0]["path_allowlist"].append("/orgs/")
    document = json.dumps(routes).encode()
    routes_path.write_bytes(document)
    gate.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: value(samples(metrics_port), "bot_bottle_egress_reloads_total", result="ok") == 1)
    routes_path.write_text("version: 2\n")
    gate.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: value(samples(metrics_port), "bot_bottle_egress_reloads_total", result="rejected") == 1)
    final = samples(metrics_port)
    assert value(final, "bot_bottle_egress_reloads_total", result="ok") == 1
    # The document in use is the one that validated: one series.
    assert series(final, "bot_bottle_egress_config_info") == {frozenset({("sha256", hashlib.sha256(document).hexdigest())}): 1.0}
    assert http_request(gate.port, "GET", f"{plain}/orgs/{m}").status == 200

    exposition = scrape(metrics_port)[1]
    for token in TOKENS.values():
        assert token not in exposition


def test_a_listener_on_every_address_stops_the_proxy(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    # The addon's own check, whoever starts it (the entrypoint only ever asks for one address).
    routes = proxies.write_routes(standard_routes(upstreams))
    listen = f"egress_metrics_listen=0.0.0.0:{free_port()}"
    argv = ["-s", str(ADDON), "--set", f"egress_routes={routes}", "--set", listen]
    gate = proxies.start(None, env=TOKENS, extra=argv, addon=False, ready=False)
    assert gate.process.wait(timeout=20) != 0
    assert "EGRESS_PROXY_METRICS_PORT" in gate.output() and "not 0.0.0.0" in gate.output()
