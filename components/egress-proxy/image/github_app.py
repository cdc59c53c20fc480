"""A GitHub App's installation token: the App's JWT (RS256, made with PyJWT), the request for
an installation token narrowed to repositories and permissions, and its answer.

Pure: no mitmproxy import, no network (credential_minting.py sends the request).
"""

import datetime
import json

import jwt

from credential_errors import CredentialError
from credential_sources import GithubAppSource, Minted
from provider_answers import json_object, provider_words, token_chars

# GitHub refuses a JWT that expires more than 10 minutes after it was issued; it is issued 60 s
# in the past against clock drift.
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 600
# What GitHub's refusals mean for this request, and what to do.
REFUSALS = {
    401: "GitHub did not accept the App's JWT: check app_id and that the private key is the App's",
    403: "GitHub refused: the App may lack a permission asked for (the App's settings grant it)",
    404: "GitHub found no such installation: is the App installed on that account, and is installationId right?",
    422: "GitHub refused the narrowing: a repository is not in the installation, or a permission is not granted to the App",
}


def app_jwt(source: GithubAppSource, now: float) -> str:
    """The App's JWT: iss = the App id, issued 60 s ago, expiring 10 minutes after that."""
    issued = int(now) - JWT_BACKDATE_SECONDS
    claims = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": source.app_id}
    return jwt.encode(claims, source.private_key, algorithm="RS256")


def token_request(source: GithubAppSource, now: float) -> tuple[str, list[tuple[str, str]], bytes]:
    """(url, headers, body) of the POST for an installation token, narrowed as the source says
    (no `repositories`: every repository of the installation)."""
    url = f"{source.api_url}/app/installations/{source.installation_id}/access_tokens"
    headers = [
        ("Accept", "application/vnd.github+json"),
        ("X-GitHub-Api-Version", "2022-11-28"),
        ("Authorization", f"Bearer {app_jwt(source, now)}"),
        ("Content-Type", "application/json"),
        ("User-Agent", "bot-bottle-egress-proxy"),
    ]
    narrowing: dict[str, object] = {"permissions": dict(source.permissions)}
    if source.repositories:
        # GitHub takes the names without the owner: the installation's account is the owner.
        narrowing = {"repositories": [r.split("/", 1)[1] for r in source.repositories], **narrowing}
    return url, headers, json.dumps(narrowing).encode()


def parse_token_answer(status: int, body: bytes, now: float) -> Minted:
    """The installation token of GitHub's answer, or CredentialError saying why there is none
    (GitHub's status and message, never a token)."""
    answer = json_object(body)
    if status != 201:
        detail = provider_words(answer.get("message")) if answer is not None else ""
        meaning = REFUSALS.get(status, "GitHub did not give an installation token")
        raise CredentialError(f"{meaning} (HTTP {status}{': ' + detail if detail else ''})")
    token = answer.get("token") if answer is not None else None
    expires = answer.get("expires_at") if answer is not None else None
    if not isinstance(token, str) or not token or not token_chars(token) or not isinstance(expires, str):
        raise CredentialError("GitHub's answer has no token and expires_at")
    try:
        expires_at = datetime.datetime.fromisoformat(expires)
    except ValueError:
        raise CredentialError("GitHub's answer has an expires_at that is not a time") from None
    if expires_at.tzinfo is None:
        raise CredentialError("GitHub's answer has an expires_at without a time zone")
    return Minted(token, expires_at.timestamp(), now)
