"""Minted credentials on a real mitmdump chained through the pipelock stand-in: the egress proxy
mints from fake token endpoints (token_endpoints.py, which verify the App's and the service
account's JWTs with `cryptography` alone and record the narrowing asked for) through the
stand-in, injects what it got, refreshes it while requests flow, answers 503 with the reason
while it has none, mints again on a reload that changed a source, and never logs a secret.
"""

import base64
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    Pki,
    Proxy,
    ProxyFactory,
    Response,
    Upstream,
    _server_context,
    free_port,
    marker,
    stop_process,
    tunnel_request,
    upstream_mode_env,
    wait_for,
)
from credential_keys import google_key_file, private_pem, rsa_key
from pipelocks import inspect_config, make_pipelock_ca, pipelock_binary, start_pipelock
from token_endpoints import TokenEndpoints, serve

APP_ID = "4242"
INSTALLATION = "99"
SA_EMAIL = "agent@bot-bottle-test.iam.gserviceaccount.com"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
KEYS = {
    "EGRESS_PROXY_TOKEN_1": private_pem("github-app"),
    "EGRESS_PROXY_TOKEN_2": google_key_file("google-sa", SA_EMAIL),
}
# A line from inside each private key: found in a log only if a key leaked.
KEY_MATERIAL = [private_pem(label).splitlines()[5] for label in ("github-app", "google-sa")]


@pytest.fixture
def endpoints(pki: Pki) -> Iterator[TokenEndpoints]:
    fake = TokenEndpoints(APP_ID, rsa_key("github-app").public_key(), SA_EMAIL, rsa_key("google-sa").public_key())
    server = serve(fake, _server_context(pki))
    yield fake
    assert fake.failures == []
    server.shutdown()
    server.server_close()


def credential_routes(endpoints: TokenEndpoints, tls_echo: Upstream, repositories: list[str], google: bool = True) -> dict[str, Any]:
    """GitHub App routes (/github/: a bearer token, /git/: Basic) and, with `google`, a
    service-account route (/vertex/), all to the echo upstream."""
    credentials: dict[str, Any] = {
        "github": {
            "kind": "github_app",
            "app_id": APP_ID,
            "installation_id": INSTALLATION,
            "api_url": endpoints.url,
            "private_key_env": "EGRESS_PROXY_TOKEN_1",
            "repositories": repositories,
            "permissions": {"contents": "read", "metadata": "read"},
        }
    }
    routes = [
        {"prefix": "Bearer ", "token": "github", "credential": "github", "path": "/github/"},
        {"basic_username": "x-access-token", "token": "github", "credential": "github", "path": "/git/"},
    ]
    if google:
        credentials["vertex"] = {"kind": "google_service_account", "key_env": "EGRESS_PROXY_TOKEN_2", "scopes": SCOPES,
                                 "token_url": f"{endpoints.url}/token"}  # fmt: skip
        routes.append({"prefix": "Bearer ", "token": "vertex", "credential": "vertex", "path": "/vertex/"})
    return {
        "version": 1,
        "credentials": credentials,
        "routes": [
            {
                "host": "localhost",
                "ports": [tls_echo.port],
                "path_allowlist": [auth.pop("path")],
                "auth": {"header": "Authorization", **auth},
            }
            for auth in routes
        ],
    }


def start_gate(proxies: ProxyFactory, standin_pipelock: Proxy, routes: dict[str, Any]) -> tuple[Proxy, Path]:
    path = proxies.write_routes(routes)
    gate = proxies.start(path, env={**upstream_mode_env(standin_pipelock, standin_pipelock.ca_cert), **KEYS})
    return gate, path


def get(gate: Proxy, tls_echo: Upstream, path: str) -> Response:
    """GET `path` in a tunnel to the echo upstream, with the agent's own Authorization header."""
    return tunnel_request(
        gate.port,
        f"localhost:{tls_echo.port}",
        gate.ca_cert,
        f"GET {path} HTTP/1.1\r\nHost: localhost:{tls_echo.port}\r\nAuthorization: agent\r\nConnection: close\r\n\r\n".encode(),
    )


def authorization(tls_echo: Upstream, m: str) -> str:
    [got] = tls_echo.requests_for(m)
    [value] = got.header_values("Authorization")
    return value


def credential_lines(gate: Proxy) -> list[dict[str, Any]]:
    return [line for line in gate.json_lines() if line.get("event") == "credential"]


def assert_no_secret_logged(endpoints: TokenEndpoints, *proxies: Proxy) -> None:
    issued = endpoints.issued_tokens()
    assert issued
    basics = [base64.b64encode(f"x-access-token:{t}".encode()).decode() for t in issued]
    for proxy in proxies:
        output = proxy.output()
        for secret in [*issued, *basics, *KEY_MATERIAL]:
            assert secret not in output, f"a secret in the log of {proxy.stdout_path.parent.name}"


def test_minted_tokens_are_injected_and_minted_through_pipelock(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    gate, _ = start_gate(proxies, standin_pipelock, credential_routes(endpoints, tls_echo, ["acme/app"]))
    m = marker()
    for kind in ("github", "git", "vertex"):
        resp = get(gate, tls_echo, f"/{kind}/{m}-{kind}/")
        assert resp.status == 200, resp.text
    github_token, google_token = (i.token for i in sorted(endpoints.issued, key=lambda i: i.token[:1]))
    assert authorization(tls_echo, f"{m}-github/") == f"Bearer {github_token}"
    assert authorization(tls_echo, f"{m}-git/") == "Basic " + base64.b64encode(f"x-access-token:{github_token}".encode()).decode()
    assert authorization(tls_echo, f"{m}-vertex/") == f"Bearer {google_token}"
    # What was asked for: the narrowing, the owner dropped; the scopes.
    assert endpoints.github_requests == [
        {"installation": INSTALLATION, "body": {"repositories": ["app"], "permissions": {"contents": "read", "metadata": "read"}}}
    ]
    assert endpoints.google_requests == [{"scope": SCOPES[0]}]
    # Through the stand-in, which logs every flow it relays (a long URL cut short).
    minted_via_pipelock = (f"POST {endpoints.url}/app/installations/{INSTALLATION}/access_tok", f"POST {endpoints.url}/token\n")
    assert wait_for(lambda: all(line in standin_pipelock.output() for line in minted_via_pipelock))
    lines = {line["name"]: line for line in credential_lines(gate)}
    assert lines["github"] == {
        "event": "credential", "name": "github", "kind": "github_app", "outcome": "ok", "refresh": False,
        "expires_at": lines["github"]["expires_at"], "repositories": ["acme/app"],
        "permissions": {"contents": "read", "metadata": "read"},
    }  # fmt: skip
    assert lines["vertex"]["scopes"] == SCOPES and lines["vertex"]["outcome"] == "ok"
    allowed = [d for d in gate.decisions() if d["path"] == f"/github/{m}-github/"]
    assert [(d["decision"], d["token"]) for d in allowed] == [("allow", "github")]
    assert_no_secret_logged(endpoints, gate, standin_pipelock)


def test_a_refresh_during_a_request_loop_fails_no_request(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    endpoints.lifetime = 3.0  # GitHub's expiry is to the second: refreshed every 1-1.5 s
    gate, _ = start_gate(proxies, standin_pipelock, credential_routes(endpoints, tls_echo, ["acme/app"], google=False))
    m = marker()
    statuses, seen = [], []
    deadline = time.monotonic() + 6
    n = 0
    while time.monotonic() < deadline:
        n += 1
        resp = get(gate, tls_echo, f"/github/{m}-{n}/")
        statuses.append(resp.status)
        seen.append(authorization(tls_echo, f"{m}-{n}/").removeprefix("Bearer "))
    assert set(statuses) == {200}, statuses
    assert len(set(seen)) >= 3, f"{len(set(seen))} tokens over {n} requests"
    assert set(seen) <= set(endpoints.issued_tokens())
    refreshes = [line for line in credential_lines(gate) if line["refresh"]]
    assert len(refreshes) >= 2 and all(line["outcome"] == "ok" for line in refreshes)
    assert_no_secret_logged(endpoints, gate, standin_pipelock)


def test_a_mint_failure_answers_503_with_the_reason_then_recovers(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    endpoints.refuse_next = 2  # the first mint and the retry 1 s later; the next, 2 s after that, works
    gate, _ = start_gate(proxies, standin_pipelock, credential_routes(endpoints, tls_echo, ["acme/app"], google=False))
    m = marker()
    refused = get(gate, tls_echo, f"/github/{m}-refused")
    assert refused.status == 503
    reason = (
        "egress-proxy: credential github not available: GitHub did not accept the App's JWT: check app_id and that the "
        "private key is the App's (HTTP 401: A JSON web token could not be decoded)"
    )
    assert refused.text == reason + "\n"
    assert tls_echo.requests_for(m) == []
    [line] = [d for d in gate.decisions() if d["path"] == f"/github/{m}-refused"]
    assert (line["decision"], line["reason"], line["token"]) == ("deny", "credential not available", "github")
    assert wait_for(lambda: get(gate, tls_echo, f"/github/{m}-ok").status == 200, timeout=10)
    assert authorization(tls_echo, f"{m}-ok") == f"Bearer {endpoints.issued_tokens()[0]}"
    outcomes = [(line["outcome"], line.get("error", "")[:30]) for line in credential_lines(gate)]
    assert outcomes[:3] == [("error", "GitHub did not accept the App'"), ("error", "GitHub did not accept the App'"), ("ok", "")]


def test_a_reload_mints_a_changed_source_again_and_keeps_an_unchanged_one(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    gate, path = start_gate(proxies, standin_pipelock, credential_routes(endpoints, tls_echo, ["acme/app"]))
    assert wait_for(lambda: len(credential_lines(gate)) == 2)
    path.write_text(json.dumps(credential_routes(endpoints, tls_echo, ["acme/lib"])))
    gate.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any(line.get("event") == "config_reload" for line in gate.json_lines()))
    assert wait_for(lambda: len(endpoints.github_requests) == 2)
    assert endpoints.github_requests[1]["body"]["repositories"] == ["lib"]
    m = marker()
    assert get(gate, tls_echo, f"/github/{m}-github/").status == 200
    assert get(gate, tls_echo, f"/vertex/{m}-vertex/").status == 200
    github_tokens = [t for t in endpoints.issued_tokens() if t.startswith("ghs_")]
    assert authorization(tls_echo, f"{m}-github/") == f"Bearer {github_tokens[1]}"
    # The service account's source did not change: its credential was kept, not minted again.
    assert len(endpoints.google_requests) == 1
    assert [line["repositories"] for line in credential_lines(gate) if line["name"] == "github"] == [["acme/app"], ["acme/lib"]]


@pytest.mark.parametrize(
    "env,upstream,message",
    [
        ({"EGRESS_PROXY_TOKEN_1": "SECRET-not-a-key"}, True, "credentials.github.private_key_env: EGRESS_PROXY_TOKEN_1 is not an unencrypted PEM private key"),
        ({}, False, "credentials (github) are minted through pipelock, but this egress proxy has no upstream proxy and CA"),
    ],
)  # fmt: skip
def test_routes_that_cannot_mint_refuse_to_start(
    proxies: ProxyFactory,
    standin_pipelock: Proxy,
    tls_echo: Upstream,
    endpoints: TokenEndpoints,
    env: dict[str, str],
    upstream: bool,
    message: str,
) -> None:
    chain = upstream_mode_env(standin_pipelock, standin_pipelock.ca_cert) if upstream else {}
    gate = proxies.start(credential_routes(endpoints, tls_echo, ["acme/app"], google=False), env={**chain, **KEYS, **env}, ready=False)
    try:
        gate.process.wait(timeout=20)
    finally:
        stop_process(gate.process)
    assert gate.process.returncode != 0
    assert message in gate.output()
    assert "SECRET-not-a-key" not in gate.output() and KEY_MATERIAL[0] not in gate.output()
    assert endpoints.github_requests == []


def test_a_mint_through_the_real_pipelock(
    proxies: ProxyFactory, tls_echo: Upstream, endpoints: TokenEndpoints, pki: Pki, tmp_path: Path
) -> None:
    """The mint client's CONNECT and TLS against pipelock itself (intercepting with its CA), which
    logs the mint as it logs agent traffic."""
    ca = make_pipelock_ca(tmp_path)
    pipelock = start_pipelock(pipelock_binary(), inspect_config(["localhost"], free_port(), ca), tmp_path / "pipelock", pki.ca_pem)
    try:
        env = {"EGRESS_PROXY_UPSTREAM_PROXY": f"http://127.0.0.1:{pipelock.port}", "EGRESS_PROXY_UPSTREAM_CA": str(ca[0]), **KEYS}
        gate = proxies.start(credential_routes(endpoints, tls_echo, ["acme/app"], google=False), env=env)
        m = marker()
        resp = get(gate, tls_echo, f"/github/{m}/")
        assert resp.status == 200, resp.text
        assert authorization(tls_echo, f"{m}/") == f"Bearer {endpoints.issued_tokens()[0]}"
        # pipelock intercepted the mint's tunnel: its tls_intercept line, as for each tunnel it reads.
        assert wait_for(lambda: [e["scanner"] for e in pipelock.events("anomaly", f"localhost:{endpoints.port}")] == ["tls_intercept"])
        assert_no_secret_logged(endpoints, gate)
        assert not [t for t in endpoints.issued_tokens() if t in pipelock.log_path.read_text()]
    finally:
        pipelock.stop()


def test_a_google_grant_through_the_real_pipelock_passes_only_as_a_passthrough_host(
    proxies: ProxyFactory, tls_echo: Upstream, endpoints: TokenEndpoints, pki: Pki, tmp_path: Path
) -> None:
    """pipelock's body DLP refuses the JWT bearer grant (its default "JWT Token" pattern) on an
    intercepted tunnel, so the program passes a Google token host through; the mint client then
    checks the token host's own certificate against the upstream leg's trust (as mitmproxy does
    for agent traffic to such a host), never against pipelock's CA."""
    ca = make_pipelock_ca(tmp_path)
    config = inspect_config(["localhost"], free_port(), ca)
    intercepted = start_pipelock(pipelock_binary(), config, tmp_path / "intercepting", pki.ca_pem)
    passthrough = inspect_config(["localhost"], free_port(), ca)
    passthrough["tls_interception"]["passthrough_domains"] = ["localhost"]
    passing = start_pipelock(pipelock_binary(), passthrough, tmp_path / "passing", pki.ca_pem)
    try:
        routes = credential_routes(endpoints, tls_echo, ["acme/app"])
        env = {"EGRESS_PROXY_UPSTREAM_CA": str(ca[0]), "EGRESS_PROXY_UPSTREAM_EXTRA_CA": str(pki.ca_pem), **KEYS}

        # Intercepted: pipelock refuses the grant, and the route answers 503 with the reason.
        blocked = proxies.start(routes, env={**env, "EGRESS_PROXY_UPSTREAM_PROXY": f"http://127.0.0.1:{intercepted.port}"})
        m = marker()
        resp = get(blocked, tls_echo, f"/vertex/{m}/")
        assert resp.status == 503 and "credential vertex not available" in resp.text, resp.text
        assert endpoints.google_requests == []
        blocked.stop()

        # Passed through: the grant reaches the token endpoint, whose certificate the mint client
        # checks against the upstream leg's trust (the test CA), and the token is injected.
        gate = proxies.start({**routes, "passthrough": ["localhost"]},
                             env={**env, "EGRESS_PROXY_UPSTREAM_PROXY": f"http://127.0.0.1:{passing.port}"})  # fmt: skip
        m = marker()
        resp = get(gate, tls_echo, f"/vertex/{m}/")
        assert resp.status == 200, resp.text
        [google_token] = [t for t in endpoints.issued_tokens() if t.startswith("ya29.")]
        assert authorization(tls_echo, f"{m}/") == f"Bearer {google_token}"
        assert_no_secret_logged(endpoints, gate)
    finally:
        intercepted.stop()
        passing.stop()
