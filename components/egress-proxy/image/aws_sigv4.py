"""AWS Signature Version 4 for every service but S3 (Bedrock first): the headers the egress proxy
adds to a request on a SigV4 route, signing the request exactly as it is sent upstream.

The steps follow AWS's "Create a signed AWS API request" (canonical request, string to sign,
derived key, signature); the canonical parts are separate functions so AWS's published test
suite can check each one.

Pure: stdlib only, no mitmproxy import.
"""

import datetime
import hashlib
import hmac
import re
import string
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

ALGORITHM = "AWS4-HMAC-SHA256"
# RFC 3986's unreserved characters: the only ones SigV4 leaves unencoded (space is %20, never '+').
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.~")
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# An access key id goes into the Authorization header between '=' and '/': nothing that could
# end it early or split the header.
ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9]{1,128}")
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class AwsCredentials:
    """Keys that sign: static (expires_at None) or an STS session's (with its session token).
    The secret and the token stay out of repr, so a logged object or a traceback shows neither."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)
    expires_at: float | None = None  # epoch seconds; None: static keys

    def __post_init__(self) -> None:
        # The messages name the field, never its value.
        if not ACCESS_KEY_ID.fullmatch(self.access_key_id):
            raise ValueError("AWS access key id must be 1-128 letters and digits")
        if not HEADER_SAFE.fullmatch(self.secret_access_key):
            raise ValueError("AWS secret access key must be non-empty printable ASCII without spaces")
        if self.session_token and not HEADER_SAFE.fullmatch(self.session_token):
            raise ValueError("AWS session token must be printable ASCII without spaces")


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """Percent-encode every UTF-8 byte that is not unreserved (and '/' when kept), uppercase hex.
    A raw byte that is not UTF-8 (mitmproxy hands it over as a surrogate escape) is encoded as
    the byte that was sent."""
    safe = UNRESERVED | {"/"} if keep_slash else UNRESERVED
    return "".join(chr(b) if chr(b) in safe else f"%{b:02X}" for b in text.encode("utf-8", "surrogateescape"))


def normalized_path(path: str) -> str:
    """The path with '.' and '..' segments resolved and empty segments dropped (RFC 3986
    remove_dot_segments, plus AWS's collapsing of '//'); a trailing slash stays."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return "/" + "/".join(segments) + trailing


def canonical_uri(path: str) -> str:
    """The canonical URI of a path as sent (already percent-encoded): normalized, then every
    segment URI-encoded once more, as AWS does for all services but S3
    (`/model/a%3A0/invoke` -> `/model/a%253A0/invoke`)."""
    return uri_encode(normalized_path(path), keep_slash=True)


def canonical_query(query: str) -> str:
    """The canonical query of a raw query string (without '?'): each name and value decoded, then
    encoded with the unreserved set, the pairs sorted by encoded name, then by encoded value; a
    name without '=' gets an empty value. '+' is a literal plus (%2B): SigV4 never means a space by it."""
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(name)), uri_encode(urllib.parse.unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(headers: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """(canonical headers block, signed headers list) of the headers to sign: names lowercased and
    sorted, values trimmed with inner runs of spaces collapsed, repeated names joined with ','."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    names = sorted(values)
    block = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    return block, ";".join(names)


def canonical_request(*, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body_sha256: str) -> str:
    block, signed = canonical_headers(headers)
    return "\n".join([method.upper(), canonical_uri(path), canonical_query(query), block, signed, body_sha256])


def credential_scope(amz_date: str, region: str, service: str) -> str:
    return f"{amz_date[:8]}/{region}/{service}/aws4_request"


def string_to_sign(*, amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """The key derived for one day, region and service: the secret itself never signs."""
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def authorization(
    *,
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body_sha256: str,
    amz_date: str,
    region: str,
    service: str,
    credentials: AwsCredentials,
) -> str:
    """The Authorization header's value for a request whose signed headers are exactly `headers`."""
    canonical = canonical_request(method=method, path=path, query=query, headers=headers, body_sha256=body_sha256)
    scope = credential_scope(amz_date, region, service)
    key = signing_key(credentials.secret_access_key, amz_date[:8], region, service)
    signature = hmac.new(key, string_to_sign(amz_date=amz_date, scope=scope, canonical=canonical).encode("utf-8"), hashlib.sha256)
    _, signed = canonical_headers(headers)
    return f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature.hexdigest()}"


def sigv4_headers(
    *,
    method: str,
    host: str,
    path: str,
    query: str,
    body_sha256: str,
    region: str,
    service: str,
    credentials: AwsCredentials,
    now: datetime.datetime,
) -> list[tuple[str, str]]:
    """The headers to add (Authorization, X-Amz-Date, X-Amz-Content-Sha256, and
    X-Amz-Security-Token with session credentials). host: the Host header's value as sent
    (with :port when not the default); path: the raw path as sent (percent-encoded), no query;
    query: the raw query string without '?', '' for none. The signature covers `host` and the
    x-amz-* headers it sets, so the caller must send exactly these and drop any others by those names."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone (UTC): a naive time would sign the wrong date")
    if not SHA256_HEX.fullmatch(body_sha256):
        raise ValueError("body_sha256 must be the body's SHA-256 as 64 lowercase hex digits")
    amz_date = now.astimezone(datetime.UTC).strftime(AMZ_DATE_FORMAT)
    added = [("X-Amz-Date", amz_date), ("X-Amz-Content-Sha256", body_sha256)]
    if credentials.session_token:
        added.append(("X-Amz-Security-Token", credentials.session_token))
    signed = [("Host", host), *added]
    value = authorization(
        method=method,
        path=path,
        query=query,
        headers=signed,
        body_sha256=body_sha256,
        amz_date=amz_date,
        region=region,
        service=service,
        credentials=credentials,
    )
    return [("Authorization", value), *added]
