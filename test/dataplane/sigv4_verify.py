"""TEST helper: checks an incoming request's SigV4 Authorization header the way an AWS service
does, with botocore's signer as the independent implementation (never the egress proxy's own
aws_sigv4.py): parse Credential / SignedHeaders / Signature, rebuild the canonical request from
the request as received (only the headers it names as signed), recompute, compare.

Used by the data-plane tests and by the end-to-end upstream's fake AWS endpoints
(test/e2e/images/upstream/aws_fakes.py; test/e2e/build-images copies this file into that image).
Needs botocore: pinned in the host venv and the egress proxy's test image, Debian's
python3-botocore in the upstream image.

    verified = verify_sigv4(method="POST", url="https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke",
                            headers=[("Host", ...), ("Authorization", ...), ...], body=b"...",
                            keys={"AKIA...": SigningKey("secret")}, region="us-east-1", service="bedrock")
    # -> Verified(access_key_id, signed_headers, session_token) or raises SigV4Rejected(code, message)
"""

import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
# AWS refuses a request signed more than 5 minutes away from its own clock.
MAX_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class SigningKey:
    """What the verifier knows about one access key id: its secret and, for a session
    credential, the session token every request must carry (and sign)."""

    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class Verified:
    access_key_id: str
    signed_headers: tuple[str, ...]
    session: bool


class SigV4Rejected(Exception):
    """Why AWS would refuse the request: `code` is AWS's error code, the message AWS's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse_authorization(value: str) -> tuple[str, str, list[str], str]:
    """(access key id, credential scope, signed header names, signature) of an Authorization value."""
    if not value.startswith(ALGORITHM + " "):
        raise SigV4Rejected("IncompleteSignature", f"Authorization header must start with {ALGORITHM}")
    fields: dict[str, str] = {}
    for component in value[len(ALGORITHM) + 1 :].split(","):
        name, sep, text = component.strip().partition("=")
        if not sep or name in fields:
            raise SigV4Rejected("IncompleteSignature", f"Authorization header component {name!r} is malformed or repeated")
        fields[name] = text
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise SigV4Rejected("IncompleteSignature", "Authorization header needs exactly Credential, SignedHeaders and Signature")
    key_id, _, scope = fields["Credential"].partition("/")
    return key_id, scope, fields["SignedHeaders"].split(";"), fields["Signature"]


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The decoded name/value pairs of a raw query ('+' stays a plus: SigV4's reading, not a form's)."""
    pairs = []
    for piece in query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return pairs


def verify_sigv4(
    *,
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    keys: Mapping[str, SigningKey],
    region: str,
    service: str,
    now: datetime.datetime | None = None,
) -> Verified:
    """Verified if botocore, given the key the request names, computes the signature it carries;
    else SigV4Rejected. url: scheme://host/path?query with path and query exactly as received."""
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower(), []).append(value)
    authorizations = received.get("authorization", [])
    if len(authorizations) != 1:
        raise SigV4Rejected("MissingAuthenticationToken", "Request is missing Authentication Token")
    key_id, scope, signed_names, signature = parse_authorization(authorizations[0])
    amz_dates = received.get("x-amz-date", [])
    if len(amz_dates) != 1:
        raise SigV4Rejected("IncompleteSignature", "Request must carry exactly one X-Amz-Date header")
    amz_date = amz_dates[0]
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise SigV4Rejected("IncompleteSignature", "X-Amz-Date is not yyyyMMddTHHmmssZ") from None
    if abs((now or datetime.datetime.now(datetime.UTC)) - signed_at) > MAX_SKEW:
        raise SigV4Rejected("SignatureDoesNotMatch", f"Signature expired: {amz_date} is more than 5 minutes away from the server's time")
    if scope != f"{amz_date[:8]}/{region}/{service}/aws4_request":
        raise SigV4Rejected("SignatureDoesNotMatch", f"Credential should be scoped to {amz_date[:8]}/{region}/{service}/aws4_request")
    key = keys.get(key_id)
    if key is None:
        raise SigV4Rejected("UnrecognizedClientException", "The security token included in the request is invalid.")
    if "host" not in signed_names or "x-amz-date" not in signed_names:
        raise SigV4Rejected("SignatureDoesNotMatch", "SignedHeaders must include host and x-amz-date")
    tokens = received.get("x-amz-security-token", [])
    if key.session_token:
        if tokens != [key.session_token] or "x-amz-security-token" not in signed_names:
            # Compared as given: a test key's token, not a timing oracle worth guarding.
            raise SigV4Rejected("UnrecognizedClientException", "The security token included in the request is invalid.")
    elif tokens:
        raise SigV4Rejected("UnrecognizedClientException", "The security token included in the request is invalid.")
    content_sha256 = received.get("x-amz-content-sha256", [])
    # botocore signs the header's claim when there is one: the claim must be the body's hash.
    if content_sha256 and content_sha256 != [hashlib.sha256(body).hexdigest()]:
        raise SigV4Rejected("SignatureDoesNotMatch", "X-Amz-Content-Sha256 is not the SHA-256 of the body")
    missing = [name for name in signed_names if name not in received]
    if missing:
        raise SigV4Rejected("SignatureDoesNotMatch", f"signed headers not in the request: {', '.join(missing)}")

    parts = urllib.parse.urlsplit(url)
    request = AWSRequest(method=method, url=f"{parts.scheme}://{parts.netloc}{parts.path}", data=body, params=query_pairs(parts.query))
    for name in signed_names:
        for value in received[name]:
            request.headers[name] = value  # HTTPHeaders appends: repeated headers stay repeated
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(key_id, key.secret_access_key, key.session_token or None), service, region)
    canonical = auth.canonical_request(request)
    if auth.signed_headers(auth.headers_to_sign(request)) != ";".join(signed_names):
        raise SigV4Rejected("SignatureDoesNotMatch", "SignedHeaders is not the sorted, lowercase list of the signed headers")
    expected = str(auth.signature(auth.string_to_sign(request, canonical), request))
    if not hmac.compare_digest(expected, signature):
        raise SigV4Rejected(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return Verified(access_key_id=key_id, signed_headers=tuple(signed_names), session=bool(key.session_token))
