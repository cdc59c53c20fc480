"""Stopping the egress proxy: on SIGTERM it refuses new connections at once (a client then
tries the network alias's other address, the replacement that has taken over) and lets the
requests in flight finish before it exits. This is what makes a route change or a token
rotation invisible to the agent (the replacement starts before the old proxy stops).
"""

import http.client
import signal
import socket
import time
from dataclasses import dataclass

from conftest import LOOPBACK, TIMEOUT, TOKENS, Proxy, ProxyFactory, Upstream, marker, standard_routes, wait_for


def _start_stream(proxy: Proxy, up: Upstream, m: str) -> http.client.HTTPResponse:
    """A streamed answer held open by the upstream until the test opens the gate."""
    sock = socket.create_connection((LOOPBACK, proxy.port), timeout=TIMEOUT)
    target = f"http://localhost:{up.port}/user/gated/{m}"
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost:{up.port}\r\n\r\n".encode())
    resp = http.client.HTTPResponse(sock, method="GET")
    resp.begin()
    assert resp.status == 200
    assert resp.read1() == b"data: first\n\n"
    return resp


@dataclass
class Stopping:
    """A proxy sent SIGTERM with one streamed answer in flight, held open by the upstream."""

    proxy: Proxy
    upstream: Upstream
    marker: str
    in_flight: http.client.HTTPResponse
    signalled_at: float  # time.monotonic() when SIGTERM was sent


def _stream_then_sigterm(proxies: ProxyFactory, upstreams: dict[str, Upstream], drain_seconds: str) -> Stopping:
    """A proxy with the given drain, a streamed answer in flight through it, then SIGTERM."""
    proxy = proxies.start(standard_routes(upstreams), env={**TOKENS, "EGRESS_PROXY_DRAIN_SECONDS": drain_seconds})
    up = upstreams["plain"]
    m = marker()
    in_flight = _start_stream(proxy, up, m)
    # The readiness check's connection may not be closed on the proxy's side yet (a loaded
    # machine): the drain must start with exactly the stream open, or its logged count races.
    assert wait_for(lambda: _open_client_connections(proxy) == 1, timeout=TIMEOUT), proxy.output()
    proxy.process.send_signal(signal.SIGTERM)
    return Stopping(proxy, up, m, in_flight, time.monotonic())


def _open_client_connections(proxy: Proxy) -> int:
    """Client connections the proxy has logged as opened and not yet as closed."""
    log = proxy.output()
    return log.count("] client connect\n") - log.count("] client disconnect\n")


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_requests_in_flight_and_refuses_new_connections(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    stopping = _stream_then_sigterm(proxies, upstreams, "20")
    proxy = stopping.proxy
    # Probed only once the drain has begun: a connection made before the signal is handled is
    # accepted, and rightly counted among those drained.
    assert wait_for(lambda: "egress-proxy: draining" in proxy.output()), proxy.output()
    assert wait_for(lambda: _refuses_connections(proxy.port)), "still accepting connections after SIGTERM"
    assert proxy.process.poll() is None, "exited with a request in flight"

    stopping.upstream.gate(stopping.marker).set()
    assert stopping.in_flight.read() == b"data: last\n\n"
    stopping.in_flight.close()
    started = time.monotonic()
    assert proxy.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5, "waited for the drain deadline with no connection open"
    assert "egress-proxy: draining 1 connections (up to 20 s)" in proxy.output(), proxy.output()


def test_control_without_a_drain_sigterm_cuts_the_request_in_flight(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    stopping = _stream_then_sigterm(proxies, upstreams, "0")
    stopping.proxy.process.wait(timeout=10)
    stopping.upstream.gate(stopping.marker).set()
    try:
        rest = stopping.in_flight.read()
    except (http.client.IncompleteRead, ConnectionError):
        rest = b""
    assert rest != b"data: last\n\n"


def test_the_drain_ends_at_its_deadline_with_a_connection_still_open(proxies: ProxyFactory, upstreams: dict[str, Upstream]) -> None:
    stopping = _stream_then_sigterm(proxies, upstreams, "2")
    assert stopping.proxy.process.wait(timeout=10) == 0
    assert 1.5 < time.monotonic() - stopping.signalled_at < 6
    assert "stopping with 1 connections open" in stopping.proxy.output()
    stopping.upstream.gate(stopping.marker).set()
    stopping.in_flight.close()
