"""Fail-closed start, the entrypoint, the healthcheck, and token secrecy at any verbosity.

A bad configuration must stop the process with a message naming the problem (never a
token value), both in the entrypoint (before any port opens) and in the addon itself
(mitmdump run directly): and the port must never carry a request to an upstream.
"""

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

import egress_routes
import entrypoint
from conftest import (
    ADDON,
    ADDON_DIR,
    MITMDUMP,
    TOKENS,
    Pki,
    Proxy,
    ProxyFactory,
    Upstream,
    free_port,
    gate_answers,
    http_request,
    standard_routes,
    tunnel_request,
)

GOOD_AUTH = "    auth: {header: Authorization, token_env: EGRESS_PROXY_TOKEN_0}\n"

BAD_CONFIGS = [
    ("missing-file", None, "cannot read routes file"),
    ("empty-file", "", "top level: must be a mapping"),
    ("invalid-yaml", "version: 1\nroutes: [\n", "invalid YAML"),
    ("unknown-top-key", "version: 1\nroutes: []\nallow_all: true\n", "top level: unknown key 'allow_all'"),
    ("unknown-route-key", "version: 1\nroutes:\n  - host: localhost\n    metods: [GET]\n", "routes[0]: unknown key 'metods'"),
    (
        "unknown-auth-key",
        "version: 1\nroutes:\n  - host: localhost\n    auth: {header: A, token_env: EGRESS_PROXY_TOKEN_0, value: x}\n",
        "routes[0].auth: unknown key 'value'",
    ),
    ("wrong-type", "version: 1\nroutes:\n  - host: localhost\n    ports: '443'\n", "routes[0].ports: must be a non-empty list"),
    ("version-2", "version: 2\nroutes: []\n", "version: must be 1, got 2"),
    (
        "unset-token-env",
        "version: 1\nroutes:\n  - host: localhost\n" + GOOD_AUTH
        + "  - host: localhost\n    auth: {header: B, token_env: EGRESS_PROXY_TOKEN_7}\n",
        "routes[1].auth.token_env: EGRESS_PROXY_TOKEN_7 is not set",
    ),
]  # fmt: skip


def _routes_file(tmp_path: Path, text: str | None) -> Path:
    path = tmp_path / "routes.yaml"
    if text is not None:
        path.write_text(text)
    return path


def _env(routes: Path, port: int, confdir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_PROXY_")}
    return {
        **base,
        **TOKENS,
        "EGRESS_PROXY_ROUTES": str(routes),
        "EGRESS_PROXY_PORT": str(port),
        "EGRESS_PROXY_CONFDIR": str(confdir),
        "EGRESS_PROXY_METRICS_PORT": "off",
    }


@pytest.mark.parametrize("name,text,message", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_entrypoint_refuses_to_start(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    routes = _routes_file(tmp_path, text)
    run = subprocess.run(
        [sys.executable, str(ADDON_DIR / "entrypoint.py")],
        env=_env(routes, free_port(), tmp_path / "confdir"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run
    assert "egress-proxy: refusing to start: routes: " in run.stderr
    assert str(routes) in run.stderr and message in run.stderr
    for token in TOKENS.values():
        assert token not in run.stdout + run.stderr
    assert not (tmp_path / "confdir").exists()  # stopped before touching anything


@pytest.mark.parametrize("name,text,message", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_addon_stops_mitmdump_and_never_serves(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    # mitmdump run directly (no entrypoint): the addon alone must keep the gate shut.
    up = upstreams["plain2"]  # any method and path would be allowed there by a working gate
    routes = _routes_file(tmp_path, text)
    workdir = tmp_path / "run"
    workdir.mkdir()
    port = free_port()
    argv = [MITMDUMP, "-s", str(ADDON), "--set", f"egress_routes={routes}", "--listen-host", "127.0.0.1",
            "--listen-port", str(port), "--set", f"confdir={workdir / 'confdir'}"]  # fmt: skip
    proxy = Proxy(argv, _env(routes, port, workdir / "confdir"), workdir, port, workdir / "confdir")
    proxies.started.append(proxy)
    m = uuid.uuid4().hex
    answers: list[int | str] = []
    deadline = time.monotonic() + 30
    while proxy.process.poll() is None and time.monotonic() < deadline:
        try:
            answers.append(http_request(port, "GET", f"http://localhost:{up.port}/{m}").status)
        except OSError:
            time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - a half-open listener may answer garbage
            answers.append(repr(e))
    assert proxy.process.poll() is not None, "mitmdump kept running with a bad routes file"
    assert proxy.process.returncode != 0
    output = proxy.output()
    assert "egress-proxy: refusing to start: " in output and message in output, output
    assert up.requests_for(m) == [], Counter(map(str, answers))
    assert all(a == 403 or not isinstance(a, int) for a in answers), Counter(map(str, answers))
    for token in TOKENS.values():
        assert token not in output


def test_entrypoint_starts_a_working_gate(proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path) -> None:
    routes = proxies.write_routes(standard_routes(upstreams))
    port = free_port()
    confdir = tmp_path / "confdir"
    # The entrypoint listens on all interfaces (it is a container's): bind the test to loopback.
    env = _env(routes, port, confdir)
    workdir = tmp_path / "run"
    workdir.mkdir()
    script = (
        "import sys, entrypoint; sys.argv = sys.argv[:1]; "
        "real = entrypoint.build_argv; "
        "entrypoint.build_argv = lambda *a, **k: real(*a, **k) + ['--listen-host', '127.0.0.1']; "
        "entrypoint.main()"
    )
    proxy = Proxy([sys.executable, "-c", script], {**env, "PYTHONPATH": str(ADDON_DIR)}, workdir, port, confdir)
    proxies.started.append(proxy)
    proxy.wait_ready()
    assert (confdir / "mitmproxy-dhparam.pem").exists()
    up = upstreams["plain"]
    m = uuid.uuid4().hex
    assert http_request(port, "GET", f"http://localhost:{up.port}/user/{m}").status == 200
    [got] = up.requests_for(m)
    assert got.header_values("Authorization") == ["Bearer " + TOKENS["EGRESS_PROXY_TOKEN_0"]]
    # The real healthcheck command against it.
    check = subprocess.run(
        [sys.executable, str(ADDON_DIR / "healthcheck.py")],
        env={**os.environ, "EGRESS_PROXY_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    # It was answered (returncode 0) and left no decision line: a probe every few seconds is not news.
    assert [d for d in proxy.decisions() if d["host"] == egress_routes.HEALTHCHECK_HOST] == []
    # Tokens are not on the command line of the running process.
    cmdline = Path(f"/proc/{proxy.process.pid}/cmdline").read_bytes()
    assert b"mitmdump" in cmdline
    for token in TOKENS.values():
        assert token.encode() not in cmdline
        assert token not in proxy.output()


# --------------------------------------------------------------------------- entrypoint (pure)

# Without metrics: their listener needs an upstream proxy to find its address (test_metrics.py).
BASE = {"EGRESS_PROXY_ROUTES": "/etc/egress/routes.yaml", "EGRESS_PROXY_METRICS_PORT": "off"}


def test_build_argv_defaults() -> None:
    argv = entrypoint.build_argv({**BASE, **TOKENS}, "/opt/venv/bin/mitmdump")
    assert argv[:3] == ["/opt/venv/bin/mitmdump", "-s", str(entrypoint.ADDON)]
    joined = " ".join(argv)
    for expected in [
        "--set egress_routes=/etc/egress/routes.yaml",
        "--listen-port 9099",
        "--set confdir=/home/mitmproxy/.mitmproxy",
        "--set rawtcp=false",
        "--set onboarding=false",
        "--set flow_detail=0",
        f"--set body_size_limit={32 * 1024 * 1024}",
        "--set egress_drain_seconds=20",
    ]:
        assert expected in joined
    assert "--mode" not in argv and "ssl_verify_upstream_trusted_ca" not in joined
    for token in TOKENS.values():
        assert token not in joined


def test_build_argv_upstream_mode() -> None:
    argv = entrypoint.build_argv(
        {
            **BASE,
            "EGRESS_PROXY_PORT": "8080",
            "EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock:8888",
            "EGRESS_PROXY_UPSTREAM_CA": "/etc/egress/pipelock-ca.pem",
            "EGRESS_PROXY_CONFDIR": "/tmp/c",
        }
    )
    joined = " ".join(argv)
    assert "--mode upstream:http://pipelock:8888" in joined
    assert "--set ssl_verify_upstream_trusted_ca=/etc/egress/pipelock-ca.pem" in joined
    assert "--listen-port 8080" in joined and "--set confdir=/tmp/c" in joined


def test_extra_upstream_trust_is_the_ca_then_the_extra_certificates(tmp_path: Path) -> None:
    ca, extra = tmp_path / "ca.pem", tmp_path / "roots.pem"
    ca.write_text("PIPELOCK CA\n")
    extra.write_text("ROOT 1\nROOT 2\n")
    env = {**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock:8888", "EGRESS_PROXY_UPSTREAM_CA": str(ca),
           "EGRESS_PROXY_UPSTREAM_EXTRA_CA": str(extra), "EGRESS_PROXY_CONFDIR": str(tmp_path)}  # fmt: skip
    assert f"--set ssl_verify_upstream_trusted_ca={tmp_path / 'upstream-trust.pem'}" in " ".join(entrypoint.build_argv(env))
    entrypoint.write_upstream_trust(env)
    assert (tmp_path / "upstream-trust.pem").read_text() == "PIPELOCK CA\nROOT 1\nROOT 2\n"


@pytest.mark.parametrize(
    "env,message",
    [
        ({}, "EGRESS_PROXY_ROUTES is not set"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "http://p:1", "EGRESS_PROXY_UPSTREAM_EXTRA_CA": "/roots.pem"},
         "EGRESS_PROXY_UPSTREAM_EXTRA_CA is set but EGRESS_PROXY_UPSTREAM_CA is not"),
        ({**BASE, "EGRESS_PROXY_PORT": "http"}, "EGRESS_PROXY_PORT must be a port number"),
        ({**BASE, "EGRESS_PROXY_PORT": "0"}, "EGRESS_PROXY_PORT must be a port number"),
        ({**BASE, "EGRESS_PROXY_PORT": "65536"}, "EGRESS_PROXY_PORT must be a port number"),
        ({**BASE, "EGRESS_PROXY_MAX_BODY_BYTES": "0"}, "EGRESS_PROXY_MAX_BODY_BYTES must be a positive number of bytes"),
        ({**BASE, "EGRESS_PROXY_MAX_BODY_BYTES": "32m"}, "EGRESS_PROXY_MAX_BODY_BYTES must be a positive number of bytes, got '32m'"),
        ({**BASE, "EGRESS_PROXY_DRAIN_SECONDS": "-1"}, "EGRESS_PROXY_DRAIN_SECONDS must be a number of seconds 0-3600, got '-1'"),
        ({**BASE, "EGRESS_PROXY_DRAIN_SECONDS": "3601"}, "EGRESS_PROXY_DRAIN_SECONDS must be a number of seconds 0-3600"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "pipelock:8888"}, "must be http://HOST:PORT"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "socks5://pipelock:1080"}, "must be http://HOST:PORT"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock:8888/x"}, "must not have a path"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock:99999"}, "invalid port"),
        ({**BASE, "EGRESS_PROXY_UPSTREAM_CA": "/ca.pem"}, "EGRESS_PROXY_UPSTREAM_CA is set but EGRESS_PROXY_UPSTREAM_PROXY is not"),
    ],
)  # fmt: skip
def test_build_argv_refuses_bad_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(entrypoint.ConfigError, match=message):
        entrypoint.build_argv(env)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@pipelock:8888",
        # Also when the URL is wrong in other ways: no message may echo it.
        "socks5://user:hunter2@pipelock:1080",
        "http://user:hunter2@",
        "http://:hunter2@pipelock:8888/path",
    ],
)
def test_upstream_credentials_are_refused_without_being_echoed(url: str) -> None:
    with pytest.raises(entrypoint.ConfigError) as err:
        entrypoint.build_argv({**BASE, "EGRESS_PROXY_UPSTREAM_PROXY": url})
    assert "must not contain credentials" in str(err.value) and "hunter2" not in str(err.value)


def test_check_files_refuses_unreadable_upstream_ca(tmp_path: Path) -> None:
    with pytest.raises(entrypoint.ConfigError, match="EGRESS_PROXY_UPSTREAM_CA: cannot read"):
        entrypoint.check_files({**BASE, "EGRESS_PROXY_UPSTREAM_CA": str(tmp_path / "absent.pem")})


def test_prepare_confdir_writes_dhparam_once(tmp_path: Path) -> None:
    from mitmproxy import certs

    confdir = tmp_path / "conf"
    entrypoint.prepare_confdir(confdir)
    dhparam = confdir / "mitmproxy-dhparam.pem"
    assert dhparam.read_bytes() == certs.DEFAULT_DHPARAM
    dhparam.write_bytes(b"operator supplied")
    entrypoint.prepare_confdir(confdir)
    assert dhparam.read_bytes() == b"operator supplied"


def test_prepare_confdir_reports_an_unwritable_confdir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(entrypoint.ConfigError, match=r"mitmproxy-dhparam\.pem"):
        entrypoint.prepare_confdir(blocker / "conf")


# --------------------------------------------------------------------------- healthcheck


def test_healthcheck_expects_the_addons_own_refusal() -> None:
    import healthcheck

    assert healthcheck.EXPECTED.decode() == egress_routes.HEALTHCHECK_MESSAGE
    assert healthcheck.PROBE_HOST == egress_routes.HEALTHCHECK_HOST


def test_healthcheck_passes_against_the_gate(gate: Proxy) -> None:
    import healthcheck

    assert healthcheck.probe(gate.port) is None


def test_healthcheck_fails_on_a_closed_port_and_on_a_non_gate(upstreams: dict[str, Upstream]) -> None:
    import healthcheck

    assert healthcheck.probe(free_port()) is not None
    assert healthcheck.probe(upstreams["plain"].port) is not None  # answers, but not as the gate
    run = subprocess.run(
        [sys.executable, str(ADDON_DIR / "healthcheck.py")],
        env={**os.environ, "EGRESS_PROXY_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1 and "healthcheck: no answer" in run.stderr


# --------------------------------------------------------------------------- secrecy


def test_debug_verbosity_never_prints_tokens(proxies: ProxyFactory, upstreams: dict[str, Upstream], pki: Pki) -> None:
    proxy = proxies.start(
        standard_routes(upstreams),
        env=TOKENS,
        extra=["--set", "termlog_verbosity=debug", "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_pem}"],
    )
    m = uuid.uuid4().hex
    plain, tls = upstreams["plain"], upstreams["tls"]
    assert http_request(proxy.port, "GET", f"http://localhost:{plain.port}/user/{m}").status == 200
    resp = tunnel_request(
        proxy.port, f"localhost:{tls.port}", proxy.ca_cert,
        f"GET /user/{m} HTTP/1.1\r\nHost: localhost:{tls.port}\r\nConnection: close\r\n\r\n".encode(),
    )  # fmt: skip
    assert resp.status == 200
    assert len(plain.requests_for(m)) == 1 and len(tls.requests_for(m)) == 1
    proxy.stop()
    output = proxy.output()
    assert "server connect localhost" in output  # mitmproxy's own logging was on
    for token in TOKENS.values():
        assert token not in output
    assert gate_answers(proxy.port) is not None  # stopped


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--set", "flow_detail=2"], "flow_detail >= 2 would print injected credentials"),
        (["-v"], "flow_detail >= 2 would print injected credentials"),
        (["--set", "flow_detail=4"], "flow_detail >= 2"),
        (["--set", "save_stream_file=FLOWS"], "save_stream_file would write injected credentials"),
        (["--ignore-hosts", "localhost"], "ignore_hosts would let traffic skip the gate's checks"),
        (["--allow-hosts", "localhost"], "allow_hosts would let traffic skip the gate's checks"),
        (["--tcp-hosts", "localhost"], "tcp_hosts would let traffic skip"),
        (["--set", "validate_inbound_headers=false"], "validate_inbound_headers must stay on"),
    ],
)
def test_options_that_would_dump_credentials_stop_the_proxy(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path, extra: list[str], message: str
) -> None:
    # mitmdump directly (the entrypoint sets flow_detail=0 itself and mitmdump refuses a second value).
    extra = [e.replace("FLOWS", str(tmp_path / "flows")) for e in extra]
    routes = proxies.write_routes(standard_routes(upstreams))
    port = free_port()
    argv = [MITMDUMP, "-s", str(ADDON), "--set", f"egress_routes={routes}", "--listen-host", "127.0.0.1",
            "--listen-port", str(port), "--set", f"confdir={tmp_path / 'confdir'}", *extra]  # fmt: skip
    proxy = Proxy(argv, _env(routes, port, tmp_path / "confdir"), tmp_path, port, tmp_path / "confdir")
    proxies.started.append(proxy)
    try:
        proxy.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("mitmdump kept running")
    assert proxy.process.returncode != 0
    assert message in proxy.output()
    assert not (tmp_path / "flows").exists() or (tmp_path / "flows").stat().st_size == 0


# --------------------------------------------------------------------------- hot reload


@pytest.mark.parametrize("change", ["broken-addon", "touched-addon"])
def test_reloading_the_addon_stops_the_proxy_instead_of_ungating(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path, change: str
) -> None:
    # mitmproxy re-loads a -s script when its file changes; a failed load leaves no addon at
    # all. The image makes the file read-only; the addon also stops the proxy on unload.
    addon_dir = tmp_path / "addon"
    addon_dir.mkdir()
    for module in ADDON_DIR.glob("*.py"):  # the addon and every module it imports
        (addon_dir / module.name).write_bytes(module.read_bytes())
    copy = addon_dir / "egress_proxy.py"
    proxy = proxies.start(standard_routes(upstreams), env=TOKENS, addon_path=copy)
    up = upstreams["plain"]
    m = uuid.uuid4().hex
    target = f"http://localhost:{up.port}/orgs/{m}"  # refused by the gate, forwarded without it
    assert http_request(proxy.port, "GET", target).status == 403
    if change == "broken-addon":
        copy.write_text("this is not python (\n")
    future = time.time() + 5
    os.utime(copy, (future, future))
    answers: list[int | str] = []
    deadline = time.monotonic() + 20
    while proxy.process.poll() is None and time.monotonic() < deadline:
        try:
            answers.append(http_request(proxy.port, "GET", target).status)
        except OSError:
            time.sleep(0.02)
        except Exception as e:  # noqa: BLE001
            answers.append(repr(e))
    assert up.requests_for(m) == [], f"forwarded ungated: {Counter(map(str, answers))}"
    assert proxy.process.poll() == 1, "the proxy kept running after its addon was unloaded"
    assert "egress-proxy: addon unloaded while the proxy is running; stopping" in proxy.output()


# --------------------------------------------------------------------------- the metrics listener's address

UPSTREAM = {"EGRESS_PROXY_ROUTES": "/etc/egress/routes.yaml", "EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock:8888"}
# The address each (host, port) is reached from, as the kernel would answer.
EGRESS_SIDE = {("pipelock", 8888): "10.0.1.5", ("pipelock6", 8888): "fd00::5"}


def _toward(host: str, port: int) -> str:
    if (host, port) not in EGRESS_SIDE:
        raise OSError(f"[Errno -2] Name does not resolve: {host}")
    return EGRESS_SIDE[(host, port)]


@pytest.mark.parametrize(
    "env,listen",
    [
        ({}, "10.0.1.5:9464"),
        ({"EGRESS_PROXY_METRICS_PORT": "9500"}, "10.0.1.5:9500"),
        ({"EGRESS_PROXY_UPSTREAM_PROXY": "http://pipelock6:8888"}, "[fd00::5]:9464"),
        ({"EGRESS_PROXY_METRICS_PORT": "off"}, None),
        ({"EGRESS_PROXY_METRICS_PORT": "0"}, None),
        ({"EGRESS_PROXY_METRICS_PORT": "off", "EGRESS_PROXY_UPSTREAM_PROXY": ""}, None),
        # Standalone (no upstream proxy): no egress side, so no metrics unless asked for.
        ({"EGRESS_PROXY_UPSTREAM_PROXY": ""}, None),
    ],
)
def test_build_argv_metrics_listen_on_the_address_toward_the_upstream(env: dict[str, str], listen: str | None) -> None:
    argv = entrypoint.build_argv({**UPSTREAM, **env}, toward=_toward)
    options = [value for flag, value in itertools.pairwise(argv) if flag == "--set" and value.startswith("egress_metrics_listen=")]
    assert options == ([f"egress_metrics_listen={listen}"] if listen else [])


@pytest.mark.parametrize(
    "env,message",
    [
        ({"EGRESS_PROXY_METRICS_PORT": "http"}, "EGRESS_PROXY_METRICS_PORT must be a port number 1-65535, or 0 or off"),
        ({"EGRESS_PROXY_METRICS_PORT": "65536"}, "EGRESS_PROXY_METRICS_PORT must be a port number"),
        ({"EGRESS_PROXY_METRICS_PORT": "-1"}, "EGRESS_PROXY_METRICS_PORT must be a port number"),
        ({"EGRESS_PROXY_METRICS_PORT": "OFF"}, "EGRESS_PROXY_METRICS_PORT must be a port number"),
        # Asked for with no upstream proxy: no egress side to find, so no start rather than a guess.
        ({"EGRESS_PROXY_UPSTREAM_PROXY": "", "EGRESS_PROXY_METRICS_PORT": "9464"}, "EGRESS_PROXY_METRICS_PORT: .* EGRESS_PROXY_UPSTREAM_PROXY, which is not set; set EGRESS_PROXY_METRICS_PORT=off"),
        ({"EGRESS_PROXY_UPSTREAM_PROXY": "http://nowhere:8888"}, "EGRESS_PROXY_METRICS_PORT: cannot find this proxy's address toward nowhere .*Name does not resolve"),
    ],
)  # fmt: skip
def test_build_argv_refuses_a_metrics_listener_it_cannot_place(env: dict[str, str], message: str) -> None:
    with pytest.raises(entrypoint.ConfigError, match=message):
        entrypoint.build_argv({**UPSTREAM, **env}, toward=_toward)


def test_address_toward_asks_the_kernel() -> None:
    assert entrypoint.address_toward("127.0.0.1", 8888) == "127.0.0.1"
    with pytest.raises(OSError):
        entrypoint.address_toward("no-such-name.invalid", 8888)
