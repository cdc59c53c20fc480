"""Fail-open trap: mitmproxy logs an exception in a hook and carries on with the flow.

End to end, a helper script loaded before the addon makes the addon's own decision code
raise for chosen requests; the flow must be refused and nothing may reach the upstream.
Without the guard mitmproxy would forward these requests (CONNECT: connect eagerly).
The remaining hooks are unit-tested with mitmproxy's taddons/tflow helpers.
"""

import asyncio
import ssl
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import connection, http
from mitmproxy.test import taddons, tflow, tutils

import egress_proxy as ep
from conftest import (
    TOKENS,
    Pki,
    Proxy,
    ProxyFactory,
    Upstream,
    connect,
    http_request,
    standard_routes,
    wait_for,
)

SABOTEUR = textwrap.dedent(
    """
    # Test helper: makes the egress addon's own code raise for marked flows.
    from mitmproxy import ctx

    class Saboteur:
        def __init__(self):
            self.done = False

        def _patch(self):
            egress = ctx.master.addons.get("egressproxy")
            if self.done or egress is None or egress.table is None:
                return
            table, inject = egress.table, egress._inject
            decide_request, decide_connect = table.decide_request, table.decide_connect
            calls = {}

            def boom_request(host, port, method, path, tls=True):
                if "boom-decide" in path:
                    raise RuntimeError("boom in decide_request")
                if "boom-allow" in path:  # a wrong "allow": the server_connect backstop must hold
                    return Decision(True, "allowed", "", table.routes[1])
                return decide_request(host, port, method, path, tls)

            Decision = decide_request.__func__.__globals__["Decision"]

            def boom_connect(host, port):
                if port == BOOM_PORT:
                    raise RuntimeError("boom in decide_connect")
                return decide_connect(host, port)

            def boom_inject(flow, decision, *credential):
                if "boom-inject" in flow.request.path:
                    calls[flow.id] = calls.get(flow.id, 0) + 1
                    if calls[flow.id] == 2:  # the second call is in the request hook
                        raise RuntimeError("boom in request")
                return inject(flow, decision, *credential)

            table.decide_request, table.decide_connect, egress._inject = boom_request, boom_connect, boom_inject
            self.done = True

        def running(self):
            self._patch()

        def http_connect(self, flow):
            self._patch()

        def requestheaders(self, flow):
            self._patch()

    addons = [Saboteur()]
    """
)


@pytest.fixture(scope="module")
def sabotaged(proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Proxy:
    script = tmp_path_factory.mktemp("saboteur") / "saboteur.py"
    script.write_text(SABOTEUR.replace("BOOM_PORT", str(upstreams["tls"].port)))
    # mitmproxy runs -s scripts in order: the saboteur's hooks run first and patch the addon.
    return proxies.start(
        standard_routes(upstreams),
        env=TOKENS,
        extra=["-s", str(script), "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}"],
    )


def _internal_error(resp: Any) -> None:
    assert resp.status == 500, resp.text
    assert resp.text.startswith("egress-proxy: internal error: request refused (")


def test_exception_while_deciding_a_request_refuses_it(sabotaged: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = uuid.uuid4().hex
    resp = http_request(sabotaged.port, "GET", f"http://localhost:{up.port}/user/boom-decide-{m}")
    _internal_error(resp)
    assert "RuntimeError" in resp.text
    assert up.requests_for(m) == []
    # The same proxy still serves allowed requests (the patch is live, not a crash).
    ok = http_request(sabotaged.port, "GET", f"http://localhost:{up.port}/user/fine-{m}")
    assert ok.status == 200
    assert len(up.requests_for(m)) == 1


def test_exception_in_the_request_hook_refuses_it(sabotaged: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["plain"]
    m = uuid.uuid4().hex
    resp = http_request(sabotaged.port, "POST", f"http://localhost:{up.port}/user/boom-inject-{m}", body=b"x" * 100)
    _internal_error(resp)
    assert up.requests_for(m) == []


def test_exception_while_deciding_a_connect_refuses_it_without_connecting(sabotaged: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    before = up.connections
    _, refusal = connect(sabotaged.port, f"localhost:{up.port}")
    assert refusal is not None
    _internal_error(refusal)
    assert not wait_for(lambda: up.connections != before, timeout=0.3)


def test_server_connect_backstop_holds_when_a_request_is_wrongly_allowed(sabotaged: Proxy, upstreams: dict[str, Upstream]) -> None:
    from conftest import _start_upstream

    unrouted, server = _start_upstream(None)  # in no route
    try:
        m = uuid.uuid4().hex
        resp = http_request(sabotaged.port, "GET", f"http://localhost:{unrouted.port}/boom-allow-{m}")
        assert resp.status == 502, resp.text
        assert not wait_for(lambda: unrouted.connections != 0, timeout=0.3)
        assert unrouted.requests == []
        assert f"egress-proxy: connection to ('localhost', {unrouted.port}) not allowed" in sabotaged.output()
    finally:
        server.shutdown()
        server.server_close()


def test_internal_errors_are_logged_as_denials(sabotaged: Proxy) -> None:
    reasons = {d["reason"] for d in sabotaged.decisions() if d["decision"] == "deny"}
    assert "internal error" in reasons
    for token in TOKENS.values():
        assert token not in sabotaged.output()


# --------------------------------------------------------------------------- unit level


def _routes(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "version: 1\nroutes:\n"
        "  - host: api.github.com\n    ports: [443]\n"
        "    auth: {header: Authorization, prefix: 'token ', token_env: EGRESS_PROXY_TOKEN_0}\n"
        "  - host: uploads.github.com\n    ports: [443]\n"
    )
    return path


@pytest.fixture
def addon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("EGRESS_PROXY_TOKEN_0", "tok-taddons")
    a = ep.EgressProxy()
    with taddons.context(a) as tctx:
        tctx.configure(a, egress_routes=str(_routes(tmp_path)))
        yield a


def _flow(host: str = "api.github.com", port: int = 443, path: bytes = b"/x", headers: Any = None) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=port, scheme=b"https", authority=b"", path=path)
    req.headers = http.Headers(headers if headers is not None else [(b"Host", host.encode())])
    f = tflow.tflow(req=req)
    f.client_conn.tls = False
    return f


def test_unloaded_addon_refuses_everything() -> None:
    a = ep.EgressProxy()  # configure never ran: no routes
    f = _flow()
    a.requestheaders(f)
    assert f.response is not None and f.response.status_code == 403
    assert b"routes not loaded" in (f.response.content or b"")
    c = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="api.github.com", port=443, authority=b"api.github.com:443", path=b""))
    a.http_connect(c)
    # Accepted, to refuse each request inside where the agent sees it (refused_tunnels.py).
    assert c.response is not None and c.response.status_code == 200
    inside = _flow()
    inside.client_conn = c.client_conn
    a.requestheaders(inside)
    assert inside.response is not None and inside.response.status_code == 403
    assert (inside.response.content or b"").startswith(b"egress-proxy: routes not loaded: ")


def test_bad_routes_on_configure_leave_the_addon_refusing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_PROXY_TOKEN_0", "tok-taddons")
    a = ep.EgressProxy()
    with taddons.context(a) as tctx:
        tctx.configure(a, egress_routes=str(_routes(tmp_path)))
        assert a.table is not None
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 2\nroutes: []\n")
        tctx.configure(a, egress_routes=str(bad))
        assert a.table is None
        f = _flow()
        a.requestheaders(f)
        assert f.response is not None and f.response.status_code == 403


def test_request_hook_without_decision_refuses(addon: Any) -> None:
    f = _flow()
    asyncio.run(addon.request(f))  # requestheaders never ran for this flow
    assert f.response is not None and f.response.status_code == 500


def test_injection_replaces_every_client_copy_and_clears_trailers(addon: Any) -> None:
    f = _flow(headers=[(b"Host", b"api.github.com"), (b"authorization", b"a"), (b"AUTHORIZATION", b"b"), (b"Authorization", b"c")])
    f.request.trailers = http.Headers([(b"Authorization", b"smuggled")])
    addon.requestheaders(f)
    assert f.response is None
    assert f.request.headers.get_all("authorization") == ["token tok-taddons"]
    f.request.headers.add("Authorization", "added-after-requestheaders")
    asyncio.run(addon.request(f))
    assert f.request.headers.get_all("authorization") == ["token tok-taddons"]
    assert not f.request.trailers


def test_headers_meant_for_the_proxy_are_not_forwarded(addon: Any) -> None:
    f = _flow(
        host="uploads.github.com",
        headers=[(b"Host", b"uploads.github.com"), (b"Proxy-Authorization", b"Basic eA=="), (b"proxy-connection", b"keep-alive")],
    )
    addon.requestheaders(f)
    asyncio.run(addon.request(f))
    assert f.response is None
    assert "proxy-authorization" not in f.request.headers and "proxy-connection" not in f.request.headers


def test_injected_header_is_stripped_for_route_without_auth(addon: Any) -> None:
    f = _flow(host="uploads.github.com", headers=[(b"Host", b"uploads.github.com"), (b"Authorization", b"agent")])
    addon.requestheaders(f)
    asyncio.run(addon.request(f))
    assert f.response is None
    assert "authorization" not in f.request.headers


def test_idna_connect_target_is_rewritten_to_the_checked_name(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nroutes:\n  - host: xn--bcher-kva.example\n")
    a = ep.EgressProxy()
    with taddons.context(a) as tctx:
        tctx.configure(a, egress_routes=str(path))
        f = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="BÜCHER.example.", port=443, authority=b"", path=b""))
        a.http_connect(f)
        assert f.response is None
        assert f.request.host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "path,headers,reason",
    [
        # An HTTP/2 :path is written into the HTTP/1 request line as is: a CRLF or a space in
        # the query would end it and start a second request that carries the credential.
        (b"/x?a HTTP/1.1\r\nHost: api.github.com\r\n\r\nDELETE /orgs/acme?", None, b"byte in the query"),
        (b"/x?a b", None, b"byte in the query"),
        (b"/x?a#frag", None, b"fragment"),
        (b"/x", [(b"Host", b"api.github.com"), (b"X-Foo", b"a\r\nX-Injected: yes")], b"CR, LF or NUL in a header"),
        (b"/x", [(b"Host", b"api.github.com"), (b"X-Foo\nBar", b"1")], b"CR, LF or NUL in a header"),
    ],
)
def test_request_splitting_bytes_are_refused_before_injection(addon: Any, path: bytes, headers: Any, reason: bytes) -> None:
    f = _flow(path=path, headers=headers)
    addon.requestheaders(f)
    assert f.response is not None and f.response.status_code == 403
    assert reason in (f.response.content or b"")
    assert "authorization" not in f.request.headers  # nothing was injected


def test_tls_start_client_refuses_tls_straight_to_the_proxy() -> None:
    from mitmproxy import tls

    a = ep.EgressProxy()
    direct = _hello_data(None, "api.github.com")  # no CONNECT: the proxy port itself
    start = tls.TlsData(direct.context.client, direct.context)
    a.tls_start_client(start)
    assert_refusing(start.ssl_conn)
    tunnel = _hello_data(("api.github.com", 443), "api.github.com")
    ok = tls.TlsData(tunnel.context.client, tunnel.context)
    a.tls_start_client(ok)
    assert ok.ssl_conn is None  # left to mitmproxy's own TLS addon


def assert_refusing(conn: Any) -> None:
    # mitmproxy's TLS addon only fills in a connection when none was provided, so a refusal
    # must be a connection of our own that cannot handshake.
    from OpenSSL import SSL

    assert isinstance(conn, SSL.Connection)
    with pytest.raises(SSL.Error):
        conn.do_handshake()


def test_stream_large_bodies_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_PROXY_TOKEN_0", "tok-taddons")
    a = ep.EgressProxy()
    with taddons.context(a) as tctx:
        # Declared by mitmproxy's proxyserver addon, which a bare taddons context lacks.
        tctx.options.add_option("stream_large_bodies", str | None, None, "")
        tctx.configure(a, egress_routes=str(_routes(tmp_path)))
        assert a.table is not None
        tctx.configure(a, stream_large_bodies="1m")
        assert a.table is None


def _hello_data(address: tuple[str, int] | None, sni: str | None) -> Any:
    from mitmproxy import tls
    from mitmproxy.proxy import context

    client = tflow.tclient_conn()
    client.sni = sni
    ctx = context.Context(client, taddons.context().options)
    ctx.server = connection.Server(address=address)
    hello = tls.ClientHello(_client_hello_bytes(sni))
    return tls.ClientHelloData(ctx, hello)


def _client_hello_bytes(sni: str | None) -> bytes:
    # A real ClientHello from the ssl module, minus the record and handshake headers.
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni or "placeholder.example")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()[9:]


def test_tls_clienthello_pins_upstream_sni_to_the_target() -> None:
    a = ep.EgressProxy()
    data = _hello_data(("api.github.com", 443), "evil.example")
    data.ignore_connection = True
    a.tls_clienthello(data)
    assert data.context.server.sni == "api.github.com"
    assert data.ignore_connection is False  # never a pass-through tunnel


def test_tls_start_server_refuses_a_connection_with_a_foreign_sni() -> None:
    from mitmproxy import tls

    a = ep.EgressProxy()
    data = _hello_data(("api.github.com", 443), "evil.example")
    server = data.context.server
    server.sni = "evil.example"
    start = tls.TlsData(server, data.context)
    a.tls_start_server(start)
    assert_refusing(start.ssl_conn)
    server.sni = "api.github.com"
    ok = tls.TlsData(server, data.context)
    a.tls_start_server(ok)
    assert ok.ssl_conn is None  # left to mitmproxy's own TLS addon


def test_raw_tcp_and_udp_flows_are_killed() -> None:
    a = ep.EgressProxy()
    f = tflow.ttcpflow()
    a.tcp_start(f)
    assert f.error is not None and f.error.msg == "Connection killed."
    u = tflow.tudpflow()
    a.udp_start(u)
    assert u.error is not None and u.error.msg == "Connection killed."


def test_response_to_an_undecided_request_is_killed(addon: Any) -> None:
    f = _flow()
    f.response = tutils.tresp()
    addon.responseheaders(f)
    assert f.error is not None and "killed" in f.error.msg.lower()


def test_websocket_start_without_allow_is_killed(addon: Any) -> None:
    f = tflow.twebsocketflow()
    addon.websocket_start(f)
    assert f.error is not None


def _connect_data(address: tuple[str, int] | None) -> Any:
    from mitmproxy.proxy import server_hooks

    return server_hooks.ServerConnectionHookData(connection.Server(address=address), tflow.tclient_conn())


@pytest.mark.parametrize(
    "address,allowed",
    [
        (("api.github.com", 443), True),
        (("API.github.com.", 443), True),
        (("api.github.com", 80), False),
        (("evil.example", 443), False),
        (("140.82.112.5", 443), False),
        (None, False),
    ],
)
def test_server_connect_only_to_route_targets(addon: Any, address: Any, allowed: bool) -> None:
    data = _connect_data(address)
    addon.server_connect(data)
    assert (data.server.error is None) is allowed


def test_server_connect_allows_the_upstream_proxy_in_upstream_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_PROXY_TOKEN_0", "tok-taddons")
    a = ep.EgressProxy()
    with taddons.context(a) as tctx:
        tctx.configure(a, egress_routes=str(_routes(tmp_path)), mode=["upstream:http://pipelock:8888"])
        ok = _connect_data(("pipelock", 8888))
        a.server_connect(ok)
        assert ok.server.error is None
        other = _connect_data(("pipelock", 8889))
        a.server_connect(other)
        assert other.server.error is not None


def test_server_connect_refuses_everything_without_routes() -> None:
    data = _connect_data(("api.github.com", 443))
    ep.EgressProxy().server_connect(data)
    assert data.server.error is not None
