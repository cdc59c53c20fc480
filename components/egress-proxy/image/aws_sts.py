"""STS AssumeRole for an `aws` credential with a role: the signed request that asks for session
credentials, and the parsing of STS's XML answer into them. The caller sends the request (through
pipelock) and hands the answer's body back here.

Pure: stdlib only, no mitmproxy import.
"""

import datetime
import hashlib
import re
import urllib.parse
import xml.etree.ElementTree as ET

from aws_sigv4 import AwsCredentials, sigv4_headers
from credential_errors import CredentialError, bounded_reason

STS_VERSION = "2011-06-15"
STS_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
# STS's own limits on RoleSessionName and DurationSeconds (the role's maximum may be lower:
# STS then refuses with ValidationError, which the caller reports).
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
# An AssumeRole answer is a few KiB; anything far bigger is not one.
MAX_ANSWER_BYTES = 64 * 1024
ERROR_CODE = re.compile(r"[A-Za-z0-9.]{1,64}")


def assume_role_request(
    *,
    sts_url: str,
    region: str,
    role_arn: str,
    session_name: str,
    duration_seconds: int,
    credentials: AwsCredentials,
    now: datetime.datetime,
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(url, headers, body) of a signed STS AssumeRole POST (Version 2011-06-15, form-encoded).
    Send exactly these headers (Host included: the signature covers it) and this body."""
    parts = urllib.parse.urlsplit(sts_url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise ValueError("sts_url must be an https URL without userinfo, query or fragment")
    if not role_arn.startswith("arn:"):
        raise ValueError("role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    if not SESSION_NAME.fullmatch(session_name):
        raise ValueError("session_name must be 2-64 of letters, digits and +=,.@_-")
    if not MIN_SESSION_SECONDS <= duration_seconds <= MAX_SESSION_SECONDS:
        raise ValueError(f"duration_seconds must be {MIN_SESSION_SECONDS}..{MAX_SESSION_SECONDS}")
    path = parts.path or "/"
    # Sorted by name, encoded the way the AWS SDKs encode a query-protocol body.
    form = [
        ("Action", "AssumeRole"),
        ("DurationSeconds", str(duration_seconds)),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
        ("Version", STS_VERSION),
    ]
    body = urllib.parse.urlencode(form, quote_via=urllib.parse.quote, safe="-_.~").encode("ascii")
    signature = sigv4_headers(
        method="POST",
        host=parts.netloc,
        path=path,
        query="",
        body_sha256=hashlib.sha256(body).hexdigest(),
        region=region,
        service="sts",
        credentials=credentials,
        now=now,
    )
    headers = [("Host", parts.netloc), ("Content-Type", FORM_CONTENT_TYPE), *signature]
    return f"https://{parts.netloc}{path}", headers, body


def _text(credentials: ET.Element, name: str) -> str:
    """The text of a required child of Credentials, or CredentialError naming it (never a value)."""
    text = (credentials.findtext(STS_NAMESPACE + name) or "").strip()
    if not text:
        raise CredentialError(f"STS AssumeRole answer has no Credentials/{name}")
    return text


def _error_reason(root: ET.Element, namespace: str) -> str:
    code = root.findtext(f"{namespace}Error/{namespace}Code") or ""
    message = root.findtext(f"{namespace}Error/{namespace}Message") or ""
    code = code.strip() if ERROR_CODE.fullmatch(code.strip()) else "unknown error code"
    return f"STS refused AssumeRole: {code}: {bounded_reason(message) or 'no message'}"


def parse_assume_role_response(body: bytes) -> AwsCredentials:
    """The session credentials of an AssumeRole answer (XML); raises CredentialError with a
    bounded message that never quotes a secret."""
    if len(body) > MAX_ANSWER_BYTES:
        raise CredentialError(f"STS answer is {len(body)} bytes, more than an AssumeRole answer's {MAX_ANSWER_BYTES}")
    # STS never sends a DTD; refusing one keeps entity expansion out of the parser entirely.
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise CredentialError("STS answer carries a DTD, which STS never sends")
    try:
        root = ET.fromstring(body)  # noqa: S314 (no DTD: refused above)
    except ET.ParseError as error:
        raise CredentialError(f"STS answer is not XML ({error})") from None
    for namespace in (STS_NAMESPACE, ""):
        if root.tag == f"{namespace}ErrorResponse":
            raise CredentialError(_error_reason(root, namespace))
    if root.tag != f"{STS_NAMESPACE}AssumeRoleResponse":
        raise CredentialError(f"STS answer is not an AssumeRoleResponse (root element {bounded_reason(root.tag, 80)})")
    credentials = root.find(f"{STS_NAMESPACE}AssumeRoleResult/{STS_NAMESPACE}Credentials")
    if credentials is None:
        raise CredentialError("STS AssumeRole answer has no AssumeRoleResult/Credentials")
    expiration = _text(credentials, "Expiration")
    try:
        expires = datetime.datetime.fromisoformat(expiration)
    except ValueError:
        raise CredentialError(f"STS AssumeRole answer's Expiration is not an ISO 8601 time: {bounded_reason(expiration, 40)}") from None
    if expires.tzinfo is None:
        raise CredentialError("STS AssumeRole answer's Expiration has no time zone")
    try:
        return AwsCredentials(
            access_key_id=_text(credentials, "AccessKeyId"),
            secret_access_key=_text(credentials, "SecretAccessKey"),
            session_token=_text(credentials, "SessionToken"),
            expires_at=expires.timestamp(),
        )
    except ValueError as error:
        # AwsCredentials' checks name the field, never the value.
        raise CredentialError(f"STS AssumeRole answer's credentials are malformed: {error}") from None
