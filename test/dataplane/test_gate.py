"""The gate end to end: real mitmdump + addon, real sockets, recording upstreams.

Every refusal is checked at the upstream too: nothing of a refused request may arrive.
"""

import socket
import ssl
from typing import Any

import pytest

from conftest import (
    BACKSTOP,
    BEARER,
    LOOPBACK,
    TIMEOUT,
    TOKENS,
    Proxy,
    ProxyFactory,
    Response,
    Upstream,
    assert_streams,
    assert_tunnel_request_gets_one_credential,
    connect,
    http_request,
    marker,
    read_response,
    read_responses,
    send_raw,
    standard_routes,
    tls_tunnel,
    tunnel_request,
    wait_for,
    wrap_tls,
)


def assert_refused(resp: Response, status: int = 403, contains: str = "") -> None:
    assert resp.status == status, resp.text
    content_type = dict((k.lower(), v) for k, v in resp.headers).get("content-type", "")
    assert content_type.startswith("text/plain"), resp.headers
    text = resp.text
    assert text.startswith("egress-proxy: ") and text.endswith("\n") and text.count("\n") == 1, text
    assert contains in text, text


def assert_refused_and_not_forwarded(resp: Response, up: Upstream, m: str, contains: str = "") -> None:
    assert_refused(resp, contains=contains)
    assert up.requests_for(m) == []


def assert_refused_by_parser_or_addon(resp: Response, up: Upstream, m: str, contains: str = "") -> None:
    # mitmproxy's own parser may refuse first (400); otherwise it must be the addon's refusal.
    assert resp.status in (400, 403), resp.text
    if resp.status == 403:
        assert_refused(resp, contains=contains)
    assert up.requests_for(m) == []


def assert_forwarded_once(resp: Response, up: Upstream, m: str) -> None:
    assert resp.status == 200, resp.text
    assert len(up.requests_for(m)) == 1


def decision_for(gate: Proxy, **match: object) -> dict[str, Any]:
    def find() -> list[dict[str, Any]]:
        return [d for d in gate.decisions() if all(d.get(k) == v for k, v in match.items())]

    wait_for(lambda: bool(find()))
    found = find()
    assert len(found) == 1, (match, found)
    return found[0]


# --------------------------------------------------------------------------- plain HTTP


def test_allowed_request_carries_exactly_one_injected_credential(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(
        gate.port,
        "GET",
        f"http://localhost:{up.port}/user/{m}",
        [
            ("Host", f"localhost:{up.port}"),
            ("authorization", "Bearer agent-made-this-up"),
            ("AUTHORIZATION", "second"),
            ("X-Api-Key", "agent-data"),
        ],
    )
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.header_values("Authorization") == [BEARER]
    assert got.header_values("X-Api-Key") == []
    assert got.path == f"/user/{m}"


def test_post_body_is_forwarded_with_credential(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "POST", f"http://localhost:{up.port}/repos/acme/{m}", body=b'{"x": 1}')
    assert resp.status == 200
    [got] = up.requests_for(m)
    assert got.body == b'{"x": 1}'
    assert got.header_values("Authorization") == [BEARER]


@pytest.mark.parametrize(
    "path,allowed",
    [
        ("/user", True),
        ("/user/", True),
        ("/user/x/y", True),
        ("/users", False),
        ("/userx", False),
        ("/use", False),
        ("/repos/acme/", True),
        ("/repos/acme/widgets/pulls", True),
        ("/repos/acme", False),
        ("/repos/acmex/", False),
        ("/repos/", False),
        ("/", False),
        ("/orgs", False),
        ("/USER", False),
    ],
)
def test_path_allowlist_matches_on_segment_boundaries(gate: Proxy, upstreams: dict[str, Upstream], path: str, allowed: bool) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}{path}?m={m}")
    if allowed:
        assert_forwarded_once(resp, up, m)
    else:
        assert_refused_and_not_forwarded(resp, up, m, contains=f"egress-proxy: path not allowed for localhost: {path}")


REJECTED_PATHS = [
    b"/user/../admin",
    b"/user/..",
    b"/user/./x",
    b"/user/.",
    b"/user//x",
    b"//user",
    b"/user;x=1",
    b"/user/x;",
    b"/user\\..\\admin",
    b"/user/%2e%2e/admin",
    b"/user/%2E%2E/admin",
    b"/user/%2e",
    b"/user/a%2fb",
    b"/user/a%2Fb",
    b"/user/a%5cb",
    b"/user/a%5Cb",
    b"/user/a%25b",
    b"/user/a%00b",
    b"/user/a%zz",
    b"/user/a%2",
    b"/user/\x7f",
    b"/user/\xc3\xa9",
    b"/user/\x01",
    b"/user/#frag",
]


@pytest.mark.parametrize("raw_path", REJECTED_PATHS, ids=lambda p: p.decode("latin-1").encode("unicode_escape").decode())
def test_paths_an_upstream_could_reinterpret_are_rejected(gate: Proxy, upstreams: dict[str, Upstream], raw_path: bytes) -> None:
    up = upstreams["plain"]
    m = marker()
    target = b"http://localhost:%d" % up.port + raw_path + b"?m=" + m.encode()
    request = b"GET " + target + b" HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n" % up.port
    resp = send_raw(gate.port, request)
    if any(b <= 0x20 or b >= 0x7F for b in raw_path) and resp.status == 400:
        pass  # mitmproxy's own HTTP/1 parser refuses these first (the addon's check is unit-tested)
    else:
        assert_refused(resp, contains="egress-proxy: path rejected (")
    assert up.requests_for(m) == []


def test_allowed_plain_segment_with_dots_in_names_passes(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}/user/.well-known/a..b/{m}.json")
    assert_forwarded_once(resp, up, m)


def test_query_is_not_matched_but_forwarded_byte_for_byte(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m, q = marker(), marker()
    target = f"/user/{m}?q={q}&next=/../admin;x=%2f%2e%00&q=/orgs"
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}{target}")
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.path == target
    # The query is not in the decision log either.
    d = decision_for(gate, path=f"/user/{m}")
    assert q not in str(d)


def test_query_cannot_satisfy_the_path_allowlist(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}/orgs?/user&m={m}")
    assert_refused_and_not_forwarded(resp, up, m, contains="path not allowed for localhost: /orgs")


def test_method_not_in_route_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "DELETE", f"http://localhost:{up.port}/user/{m}")
    assert_refused_and_not_forwarded(resp, up, m, contains="egress-proxy: method not allowed for localhost: DELETE")


def test_route_without_method_list_allows_any_method(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain2"]
    m = marker()
    resp = http_request(gate.port, "DELETE", f"http://localhost:{up.port}/anything/{m}")
    assert_forwarded_once(resp, up, m)


def test_injected_header_names_are_stripped_where_no_credential_is_injected(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain2"]
    m = marker()
    resp = http_request(
        gate.port,
        "GET",
        f"http://localhost:{up.port}/{m}",
        [
            ("Host", f"localhost:{up.port}"),
            ("Authorization", "agent-data-1"),
            ("x-api-key", "agent-data-2"),
            ("X-API-KEY", "agent-data-3"),
            ("X-Other", "kept"),
        ],
    )
    assert resp.status == 200
    [got] = up.requests_for(m)
    assert got.header_values("Authorization") == []
    assert got.header_values("X-Api-Key") == []
    assert got.header_values("X-Other") == ["kept"]


def test_host_not_in_allowlist(gate: Proxy) -> None:
    resp = http_request(gate.port, "GET", "http://example.org/")
    assert_refused(resp, contains="egress-proxy: host not in allowlist: example.org")


def test_wildcard_does_not_cover_the_apex(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # Route 2 is "*.gate.localhost": its apex is not one of its subdomains.
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://gate.localhost:{up.port}/{m}")
    assert_refused_and_not_forwarded(resp, up, m, contains="egress-proxy: host not in allowlist: gate.localhost")


def test_onboarding_app_is_not_served(gate: Proxy) -> None:
    resp = http_request(gate.port, "GET", "http://mitm.it/cert/pem")
    assert_refused(resp, contains="egress-proxy: host not in allowlist: mitm.it")


@pytest.mark.parametrize(
    "framing",
    [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ],
    ids=["cl-and-te", "two-cl", "te-list", "te-gzip-chunked", "te-two-headers"],
)
def test_ambiguous_framing_is_refused_before_forwarding(gate: Proxy, upstreams: dict[str, Upstream], framing: str) -> None:
    # validate_inbound_headers stays on: no request smuggling through the gate.
    up = upstreams["plain"]
    m = marker()
    raw = (
        f"POST http://localhost:{up.port}/user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n{framing}"
        "Connection: close\r\n\r\n0\r\n\r\nGET /user/smuggled-{m} HTTP/1.1\r\n\r\n"
    )
    resp = send_raw(gate.port, raw.encode())
    assert resp.status == 400
    assert up.requests_for(m) == []


def test_port_not_in_route_is_refused(gate: Proxy) -> None:
    resp = http_request(gate.port, "GET", "http://localhost:22/user")
    assert_refused(resp, contains="egress-proxy: port not allowed for localhost: 22")


@pytest.mark.parametrize(
    "host_headers",
    [
        [("Host", "evil.example")],
        [("Host", "evil.example:{port}")],
        [("Host", "localhost:1")],
        [("Host", "localhost")],  # default port 80 is not the target's port
        [("Host", "localhost:{port}"), ("Host", "evil.example")],
        [("Host", "127.0.0.1:{port}")],
        [],
    ],
    ids=["other-name", "other-name-same-port", "other-port", "implied-port", "two-hosts", "ip", "missing"],
)
def test_absolute_form_with_disagreeing_host_header_is_refused(
    gate: Proxy, upstreams: dict[str, Upstream], host_headers: list[tuple[str, str]]
) -> None:
    up = upstreams["plain"]
    m = marker()
    headers = [(k, v.format(port=up.port)) for k, v in host_headers]
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}/user/{m}", headers)
    assert_refused_by_parser_or_addon(resp, up, m)


def test_host_is_normalised_and_forwarded_canonically(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://LocalHost.:{up.port}/user/{m}", [("Host", f"LOCALHOST.:{up.port}")])
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.header_values("Host") == [f"localhost:{up.port}"]
    assert got.header_values("Authorization") == [BEARER]


@pytest.mark.parametrize(
    "host_headers",
    ["LOCALHOST.:{port}", "localhost:{port}\r\nHost: LocalHost:{port}", "localhost:{port}"],
    ids=["other-spelling", "two-spellings", "canonical"],
)
def test_host_in_a_tunnel_is_forwarded_canonically(gate: Proxy, upstreams: dict[str, Upstream], host_headers: str) -> None:
    # The tunnel's target already is the canonical name: the Host headers are rewritten all the same.
    up = upstreams["tls"]
    m = marker()
    head = f"GET /user/{m} HTTP/1.1\r\nHost: {host_headers.format(port=up.port)}\r\nConnection: close\r\n\r\n"
    resp = tunnel_request(gate.port, f"localhost:{up.port}", gate.ca_cert, head.encode())
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.header_values("Host") == [f"localhost:{up.port}"]


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "127.1", "[::1]", "017700000001"])
def test_ip_literals_and_numeric_hosts_never_match(gate: Proxy, upstreams: dict[str, Upstream], host: str) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://{host}:{up.port}/user/{m}")
    assert_refused_by_parser_or_addon(resp, up, m, contains="egress-proxy: host not allowed (IP literal or invalid name)")


def test_origin_form_request_to_the_proxy_is_decided_by_its_host_header(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # mitmproxy takes the target from the Host header here: it is checked like any target.
    up = upstreams["plain"]
    m = marker()
    allowed = send_raw(gate.port, f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode())
    refused = send_raw(gate.port, f"GET /orgs/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode())
    other = send_raw(gate.port, f"GET /user/{m} HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n".encode())
    assert allowed.status == 200
    assert_refused(refused, contains="path not allowed")
    assert_refused(other, contains="host not in allowlist: example.org")
    [got] = up.requests_for(m)
    assert got.path == f"/user/{m}"
    assert got.header_values("Authorization") == [BEARER]


def _upgrade(path: str, port: int) -> bytes:
    return (
        f"GET http://localhost:{port}{path} HTTP/1.1\r\nHost: localhost:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: agent\r\n\r\n"
    ).encode()


def test_websocket_upgrade_outside_the_allowlist_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = send_raw(gate.port, _upgrade(f"/users/{m}", up.port))
    assert_refused_and_not_forwarded(resp, up, m, contains="path not allowed")


def test_websocket_upgrade_inside_the_allowlist_is_decided_like_a_request(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    resp = send_raw(gate.port, _upgrade(f"/user/{m}", up.port))
    assert resp.status == 200  # the echo upstream does not upgrade
    [got] = up.requests_for(m)
    assert got.header_values("Upgrade") == ["websocket"]
    assert got.header_values("Authorization") == [BEARER]


# --------------------------------------------------------------------------- CONNECT and TLS


@pytest.mark.parametrize(
    "target,reason",
    [
        ("example.org:443", "host not in allowlist: example.org"),
        ("localhost:22", "port not allowed for localhost: 22"),
        ("127.0.0.1:{tls}", "IP literal"),
        ("2130706433:{tls}", "IP literal"),
        ("0x7f.1:{tls}", "IP literal"),
        ("127.1:{tls}", "IP literal"),
        ("[::1]:{tls}", "IP literal"),
        ("localhost.localdomain:{tls}", "host not in allowlist"),
        ("localhost..:{tls}", None),  # mitmproxy's parser may refuse it first (400)
        ("-localhost:{tls}", None),
    ],
)
def test_connect_refused_before_any_upstream_connection(
    gate: Proxy, upstreams: dict[str, Upstream], target: str, reason: str | None
) -> None:
    # The refused tunnel is accepted and the refusal answered inside it (test_connect_refusals.py).
    up = upstreams["tls"]
    target = target.format(tls=up.port)
    before, backstop = up.connections, gate.output().count(BACKSTOP)
    sock, refusal = connect(gate.port, target)
    if refusal is not None:
        assert reason is None and refusal.status == 400, refusal.text  # mitmproxy's parser refused the CONNECT
    else:
        with wrap_tls(sock, gate.ca_cert, "refused.test") as tls_sock:
            tls_sock.sendall(b"GET / HTTP/1.1\r\nHost: refused.test\r\n\r\n")
            resp = read_response(tls_sock)
        assert_refused(resp, contains=reason or "egress-proxy: host not allowed (IP literal or invalid name)")
    # Give a (wrong) connection time to be accepted and counted before concluding there was none.
    assert not wait_for(lambda: up.connections != before, timeout=0.3)
    assert gate.output().count(BACKSTOP) == backstop  # not even tried: server_connect never saw it


def test_tls_straight_to_the_proxy_port_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # HTTPS to the proxy itself (no CONNECT) would let HTTP/2 requests be rewritten to
    # HTTP/1 for the next hop; agents use http:// as the proxy URL, so it is refused.
    up = upstreams["plain"]
    m = marker()
    ctx = ssl.create_default_context(cafile=str(gate.ca_cert))
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = socket.create_connection((LOOPBACK, gate.port), timeout=TIMEOUT)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls_sock:
            tls_sock.sendall(f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
            if not tls_sock.recv(1):
                raise ConnectionError("closed without an answer")
    assert not wait_for(lambda: bool(up.requests_for(m)), timeout=0.3)


def test_allowed_tunnel_injects_credential_and_pins_sni(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    got = assert_tunnel_request_gets_one_credential(gate, upstreams["tls"], marker())
    assert got.sni == "localhost"


def test_client_sni_differing_from_target_is_refused_and_never_sent_upstream(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    m = marker()
    snis_before = len(up.snis)
    resp = tunnel_request(
        gate.port,
        f"localhost:{up.port}",
        gate.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode(),
        sni="evil.example",
    )
    assert_refused_and_not_forwarded(resp, up, m, contains="TLS SNI does not match the target")
    # The upstream handshake (if any) used the pinned target name, never the client's.
    assert all(s == "localhost" for s in up.snis[snis_before:]), up.snis[snis_before:]


@pytest.mark.parametrize(
    "request_head",
    [
        "GET /user/{m} HTTP/1.1\r\nHost: evil.example\r\n",
        "GET /user/{m} HTTP/1.1\r\nHost: evil.example:{port}\r\n",
        "GET /user/{m} HTTP/1.1\r\nHost: localhost:{port}\r\nHost: evil.example\r\n",
        "GET /user/{m} HTTP/1.1\r\nHost: localhost\r\n",  # implies 443, the target is another port
        "GET https://evil.example/user/{m} HTTP/1.1\r\nHost: localhost:{port}\r\n",
        "GET /user/{m} HTTP/1.1\r\n",
    ],
    ids=["other-host", "other-host-same-port", "two-hosts", "implied-port", "absolute-form-other-authority", "no-host"],
)
def test_host_differing_from_connect_target_is_refused_in_tunnel(gate: Proxy, upstreams: dict[str, Upstream], request_head: str) -> None:
    up = upstreams["tls"]
    m = marker()
    head = request_head.format(m=m, port=up.port)
    resp = tunnel_request(gate.port, f"localhost:{up.port}", gate.ca_cert, (head + "Connection: close\r\n\r\n").encode())
    assert_refused_by_parser_or_addon(resp, up, m)


def h2_exchange(gate: Proxy, port: int, streams: dict[str, tuple[str, bytes]]) -> dict[str, tuple[int | str, bytes]]:
    """Send GETs as HTTP/2 streams in one tunnel: name -> (:authority, :path bytes as sent).

    Returns name -> (status, body), or ("reset", b"") for a stream the proxy reset.
    """
    import h2.config
    import h2.connection
    import h2.events

    results: dict[str, tuple[int | str, bytes]] = {}
    with tls_tunnel(gate.port, f"localhost:{port}", gate.ca_cert, alpn=["h2"]) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        # No client-side validation: these tests send what a hostile client would.
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           normalize_outbound_headers=False)  # fmt: skip
        conn = h2.connection.H2Connection(config)
        conn.initiate_connection()
        names: dict[int, str] = {}
        bodies: dict[int, bytes] = {}
        statuses: dict[int, int] = {}
        for name, (authority, path) in streams.items():
            stream = conn.get_next_available_stream_id()
            names[stream], bodies[stream] = name, b""
            headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                       (b":path", path)]  # fmt: skip
            conn.send_headers(stream, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        while len(results) < len(streams):
            data = sock.recv(65536)
            assert data, f"connection closed; so far {results}"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    statuses[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    results[names[event.stream_id]] = (statuses[event.stream_id], bodies[event.stream_id])
                elif isinstance(event, h2.events.StreamReset):
                    results[names[event.stream_id]] = ("reset", b"")
            sock.sendall(conn.data_to_send())
    return results


def test_http2_authority_differing_from_target_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["h2"]
    m = marker()
    results = h2_exchange(
        gate,
        up.port,
        {
            "other-authority": ("evil.example", f"/user/{m}".encode()),
            "other-port": ("localhost", f"/user/{m}".encode()),
            "path-outside-allowlist": (f"localhost:{up.port}", f"/orgs/{m}".encode()),
        },
    )
    mismatch = f"egress-proxy: Host header or :authority does not match the target: localhost:{up.port}\n"
    assert results["other-authority"] == (403, mismatch.encode())
    assert results["other-port"] == (403, mismatch.encode())
    assert results["path-outside-allowlist"] == (403, f"egress-proxy: path not allowed for localhost: /orgs/{m}\n".encode())
    assert up.requests_for(m) == []


def test_http2_paths_the_http1_parser_would_not_let_through_are_rejected(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # HTTP/2 carries :path as raw bytes, so control, space and non-ASCII bytes reach the addon.
    up = upstreams["h2"]
    authority = f"localhost:{up.port}"
    paths = [b"/user/\xc3\xa9", b"/user/\x01", b"/user/a b", b"/user/\x7f", b"/user/..", b"/user/%2F", b"user", b"*"]
    results = h2_exchange(gate, up.port, {repr(p): (authority, p) for p in paths})
    for path in paths:
        status, body = results[repr(path)]
        # mitmproxy may reset a stream it cannot parse; otherwise the addon must refuse it.
        assert status == "reset" or (status == 403 and body.startswith(b"egress-proxy: path rejected (")), (path, status, body)
    assert any(status == 403 for status, _ in results.values())


def test_tunnel_target_is_normalised_before_connecting(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # "LocalHost." does not resolve on its own here: success proves the checked, canonical
    # name is the one connected to (and the one sent as SNI).
    up = upstreams["tls"]
    m = marker()
    resp = tunnel_request(
        gate.port,
        f"LocalHost.:{up.port}",
        gate.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: LOCALHOST.:{up.port}\r\nConnection: close\r\n\r\n".encode(),
        sni="localhost",
    )
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.sni == "localhost"
    assert got.header_values("Host") == [f"localhost:{up.port}"]


def test_tunnel_applies_method_and_path_rules(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    m = marker()
    with tls_tunnel(gate.port, f"localhost:{up.port}", gate.ca_cert) as sock:
        sock.sendall(f"DELETE /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
        first = read_response(sock, "DELETE")
        sock.sendall(f"GET /user/../orgs/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode())
        second = read_response(sock)
    assert_refused(first, contains="method not allowed for localhost: DELETE")
    assert_refused_and_not_forwarded(second, up, m, contains="path rejected (dot segment)")


def test_non_http_bytes_in_an_allowed_tunnel_are_not_relayed(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain2"]
    sock, refusal = connect(gate.port, f"localhost:{up.port}")
    assert refusal is None
    m = marker()
    with sock:
        sock.sendall(f"SSH-2.0-{m}\r\n\r\n".encode())
        sock.settimeout(3)
        try:
            sock.recv(4096)
        except OSError:
            pass
    assert up.requests_for(m) == []


# --------------------------------------------------------------------------- decision log


def test_decision_log_lines(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    http_request(gate.port, "GET", f"http://localhost:{up.port}/user/{m}?secret=query")
    http_request(gate.port, "DELETE", f"http://localhost:{up.port}/user/{m}")
    allow = decision_for(gate, path=f"/user/{m}", method="GET")
    deny = decision_for(gate, path=f"/user/{m}", method="DELETE")
    assert allow == {
        "decision": "allow", "by": "egress-proxy", "reason": "allowed", "route": 0, "token": "github",
        "host": "localhost", "port": up.port, "method": "GET", "path": f"/user/{m}", "lane": "inspect",
    }  # fmt: skip
    assert deny == {
        "decision": "deny", "by": "egress-proxy", "reason": "method not allowed", "route": None, "token": None,
        "host": "localhost", "port": up.port, "method": "DELETE", "path": f"/user/{m}",
    }  # fmt: skip
    for line in gate.json_lines():
        if line.get("event") == "startup":
            continue  # the routes it started with (test_reload.py)
        # The lane of a request that went out; CONNECTs and refusals have none.
        assert set(line) - {"lane"} == {"decision", "by", "reason", "route", "token", "host", "port", "method", "path"}


def test_connect_decisions_are_logged(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    name = f"x{marker()}.example"
    connect(gate.port, f"{name}:443")
    assert decision_for(gate, host=name) == {
        "decision": "deny", "by": "egress-proxy", "reason": "host not in allowlist", "route": None, "token": None,
        "host": name, "port": 443, "method": "CONNECT", "path": None,
    }  # fmt: skip


def test_zz_tokens_never_appear_in_any_output(gate: Proxy) -> None:
    # Runs last in this module: everything above went through `gate`.
    output = gate.output()
    assert len(gate.decisions()) > 50
    for token in TOKENS.values():
        assert token not in output


def test_requests_over_the_rate_limit_get_a_429_that_says_so(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain2"]
    gate = proxies.start({"version": 1, "requests_per_minute": 3, "routes": [{"host": "localhost", "ports": [up.port]}]})
    m = marker()
    statuses = [http_request(gate.port, "GET", f"http://localhost:{up.port}/{m}/{i}").status for i in range(3)]
    assert statuses == [200, 200, 200]
    refused = http_request(gate.port, "GET", f"http://localhost:{up.port}/{m}/3")
    assert (refused.status, refused.text) == (429, "egress-proxy: rate limited for localhost: at most 3 requests per minute\n")
    assert 1 <= int(dict(refused.headers)["Retry-After"]) <= 20
    assert [r.path for r in up.requests_for(m)] == [f"/{m}/0", f"/{m}/1", f"/{m}/2"]
    [line] = [d for d in gate.decisions() if d["path"] == f"/{m}/3"]
    assert (line["decision"], line["by"], line["reason"]) == ("deny", "egress-proxy", "rate limited")


def test_an_event_stream_reaches_the_agent_as_it_comes(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    m = marker()
    with tls_tunnel(gate.port, f"localhost:{up.port}", gate.ca_cert) as sock:
        sock.sendall(f"GET /user/gated/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
        assert_streams(sock, up, m)


# --------------------------------------------------------------------------- hardening


def test_plain_http_inside_a_connect_tunnel_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # The tunnel was asked for TLS; plaintext in it would carry the credential in the clear.
    up = upstreams["plain"]
    m = marker()
    sock, refusal = connect(gate.port, f"localhost:{up.port}")
    assert refusal is None
    with sock:
        sock.sendall(f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode())
        resp = read_response(sock)
    assert_refused_and_not_forwarded(resp, up, m, contains=f"egress-proxy: plain HTTP inside a CONNECT tunnel: localhost:{up.port}")


def test_a_credential_travels_in_cleartext_only_on_a_port_the_route_opts_into(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # Route 0 injects a credential and lists the plain upstream's port as insecure_cleartext_ports;
    # plain HTTP to any other of its ports (here the TLS upstream's) is refused before connecting.
    tls_up = upstreams["tls"]
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{tls_up.port}/user/{m}")
    assert_refused(resp, contains=f"egress-proxy: credentials only over TLS for localhost: plain HTTP to port {tls_up.port} (use https://)")
    assert tls_up.connections == 0 or tls_up.requests_for(m) == []
    resp = http_request(gate.port, "GET", f"http://localhost:{upstreams['plain'].port}/user/{m}")
    assert resp.status == 200


@pytest.mark.parametrize("method", ["TRACE", "TRACK", "CONNECT", "FOO"])
def test_methods_outside_the_http_set_are_refused_even_on_a_route_without_methods(
    gate: Proxy, upstreams: dict[str, Upstream], method: str
) -> None:
    up = upstreams["plain2"]  # route 1: no methods listed
    m = marker()
    resp = send_raw(
        gate.port, f"{method} http://localhost:{up.port}/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode()
    )
    if method == "CONNECT":
        assert resp.status in (400, 403)  # mitmproxy does not take an absolute-form CONNECT at all
    else:
        assert_refused(resp, contains=f"method not allowed for localhost: {method}")
    assert up.requests_for(m) == []


def test_a_route_without_methods_allows_the_usual_ones(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain2"]
    m = marker()
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]:
        assert http_request(gate.port, method, f"http://localhost:{up.port}/{m}/{method}").status == 200, method
    with socket.create_connection((LOOPBACK, gate.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            f"HEAD http://localhost:{up.port}/{m}/HEAD HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n".encode()
        )
        assert read_response(sock, "HEAD").status == 200
    assert len(up.requests_for(m)) == 7


def test_a_connect_inside_a_tunnel_is_refused(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    with tls_tunnel(gate.port, f"localhost:{up.port}", gate.ca_cert) as sock:
        sock.sendall(f"CONNECT localhost:{upstreams['plain2'].port} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
        resp = read_response(sock, "CONNECT")
    assert resp.status in (400, 403), resp.text
    assert upstreams["plain2"].connections == 0 or all(r.method != "CONNECT" for r in upstreams["plain2"].requests)


def test_transfer_encoding_other_than_chunked_gets_a_400_that_says_so_and_closes(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = marker()
    raw = (
        f"POST http://localhost:{up.port}/user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n"
        "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    )
    with socket.create_connection((LOOPBACK, gate.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw.encode())
        resp = read_response(sock, "POST")
        assert sock.recv(1) == b"", "the connection must be closed after the refusal"
    assert resp.status == 400, resp.text
    assert resp.text == "egress-proxy: Transfer-Encoding other than chunked for localhost: gzip, chunked\n"
    assert up.requests_for(m) == []


def test_keep_alive_and_pipelined_requests_are_each_decided(gate: Proxy, upstreams: dict[str, Upstream]) -> None:
    # Two requests written at once on one connection: the refused one never reaches the
    # upstream and the allowed one arrives alone, with its own credential.
    up = upstreams["plain"]
    m = marker()
    first = f"GET http://localhost:{up.port}/user/{m}/1 HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n"
    second = f"DELETE http://localhost:{up.port}/user/{m}/2 HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n"
    third = f"GET http://localhost:{up.port}/user/{m}/3 HTTP/1.1\r\nHost: localhost:{up.port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((LOOPBACK, gate.port), timeout=TIMEOUT) as sock:
        sock.sendall((first + second + third).encode())
        statuses = [r.status for r in read_responses(sock, ["GET", "DELETE", "GET"])]
    assert statuses == [200, 403, 200]
    assert [r.path for r in up.requests_for(m)] == [f"/user/{m}/1", f"/user/{m}/3"]
    assert all(r.header_values("Authorization") == [BEARER] for r in up.requests_for(m))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_answered_413_before_it_is_held(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], chunked: bool
) -> None:
    up = upstreams["plain2"]
    gate = proxies.start({"version": 1, "routes": [{"host": "localhost", "ports": [up.port]}]}, env={"EGRESS_PROXY_MAX_BODY_BYTES": "4096"})
    m = marker()
    body = b"x" * 65536
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body
    head = f"POST http://localhost:{up.port}/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\n{framing}\r\n\r\n".encode()
    with socket.create_connection((LOOPBACK, gate.port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        try:
            sock.sendall(payload)
        except OSError:
            pass  # the proxy may stop reading first
        resp = read_response(sock, "POST")
    assert resp.status == 413, resp.text
    assert up.requests_for(m) == []
    final = [d for d in gate.decisions() if d["path"] == f"/{m}"][-1]
    assert (final["decision"], final["reason"]) == ("deny", "request body too large")
    # Under the limit the same route works.
    assert http_request(gate.port, "POST", f"http://localhost:{up.port}/{m}/small", body=b"x" * 1000).status == 200


def test_the_body_limit_bounds_requests_only_an_answer_of_any_size_streams(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    # mitmproxy's one body_size_limit would refuse an answer over it too, announced length or not.
    up = upstreams["plain2"]
    gate = proxies.start({"version": 1, "routes": [{"host": "localhost", "ports": [up.port]}]}, env={"EGRESS_PROXY_MAX_BODY_BYTES": "4096"})
    m = marker()
    resp = http_request(gate.port, "GET", f"http://localhost:{up.port}/{m}/bytes/300000")
    assert resp.status == 200, resp.text[:200]
    assert resp.body == b"b" * 300000
    assert http_request(gate.port, "POST", f"http://localhost:{up.port}/{m}", body=b"x" * 5000).status == 413


# --------------------------------------------------------------------------- audit mode


def test_audit_mode_lets_through_what_no_route_covers_without_a_credential_and_logs_it(
    proxies: ProxyFactory, upstreams: dict[str, Upstream]
) -> None:
    up = upstreams["plain"]
    routes = standard_routes(upstreams)
    routes["audit"] = True
    audit = proxies.start(routes, env=TOKENS)
    m = marker()
    # A path route 0 does not allow: through (no credential added, the agent's own stripped).
    agent_auth = [("Host", f"localhost:{up.port}"), ("Authorization", "agent")]
    resp = http_request(audit.port, "GET", f"http://localhost:{up.port}/elsewhere/{m}", headers=agent_auth)
    assert resp.status == 200, resp.text
    [seen] = up.requests_for(m)
    assert "authorization" not in {k.lower() for k, _ in seen.headers}
    assert decision_for(audit, path=f"/elsewhere/{m}") == {
        "decision": "audit-allow", "by": "egress-proxy", "reason": "audit: path not allowed", "route": None, "token": None,
        "host": "localhost", "port": up.port, "method": "GET", "path": f"/elsewhere/{m}", "lane": "inspect",
    }  # fmt: skip
    # A covered request is decided by its route as usual: credential injected.
    m2 = marker()
    assert http_request(audit.port, "GET", f"http://localhost:{up.port}/user/{m2}").status == 200
    [covered] = up.requests_for(m2)
    assert ("Authorization", BEARER) in covered.headers
    assert decision_for(audit, path=f"/user/{m2}")["decision"] == "allow"


def test_audit_mode_still_refuses_what_is_unsafe(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    routes = standard_routes(upstreams)
    routes["audit"] = True
    audit = proxies.start(routes, env=TOKENS)
    m = marker()
    assert_refused_and_not_forwarded(
        http_request(audit.port, "GET", f"http://localhost:{up.port}/user/../admin/{m}"), up, m, contains="path rejected (dot segment)"
    )
    assert_refused(http_request(audit.port, "TRACE", f"http://localhost:{up.port}/{m}"), contains="method not allowed")
