"""Fixtures for the egress-proxy data-plane suite: real mitmdump, real sockets, loopback only.

- The addon is found in $EGRESS_PROXY_ADDON_DIR (default: the repo's image folder),
  mitmdump next to this interpreter or on PATH. Nothing is written into the repo.
- Upstreams are local echo servers (plain HTTP and TLS with a CA made here) that record
  every TCP connection, TLS SNI and request they receive: tests assert on what
  actually arrived, not on what the proxy said.
"""

import datetime
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
ADDON_DIR = Path(os.environ.get("EGRESS_PROXY_ADDON_DIR") or REPO / "components" / "egress-proxy" / "image")
ADDON = ADDON_DIR / "egress_proxy.py"
LOOPBACK = "127.0.0.1"
TIMEOUT = 10.0

sys.path.insert(0, str(ADDON_DIR))
import egress_routes  # noqa: E402
import entrypoint  # noqa: E402


def find_mitmdump() -> str:
    beside = Path(sys.executable).parent / "mitmdump"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mitmdump")
    assert found, "mitmdump not found next to the interpreter or on PATH"
    return found


MITMDUMP = find_mitmdump()
# What the addon's server_connect backstop logs when it stops a connection.
BACKSTOP = "egress-proxy: connection to "


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- test CA


@dataclass
class Pki:
    ca_pem: Path
    leaf_cert: Path
    leaf_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(directory: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("bot-bottle dataplane test CA"))
        .issuer_name(_name("bot-bottle dataplane test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "test-ca.pem", directory / "leaf.pem", directory / "leaf-key.pem")
    pki.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.leaf_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.leaf_key.write_bytes(
        leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


# --------------------------------------------------------------------------- echo upstream


@dataclass
class Received:
    method: str
    path: str  # raw request target as received
    headers: list[tuple[str, str]]
    body: bytes
    sni: str | None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Upstream:
    """A local HTTP(S) server that records what reached it."""

    port: int
    tls: bool
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    snis: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # .../gated/<marker>: the rest of the answer waits until the test sets gates[marker].
    gates: dict[str, threading.Event] = field(default_factory=dict)

    def gate(self, marker: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(marker, threading.Event())

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.connections = 0
            self.snis.clear()

    def requests_for(self, marker: str) -> list[Received]:
        """Requests whose target contains `marker` (tests share upstreams, so they tag paths)."""
        with self.lock:
            return [r for r in self.requests if marker in r.path]


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else ~40 ms per request
    server: "_EchoServer"

    def setup(self) -> None:
        self.sni: str | None = None
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
            self.sni = getattr(self.request, "egress_sni", None)
            with self.server.upstream.lock:
                self.server.upstream.snis.append(self.sni)
        super().setup()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._echo
        raise AttributeError(name)

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received = Received(self.command, self.path, list(self.headers.items()), body, self.sni)
        with self.server.upstream.lock:
            self.server.upstream.requests.append(received)
        if "/gated/" in self.path:
            self._gated(self.path.rsplit("/", 1)[1])
            return
        if "/bytes/" in self.path:
            # .../bytes/<n>: n bytes with their length announced (a download).
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(b"b" * size)
            return
        payload = json.dumps({"path": self.path, "headers": received.headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _gated(self, marker: str) -> None:
        """An event stream whose first event is sent at once and the last only once the test
        opens the gate: a proxy that buffers responses never delivers the first."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event, wait in ((b"data: first\n\n", True), (b"data: last\n\n", False)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            if wait:
                self.server.upstream.gate(marker).wait(TIMEOUT)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: Upstream, context: ssl.SSLContext | None) -> None:
        self.upstream = upstream
        self.context = context
        super().__init__((LOOPBACK, 0), _EchoHandler)
        upstream.port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        with self.upstream.lock:
            self.upstream.connections += 1
        sock.settimeout(TIMEOUT)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes and resets are expected in these tests


def _server_context(pki: Pki, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.leaf_cert, pki.leaf_key)
    if alpn:
        ctx.set_alpn_protocols(alpn)

    def remember_sni(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sslobj.egress_sni = name  # type: ignore[attr-defined]

    ctx.sni_callback = remember_sni
    return ctx


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _start_upstream(context: ssl.SSLContext | None) -> tuple[Upstream, _EchoServer]:
    upstream = Upstream(port=0, tls=context is not None)
    server = _EchoServer(upstream, context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return upstream, server


@pytest.fixture(scope="session")
def upstreams(pki: Pki) -> Iterator[dict[str, Upstream]]:
    """plain: route 0 (credential), plain2: route 1 (no credential), tls: route 0 over TLS,
    h2: route 0 over TLS, offering ALPN h2 so that mitmproxy speaks HTTP/2 to the client
    (it records only HTTP/1 requests: nothing an h2 test refuses can show up there)."""
    started = {
        "plain": _start_upstream(None),
        "plain2": _start_upstream(None),
        "tls": _start_upstream(_server_context(pki)),
        "h2": _start_upstream(_server_context(pki, ["h2"])),
    }
    yield {name: up for name, (up, _) in started.items()}
    for _, server in started.values():
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tls_echo(pki: Pki) -> Iterator[Upstream]:
    """An echo upstream over TLS of the test module's own (the credential tests route to it)."""
    upstream, server = _start_upstream(_server_context(pki))
    yield upstream
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- mitmdump


class Proxy:
    """One mitmdump subprocess on a free loopback port."""

    def __init__(self, argv: list[str], env: Mapping[str, str], workdir: Path, port: int, confdir: Path) -> None:
        self.port = port
        self.confdir = confdir
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            argv, env=dict(env), stdout=self._stdout, stderr=self._stderr, stdin=subprocess.DEVNULL, cwd=workdir
        )

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every JSON line of its log: decisions, and the `startup` and `config_reload` lines."""
        return [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]

    def decisions(self) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if "decision" in line]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        problem: str | None = "not started"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mitmdump exited {self.process.returncode}:\n{self.output()}")
            problem = gate_answers(self.port)
            if problem is None:
                return
            time.sleep(0.1)
        raise AssertionError(f"mitmdump not ready: {problem}\n{self.output()}")

    def stop(self) -> None:
        stop_process(self.process)
        self._stdout.close()
        self._stderr.close()


@dataclass
class ProxyFactory:
    tmp: pytest.TempPathFactory
    started: list[Proxy] = field(default_factory=list)

    def write_routes(self, routes: object) -> Path:
        path = self.tmp.mktemp("routes") / "routes.yaml"
        path.write_text(routes if isinstance(routes, str) else json.dumps(routes))  # JSON is YAML
        return path

    def argv(
        self,
        routes_path: Path,
        env: Mapping[str, str],
        port: int,
        confdir: Path,
        extra: list[str],
        addon_path: Path = ADDON,
    ) -> list[str]:
        full_env = {**env, "EGRESS_PROXY_ROUTES": str(routes_path), "EGRESS_PROXY_PORT": str(port),
                    "EGRESS_PROXY_CONFDIR": str(confdir)}  # fmt: skip
        argv = [*entrypoint.build_argv(full_env, MITMDUMP, addon_path), "--listen-host", LOOPBACK, *extra]
        # What the entrypoint writes before it starts mitmdump: the upstream leg's one trust file.
        confdir.mkdir(parents=True, exist_ok=True)
        entrypoint.write_upstream_trust(full_env)
        return argv

    def start(
        self,
        routes: object,
        env: Mapping[str, str] | None = None,
        extra: list[str] | None = None,
        ready: bool = True,
        addon: bool = True,
        addon_path: Path = ADDON,
    ) -> Proxy:
        workdir = self.tmp.mktemp("proxy")
        confdir = workdir / "confdir"
        port = free_port()
        # Stop at once when the test ends, unless the test is about draining; metrics only
        # where a test asks for them (their port is one per machine).
        env = {"EGRESS_PROXY_DRAIN_SECONDS": "0", "EGRESS_PROXY_METRICS_PORT": "off", **(env or {})}
        if addon:
            routes_path = routes if isinstance(routes, Path) else self.write_routes(routes)
            argv = self.argv(routes_path, env, port, confdir, extra or [], addon_path)
        else:
            argv = [MITMDUMP, "--listen-host", LOOPBACK, "--listen-port", str(port),
                    "--set", f"confdir={confdir}", *(extra or [])]  # fmt: skip
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_PROXY_")}
        # Unbuffered: tests read mitmproxy's own log lines while it runs.
        proxy = Proxy(argv, {**base_env, "PYTHONUNBUFFERED": "1", **env}, workdir, port, confdir)
        self.started.append(proxy)
        if ready:
            if addon:
                proxy.wait_ready()
            else:
                wait_port(port)
        return proxy


def gate_answers(port: int) -> str | None:
    """None once the addon answers. Probes the healthcheck's name (refused whatever the routes
    say, audit mode included), which cannot resolve should the addon not be in place."""
    host = egress_routes.HEALTHCHECK_HOST.encode()
    try:
        resp = send_raw(port, b"GET http://" + host + b"/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
    except (OSError, http.client.HTTPException) as e:
        return f"no answer: {e}"
    if resp.status == 403 and resp.body.startswith(b"egress-proxy: "):
        return None
    return f"unexpected answer {resp.status}: {resp.body[:100]!r}"


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


STANDIN = Path(__file__).resolve().parent / "pipelock_standin.py"


@pytest.fixture(scope="module")
def standin_pipelock(proxies: "ProxyFactory", pki: Pki) -> "Proxy":
    """A pipelock stand-in (pipelock_standin.py) of the test module's own: it refuses the way
    pipelock does, intercepts TLS with its own CA and trusts the test CA upstream."""
    standin = proxies.start(None, addon=False, extra=["-s", str(STANDIN), "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}"])
    assert wait_for(lambda: standin.ca_cert.exists())
    return standin


def upstream_mode_env(pipelock: "Proxy", upstream_ca: Path) -> dict[str, str]:
    """The gate's environment for relaying through `pipelock`, trusting `upstream_ca` on that leg."""
    return {
        **TOKENS,
        "EGRESS_PROXY_UPSTREAM_PROXY": f"http://127.0.0.1:{pipelock.port}",
        "EGRESS_PROXY_UPSTREAM_CA": str(upstream_ca),
    }


@pytest.fixture(scope="session")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyFactory]:
    factory = ProxyFactory(tmp_path_factory)
    yield factory
    for proxy in factory.started:
        proxy.stop()


# Distinctive values so that a leak is found by a plain substring search.
TOKENS = {
    "EGRESS_PROXY_TOKEN_0": "tok0-SECRET-4f1c2a9e",
    "EGRESS_PROXY_TOKEN_1": "tok1-SECRET-8b3d7e01",
}
# What route 0 of standard_routes injects.
BEARER = "Bearer " + TOKENS["EGRESS_PROXY_TOKEN_0"]


def standard_routes(up: Mapping[str, Upstream]) -> dict[str, Any]:
    return {
        "version": 1,
        "routes": [
            {
                "host": "localhost",
                "ports": [up["plain"].port, up["tls"].port, up["h2"].port],
                "methods": ["GET", "POST"],
                "path_allowlist": ["/user", "/repos/acme/"],
                "auth": {"header": "Authorization", "prefix": "Bearer ", "token": "github", "token_env": "EGRESS_PROXY_TOKEN_0"},
                # The plain-HTTP upstream receives the credential in cleartext, on purpose.
                "insecure_cleartext_ports": [up["plain"].port],
            },
            {"host": "localhost", "ports": [up["plain2"].port]},
            # Never reachable here (no such name resolves); it makes X-Api-Key an injected header.
            {
                "host": "*.gate.localhost",
                "ports": [up["plain"].port],
                "auth": {"header": "X-Api-Key", "token_env": "EGRESS_PROXY_TOKEN_1"},
                "insecure_cleartext_ports": [up["plain"].port],
            },
        ],
    }


@pytest.fixture(scope="session")
def gate(proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki) -> Proxy:
    """The proxy most tests share: standard routes, trusting the test CA upstream."""
    return proxies.start(
        standard_routes(upstreams),
        env=TOKENS,
        extra=["--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}"],
    )


# --------------------------------------------------------------------------- clients


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def read_response(sock: socket.socket, method: str = "GET") -> Response:
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    body = resp.read()
    return Response(resp.status, resp.getheaders(), body)


class _OneReader:
    """A socket stand-in whose makefile always hands out the same buffered reader, never closed
    by http.client: a reader per response would drop the bytes of the next pipelined response
    that it had already read ahead."""

    def __init__(self, sock: socket.socket) -> None:
        self._reader = sock.makefile("rb")

    def makefile(self, mode: str) -> "_OneReader":
        return self

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def read_responses(sock: socket.socket, methods: list[str]) -> list[Response]:
    """The answers to requests pipelined on one connection, in order."""
    reader = _OneReader(sock)
    responses = []
    for method in methods:
        resp = http.client.HTTPResponse(reader, method=method)  # type: ignore[arg-type]
        resp.begin()
        responses.append(Response(resp.status, resp.getheaders(), resp.read()))
    return responses


def send_raw(port: int, data: bytes) -> Response:
    """One raw request to the proxy on a fresh connection."""
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        return read_response(sock)


def http_request(port: int, method: str, url: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Response:
    """Absolute-form plain-HTTP proxy request. Host header defaults to the URL's authority."""
    authority = url.split("/", 3)[2]
    hdrs = headers if headers is not None else [("Host", authority)]
    lines = [f"{method} {url} HTTP/1.1", *(f"{k}: {v}" for k, v in hdrs), "Connection: close"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return send_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def connect(port: int, target: str) -> tuple[socket.socket, Response | None]:
    """Send CONNECT; return the socket and None on 2xx, or the refusal."""
    sock = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    status_line = head.split(b"\r\n", 1)[0]
    status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 0
    if 200 <= status < 300:
        return sock, None
    headers = [tuple(line.decode().split(": ", 1)) for line in head.split(b"\r\n")[1:] if b": " in line]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    sock.close()
    return sock, Response(status, headers, body)  # type: ignore[arg-type]


def tls_tunnel(port: int, target: str, ca: Path, sni: str | None = None, alpn: list[str] | None = None) -> ssl.SSLSocket:
    sock, refusal = connect(port, target)
    assert refusal is None, f"CONNECT {target} refused: {refusal.status} {refusal.text}"
    return wrap_tls(sock, ca, sni if sni is not None else target.rsplit(":", 1)[0], alpn)


def wrap_tls(sock: socket.socket, ca: Path, sni: str, alpn: list[str] | None = None) -> ssl.SSLSocket:
    """TLS inside an accepted tunnel, verifying the proxy's certificate against `ca`."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # the SNI tests send names the target is not; the CA is still verified
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(sock, server_hostname=sni)


def tunnel_request(port: int, target: str, ca: Path, request: bytes, sni: str | None = None) -> Response:
    with tls_tunnel(port, target, ca, sni) as tls_sock:
        tls_sock.sendall(request)
        return read_response(tls_sock)


def stop_process(process: "subprocess.Popen[bytes]") -> None:
    """Stops a process the test started: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --------------------------------------------------------------------------- shared checks


def marker() -> str:
    # Short: the chained run's stand-in proxy truncates long URLs in its log.
    return uuid.uuid4().hex[:12]


def assert_tunnel_request_gets_one_credential(gate: Proxy, up: Upstream, m: str) -> Received:
    """GET /user/{m} in a CONNECT tunnel to `up`, sent with the agent's own Authorization header:
    it must be allowed and arrive once, carrying only route 0's credential. Returns what arrived."""
    resp = tunnel_request(
        gate.port,
        f"localhost:{up.port}",
        gate.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{up.port}\r\nAuthorization: agent\r\nConnection: close\r\n\r\n".encode(),
    )
    assert resp.status == 200, resp.text
    [got] = up.requests_for(m)
    assert got.header_values("Authorization") == [BEARER]
    return got


def assert_streams(sock: socket.socket, up: Upstream, m: str) -> None:
    """Reads a .../gated/<m> answer from `sock`: the first event must arrive while the upstream
    still holds the last one back (a buffering proxy would deliver nothing until the gate's
    timeout), then the rest once the gate opens."""
    resp = http.client.HTTPResponse(sock, method="GET")
    resp.begin()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/event-stream"
    first = resp.read1()
    assert first == b"data: first\n\n", first
    up.gate(m).set()
    assert resp.read() == b"data: last\n\n"
