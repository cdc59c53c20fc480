"""Start mitmdump with the egress-proxy addon, configured from EGRESS_PROXY_* variables.

Validates everything first (including routes.yaml and its tokens, with the addon's own
loader) so a bad configuration stops here, before any port is opened. Tokens come from
the file EGRESS_PROXY_TOKENS names (a bottle's), or else stay in the environment: they
are never put on the command line.
"""

import os
import shutil
import socket
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

# This script's directory is on sys.path (python puts it there), in the image and in tests.
from egress_routes import DEFAULT_LISTEN_PORT
from routes_yaml import RoutesError, load_config

HERE = Path(__file__).resolve().parent
ADDON = HERE / "egress_proxy.py"
DEFAULT_CONFDIR = "/home/mitmproxy/.mitmproxy"
# The largest body the proxy reads, when EGRESS_PROXY_MAX_BODY_BYTES does not say: bounded,
# so no agent can make it hold more than that in memory.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# How long a stopped proxy lets open connections finish (EGRESS_PROXY_DRAIN_SECONDS).
DEFAULT_DRAIN_SECONDS = 20
# Where Prometheus scrapes the egress proxy (EGRESS_PROXY_METRICS_PORT; pipelock's is 9465).
DEFAULT_METRICS_PORT = 9464


class ConfigError(Exception):
    """A problem with the environment, phrased for the operator."""


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536


def _port(environ: Mapping[str, str]) -> int:
    text = environ.get("EGRESS_PROXY_PORT", "") or str(DEFAULT_LISTEN_PORT)
    if not _is_port(text):
        raise ConfigError(f"EGRESS_PROXY_PORT must be a port number 1-65535, got {text!r}")
    return int(text)


def _max_body(environ: Mapping[str, str]) -> int:
    text = environ.get("EGRESS_PROXY_MAX_BODY_BYTES", "") or str(DEFAULT_MAX_BODY_BYTES)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"EGRESS_PROXY_MAX_BODY_BYTES must be a positive number of bytes, got {text!r}")
    return int(text)


def _drain_seconds(environ: Mapping[str, str]) -> int:
    text = environ.get("EGRESS_PROXY_DRAIN_SECONDS", "") or str(DEFAULT_DRAIN_SECONDS)
    if not text.isascii() or not text.isdigit() or int(text) > 3600:
        raise ConfigError(f"EGRESS_PROXY_DRAIN_SECONDS must be a number of seconds 0-3600, got {text!r}")
    return int(text)


def _metrics_port(environ: Mapping[str, str], upstream: str) -> int | None:
    """The metrics listener's port, or None when EGRESS_PROXY_METRICS_PORT turns it off. Unset,
    it is DEFAULT_METRICS_PORT in upstream mode and off without an upstream proxy (standalone:
    there is no egress side to listen on)."""
    text = environ.get("EGRESS_PROXY_METRICS_PORT", "") or (str(DEFAULT_METRICS_PORT) if upstream else "off")
    if text in ("0", "off"):
        return None
    if not _is_port(text):
        raise ConfigError(f"EGRESS_PROXY_METRICS_PORT must be a port number 1-65535, or 0 or off (no metrics), got {text!r}")
    return int(text)


def address_toward(host: str, port: int) -> str:
    """The local address the kernel sends from to reach host:port (a UDP socket's connect sends
    nothing): on the egress proxy, its address on the network it shares with pipelock."""
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM):
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
            return str(probe.getsockname()[0])
    raise OSError(f"{host} has no address")


def _metrics_listen(environ: Mapping[str, str], upstream: str, toward: Callable[[str, int], str]) -> list[str]:
    """The metrics listener's option: the address toward the upstream proxy (`upstream`, checked
    by _upstream: the egress side, never the agent's), on EGRESS_PROXY_METRICS_PORT. Fail closed:
    no such address, no start."""
    port = _metrics_port(environ, upstream)
    if port is None:
        return []
    if not upstream:
        raise ConfigError(
            "EGRESS_PROXY_METRICS_PORT: the metrics listener binds the address toward EGRESS_PROXY_UPSTREAM_PROXY, "
            "which is not set; set EGRESS_PROXY_METRICS_PORT=off to run without metrics"
        )
    parsed = urllib.parse.urlsplit(upstream)
    host, upstream_port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        address = toward(host, upstream_port)
    except OSError as e:
        raise ConfigError(
            f"EGRESS_PROXY_METRICS_PORT: cannot find this proxy's address toward {host} for the metrics listener ({e}); "
            "set EGRESS_PROXY_METRICS_PORT=off to run without metrics"
        ) from None
    return ["--set", f"egress_metrics_listen={f'[{address}]' if ':' in address else address}:{port}"]


def _upstream(url: str, variable: str = "EGRESS_PROXY_UPSTREAM_PROXY") -> str:
    parsed = urllib.parse.urlsplit(url)
    # First, before any message that echoes the URL: it may hold a credential.
    if "@" in parsed.netloc or parsed.username is not None or parsed.password is not None:
        raise ConfigError(f"{variable} must not contain credentials")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{variable} must be http://HOST:PORT or https://HOST:PORT, got {url!r}")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ConfigError(f"{variable} must not have a path, query or fragment, got {url!r}")
    try:
        _ = parsed.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        raise ConfigError(f"{variable} has an invalid port: {url!r}") from None
    return f"{parsed.scheme}://{parsed.netloc}"


def _mitmdump() -> str:
    # The mitmdump of this interpreter's environment (/opt/venv/bin in the image).
    beside = Path(sys.executable).parent / "mitmdump"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mitmdump")
    if found is None:
        raise ConfigError("mitmdump not found next to the Python interpreter or on PATH")
    return found


def build_argv(
    environ: Mapping[str, str], mitmdump: str = "mitmdump", addon: Path = ADDON, toward: Callable[[str, int], str] = address_toward
) -> list[str]:
    """The mitmdump command line for this environment. Reads nothing but `environ`, and asks
    `toward` for this proxy's address toward the upstream proxy (the metrics listener's)."""
    routes = environ.get("EGRESS_PROXY_ROUTES", "")
    if not routes:
        raise ConfigError("EGRESS_PROXY_ROUTES is not set (path of routes.yaml)")
    argv = [
        mitmdump,
        "-s", str(addon),
        "--set", f"egress_routes={routes}",
        "--set", f"egress_tokens={environ.get('EGRESS_PROXY_TOKENS', '')}",
        "--listen-port", str(_port(environ)),
        "--set", f"confdir={environ.get('EGRESS_PROXY_CONFDIR') or DEFAULT_CONFDIR}",
        # Hardening: no raw TCP relaying, no mitm.it app, no per-flow dumps (decisions are logged by the addon).
        "--set", "rawtcp=false",
        "--set", "onboarding=false",
        "--set", "flow_detail=0",
        "--set", "validate_inbound_headers=true",
        # A request body over this is answered 413 before it is held in memory (answers are
        # streamed, whatever their size: the addon keeps the limit to requests).
        "--set", f"body_size_limit={_max_body(environ)}",
        # On SIGTERM: refuse new connections, finish the open ones, then exit.
        "--set", f"egress_drain_seconds={_drain_seconds(environ)}",
    ]  # fmt: skip
    upstream = environ.get("EGRESS_PROXY_UPSTREAM_PROXY", "")
    if upstream:
        argv += ["--mode", f"upstream:{_upstream(upstream)}"]
    argv += _bulk_lane(environ, upstream)
    argv += _metrics_listen(environ, upstream, toward)
    ca = environ.get("EGRESS_PROXY_UPSTREAM_CA", "")
    if ca:
        if not upstream:
            raise ConfigError("EGRESS_PROXY_UPSTREAM_CA is set but EGRESS_PROXY_UPSTREAM_PROXY is not")
        # Trusted on the upstream leg (with the extra roots, if any), and the one CA an inspected
        # connection must chain to.
        argv += ["--set", f"ssl_verify_upstream_trusted_ca={upstream_trust(environ) or ca}", "--set", f"egress_inspect_ca={ca}"]
    elif environ.get("EGRESS_PROXY_UPSTREAM_EXTRA_CA", ""):
        raise ConfigError("EGRESS_PROXY_UPSTREAM_EXTRA_CA is set but EGRESS_PROXY_UPSTREAM_CA is not")
    return argv


def _bulk_lane(environ: Mapping[str, str], upstream: str) -> list[str]:
    """The options of the bulk lane: pipelock-bulk (EGRESS_PROXY_BULK_PROXY) and its scan API
    (EGRESS_PROXY_SCAN_API, which it needs), by the client name EGRESS_PROXY_SCAN_API_CLIENT."""
    bulk = environ.get("EGRESS_PROXY_BULK_PROXY", "")
    scan_api = environ.get("EGRESS_PROXY_SCAN_API", "")
    if not bulk:
        if scan_api:
            raise ConfigError("EGRESS_PROXY_SCAN_API is set but EGRESS_PROXY_BULK_PROXY is not")
        return []
    if not upstream:
        raise ConfigError("EGRESS_PROXY_BULK_PROXY is set but EGRESS_PROXY_UPSTREAM_PROXY is not")
    if not scan_api:
        raise ConfigError("EGRESS_PROXY_BULK_PROXY is set but EGRESS_PROXY_SCAN_API is not: the bulk lane would go unchecked")
    client = environ.get("EGRESS_PROXY_SCAN_API_CLIENT", "") or "egress-proxy"
    if not client.isascii() or not client.isprintable() or " " in client:
        raise ConfigError(f"EGRESS_PROXY_SCAN_API_CLIENT must be one printable word, got {client!r}")
    return [
        "--set", f"egress_bulk_proxy={_upstream(bulk, 'EGRESS_PROXY_BULK_PROXY')}",
        "--set", f"egress_scan_api={_upstream(scan_api, 'EGRESS_PROXY_SCAN_API')}",
        "--set", f"egress_scan_api_client={client}",
    ]  # fmt: skip


def upstream_trust(environ: Mapping[str, str]) -> Path | None:
    """Where the combined upstream trust is written when EGRESS_PROXY_UPSTREAM_EXTRA_CA adds
    certificates to EGRESS_PROXY_UPSTREAM_CA (mitmproxy takes one file): the confdir."""
    if not environ.get("EGRESS_PROXY_UPSTREAM_EXTRA_CA", ""):
        return None
    return Path(environ.get("EGRESS_PROXY_CONFDIR") or DEFAULT_CONFDIR) / "upstream-trust.pem"


def check_files(environ: Mapping[str, str]) -> None:
    """Problems mitmdump would otherwise report late, or only after its port opened."""
    for variable in ("EGRESS_PROXY_UPSTREAM_CA", "EGRESS_PROXY_UPSTREAM_EXTRA_CA"):
        ca = environ.get(variable, "")
        if ca and not os.access(ca, os.R_OK):
            raise ConfigError(f"{variable}: cannot read {ca}")
    try:
        load_config(environ["EGRESS_PROXY_ROUTES"], environ.get("EGRESS_PROXY_TOKENS", ""), environ)
    except RoutesError as e:
        raise ConfigError(f"routes: {e}") from None


def prepare_confdir(confdir: Path) -> None:
    """Write the DH parameters mitmproxy would write at start, which fails in a read-only confdir."""
    from mitmproxy import certs

    dhparam = confdir / "mitmproxy-dhparam.pem"
    if dhparam.exists():
        return
    try:
        confdir.mkdir(parents=True, exist_ok=True)
        dhparam.write_bytes(certs.DEFAULT_DHPARAM)
    except OSError as e:
        raise ConfigError(f"cannot create {dhparam} ({e.strerror}): make {confdir} writable or provide the file") from None


def write_upstream_trust(environ: Mapping[str, str]) -> None:
    """The next gate's CA followed by the extra certificates (passthrough hosts present their
    own), as the one file mitmproxy trusts on the upstream leg."""
    trust = upstream_trust(environ)
    if trust is None:
        return
    parts = [Path(environ[v]).read_bytes() for v in ("EGRESS_PROXY_UPSTREAM_CA", "EGRESS_PROXY_UPSTREAM_EXTRA_CA")]
    try:
        trust.write_bytes(b"\n".join(part.rstrip(b"\n") for part in parts) + b"\n")
    except OSError as e:
        raise ConfigError(f"cannot write {trust} ({e.strerror})") from None


def main() -> None:
    environ = dict(os.environ)
    try:
        argv = build_argv(environ, _mitmdump())
        check_files(environ)
        prepare_confdir(Path(environ.get("EGRESS_PROXY_CONFDIR") or DEFAULT_CONFDIR))
        write_upstream_trust(environ)
    except ConfigError as e:
        print(f"egress-proxy: refusing to start: {e}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - mitmdump takes this process over, with the argv built and checked above


if __name__ == "__main__":
    main()
