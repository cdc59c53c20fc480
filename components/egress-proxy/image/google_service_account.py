"""A Google service account's access token: the JWT bearer grant (RFC 7523) signed with the
account's key (RS256, made with PyJWT), and the token endpoint's answer.

Pure: no mitmproxy import, no network (credential_minting.py sends the request).
"""

import urllib.parse

import jwt

from credential_errors import CredentialError
from credential_sources import GoogleServiceAccountSource, Minted
from provider_answers import json_object, provider_words, token_chars

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google's longest: an assertion valid for one hour.
ASSERTION_SECONDS = 3600


def assertion(source: GoogleServiceAccountSource, now: float) -> str:
    """The signed grant: from the account, for its scopes, addressed to the token endpoint."""
    issued = int(now)
    claims = {
        "iss": source.client_email,
        "scope": " ".join(source.scopes),
        "aud": source.token_url,
        "iat": issued,
        "exp": issued + ASSERTION_SECONDS,
    }
    return jwt.encode(claims, source.private_key, algorithm="RS256")


def token_request(source: GoogleServiceAccountSource, now: float) -> tuple[str, list[tuple[str, str]], bytes]:
    """(url, headers, body) of the POST for an access token."""
    body = urllib.parse.urlencode({"grant_type": GRANT_TYPE, "assertion": assertion(source, now)}).encode("ascii")
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
    return source.token_url, headers, body


def parse_token_answer(status: int, body: bytes, now: float) -> Minted:
    """The access token of the endpoint's answer, or CredentialError with its error code and
    description (never a token)."""
    answer = json_object(body)
    if status != 200:
        code = provider_words(answer.get("error")) if answer is not None else ""
        description = provider_words(answer.get("error_description")) if answer is not None else ""
        words = ": ".join(w for w in (code, description) if w)
        raise CredentialError(f"the token endpoint refused the service account's grant (HTTP {status}{': ' + words if words else ''})")
    token = answer.get("access_token") if answer is not None else None
    lifetime = answer.get("expires_in") if answer is not None else None
    if not isinstance(token, str) or not token or not token_chars(token):
        raise CredentialError("the token endpoint's answer has no access_token")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
        raise CredentialError("the token endpoint's answer has no expires_in")
    return Minted(token, now + lifetime, now)
