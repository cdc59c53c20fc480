"""Fake token endpoints for the credential tests: one HTTPS server (the test CA's localhost
certificate, reached through the pipelock stand-in) answering as GitHub's installation-token API,
Google's OAuth token endpoint and STS's AssumeRole do. Each VERIFIES what it gets with code of
its own (the JWTs with `cryptography` alone, against the public keys the test gives it; STS's
signature with botocore, sigv4_verify.py), records the narrowing asked for and what it issued,
and can be told to refuse or to issue short-lived credentials.
"""

import datetime
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from credential_keys import verify_rs256
from sigv4_verify import SigningKey, verify_sigv4

GITHUB_PATH = "/app/installations/"
GOOGLE_PATH = "/token"
STS_PATH = "/"


@dataclass
class Issued:
    token: str
    expires_at: float


@dataclass
class TokenEndpoints:
    github_app_id: str
    github_key: rsa.RSAPublicKey
    google_email: str
    google_key: rsa.RSAPublicKey
    port: int = 0
    # The narrowings asked for, in order: {"installation": ..., "body": ...} / {"scope": ...}.
    github_requests: list[dict[str, Any]] = field(default_factory=list)
    google_requests: list[dict[str, Any]] = field(default_factory=list)
    sts_requests: list[dict[str, str]] = field(default_factory=list)
    # The long-lived AWS keys STS knows, and the session keys it issued (what a signed upstream verifies).
    aws_keys: dict[str, SigningKey] = field(default_factory=dict)
    sessions: dict[str, SigningKey] = field(default_factory=dict)
    issued: list[Issued] = field(default_factory=list)
    # What failed verification (the test fails on any).
    failures: list[str] = field(default_factory=list)
    lifetime: float = 3600.0
    # While > 0: answer this many requests with `refusal` (status, JSON body) instead.
    refuse_next: int = 0
    refusal: tuple[int, dict[str, Any]] = (401, {"message": "A JSON web token could not be decoded"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return [i.token for i in self.issued]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def do_POST(self) -> None:
        endpoints = self.server.endpoints
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if self.path.startswith(GITHUB_PATH):
                status, answer = self._github(endpoints, body)
            elif self.path == GOOGLE_PATH:
                status, answer = self._google(endpoints, body)
            elif self.path == STS_PATH:
                self._answer(*self._sts(endpoints, body), "text/xml")
                return
            else:
                status, answer = 404, {"message": "Not Found"}
        except Exception as e:  # noqa: BLE001 - a failed verification is the test's failure: answer it, record it
            status, answer = 400, {"message": f"fake endpoint: verification failed: {type(e).__name__}: {e}"}
            with endpoints.lock:
                endpoints.failures.append(f"{self.path}: {type(e).__name__}: {e}")
        self._answer(status, json.dumps(answer).encode(), "application/json")

    def _answer(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _refusal(self, endpoints: TokenEndpoints) -> tuple[int, dict[str, Any]] | None:
        with endpoints.lock:
            if endpoints.refuse_next > 0:
                endpoints.refuse_next -= 1
                return endpoints.refusal
        return None

    def _issue(self, endpoints: TokenEndpoints, prefix: str) -> Issued:
        issued = Issued(prefix + secrets.token_hex(12), time.time() + endpoints.lifetime)
        with endpoints.lock:
            endpoints.issued.append(issued)
        return issued

    def _github(self, endpoints: TokenEndpoints, body: bytes) -> tuple[int, dict[str, Any]]:
        assert self.headers["Accept"] == "application/vnd.github+json", self.headers["Accept"]
        assert self.headers["X-GitHub-Api-Version"] == "2022-11-28"
        scheme, _, token = self.headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        claims = verify_rs256(token, endpoints.github_key)
        now = time.time()
        assert claims["iss"] == endpoints.github_app_id
        assert now - 70 <= claims["iat"] <= now - 50, claims
        assert claims["exp"] - claims["iat"] <= 600 and claims["exp"] > now
        installation = self.path[len(GITHUB_PATH) :].removesuffix("/access_tokens")
        with endpoints.lock:
            endpoints.github_requests.append({"installation": installation, "body": json.loads(body)})
        refusal = self._refusal(endpoints)
        if refusal is not None:
            return refusal
        issued = self._issue(endpoints, "ghs_")
        expires = datetime.datetime.fromtimestamp(issued.expires_at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"token": issued.token, "expires_at": expires, "permissions": json.loads(body)["permissions"]}

    def _google(self, endpoints: TokenEndpoints, body: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(urllib.parse.parse_qsl(body.decode("ascii"), strict_parsing=True))
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        claims = verify_rs256(form["assertion"], endpoints.google_key)
        assert claims["iss"] == endpoints.google_email
        assert claims["aud"] == f"{endpoints.url}{GOOGLE_PATH}"
        assert claims["exp"] - claims["iat"] == 3600
        with endpoints.lock:
            endpoints.google_requests.append({"scope": claims["scope"]})
        refusal = self._refusal(endpoints)
        if refusal is not None:
            return refusal
        issued = self._issue(endpoints, "ya29.")
        return 200, {"access_token": issued.token, "expires_in": max(1, round(endpoints.lifetime)), "token_type": "Bearer"}

    def _sts(self, endpoints: TokenEndpoints, body: bytes) -> tuple[int, bytes]:
        url = f"{endpoints.url}{self.path}"
        verify_sigv4(
            method="POST",
            url=url,
            headers=list(self.headers.items()),
            body=body,
            keys=endpoints.aws_keys,
            region="us-east-1",
            service="sts",
        )
        form = dict(urllib.parse.parse_qsl(body.decode("ascii"), strict_parsing=True))
        assert (form["Action"], form["Version"]) == ("AssumeRole", "2011-06-15"), form
        with endpoints.lock:
            endpoints.sts_requests.append({k: form[k] for k in ("RoleArn", "RoleSessionName", "DurationSeconds")})
        refusal = self._refusal(endpoints)
        if refusal is not None:
            code, message = refusal[1]["code"], refusal[1]["message"]
            error = f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>'
            return refusal[0], error.encode()
        issued = self._issue(endpoints, "ASIA")
        key_id, secret, token = issued.token.upper(), "s3cr3t" + secrets.token_hex(12), "FwoG" + secrets.token_hex(24)
        with endpoints.lock:
            endpoints.sessions[key_id] = SigningKey(secret, token)
        expiration = datetime.datetime.fromtimestamp(issued.expires_at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
            f"<SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration>"
            "</Credentials></AssumeRoleResult></AssumeRoleResponse>"
        ).encode()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, endpoints: TokenEndpoints, context: ssl.SSLContext) -> None:
        self.endpoints = endpoints
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        endpoints.port = self.server_address[1]


def serve(endpoints: TokenEndpoints, context: ssl.SSLContext) -> ThreadingHTTPServer:
    """Serve `endpoints` over TLS with `context` from a daemon thread (the caller shuts it down)."""
    server = _Server(endpoints, context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
