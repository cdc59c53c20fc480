"""A refused HTTPS request shows its gate and true reason in the agent's clients: the real curl,
git and Python's HTTP client, through the real mitmproxy, and the real pipelock (pipelocks.py)
where pipelock's reason is the point.

The egress proxy's refusal at CONNECT is answered inside the accepted tunnel (refused_tunnels.py),
with nothing sent anywhere for it; pipelock's refusal of a tunnel is quoted in its own words
(connect_refusal_body.py) and its decision line carries the bounded reason.
"""

import os
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKSTOP, TIMEOUT, Pki, Proxy, ProxyFactory, Upstream, connect, free_port, marker, read_response, wait_for, wrap_tls
from connect_refusal_body import announced_body_pending
from pipelocks import Pipelock, inspect_config, make_pipelock_ca, pipelock_binary, start_pipelock

NOT_IN_PIPELOCK = "not-in-pipelock.test"  # a route of the egress proxy's, not in pipelock's allowlist
NOWHERE = "nowhere.invalid"  # a route of both, whose name does not resolve (RFC 6761)


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: the data-plane tests run the real client"
    return found


def client_env(home: Path) -> dict[str, str]:
    """A client's environment without the host's proxies or configuration."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def curl(proxy: Proxy, url: str, home: Path, *options: str) -> subprocess.CompletedProcess[str]:
    argv = [tool("curl"), "-sS", "--proxy", f"http://127.0.0.1:{proxy.port}", "--cacert", str(proxy.ca_cert), *options, url]
    return subprocess.run(argv, env=client_env(home), capture_output=True, text=True, timeout=30, check=False)


def git_ls_remote(proxy: Proxy, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    argv = [tool("git"), "-c", f"http.proxy=http://127.0.0.1:{proxy.port}", "-c", f"http.sslCAInfo={proxy.ca_cert}", "ls-remote", url]
    return subprocess.run(argv, env=client_env(home), capture_output=True, text=True, timeout=30, check=False)


def python_get(proxy: Proxy, url: str) -> tuple[int, str]:
    """What Python's urllib (http.client underneath) gets: the status and body of its HTTPError."""
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{proxy.port}"}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=TIMEOUT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def lines_for(proxy: Proxy, host: str) -> list[tuple[str, str, str, str]]:
    return [(d["decision"], d["by"], d["reason"], d["method"]) for d in proxy.decisions() if d["host"] == host]


# --------------------------------------------------------------------------- the egress proxy's refusals at CONNECT


@pytest.fixture(scope="module")
def chain(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proxy, Pipelock, int]]:
    """The egress proxy in upstream mode through the real pipelock. Its routes: the TLS upstream,
    a port of localhost where nothing listens, a host pipelock does not allow, a host that does
    not resolve. Returns the gate, pipelock and the closed port."""
    work = tmp_path_factory.mktemp("refusing-pipelock")
    ca = make_pipelock_ca(work)
    pipelock = start_pipelock(pipelock_binary(), inspect_config(["localhost", NOWHERE], free_port(), ca), work, pki.ca_pem)
    closed = free_port()
    route: dict[str, Any] = {"methods": ["GET"], "path_allowlist": ["/"]}
    routes = {
        "version": 1,
        "routes": [
            {"host": "localhost", "ports": [upstreams["tls"].port, closed], **route},
            {"host": NOT_IN_PIPELOCK, "ports": [443], **route},
            {"host": NOWHERE, "ports": [443], **route},
        ],
    }
    env = {"EGRESS_PROXY_UPSTREAM_PROXY": f"http://127.0.0.1:{pipelock.port}", "EGRESS_PROXY_UPSTREAM_CA": str(ca[0])}
    yield proxies.start(routes, env=env), pipelock, closed
    pipelock.stop()


@pytest.fixture(params=["regular", "upstream"])
def either(request: pytest.FixtureRequest) -> Proxy:
    """The gate in regular mode (no next gate) or in upstream mode (through pipelock)."""
    proxy: Proxy = request.getfixturevalue("gate") if request.param == "regular" else request.getfixturevalue("chain")[0]
    return proxy


def assert_proxys_own_refusal(answer: bytes) -> None:
    """What mitmproxy answers bytes it cannot read as HTTP with: a 400 page of its own, or nothing."""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 Bad Request\r\nServer: mitmproxy "), answer


def assert_nothing_left(proxy: Proxy, up: Upstream, connections: int, backstop: int, request: pytest.FixtureRequest, host: str) -> None:
    """No connection out for a refused tunnel: none reached the upstream, none was even tried
    (the server_connect backstop never saw one), and pipelock never heard of the host."""
    assert not wait_for(lambda: up.connections != connections, timeout=0.3)
    assert proxy.output().count(BACKSTOP) == backstop
    if "chain" in request.fixturenames:
        assert host not in request.getfixturevalue("chain")[1].log_path.read_text(errors="replace")


@pytest.mark.parametrize("http_version", ["--http1.1", "--http2"])
def test_curl_prints_the_egress_proxys_refusal_of_a_connect(
    either: Proxy, upstreams: dict[str, Upstream], request: pytest.FixtureRequest, tmp_path: Path, http_version: str
) -> None:
    host = f"x{marker()}.example"
    up = upstreams["tls"]
    connections, backstop = up.connections, either.output().count(BACKSTOP)
    run = curl(either, f"https://{host}/repos/acme", tmp_path, http_version)
    assert (run.returncode, run.stdout, run.stderr) == (0, f"egress-proxy: host not in allowlist: {host}\n", "")
    # The CONNECT's line, and the request's with the same reason.
    assert lines_for(either, host) == [
        ("deny", "egress-proxy", "host not in allowlist", "CONNECT"),
        ("deny", "egress-proxy", "host not in allowlist", "GET"),
    ]
    assert_nothing_left(either, up, connections, backstop, request, host)


def test_curl_prints_the_refusal_of_an_ip_literal_and_nothing_reaches_it(
    either: Proxy, upstreams: dict[str, Upstream], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    up = upstreams["tls"]  # listening there: a connection would be counted
    connections, backstop = up.connections, either.output().count(BACKSTOP)
    run = curl(either, f"https://127.0.0.1:{up.port}/user", tmp_path)
    assert (run.returncode, run.stdout) == (0, "egress-proxy: host not allowed (IP literal or invalid name): 127.0.0.1\n"), run.stderr
    assert_nothing_left(either, up, connections, backstop, request, f"127.0.0.1:{up.port}")


def test_git_prints_the_egress_proxys_refusal_of_a_connect(either: Proxy, tmp_path: Path) -> None:
    host = f"x{marker()}.example"
    run = git_ls_remote(either, f"https://{host}/acme/app.git", tmp_path)
    assert run.returncode == 128
    # git shows a text/plain error answer line by line, as the remote's.
    assert f"remote: egress-proxy: host not in allowlist: {host}\n" in run.stderr, run.stderr


def test_pythons_http_client_gets_the_egress_proxys_refusal_of_a_connect(either: Proxy) -> None:
    host = f"x{marker()}.example"
    assert python_get(either, f"https://{host}/user") == (403, f"egress-proxy: host not in allowlist: {host}\n")


def test_a_refused_tunnel_answers_each_request_and_closes(either: Proxy, upstreams: dict[str, Upstream]) -> None:
    up = upstreams["tls"]
    target = f"localhost:{up.port + 1 if up.port < 65535 else up.port - 1}"
    sock, refusal = connect(either.port, target)
    assert refusal is None
    with wrap_tls(sock, either.ca_cert, "localhost") as tls_sock:
        tls_sock.sendall(b"GET /user HTTP/1.1\r\nHost: localhost\r\n\r\n")
        resp = read_response(tls_sock)
        assert (resp.status, dict(resp.headers)["Connection"]) == (403, "close")
        assert resp.text.startswith(f"egress-proxy: port not allowed for localhost: {target.rsplit(':', 1)[1]}")
        assert dict(resp.headers)["Content-Type"].startswith("text/plain")
        assert tls_sock.recv(1) == b""  # closed after the answer


@pytest.mark.parametrize(
    "inside",
    [
        pytest.param(b"GET /user HTTP/1.1\r\nHost: localhost\r\n\r\n", id="plain HTTP"),
        pytest.param(b"\x00\x01 not a protocol \r\n\r\n", id="neither TLS nor HTTP"),
    ],
)
def test_no_tls_inside_a_refused_tunnel_relays_nothing(
    either: Proxy, upstreams: dict[str, Upstream], request: pytest.FixtureRequest, inside: bytes
) -> None:
    up = upstreams["plain"]  # plain HTTP, listening: what was relayed would arrive
    connections, backstop = up.connections, either.output().count(BACKSTOP)
    sock, refusal = connect(either.port, f"127.0.0.1:{up.port}")
    assert refusal is None
    with sock:
        sock.sendall(inside)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if inside.startswith(b"GET"):
        assert answer.startswith(b"HTTP/1.1 403 ") and answer.endswith(
            b"egress-proxy: host not allowed (IP literal or invalid name): 127.0.0.1\n"
        )
    else:
        assert_proxys_own_refusal(answer)
    assert_nothing_left(either, up, connections, backstop, request, f"127.0.0.1:{up.port}")


def test_not_http_inside_tls_in_a_refused_tunnel_relays_nothing(
    either: Proxy, upstreams: dict[str, Upstream], request: pytest.FixtureRequest
) -> None:
    up = upstreams["tls"]
    connections, backstop = up.connections, either.output().count(BACKSTOP)
    sock, refusal = connect(either.port, f"127.0.0.1:{up.port}")
    assert refusal is None
    with wrap_tls(sock, either.ca_cert, "localhost") as tls_sock:
        tls_sock.sendall(b"\x00\x01 not HTTP \r\n\r\n")
        answer = b""
        while chunk := tls_sock.recv(65536):
            answer += chunk
    assert_proxys_own_refusal(answer)
    assert_nothing_left(either, up, connections, backstop, request, f"127.0.0.1:{up.port}")


def test_the_healthchecks_probe_leaves_no_line(gate: Proxy) -> None:
    # conftest's start-up probe and this one: answered, not written.
    with socket.create_connection(("127.0.0.1", gate.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET http://egress-proxy-healthcheck.invalid/ HTTP/1.1\r\nHost: egress-proxy-healthcheck.invalid\r\n\r\n")
        assert read_response(sock).status == 403
    assert lines_for(gate, "egress-proxy-healthcheck.invalid") == []


# --------------------------------------------------------------------------- pipelock's refusals of a tunnel, in its words


@pytest.mark.parametrize(
    ("host", "line", "reason"),
    [
        (NOT_IN_PIPELOCK, f"pipelock: CONNECT blocked: domain not in allowlist: {NOT_IN_PIPELOCK}\n", "allowlist"),
        # The resolver's own words follow (its address, "no such host" or a timeout).
        (NOWHERE, f"pipelock: CONNECT blocked: SSRF check failed: DNS resolution error for {NOWHERE}: ", "dns"),
        ("closed", "pipelock: tunnel dial failed\n", "tunnel dial failed"),
    ],
)
def test_curl_git_and_python_print_pipelocks_own_reason(
    chain: tuple[Proxy, Pipelock, int], tmp_path: Path, host: str, line: str, reason: str
) -> None:
    gate, _, closed = chain
    authority = f"localhost:{closed}" if host == "closed" else host
    name = authority.split(":", 1)[0]
    before = len(lines_for(gate, name))
    run = curl(gate, f"https://{authority}/curl", tmp_path)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert run.stdout.startswith(line) and run.stdout.count("\n") == 1, run.stdout
    git = git_ls_remote(gate, f"https://{authority}/acme/app.git", tmp_path)
    assert git.returncode == 128 and f"remote: {line}" in git.stderr, git.stderr
    status, body = python_get(gate, f"https://{authority}/python")
    assert status == 403 and body.startswith(line), body
    # Each request: the egress proxy allowed its tunnel, pipelock refused it, with the classified reason.
    each = [("allow", "egress-proxy", "allowed", "CONNECT"), ("deny", "pipelock", reason, "GET")]
    assert lines_for(gate, name)[before:] == each * 3


HEAD = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 54\r\n\r\n"
LINE = b"CONNECT blocked: domain not in allowlist: example.org\n"


@pytest.mark.parametrize(
    ("received", "pending"),
    [
        (HEAD, True),
        (HEAD + LINE[:10], True),
        (HEAD + LINE, False),
        (HEAD[:20], False),  # no whole head yet: mitmproxy waits for it itself
        (b"HTTP/1.1 200 Connection established\r\nContent-Length: 5\r\n\r\n", False),  # a tunnel: never held
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", False),  # no length announced
        (b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2000\r\n\r\n", False),  # longer than what is kept
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: x\r\n\r\n", False),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 19\r\n\r\ntunnel dial", True),
    ],
)  # fmt: skip
def test_a_refusals_announced_body_is_waited_for(received: bytes, pending: bool) -> None:
    assert announced_body_pending(received) is pending


def test_pip_shows_the_refusal_in_its_status_line(either: Proxy, tmp_path: Path) -> None:
    # pip never shows a refused answer's body; with -vv it shows its status line, which carries the line.
    host = f"x{marker()}.example"
    argv = [tool("pip3"), "download", "-vv", "--no-deps", "--retries", "0", "-d", str(tmp_path / "wheels")]
    argv += ["--proxy", f"http://127.0.0.1:{either.port}", "--cert", str(either.ca_cert), "--index-url", f"https://{host}/simple", "six"]
    run = subprocess.run(argv, env=client_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1
    assert (
        f"403 Client Error: Forbidden (egress-proxy: host not in allowlist: {host}) for url: https://{host}/simple/six/"
        in run.stdout + run.stderr
    ), run.stdout
