"""pipelock_refusals: which responses of the next gate are its own refusals, the refusal of a
tunnel, and the bounded reason of pipelock's words (pure, no proxy)."""

import pytest

from conftest import ADDON_DIR  # noqa: F401  (puts the addon's modules on sys.path)
from pipelock_refusals import pipelock_refusal, pipelock_tunnel_refusal, refusal_reason

TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "by", "message", "reason"),
    [
        (403, TEXT, b"blocked: request body contains secret: AWS Access ID\n", "pipelock",
         "pipelock: blocked: request body contains secret: AWS Access ID", "dlp"),
        (403, TEXT, b"CONNECT blocked: domain not in allowlist: x.example\n", "pipelock",
         "pipelock: CONNECT blocked: domain not in allowlist: x.example", "allowlist"),
        (429, TEXT, b"blocked: rate limit exceeded\n", "pipelock", "pipelock: blocked: rate limit exceeded", "rate limit"),
        (503, TEXT, b"kill switch active\n", "pipelock", "pipelock: kill switch active", "kill switch"),
        (403, TEXT, b"blocked: a\x1bb\n", "pipelock", "pipelock: blocked: a\\x1bb", "other"),
        # Not pipelock's: the upstream's own answers pass unchanged.
        (403, "text/html", b"blocked: looks like pipelock but is HTML\n", None, None, None),
        (403, TEXT, b"Forbidden\n", None, None, None),
        (404, TEXT, b"blocked: wrong status\n", None, None, None),
        (403, TEXT, b"blocked: two\nlines\n", None, None, None),
        (403, TEXT, b"blocked: " + b"x" * 2000, None, None, None),
        (403, TEXT, None, None, None, None),
        (200, TEXT, b"blocked: fine\n", None, None, None),
    ],
)  # fmt: skip
def test_pipelock_refusal(
    status: int, content_type: str, body: bytes | None, by: str | None, message: str | None, reason: str | None
) -> None:
    decision = pipelock_refusal(status, content_type, body)
    if by is None:
        assert decision is None
    else:
        assert decision is not None and not decision.allowed
        assert (decision.by, decision.message) == (by, message)
        assert decision.reason == reason


# pipelock 2.3.0's own refusal lines (internal/scanner/scanner.go, core.go, internal/proxy/forward.go,
# bodyscan.go, intercept.go, internal/scanapi/scan.go), as its answers carry them.
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("CONNECT blocked: domain not in allowlist: example.org", "allowlist"),
        ("blocked: domain blocked: evil.example matches *.example", "allowlist"),
        ("CONNECT blocked: SSRF check failed: DNS resolution error for nowhere.invalid: lookup nowhere.invalid on 10.255.255.53:53: no such host", "dns"),
        ("CONNECT blocked: SSRF blocked: localhost resolves to internal IP 127.0.0.1", "ssrf"),
        ("blocked: SSRF blocked: 0x7f000001 decodes to internal IP 127.0.0.1", "ssrf"),
        ("blocked: core SSRF: 10.0.0.1 is a private/internal IP address", "ssrf"),
        ("CONNECT blocked: rate limit exceeded for api.github.com", "rate limit"),
        ("blocked: rate limit exceeded for localhost", "rate limit"),
        ("blocked: request body contains secret: AWS Access ID", "dlp"),
        ("blocked: request header contains secret", "dlp"),
        ("blocked: DLP match: Anthropic API Key (critical)", "dlp"),
        ("blocked: core DLP match: GitHub Token (critical)", "dlp"),
        ("CONNECT blocked: header DLP match", "dlp"),
        ("blocked: Secret-like token detected (GitHub Token)", "dlp"),
        ("blocked: request body exceeds max_body_bytes (33554432)", "body size"),
        ("blocked: response too large for scanning", "body size"),
        ("kill switch active", "kill switch"),
        ("tunnel dial failed", "tunnel dial failed"),
        ("airlock: CONNECT blocked during quarantine", "other"),
        ("CONNECT blocked: data budget exceeded for example.org", "other"),
        ("blocked: Prompt injection pattern matched: Instruction Override", "other"),
        ("blocked: path traversal sequence in URL", "other"),
        ("", "other"),
    ],
)  # fmt: skip
def test_refusal_reason(line: str, reason: str) -> None:
    assert refusal_reason(line) == reason


@pytest.mark.parametrize(
    ("status", "body", "message", "reason"),
    [
        ("403 Forbidden", b"CONNECT blocked: domain not in allowlist: x.example\n",
         "pipelock: CONNECT blocked: domain not in allowlist: x.example", "allowlist"),
        ("502 Bad Gateway", b"tunnel dial failed\n", "pipelock: tunnel dial failed", "tunnel dial failed"),
        # Only its first line, printable, bounded.
        ("403 Forbidden", b"CONNECT blocked: a\x1bb\nmore\n", "pipelock: CONNECT blocked: a\\x1bb", "other"),
        ("403 Forbidden", b"x" * 2000, "pipelock: " + "x" * 1024, "other"),
        # Its reason did not arrive: what is known, and no guess.
        ("403 Forbidden", b"", "pipelock: refused the connection to x.example:443 with 403 Forbidden "
         "(its reason did not arrive; pipelock's log has it)", "other"),
        (None, None, "pipelock: refused the connection to x.example:443 (its reason did not arrive; pipelock's log has it)", "other"),
    ],
)  # fmt: skip
def test_pipelock_tunnel_refusal(status: str | None, body: bytes | None, message: str, reason: str) -> None:
    decision = pipelock_tunnel_refusal("x.example", 443, status, body)
    assert (decision.allowed, decision.by, decision.status) == (False, "pipelock", 403)
    assert (decision.message, decision.reason) == (message, reason)
