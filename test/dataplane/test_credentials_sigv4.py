"""SigV4 routes on a real mitmdump chained through the pipelock stand-in: the egress proxy
signs each request as it leaves (checked by botocore, sigv4_verify.py, over the request as the
upstream received it), drops the agent's own Authorization and X-Amz-* headers, refuses a
presigned query, and, for a role, assumes it with STS through the stand-in (the fake STS checks
that signature with botocore too) and signs with the session it got.
"""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import (
    Pki,
    Proxy,
    ProxyFactory,
    Received,
    Upstream,
    _server_context,
    assert_streams,
    marker,
    tls_tunnel,
    tunnel_request,
    upstream_mode_env,
    wait_for,
)
from credential_minting import session_name
from sigv4_verify import SigningKey, Verified, verify_sigv4
from token_endpoints import TokenEndpoints, serve

ACCESS_KEY_ID = "AKIDEXAMPLE1"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
KEYS = {"EGRESS_PROXY_TOKEN_3": ACCESS_KEY_ID, "EGRESS_PROXY_TOKEN_4": SECRET}
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-agent"
AGENTS_OWN = [("Authorization", "AWS4-HMAC-SHA256 agent"), ("X-Amz-Date", "19990101T000000Z"), ("X-Amz-Security-Token", "agent-token")]


@pytest.fixture(scope="module")
def endpoints(pki: Pki) -> Iterator[TokenEndpoints]:
    from credential_keys import rsa_key

    fake = TokenEndpoints("0", rsa_key("unused").public_key(), "", rsa_key("unused").public_key())
    fake.aws_keys[ACCESS_KEY_ID] = SigningKey(SECRET)
    server = serve(fake, _server_context(pki))
    yield fake
    assert fake.failures == []
    server.shutdown()
    server.server_close()


def sigv4_routes(tls_echo: Upstream, sts_url: str | None) -> dict[str, Any]:
    """A SigV4 route (/model/) and an unsigned one (/other/) to the echo upstream."""
    bedrock: dict[str, Any] = {"kind": "aws", "access_key_id_env": "EGRESS_PROXY_TOKEN_3", "secret_access_key_env": "EGRESS_PROXY_TOKEN_4"}
    if sts_url is not None:
        bedrock |= {"role_arn": ROLE_ARN, "sts_url": sts_url, "sts_region": "us-east-1", "session_seconds": 900}
    return {
        "version": 1,
        "credentials": {"bedrock": bedrock},
        "routes": [
            {
                "host": "localhost",
                "ports": [tls_echo.port],
                "methods": ["GET", "POST"],
                "path_allowlist": ["/model/"],
                "auth": {"sigv4": {"service": "bedrock", "region": "us-east-1"}, "token": "bedrock", "credential": "bedrock"},
            },
            {"host": "localhost", "ports": [tls_echo.port], "path_allowlist": ["/other/"]},
        ],
    }


@pytest.fixture(scope="module")
def static_gate(proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream) -> Proxy:
    return proxies.start(sigv4_routes(tls_echo, None), env={**upstream_mode_env(standin_pipelock, standin_pipelock.ca_cert), **KEYS})


def send(gate: Proxy, tls_echo: Upstream, method: str, target: str, body: bytes = b"") -> Any:
    head = [f"{method} {target} HTTP/1.1", f"Host: localhost:{tls_echo.port}", *(f"{k}: {v}" for k, v in AGENTS_OWN), "Connection: close"]
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return tunnel_request(gate.port, f"localhost:{tls_echo.port}", gate.ca_cert, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


def verified(tls_echo: Upstream, got: Received, keys: dict[str, SigningKey]) -> Verified:
    return verify_sigv4(
        method=got.method, url=f"https://localhost:{tls_echo.port}{got.path}", headers=got.headers, body=got.body,
        keys=keys, region="us-east-1", service="bedrock",
    )  # fmt: skip


def test_a_sigv4_route_signs_the_request_as_sent_and_drops_the_agents_own(static_gate: Proxy, tls_echo: Upstream) -> None:
    m = marker()
    body = json.dumps({"prompt": "hello", "max_tokens": 10}).encode()
    # An encoded segment and an unsorted query: signed as sent (SigV4 encodes each segment again).
    resp = send(static_gate, tls_echo, "POST", f"/model/anthropic.claude-v2%3A1/{m}/invoke?b=2&a=x%2Fy", body)
    assert resp.status == 200, resp.text
    [got] = tls_echo.requests_for(m)
    assert got.path == f"/model/anthropic.claude-v2%3A1/{m}/invoke?b=2&a=x%2Fy" and got.body == body
    assert verified(tls_echo, got, {ACCESS_KEY_ID: SigningKey(SECRET)}) == Verified(
        ACCESS_KEY_ID, ("host", "x-amz-content-sha256", "x-amz-date"), False
    )
    assert len(got.header_values("Authorization")) == 1 and got.header_values("X-Amz-Security-Token") == []
    assert got.header_values("X-Amz-Date") != ["19990101T000000Z"]


def test_another_route_gets_none_of_the_sigv4_headers(static_gate: Proxy, tls_echo: Upstream) -> None:
    m = marker()
    assert send(static_gate, tls_echo, "GET", f"/other/{m}").status == 200
    [got] = tls_echo.requests_for(m)
    assert [name.lower() for name, _ in got.headers if name.lower().startswith(("authorization", "x-amz-"))] == []


def test_a_presigned_query_is_refused(static_gate: Proxy, tls_echo: Upstream) -> None:
    m = marker()
    resp = send(static_gate, tls_echo, "GET", f"/model/{m}/invoke?X-Amz-Credential=AKIDEXAMPLE1%2F20260101&X-Amz-Signature=00")
    assert resp.status == 403
    assert (
        resp.text
        == "egress-proxy: presigned request on a SigV4 route for localhost: the query carries X-Amz-Signature or X-Amz-Credential\n"
    )
    assert tls_echo.requests_for(m) == []


def test_an_event_stream_answer_streams_on_a_sigv4_route(static_gate: Proxy, tls_echo: Upstream) -> None:
    m = marker()
    with tls_tunnel(static_gate.port, f"localhost:{tls_echo.port}", static_gate.ca_cert) as sock:
        sock.sendall(f"GET /model/x/gated/{m} HTTP/1.1\r\nHost: localhost:{tls_echo.port}\r\n\r\n".encode())
        assert_streams(sock, tls_echo, m)
    [got] = tls_echo.requests_for(m)
    assert verified(tls_echo, got, {ACCESS_KEY_ID: SigningKey(SECRET)}).access_key_id == ACCESS_KEY_ID


def test_a_role_is_assumed_through_pipelock_and_its_session_signs(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    gate = proxies.start(
        sigv4_routes(tls_echo, endpoints.url), env={**upstream_mode_env(standin_pipelock, standin_pipelock.ca_cert), **KEYS}
    )
    m = marker()
    resp = send(gate, tls_echo, "POST", f"/model/m/{m}/invoke", b"{}")
    assert resp.status == 200, resp.text
    assert endpoints.sts_requests == [
        {"RoleArn": ROLE_ARN, "RoleSessionName": session_name(socket.gethostname()), "DurationSeconds": "900"}
    ]
    [got] = tls_echo.requests_for(m)
    session = verified(tls_echo, got, dict(endpoints.sessions))
    assert session.session and session.access_key_id in endpoints.sessions and "x-amz-security-token" in session.signed_headers
    assert wait_for(lambda: f"POST {endpoints.url}/\n" in standin_pipelock.output())
    [line] = [line for line in gate.json_lines() if line.get("event") == "credential"]
    assert (line["name"], line["kind"], line["outcome"], line["role"]) == ("bedrock", "aws", "ok", ROLE_ARN)
    secrets = [SECRET, *(k.secret_access_key for k in endpoints.sessions.values()), *(k.session_token for k in endpoints.sessions.values())]
    for proxy in (gate, standin_pipelock):
        assert not [s for s in secrets if s in proxy.output()]


def test_a_refused_assume_role_is_the_503s_reason(
    proxies: ProxyFactory, standin_pipelock: Proxy, tls_echo: Upstream, endpoints: TokenEndpoints
) -> None:
    endpoints.refuse_next = 1
    endpoints.refusal = (403, {"code": "AccessDenied", "message": "User is not authorized to perform: sts:AssumeRole"})
    gate = proxies.start(
        sigv4_routes(tls_echo, endpoints.url), env={**upstream_mode_env(standin_pipelock, standin_pipelock.ca_cert), **KEYS}
    )
    m = marker()
    resp = send(gate, tls_echo, "POST", f"/model/m/{m}/invoke", b"{}")
    assert resp.status == 503
    assert resp.text == (
        "egress-proxy: credential bedrock not available: "
        "STS refused AssumeRole: AccessDenied: User is not authorized to perform: sts:AssumeRole (HTTP 403)\n"
    )
    assert tls_echo.requests_for(m) == []
