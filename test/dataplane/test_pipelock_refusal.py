"""pipelock_refusal: which responses of the next gate are its own refusals (pure, no proxy)."""

import pytest

from conftest import ADDON_DIR  # noqa: F401  (puts the addon's modules on sys.path)
from pipelock_refusals import pipelock_refusal

TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "by", "message"),
    [
        (403, TEXT, b"blocked: request body contains secret: AWS Access ID\n", "pipelock",
         "pipelock: blocked: request body contains secret: AWS Access ID"),
        (403, TEXT, b"CONNECT blocked: domain not in allowlist: x.example\n", "pipelock",
         "pipelock: CONNECT blocked: domain not in allowlist: x.example"),
        (429, TEXT, b"blocked: rate limit exceeded\n", "pipelock", "pipelock: blocked: rate limit exceeded"),
        (503, TEXT, b"kill switch active\n", "pipelock", "pipelock: kill switch active"),
        (403, TEXT, b"blocked: a\x1bb\n", "pipelock", "pipelock: blocked: a\\x1bb"),
        # Not pipelock's: the upstream's own answers pass unchanged.
        (403, "text/html", b"blocked: looks like pipelock but is HTML\n", None, None),
        (403, TEXT, b"Forbidden\n", None, None),
        (404, TEXT, b"blocked: wrong status\n", None, None),
        (403, TEXT, b"blocked: two\nlines\n", None, None),
        (403, TEXT, b"blocked: " + b"x" * 2000, None, None),
        (403, TEXT, None, None, None),
        (200, TEXT, b"blocked: fine\n", None, None),
    ],
)  # fmt: skip
def test_pipelock_refusal(status: int, content_type: str, body: bytes | None, by: str | None, message: str | None) -> None:
    decision = pipelock_refusal(status, content_type, body)
    if by is None:
        assert decision is None
    else:
        assert decision is not None and not decision.allowed
        assert (decision.by, decision.message) == (by, message)
        assert decision.reason == ("rate limited" if status == 429 else "refused")
