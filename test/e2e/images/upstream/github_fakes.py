"""TEST upstream: a GitHub App's side of GitHub, as strict as GitHub is about what the egress
proxy sends (test/e2e/credentials.test.ts):

  POST /app/installations/<id>/access_tokens   the App's JWT (RS256, iss = the App id, issued
      at most a minute ahead, expiring within 10 minutes) verified with the App's PUBLIC key by
      `cryptography` itself, the narrowing asked for (repository names, permissions) checked
      against the installation and recorded; answers a `ghs_` token that expires after
      UPSTREAM_GITHUB_TOKEN_SECONDS (default 3600)
  /installation/repositories, /repos/<o>/<n>[/pulls|/issues|/contents...]   a GitHub-shaped
      API that takes only a token it issued, unexpired, narrowed to the repository (404 as
      GitHub answers otherwise) with the permission the method needs (403)
  git_access()   the same checks for git's smart HTTP (server.py), when the request carries an
      installation token (Bearer, or Basic x-access-token:<token>)

The App (id, installation id, account, its permissions and PUBLIC key) is the test's
github-app.json in fake_http.CREDENTIALS_DIR.
"""

import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fake_http import Answer, Request, json_answer, lifetime, load_credentials, random_token

GIT_ROOT = "/srv/git"
# GitHub's own limits on an App's JWT: issued at most a minute in the future (clock drift),
# expiring at most ten minutes after it was issued.
CLOCK_DRIFT_SECONDS = 60
JWT_MAX_SECONDS = 600
LEVELS = {"read": 1, "write": 2}
# The permissions an installation token may be narrowed to that the fake API knows.
PERMISSIONS = {"contents", "metadata", "pull_requests", "issues"}
# The permission each part of a repository's API needs: /repos/<o>/<n> itself is metadata.
AREAS = {"": "metadata", "pulls": "pull_requests", "issues": "issues", "contents": "contents"}
MINT_PATH = re.compile(r"^/app/installations/([0-9]+)/access_tokens$")
REPO_PATH = re.compile(r"^/repos/([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)(/(pulls|issues|contents)(/.*)?)?$")
DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Grant:
    """What one installation token may do."""

    expires_at: float
    repositories: frozenset[str] | None  # owner/name; None: every repository of the installation
    permissions: dict[str, str]


grants: dict[str, Grant] = {}
grants_lock = threading.Lock()


def fingerprint(token: str) -> str:
    """How records name a token without holding it twice."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _app() -> dict[str, Any] | None:
    return load_credentials("github-app")


def _installation_repositories(account: str) -> set[str]:
    folder = os.path.join(GIT_ROOT, account)
    return {f"{account}/{name.removesuffix('.git')}" for name in os.listdir(folder)} if os.path.isdir(folder) else set()


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_app_jwt(token: str, app: dict[str, Any], now: float) -> dict[str, object]:
    """The JWT's claims when GitHub would take it as the App's; raises ValueError saying why not."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT (three dot-separated parts)")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error) as err:
        raise ValueError(f"undecodable JWT: {err}") from err
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r}, GitHub takes RS256 only")
    key = serialization.load_pem_public_key(app["public_key"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as err:
        raise ValueError("signature not made by the App's private key") from err
    iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
    if str(iss) != app["app_id"]:
        raise ValueError(f"iss {iss!r} is not the App id")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise ValueError("iat and exp must be integer seconds")
    if iat > now + CLOCK_DRIFT_SECONDS:
        raise ValueError("iat is in the future")
    if exp <= now:
        raise ValueError("the JWT expired")
    if exp - iat > JWT_MAX_SECONDS or exp > now + JWT_MAX_SECONDS + CLOCK_DRIFT_SECONDS:
        raise ValueError("exp is more than 10 minutes after iat")
    return {"iss": iss, "iat": iat, "exp": exp}


def _bearer(request: Request) -> str:
    scheme, _, value = request.header("Authorization").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def mint(request: Request) -> tuple[Answer, dict[str, object]] | None:
    """POST /app/installations/<id>/access_tokens; None for another path."""
    match = MINT_PATH.match(request.path)
    if match is None:
        return None
    app = _app()
    if app is None:
        return json_answer(500, {"message": "the test gave no github-app.json"}), {"mint": "no App configured"}
    if request.method != "POST":
        return json_answer(404, {"message": "Not Found"}), {"mint": "not a POST"}
    if not request.header("User-Agent"):
        # GitHub refuses every API request without one.
        return Answer(
            403, b"Request forbidden by administrative rules. Please make sure your request has a User-Agent header.\n", "text/plain"
        ), {"mint": "no User-Agent"}
    try:
        claims = verify_app_jwt(_bearer(request), app, time.time())
    except ValueError as err:
        return json_answer(401, {"message": "A JSON web token could not be decoded", "documentation_url": DOCS}), {
            "mint": f"refused: {err}"
        }
    if match[1] != app["installation_id"]:
        return json_answer(404, {"message": "Not Found"}), {"mint": f"unknown installation {match[1]}", "jwt": claims}
    try:
        asked = json.loads(request.body or b"{}")
        repositories, permissions = _narrowing(asked, app)
    except ValueError as err:
        return json_answer(422, {"message": str(err), "documentation_url": DOCS}), {"mint": f"refused: {err}", "jwt": claims}
    token = random_token("ghs_", 36)
    expires_at = int(time.time()) + lifetime("UPSTREAM_GITHUB_TOKEN_SECONDS")
    with grants_lock:
        grants[token] = Grant(expires_at, repositories, permissions)
    verified: dict[str, object] = {
        "mint": "issued",
        "jwt": claims,
        "repositories": sorted(repositories) if repositories is not None else None,
        "permissions": permissions,
        "expires_at": expires_at,
        "token": fingerprint(token),
    }
    answer = {
        "token": token,
        "expires_at": datetime.datetime.fromtimestamp(expires_at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": permissions,
        "repository_selection": "all" if repositories is None else "selected",
        **({"repositories": [_repository(r) for r in sorted(repositories)]} if repositories is not None else {}),
    }
    return json_answer(201, answer), verified


def _narrowing(asked: object, app: dict[str, Any]) -> tuple[frozenset[str] | None, dict[str, str]]:
    """The repositories (owner/name) and permissions a token request asks for, as GitHub takes them."""
    if not isinstance(asked, dict) or set(asked) - {"repositories", "permissions"}:
        raise ValueError("only repositories (names) and permissions are understood here")
    account = app["account"]
    granted: dict[str, str] = app["permissions"]
    names = asked.get("repositories")
    repositories = None
    if names is not None:
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and "/" not in n for n in names):
            raise ValueError("repositories must be a list of repository names (without the owner)")
        repositories = frozenset(f"{account}/{n}" for n in names)
        if repositories - _installation_repositories(account):
            raise ValueError("There is at least one repository that does not exist or is not accessible to the parent installation.")
    permissions = asked.get("permissions", granted)
    if not isinstance(permissions, dict) or not all(
        k in PERMISSIONS and v in LEVELS and LEVELS[v] <= LEVELS.get(granted.get(k, ""), 0) for k, v in permissions.items()
    ):
        raise ValueError("The permissions requested are not granted to this installation.")
    return repositories, dict(sorted(permissions.items()))


def _repository(full_name: str) -> dict[str, object]:
    owner, name = full_name.split("/")
    return {"name": name, "full_name": full_name, "owner": {"login": owner}, "private": True}


def _grant(token: str) -> Grant | None:
    with grants_lock:
        found = grants.get(token)
    return found if found is not None and found.expires_at > time.time() else None


def _may(grant: Grant, repository: str, permission: str, level: str) -> str:
    """'' when the grant covers it, else 'repository' or 'permission': what it lacks."""
    app = _app()
    if app is None or repository not in _installation_repositories(app["account"]):
        return "repository"
    if grant.repositories is not None and repository not in grant.repositories:
        return "repository"
    return "" if LEVELS[level] <= LEVELS.get(grant.permissions.get(permission, ""), 0) else "permission"


def api(request: Request) -> tuple[Answer, dict[str, object]]:
    """The GitHub-shaped API: /installation/repositories and /repos/<o>/<n>[/pulls|/issues|/contents...]."""
    token = _bearer(request) or (
        request.header("Authorization").removeprefix("token ").strip() if request.header("Authorization").startswith("token ") else ""
    )
    grant = _grant(token) if token.startswith("ghs_") else None
    if grant is None:
        why = "no installation token" if not token.startswith("ghs_") else "token unknown or expired"
        return json_answer(401, {"message": "Bad credentials", "documentation_url": DOCS}), {"token": why}
    seen: dict[str, object] = {"token": fingerprint(token), "expires_in": round(grant.expires_at - time.time(), 1)}
    if request.path == "/installation/repositories" and request.method == "GET":
        app = _app()
        assert app is not None, "a grant exists only with an App"
        names = sorted(grant.repositories if grant.repositories is not None else _installation_repositories(app["account"]))
        return json_answer(200, {"total_count": len(names), "repositories": [_repository(n) for n in names]}), seen
    match = REPO_PATH.match(request.path)
    if match is None:
        return json_answer(404, {"message": "Not Found", "documentation_url": DOCS}), seen
    repository, area = f"{match[1]}/{match[2]}", AREAS[match[4] or ""]
    level = "read" if request.method in ("GET", "HEAD") else "write"
    lacking = _may(grant, repository, area, level)
    if lacking == "repository":
        return json_answer(404, {"message": "Not Found", "documentation_url": DOCS}), {**seen, "refused": f"{repository} not in the token"}
    if lacking == "permission":
        return json_answer(403, {"message": "Resource not accessible by integration", "documentation_url": DOCS}), {
            **seen,
            "refused": f"{area}: {level} not in the token",
        }
    status = 201 if request.method == "POST" else 200
    document: object = _repository(repository) if area == "metadata" else ([] if request.method == "GET" and not match[5] else {"ok": True})
    return json_answer(status, document), {**seen, "allowed": f"{area}: {level}"}


def _git_token(request: Request) -> str:
    """The installation token git's request carries (Bearer, or Basic x-access-token:<token>), or ''."""
    scheme, _, value = request.header("Authorization").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, binascii.Error):
            return ""
        return password if user == "x-access-token" else ""
    return ""


def git_access(request: Request, repository: str, push: bool) -> tuple[Answer | None, dict[str, object]]:
    """None when git may go on; a request without an installation token is left as it was (other tests' static tokens)."""
    token = _git_token(request)
    if not token.startswith("ghs_"):
        return None, {}
    grant = _grant(token)
    if grant is None:
        answer = Answer(401, b"Invalid username or token.\n", "text/plain", [("WWW-Authenticate", 'Basic realm="GitHub"')])
        return answer, {"token": "token unknown or expired"}
    seen: dict[str, object] = {"token": fingerprint(token), "expires_in": round(grant.expires_at - time.time(), 1)}
    level = "write" if push else "read"
    lacking = _may(grant, repository, "contents", level)
    if lacking == "repository":
        return Answer(404, b"Repository not found.\n", "text/plain"), {**seen, "refused": f"{repository} not in the token"}
    if lacking == "permission":
        return Answer(403, b"Write access to repository not granted.\n", "text/plain"), {
            **seen,
            "refused": f"contents: {level} not in the token",
        }
    return None, {**seen, "allowed": f"contents: {level}"}
