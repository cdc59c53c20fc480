"""A SigV4 route's requests: refusing the agent's own presigned ones, and the headers that sign
a request as it leaves (aws_sigv4.py computes the signature).

Pure: no mitmproxy import; the addon passes the request's parts as they are sent.
"""

import datetime
import hashlib
import urllib.parse

from aws_sigv4 import AwsCredentials, sigv4_headers
from egress_routes import SigV4

# Query parameters that carry a presigned request's own credentials.
PRESIGNED_PARAMETERS = frozenset({"x-amz-signature", "x-amz-credential"})


def presigned(query: str | None) -> bool:
    """Whether a request's query carries SigV4 credentials of its own (X-Amz-Signature or
    X-Amz-Credential, in any case or percent-encoding)."""
    if not query:
        return False
    names = (urllib.parse.unquote_plus(pair.split("=", 1)[0]).strip().lower() for pair in query.split("&"))
    return any(name in PRESIGNED_PARAMETERS for name in names)


def signed_headers(
    *, method: str, host: str, target: bytes, body: bytes, sigv4: SigV4, credentials: AwsCredentials, now: datetime.datetime
) -> list[tuple[bytes, bytes]]:
    """The header fields that sign a request: `host` as sent (with :port when not the default),
    `target` the raw request target (path and query), `body` as sent."""
    path, _, query = target.partition(b"?")
    headers = sigv4_headers(
        method=method,
        host=host,
        path=path.decode("ascii"),
        query=query.decode("ascii"),
        body_sha256=hashlib.sha256(body).hexdigest(),
        region=sigv4.region,
        service=sigv4.service,
        credentials=credentials,
        now=now,
    )
    return [(name.encode("ascii"), value.encode("ascii")) for name, value in headers]
