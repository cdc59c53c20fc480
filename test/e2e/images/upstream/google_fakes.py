"""TEST upstream: Google's side of a service account (test/e2e/credentials.test.ts):

  POST <token_url's path>   the JWT bearer grant (RFC 7523) verified by PyJWT, an implementation
      of its own: RS256 with the service account's PUBLIC key, aud = the token URL, iss = the
      account's client_email, a scope, at most an hour long; answers a `ya29.` access token
      living UPSTREAM_GOOGLE_TOKEN_SECONDS (default 3600)
  vertex_access()   the check of a Vertex AI request (server.py answers it as the Messages API
      does): a bearer this fake issued, unexpired, with the cloud-platform scope, and the
      `anthropic_version` Vertex requires in the body

The account (client_email, the PUBLIC key, the token URL) is the test's google-sa.json in
fake_http.CREDENTIALS_DIR.
"""

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import jwt

from fake_http import Answer, Request, json_answer, lifetime, load_credentials, random_token

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# Google takes an assertion of at most an hour.
ASSERTION_MAX_SECONDS = 3600
VERTEX_PATH = re.compile(
    r"^/v1/projects/[a-z0-9-]+/locations/[a-z0-9-]+/publishers/anthropic/models/[A-Za-z0-9@._-]+:(rawPredict|streamRawPredict)$"
)
VERTEX_VERSION = "vertex-2023-10-16"


@dataclass(frozen=True)
class Grant:
    expires_at: float
    scopes: frozenset[str]


grants: dict[str, Grant] = {}
grants_lock = threading.Lock()


def _oauth_error(description: str) -> Answer:
    return json_answer(400, {"error": "invalid_grant", "error_description": description})


def token(request: Request) -> tuple[Answer, dict[str, object]] | None:
    """The token endpoint (the path of the account's token_url); None for another path."""
    account: dict[str, Any] | None = load_credentials("google-sa")
    if account is None:
        return json_answer(500, {"error": "the test gave no google-sa.json"}), {"grant": "no service account configured"}
    if request.path != urllib.parse.urlsplit(account["token_url"]).path:
        return None
    form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
    if request.method != "POST" or form.get("grant_type") != [GRANT_TYPE] or len(form.get("assertion", [])) != 1:
        return _oauth_error("a POST with grant_type jwt-bearer and one assertion"), {"grant": "refused: not a JWT bearer grant"}
    assertion = form["assertion"][0]
    try:
        claims = jwt.decode(
            assertion,
            account["public_key"],
            algorithms=["RS256"],
            audience=account["token_url"],
            issuer=account["client_email"],
            options={"require": ["iss", "aud", "iat", "exp", "scope"]},
        )
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as err:
        return _oauth_error(f"Invalid JWT: {err}"), {"grant": f"refused: {err}"}
    if claims["exp"] - claims["iat"] > ASSERTION_MAX_SECONDS:
        return _oauth_error("Invalid JWT: the assertion lives more than an hour"), {"grant": "refused: too long"}
    scopes = frozenset(str(claims["scope"]).split())
    access_token = random_token("ya29.", 120)
    expires_in = lifetime("UPSTREAM_GOOGLE_TOKEN_SECONDS")
    with grants_lock:
        grants[access_token] = Grant(time.time() + expires_in, scopes)
    verified = {
        "grant": "issued",
        "alg": header.get("alg"),
        "kid": header.get("kid"),
        "iss": claims["iss"],
        "aud": claims["aud"],
        "scopes": sorted(scopes),
        "assertion_seconds": claims["exp"] - claims["iat"],
        "expires_in": expires_in,
    }
    return json_answer(200, {"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"}), verified


def _vertex_error(status: int, state: str, message: str) -> Answer:
    return json_answer(status, {"error": {"code": status, "message": message, "status": state}})


def vertex_access(request: Request) -> tuple[Answer | None, dict[str, object]] | None:
    """None when the path is not Vertex's; else (None when server.py may answer, what was verified)."""
    if VERTEX_PATH.match(request.path) is None:
        return None
    scheme, _, value = request.header("Authorization").partition(" ")
    with grants_lock:
        grant = grants.get(value.strip()) if scheme == "Bearer" else None
    if grant is None or grant.expires_at <= time.time():
        return _vertex_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), {"token": "unknown or expired"}
    seen: dict[str, object] = {"token": "valid", "expires_in": round(grant.expires_at - time.time(), 1)}
    if CLOUD_PLATFORM not in grant.scopes:
        return _vertex_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."), {**seen, "refused": "scope"}
    try:
        version = json.loads(request.body or b"{}").get("anthropic_version")
    except ValueError:
        version = None
    if version != VERTEX_VERSION:
        return _vertex_error(400, "INVALID_ARGUMENT", f"anthropic_version must be {VERTEX_VERSION}"), {
            **seen,
            "refused": "anthropic_version",
        }
    return None, seen
