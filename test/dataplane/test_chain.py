"""Chained run: egress-proxy in upstream mode through a second, plain mitmdump standing in
for pipelock (its own CA, trusted on the upstream leg only via EGRESS_PROXY_UPSTREAM_CA).
"""

import pytest

from conftest import (
    BEARER,
    STANDIN,
    TOKENS,
    Pki,
    Proxy,
    ProxyFactory,
    Upstream,
    assert_streams,
    assert_tunnel_request_gets_one_credential,
    http_request,
    marker,
    standard_routes,
    tls_tunnel,
    tunnel_request,
    upstream_mode_env,
    wait_for,
)


@pytest.fixture(scope="module")
def chain(proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki) -> tuple[Proxy, Proxy]:
    # The stand-in: refuses like pipelock (pipelock_standin.py), intercepts TLS with its own CA,
    # trusts the test CA upstream. Tunnels to the h2 upstream's port are refused at CONNECT.
    pipelock = proxies.start(
        None,
        addon=False,
        extra=[
            "-s", str(STANDIN),
            "--set", f"standin_refuse_connect_port={upstreams['h2'].port}",
            "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}",
        ],
    )  # fmt: skip
    assert wait_for(lambda: pipelock.ca_cert.exists())
    gate = proxies.start(standard_routes(upstreams), env=upstream_mode_env(pipelock, pipelock.ca_cert))
    return gate, pipelock


def test_tls_request_reaches_the_upstream_through_both_proxies(chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]) -> None:
    gate, pipelock = chain
    m = marker()
    got = assert_tunnel_request_gets_one_credential(gate, upstreams["tls"], m)
    assert got.sni == "localhost"
    # It went through the stand-in, which logs every flow it relays.
    assert wait_for(lambda: m in pipelock.output())


def test_plain_request_reaches_the_upstream_through_both_proxies(chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]) -> None:
    gate, pipelock = chain
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}/user/{m}")
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.header_values("Authorization") == [BEARER]
    assert wait_for(lambda: m in pipelock.output())


def test_refusals_never_reach_the_next_gate(chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]) -> None:
    gate, pipelock = chain
    m = marker()
    refusal = tunnel_request(gate.port, f"x{m}.example:443", gate.ca_cert, f"GET /{m} HTTP/1.1\r\nHost: x{m}.example\r\n\r\n".encode())
    assert refusal.text == f"egress-proxy: host not in allowlist: x{m}.example\n"
    resp = http_request(gate.port, "GET", f"http://localhost:{upstreams['plain'].port}/orgs/{m}")
    assert resp.status == 403
    resp = tunnel_request(
        gate.port,
        f"localhost:{upstreams['tls'].port}",
        gate.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode(),
    )
    assert resp.status == 403
    assert m not in pipelock.output()
    assert all(up.requests_for(m) == [] for up in upstreams.values())


def test_gate_refuses_an_upstream_proxy_it_does_not_trust(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki, chain: tuple[Proxy, Proxy]
) -> None:
    # Trusting the test CA instead of the stand-in's: the upstream leg must fail, not fall back.
    _, pipelock = chain
    gate = proxies.start(standard_routes(upstreams), env=upstream_mode_env(pipelock, pki.ca_pem))
    up = upstreams["tls"]
    m = marker()
    try:
        resp = tunnel_request(
            gate.port,
            f"localhost:{up.port}",
            gate.ca_cert,
            f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert resp.status >= 500
    except OSError:
        pass  # the client handshake may be torn down instead
    assert up.requests_for(m) == []
    for token in TOKENS.values():
        assert token not in gate.output() and token not in pipelock.output()


# --------------------------------------------------------------------------- pipelock's refusals


def test_an_in_band_refusal_by_pipelock_reaches_the_agent_as_its_one_line_reason(
    chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]
) -> None:
    gate, _ = chain
    up = upstreams["tls"]
    m = marker()
    body = b'{"key": "AKIAIOSFODNN7EXAMPLE"}'
    resp = tunnel_request(
        gate.port,
        f"localhost:{up.port}",
        gate.ca_cert,
        f"POST /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body,
    )
    assert (resp.status, resp.text) == (403, "pipelock: blocked: request body contains secret: AWS Access ID\n")
    assert dict(resp.headers)["Content-Type"].startswith("text/plain")
    assert up.requests_for(m) == []
    lines = [d for d in gate.decisions() if d["path"] == f"/user/{m}"]
    assert [(d["decision"], d["by"]) for d in lines] == [("allow", "egress-proxy"), ("deny", "pipelock")]
    assert lines[1]["reason"] == "dlp"


def test_a_plain_http_refusal_by_pipelock_is_mapped_too(chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]) -> None:
    gate, _ = chain
    m = marker()
    resp = http_request(gate.port, "POST", f"http://localhost:{upstreams['plain'].port}/user/{m}", body=b"AKIA0000")
    assert (resp.status, resp.text) == (403, "pipelock: blocked: request body contains secret: AWS Access ID\n")
    assert upstreams["plain"].requests_for(m) == []


def test_pipelocks_rate_limit_stays_a_429_that_says_so(chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]) -> None:
    gate, _ = chain
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{upstreams['plain'].port}/user/rate-limited-{m}")
    assert (resp.status, resp.text) == (429, "pipelock: blocked: rate limit exceeded for localhost\n")
    [line] = [d for d in gate.decisions() if d["path"] == f"/user/rate-limited-{m}" and d["by"] == "pipelock"]
    assert (line["decision"], line["reason"]) == ("deny", "rate limit")


def test_a_tunnel_pipelock_refuses_at_connect_gets_a_403_with_pipelocks_reason_not_a_502_page(
    chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]
) -> None:
    gate, _ = chain
    up = upstreams["h2"]
    m = marker()
    resp = tunnel_request(
        gate.port,
        f"localhost:{up.port}",
        gate.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode(),
    )
    assert resp.status == 403, resp.text
    # pipelock's own words, which mitmproxy drops (connect_refusal_body.py).
    assert resp.text == "pipelock: CONNECT blocked: SSRF blocked: localhost resolves to internal IP 127.0.0.1\n"
    assert dict(resp.headers)["Connection"] == "close"
    [line] = [d for d in gate.decisions() if d["path"] == f"/user/{m}" and d["by"] == "pipelock"]
    assert (line["decision"], line["reason"]) == ("deny", "ssrf")
    assert up.requests_for(m) == []


def test_an_event_stream_reaches_the_agent_as_it_comes_through_both_proxies(
    chain: tuple[Proxy, Proxy], upstreams: dict[str, Upstream]
) -> None:
    gate, _ = chain
    up = upstreams["tls"]
    m = marker()
    with tls_tunnel(gate.port, f"localhost:{up.port}", gate.ca_cert) as sock:
        sock.sendall(f"GET /user/gated/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
        assert_streams(sock, up, m)
